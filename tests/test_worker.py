"""Evaluation through the real stack: Redis broker, a Celery worker, PostgreSQL."""

from datetime import UTC, datetime

import pytest

from config.celery import app as celery_app
from lib.processes import spare_port, wait_until
from monitoring import tasks
from monitoring.models import Alert, LabDraw, SubjectSafetyState
from monitoring.services import lab_entry

from .factories import make_subject, results
from .processes import use_broker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DRAW_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def unreachable_broker():
    """Point the app at a port where no broker listens, as when Redis is down."""
    previous = celery_app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{spare_port()}/0")
    yield
    use_broker(previous)


def test_draw_at_three_and_a_half_times_uln_opens_withhold_dose_through_the_worker(
    celery_worker_thread,
):
    subject = make_subject()
    lab_entry.record_draw(subject, DRAW_AT, results(ALT="143.5", AST=30))
    assert wait_until(
        lambda: Alert.objects.filter(subject=subject, kind="withhold_dose").exists(), 10
    ), "no withhold_dose alert within 10 seconds"
    state = SubjectSafetyState.objects.get(subject=subject)
    assert state.state == "withheld" and not state.pending


def test_entry_is_saved_when_the_broker_is_down_and_the_sweep_evaluates_it_later(
    unreachable_broker,
):
    subject = make_subject()
    lab_entry.record_draw(subject, DRAW_AT, results(ALT=150, AST=30))  # no exception

    assert LabDraw.objects.filter(subject=subject).count() == 1
    assert not Alert.objects.filter(subject=subject).exists()
    assert SubjectSafetyState.objects.get(subject=subject).pending

    # The broker is back; beat's periodic sweep runs.
    celery_app.conf.task_always_eager = True
    tasks.sweep_unevaluated.delay()
    assert Alert.objects.filter(subject=subject, kind="withhold_dose").exists()
    assert not SubjectSafetyState.objects.get(subject=subject).pending


def test_sweep_through_the_worker_catches_up_after_the_broker_returns(celery_worker_thread):
    subject = make_subject()
    good = celery_app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{spare_port()}/0")
    try:
        lab_entry.record_draw(subject, DRAW_AT, results(ALT=150, AST=30))
    finally:
        use_broker(good)
    assert SubjectSafetyState.objects.get(subject=subject).pending
    tasks.sweep_unevaluated.delay()
    assert wait_until(lambda: Alert.objects.filter(subject=subject, kind="withhold_dose").exists())
