"""Export jobs of the Reports page: asked for, progress recorded, file kept or failure said."""

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from monitoring.models import ExportJob
from monitoring.signals import export_requested


def request(user, kind, params) -> ExportJob:
    """A queued job for `user`; it is built (monitoring.tasks) once this commits."""
    with transaction.atomic():
        job = ExportJob.objects.create(user=user, kind=kind, params=params)
        transaction.on_commit(lambda: export_requested.send(sender=ExportJob, job_pk=job.pk))
    return job


def record_progress(job_pk, percent):
    """Seen at once by the page that polls it (no transaction holds it back)."""
    ExportJob.objects.filter(pk=job_pk).update(
        status="running", progress=max(0, min(99, int(percent)))
    )


@transaction.atomic
def finish(job_pk, filename, content: bytes):
    job = ExportJob.objects.select_for_update().get(pk=job_pk)
    job.file.save(filename, ContentFile(content), save=False)
    job.filename, job.status, job.progress = filename, "done", 100
    job.finished_at = timezone.now()
    job.save()
    return job


def fail(job_pk, message):
    ExportJob.objects.filter(pk=job_pk).update(
        status="failed", error=message, finished_at=timezone.now()
    )
