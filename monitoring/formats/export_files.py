"""The files of the Reports page's exports, built for an ExportJob with its progress: SDTM DM,
EX and LB (CSV or SAS transport, zipped) and the audit trail (CSV), of the subjects the asking
user may see."""

import io
import tempfile
import zipfile
from datetime import date
from pathlib import Path

from django.utils import timezone

from monitoring.formats import audit_trail, sdtm
from monitoring.models import ExportJob
from monitoring.services import export_jobs
from subjects import access

SDTM_FORMATS = ("csv", "xpt")


def build(job_pk):
    """Build the job's file and keep it; a refusal (SDTM's required values) fails the job with
    its message."""
    job = ExportJob.objects.select_related("user").get(pk=job_pk)
    if job.status == "done":
        return job  # delivered twice by the broker: built once
    subjects = access.visible_subjects(job.user)
    sees_arm = lambda subject: access.sees_arm_of(job.user, subject)  # noqa: E731
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    try:
        if job.kind == "sdtm":
            content = sdtm_zip(subjects, job.params.get("format", "csv"), job_pk, sees_arm)
            name = f"sdtm-{stamp}.zip"
        else:
            content = audit_csv(subjects, job.params, job_pk, sees_arm)
            name = f"audit-trail-{stamp}.csv"
    except sdtm.SdtmError as error:
        export_jobs.fail(job_pk, str(error))
        return None
    return export_jobs.finish(job_pk, name, content)


def sdtm_zip(subjects, fmt, job_pk, sees_arm=None) -> bytes:
    export_jobs.record_progress(job_pk, 5)
    with tempfile.TemporaryDirectory(prefix="hepwatch-sdtm-") as folder:
        written = sdtm.export(folder, subjects=subjects, fmt=fmt, sees_arm=sees_arm)
        export_jobs.record_progress(job_pk, 80)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, _ in written:
                archive.write(path, Path(path).name)
    return buffer.getvalue()


def audit_csv(subjects, params, job_pk, sees_arm=None) -> bytes:
    if params.get("subject_id"):
        subjects = subjects.filter(subject_id=params["subject_id"])
    since, until = (
        date.fromisoformat(params[k]) if params.get(k) else None for k in ("since", "until")
    )
    handle = io.StringIO()
    audit_trail.write(
        subjects,
        handle,
        since=since,
        until=until,
        progress=lambda done, total: export_jobs.record_progress(job_pk, 100 * done / total),
        sees_arm=sees_arm,
    )
    return handle.getvalue().encode("utf-8")
