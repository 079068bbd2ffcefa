"""Export jobs of the Reports page: asked for, progress recorded, file kept or failure said, and
deleted with the file once past the retention (HEPWATCH_EXPORT_RETENTION_DAYS)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from monitoring.models import ExportJob
from monitoring.signals import export_requested

log = logging.getLogger(__name__)


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


def delete_expired(now=None) -> int:
    """Delete the jobs asked for longer ago than the retention, and their files; returns how
    many. A file goes once its row's deletion has committed, so no kept job loses its file."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.HEPWATCH_EXPORT_RETENTION_DAYS)
    count = 0
    for job in ExportJob.objects.filter(created_at__lt=cutoff):
        file = job.file
        with transaction.atomic():
            job.delete()
            if file:
                transaction.on_commit(lambda file=file: file.delete(save=False))
        count += 1
    if count:
        log.info(
            "deleted %d export(s) older than %d days",
            count,
            settings.HEPWATCH_EXPORT_RETENTION_DAYS,
        )
    return count
