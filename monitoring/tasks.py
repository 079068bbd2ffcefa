"""Celery tasks: each only calls a service. Idempotent, so a redelivery is harmless."""

from celery import shared_task

from . import health, services


@shared_task(acks_late=True)
def evaluate_subjects(subject_pks):
    return services.evaluate_subjects(subject_pks)


@shared_task(acks_late=True)
def evaluate_subject(subject_pk):
    return services.evaluate_subjects([subject_pk])


@shared_task(acks_late=True)
def sweep_unevaluated():
    """Evaluate every subject whose data is newer than its last evaluation (e.g. entered
    while the broker or the worker was down)."""
    return services.evaluate_subjects(services.unevaluated_subject_pks())


@shared_task(acks_late=True)
def evaluate_time_rules():
    """Re-evaluate every subject so overdue repeats and labs (R7, R10) open on time."""
    return services.evaluate_subjects(services.all_subject_pks())


@shared_task(ignore_result=True)
def heartbeat():
    """Beat sends this every minute; the worker running it proves both are alive (/healthz)."""
    health.record_heartbeat()
