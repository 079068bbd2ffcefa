"""Evaluation through the real stack: Redis broker, a Celery worker, PostgreSQL."""

from datetime import UTC, datetime

import pytest

from config.celery import app as celery_app
from lib.processes import spare_port, wait_until
from monitoring import tasks
from monitoring.models import Alert, LabDraw, SubjectSafetyState
from monitoring.services import lab_entry

from .factories import make_subject, results
from .processes import app_environment, manage

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DRAW_AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def import_draw_while_redis_is_down(subject, tmp_path):
    """A central lab's file imported by a process whose broker is a port where nothing listens,
    as when Redis is down."""
    labs = tmp_path / "labs.csv"
    labs.write_text(
        "subject_id,collected_at,test,value,unit,uln\n"
        f"{subject.subject_id},{DRAW_AT.isoformat()},ALT,150,U/L,\n"
        f"{subject.subject_id},{DRAW_AT.isoformat()},AST,30,U/L,\n"
    )
    down = app_environment(f"redis://127.0.0.1:{spare_port()}/0")
    return manage(down, "import_csv", "--labs", str(labs))


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


def test_entry_is_saved_when_the_broker_is_down_and_the_sweep_evaluates_it_later(tmp_path):
    subject = make_subject()
    import_draw_while_redis_is_down(subject, tmp_path)  # exits 0: the entry is saved

    assert LabDraw.objects.filter(subject=subject).count() == 1
    assert not Alert.objects.filter(subject=subject).exists()
    assert SubjectSafetyState.objects.get(subject=subject).pending

    # The broker is back; beat's periodic sweep runs.
    celery_app.conf.task_always_eager = True
    tasks.sweep_unevaluated.delay()
    assert Alert.objects.filter(subject=subject, kind="withhold_dose").exists()
    assert not SubjectSafetyState.objects.get(subject=subject).pending


def test_sweep_through_the_worker_catches_up_after_the_broker_returns(
    celery_worker_thread, tmp_path
):
    subject = make_subject()
    import_draw_while_redis_is_down(subject, tmp_path)
    assert SubjectSafetyState.objects.get(subject=subject).pending
    tasks.sweep_unevaluated.delay()
    assert wait_until(lambda: Alert.objects.filter(subject=subject, kind="withhold_dose").exists())
