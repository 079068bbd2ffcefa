"""Faults survived, each against real processes: a private redis-server and Celery workers on
spare ports (the shared Redis is never stopped), PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, connections
from django.urls import reverse

from config.celery import app as celery_app
from lib.processes import RedisServer, process, wait_until, worker_args
from monitoring.evaluation import runner
from monitoring.formats import csv_import, lab_csv
from monitoring.models import Alert, LabDraw, LabResult, SubjectSafetyState
from monitoring.services import lab_entry
from subjects.models import Subject

from .factories import make_subject, results
from .processes import app_environment, manage, send_task

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def private_redis():
    redis = RedisServer().start()
    yield redis
    redis.stop()


def withheld(subject):
    return Alert.objects.filter(subject=subject, kind="withhold_dose").exists()


def import_elevations(env, subjects, path):
    """A central lab's file of one ALT 150 U/L draw for each subject, imported by `import_csv`
    in its own process, which queues their evaluation through env's broker."""
    path.write_text(
        "subject_id,collected_at,test,value,unit,uln\n"
        + "".join(
            f"{s.subject_id},{AT.isoformat()},ALT,150,U/L,\n"
            f"{s.subject_id},{AT.isoformat()},AST,30,U/L,\n"
            for s in subjects
        )
    )
    manage(env, "import_csv", "--labs", str(path))


def test_redis_stopping_while_draws_are_entered_loses_nothing(private_redis, tmp_path, client):
    env = app_environment(private_redis.url)
    before = [make_subject(f"B-{i}") for i in range(3)]
    during = [make_subject(f"D-{i}") for i in range(4)]
    with process(worker_args("faults"), env, tmp_path / "worker.log"):
        import_elevations(env, before, tmp_path / "before.csv")
        assert wait_until(lambda: all(withheld(s) for s in before), 30), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]

        private_redis.stop()
        import_elevations(env, during, tmp_path / "during.csv")  # it succeeds: nothing is lost
        assert LabDraw.objects.filter(subject__in=during).count() == 4
        assert all(SubjectSafetyState.objects.get(subject=s).pending for s in during)
        assert not any(withheld(s) for s in during)
        reviewer = User.objects.create_user("rita")
        reviewer.groups.add(Group.objects.get(name="safety_reviewer"))
        client.force_login(reviewer)
        page = client.get(reverse("subject", args=[during[0].pk]))
        assert b"Evaluation pending." in page.content

        private_redis.start()  # Redis returns; beat's sweep reaches the worker
        send_task(env, "monitoring.tasks.sweep_unevaluated")
        assert wait_until(lambda: all(withheld(s) for s in during), 40), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    assert not any(SubjectSafetyState.objects.get(subject=s).pending for s in during)
    assert b"Evaluation pending." not in client.get(reverse("subject", args=[during[0].pk])).content


def test_worker_killed_mid_evaluation_runs_it_again_with_one_alert_of_each_kind(
    private_redis, tmp_path
):
    env = app_environment(private_redis.url)
    n = 205
    subjects_csv, labs_csv = tmp_path / "subjects.csv", tmp_path / "labs.csv"
    subjects_csv.write_text(
        "subject_id,site,sex,birth_date,arm,enrolled_on\n"
        + "".join(f"K-{i:03},S01,M,1970-01-01,standard,2026-11-01\n" for i in range(n))
    )
    labs_csv.write_text(
        "subject_id,collected_at,test,value,unit,uln\n"
        + "".join(
            f"K-{i:03},2026-11-20T08:00:00Z,ALT,300,U/L,\nK-{i:03},2026-11-20T08:00:00Z,TBIL,3,mg/dL,\n"
            for i in range(n)
        )
    )
    csv_import.import_subjects(str(subjects_csv))  # the import modules write; nothing is queued
    lab_csv.import_labs(str(labs_csv))
    subjects = list(Subject.objects.order_by("pk"))
    last = subjects[-1]

    # Hold the last subject's lock so the worker stops inside the task, after the first chunk.
    locker = connections.create_connection("default")
    locker.connect()
    locker.set_autocommit(False)
    with locker.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM monitoring_subjectsafetystate WHERE subject_id = %s FOR UPDATE",
            [last.pk],
        )
    try:
        with process(worker_args("doomed"), env, tmp_path / "w1.log") as doomed:
            send_task(env, "monitoring.tasks.evaluate_subjects", [s.pk for s in subjects])
            first_chunk = subjects[:200]
            assert wait_until(lambda: all(withheld(s) for s in first_chunk[-5:]), 30)
            assert not withheld(last)
            doomed.kill()  # SIGKILL, mid-task: the message was never acknowledged
            doomed.wait(10)
    finally:
        locker.rollback()
        locker.close()

    with process(worker_args("rescuer"), env, tmp_path / "w2.log"):
        assert wait_until(lambda: withheld(last), 60), (tmp_path / "w2.log").read_text()[-3000:]
    for subject in (subjects[0], subjects[150], last):
        kinds = list(Alert.objects.filter(subject=subject).values_list("kind", flat=True))
        assert sorted(kinds) == sorted(set(kinds)), "an alert was raised twice"
        assert {"withhold_dose", "severe_elevation", "discontinue"} <= set(kinds)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_draws_saved_at_the_same_moment_give_no_duplicate_or_lost_alerts():
    celery_app.conf.task_always_eager = True
    subject = make_subject()
    barrier = threading.Barrier(2)
    errors = []

    def enter(at, alt):
        try:
            barrier.wait(5)
            lab_entry.record_draw(subject, at, results(ALT=alt, AST=30))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=enter, args=(AT, 150)),
        threading.Thread(target=enter, args=(AT + timedelta(days=3), 160)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    runner.evaluate_subjects([subject.pk], as_of=AT + timedelta(days=4))
    alerts = Alert.objects.filter(subject=subject)
    identities = list(alerts.values_list("kind", "triggered_at"))
    assert len(identities) == len(set(identities)), "an alert was raised twice"
    # Whichever draw was evaluated first, the final evaluation saw both: an alert raised on one
    # draw alone is retracted (kept, with its reason); what stands is the rule table's answer.
    standing = alerts.filter(status="open").order_by("triggered_at")
    assert [(a.kind, a.triggered_at) for a in standing] == [
        ("withhold_dose", AT),
        ("elevation_confirmed", AT + timedelta(days=3)),
    ]


CONNECTION_DROPS_AT_THE_FIRST_RESULT = """
    CREATE FUNCTION hepwatch_test_drop_connection() RETURNS trigger AS $$
    BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER hepwatch_test_drop_connection BEFORE INSERT ON monitoring_labresult
    FOR EACH STATEMENT EXECUTE FUNCTION hepwatch_test_drop_connection();
"""
CONNECTION_STAYS = """
    DROP TRIGGER IF EXISTS hepwatch_test_drop_connection ON monitoring_labresult;
    DROP FUNCTION IF EXISTS hepwatch_test_drop_connection();
"""


@pytest.fixture
def connection_drops_when_results_are_written():
    """PostgreSQL ends the session that starts writing lab results, after its draws are
    written: the database's own way of a connection dropping mid-import."""
    with connection.cursor() as cursor:
        cursor.execute(CONNECTION_DROPS_AT_THE_FIRST_RESULT)
    yield
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(CONNECTION_STAYS)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_database_connection_dropping_during_an_import_writes_nothing_and_a_rerun_completes(
    tmp_path, capsys, connection_drops_when_results_are_written
):
    celery_app.conf.task_always_eager = True
    make_subject("S-001")
    labs = tmp_path / "labs.csv"
    labs.write_text(
        "subject_id,collected_at,test,value,unit,uln\n"
        "S-001,2026-01-04T08:00:00,ALT,30,U/L,\n"
        "S-001,2026-01-12T08:00:00,ALT,150,U/L,\n"
    )
    with pytest.raises(SystemExit) as stop:
        call_command("import_csv", labs=str(labs))
    assert stop.value.code == 1
    assert "nothing of it was written" in capsys.readouterr().err
    connection.close()
    assert LabDraw.objects.count() == 0 and LabResult.objects.count() == 0

    with connection.cursor() as cursor:
        cursor.execute(CONNECTION_STAYS)
    call_command("import_csv", labs=str(labs))
    assert LabResult.objects.count() == 2
    assert LabResult.objects.get(value=Decimal(150)).uln_multiple > 3
