"""Celery tasks: each imports the service it calls inside its body, so no service imports the
tasks. Idempotent, so a redelivery is harmless."""

import logging
import math

from celery import shared_task
from django.conf import settings

log = logging.getLogger(__name__)

CHUNK = 200


@shared_task(acks_late=True)
def evaluate_subjects(subject_pks):
    from monitoring.evaluation import runner

    return runner.evaluate_subjects(subject_pks)


@shared_task(acks_late=True)
def sweep_unevaluated():
    """Evaluate every subject whose data is newer than its last evaluation (e.g. entered
    while the broker or the worker was down)."""
    from monitoring.evaluation import runner

    return runner.evaluate_subjects(runner.unevaluated_subject_pks())


@shared_task(acks_late=True)
def evaluate_time_rules():
    """Re-evaluate every subject so overdue repeats and labs (R7, R10) open on time."""
    from monitoring.evaluation import runner

    return runner.evaluate_subjects(runner.all_subject_pks())


@shared_task(ignore_result=True)
def heartbeat():
    """Beat sends this every minute; the worker running it proves both are alive (/healthz)."""
    from monitoring import health

    health.record_heartbeat()


def evaluation_chunks(subject_pks):
    """The subjects in tasks of at most CHUNK, and in at least as many tasks as the worker has
    processes: an import of 150 subjects in one task would leave the second process idle."""
    subject_pks = sorted(set(subject_pks))
    processes = max(1, settings.CELERY_WORKER_CONCURRENCY)
    size = min(CHUNK, max(1, math.ceil(len(subject_pks) / processes)))
    return [subject_pks[start : start + size] for start in range(0, len(subject_pks), size)]


def enqueue_evaluation(subject_pks):
    """Queue evaluation; if the broker is unreachable, log it and leave it to the sweep."""
    subject_pks = sorted(set(subject_pks))
    try:
        for chunk in evaluation_chunks(subject_pks):
            evaluate_subjects.delay(chunk)
    except Exception:
        log.exception(
            "could not queue evaluation of %d subject(s); the sweep will retry", len(subject_pks)
        )


def on_evaluation_requested(sender, subject_pks, **kwargs):
    enqueue_evaluation(subject_pks)


@shared_task(acks_late=True)
def build_export(job_pk):
    """Build a study export asked for on the Reports page (monitoring.services.export_jobs)."""
    from monitoring.formats import export_files

    export_files.build(job_pk)


@shared_task(ignore_result=True)
def delete_expired_exports():
    """Beat sends this hourly: exports past HEPWATCH_EXPORT_RETENTION_DAYS go with their files."""
    from monitoring.services import export_jobs

    return export_jobs.delete_expired()


def on_export_requested(sender, job_pk, **kwargs):
    build_export.delay(job_pk)
