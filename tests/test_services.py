"""Recording, correcting and evaluating through the services, on PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.contrib.auth.models import User

from monitoring import tasks
from monitoring.evaluation import loader, runner
from monitoring.models import Alert, LabResult, SubjectSafetyState
from monitoring.services import errors, lab_entry
from subjects.services import record_dose

from .factories import make_subject, results

# Transactional: evaluation runs on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

JAN30 = datetime(2026, 1, 30, 8, 0, tzinfo=UTC)


def test_recording_a_draw_at_three_and_a_half_times_uln_opens_withhold_dose():
    subject = make_subject()
    draw = lab_entry.record_draw(subject, JAN30, results(ALT="143.5", AST=30))
    alert = Alert.objects.get(subject=subject, kind="withhold_dose")
    assert (alert.kind, alert.rule, alert.severity, alert.status) == (
        "withhold_dose",
        "R3",
        "high",
        "open",
    )
    assert alert.draw == draw
    assert alert.explanation.startswith("ALT 143.5 U/L = 3.50× ULN (41 U/L) on 2026-01-30")
    state = SubjectSafetyState.objects.get(subject=subject)
    assert state.state == "withheld" and not state.pending


def test_result_stores_canonical_value_uln_and_multiple():
    subject = make_subject(sex="F")
    draw = lab_entry.record_draw(
        subject, JAN30, [lab_entry.ResultEntry("ALT", Decimal("1.65"), "ukat/L")]
    )
    result = draw.results.get()
    assert result.value_canonical == Decimal("99")
    assert result.uln == Decimal("33") and result.uln_source == "default"
    assert result.uln_multiple == Decimal("3")


def test_a_second_draw_at_the_same_time_is_refused_naming_the_field():
    subject = make_subject()
    lab_entry.record_draw(subject, JAN30, results(ALT=30))
    with pytest.raises(errors.EntryError) as error:
        lab_entry.record_draw(subject, JAN30, results(ALT=40))
    assert error.value.field == "collected_at"
    assert subject.draws.count() == 1


def test_correcting_a_typo_retracts_the_alert_it_caused_and_keeps_who_and_why():
    user = User.objects.create_user("coord")
    subject = make_subject()
    draw = lab_entry.record_draw(subject, JAN30, results(ALT=350, AST=30), user=user)
    alert = Alert.objects.get(subject=subject, kind="withhold_dose")
    result = draw.results.get(analyte="ALT")

    lab_entry.correct_result(result, value=Decimal(35), reason="transcription typo", user=user)

    alert.refresh_from_db()
    assert alert.status == "retracted"
    assert "no longer exists" in alert.status_reason
    assert Alert.objects.filter(subject=subject, kind="withhold_dose").count() == 1  # kept
    latest, previous = LabResult.history.filter(id=result.id).order_by("-history_date")[:2]
    assert (previous.value, latest.value) == (Decimal(350), Decimal(35))
    assert latest.history_change_reason == "transcription typo"
    assert latest.history_user == user
    assert alert.history.first().history_change_reason == "retracted by hepwatch rules"


def test_correction_without_a_reason_is_refused_and_nothing_changes():
    subject = make_subject()
    draw = lab_entry.record_draw(subject, JAN30, results(ALT=350))
    result = draw.results.get()
    with pytest.raises(errors.EntryError) as error:
        lab_entry.correct_result(result, value=Decimal(35), reason="  ")
    assert error.value.field == "reason"
    result.refresh_from_db()
    assert result.value == Decimal(350)


def test_correcting_back_reopens_the_retracted_alert():
    subject = make_subject()
    draw = lab_entry.record_draw(subject, JAN30, results(ALT=350))
    result = draw.results.get()
    lab_entry.correct_result(result, value=Decimal(35), reason="typo")
    lab_entry.correct_result(result, value=Decimal(350), reason="the first value was right")
    alert = Alert.objects.get(subject=subject, kind="withhold_dose")
    assert alert.status == "open" and not alert.closed_by_rules


def test_re_evaluation_is_idempotent():
    subject = make_subject()
    lab_entry.record_draw(subject, JAN30, results(ALT=250, AST=30))
    before = list(Alert.objects.values_list("id", "kind", "status", "explanation"))
    history_rows = Alert.history.count()
    runner.evaluate_subjects([subject.pk])
    runner.evaluate_subjects([subject.pk])
    assert list(Alert.objects.values_list("id", "kind", "status", "explanation")) == before
    assert Alert.history.count() == history_rows


def test_dose_while_withheld_is_raised_when_the_dose_is_recorded():
    subject = make_subject()
    lab_entry.record_draw(subject, JAN30, results(ALT=150), resulted_at=JAN30 + timedelta(hours=3))
    dose = record_dose(subject, datetime(2026, 2, 2, 9, tzinfo=UTC), Decimal(200))
    alert = Alert.objects.get(subject=subject, kind="dose_while_withheld")
    assert alert.dose == dose and alert.severity == "critical"


def test_overdue_alert_is_resolved_when_the_lab_arrives():
    subject = make_subject()
    record_dose(subject, datetime(2026, 1, 5, 9, tzinfo=UTC), Decimal(200))
    runner.evaluate_subjects([subject.pk], as_of=datetime(2026, 1, 20, tzinfo=UTC))
    overdue = Alert.objects.get(subject=subject, kind="lab_overdue")
    lab_entry.record_draw(subject, datetime(2026, 1, 21, 8, tzinfo=UTC), results(ALT=30, AST=30))
    overdue.refresh_from_db()
    assert overdue.status == "resolved" and overdue.closed_by_rules


def test_evaluating_as_of_an_earlier_time_drops_undecided_overdue_alerts_of_a_later_one():
    subject = make_subject()
    record_dose(subject, datetime(2026, 1, 5, 9, tzinfo=UTC), Decimal(200))
    runner.evaluate_subjects([subject.pk], as_of=datetime(2026, 3, 1, tzinfo=UTC))
    assert Alert.objects.filter(kind="lab_overdue").count() == 1
    runner.evaluate_subjects([subject.pk], as_of=datetime(2026, 1, 10, tzinfo=UTC))
    assert list(Alert.objects.values_list("kind", flat=True)) == ["missing_baseline"]


def test_changing_sex_re_resolves_default_ulns():
    subject = make_subject(sex="M")
    draw = lab_entry.record_draw(subject, JAN30, results(ALT=99))
    assert not Alert.objects.filter(kind="withhold_dose").exists()
    from subjects.services import update_subject

    update_subject(subject, reason="sex entered wrongly", sex="F")
    assert draw.results.get().uln == Decimal(33)
    assert Alert.objects.filter(kind="withhold_dose").exists()


def test_the_loader_reads_draws_results_doses_decisions_and_the_starting_regimen():
    """One loader (loader.load_histories) gives the rules each subject's whole history,
    for one subject or many at once."""
    subject = make_subject()
    other = make_subject("S-002", sex="F", arm="reduced")
    record_dose(subject, datetime(2026, 1, 20, 9, 0, tzinfo=UTC), Decimal(200))
    lab_entry.record_draw(subject, datetime(2026, 1, 5, 8, 0, tzinfo=UTC), results(ALT=20))
    lab_entry.record_draw(
        subject,
        JAN30,
        [
            lab_entry.ResultEntry("ALT", Decimal("2.25"), "ukat/L", Decimal("0.68")),
            lab_entry.ResultEntry("TBIL", Decimal(41), "umol/L"),
        ],
        symptoms=True,
        resulted_at=JAN30 + timedelta(hours=5),
    )
    lab_entry.record_draw(other, JAN30, results(AST=99))
    together = loader.load_histories([subject.pk, other.pk])
    alone = loader.history_of(subject)
    assert in_order(together[subject.pk]) == in_order(alone)
    assert len(alone.draws) == 2 and len(alone.doses) == 1
    late = max(alone.draws, key=lambda d: d.collected_at)
    assert late.symptoms and late.resulted_at == JAN30 + timedelta(hours=5)
    assert {r.analyte: r.multiple for r in late.results}["ALT"] == Fraction(135) / Fraction("40.8")
    assert [d.collected_at.utcoffset() for d in alone.draws] == [UTC.utcoffset(None)] * 2
    assert (alone.start_regimen.code, together[other.pk].start_regimen.code) == (
        "standard",
        "reduced",
    )


def in_order(history):
    """A history with its draws and doses in time order and results by analyte (the rules do
    not depend on the order; see test_rules_properties)."""
    from dataclasses import replace

    return replace(
        history,
        draws=tuple(
            replace(d, results=tuple(sorted(d.results, key=lambda r: r.analyte)))
            for d in sorted(history.draws, key=lambda d: d.collected_at)
        ),
        doses=tuple(sorted(history.doses, key=lambda d: d.administered_at)),
    )


@pytest.mark.parametrize(
    "subjects, tasks_queued",
    [(1, [1]), (3, [2, 1]), (150, [75, 75]), (401, [200, 200, 1]), (1000, [200] * 5)],
)
def test_an_evaluation_request_keeps_both_worker_processes_busy(settings, subjects, tasks_queued):
    settings.CELERY_WORKER_CONCURRENCY = 2
    chunks = tasks.evaluation_chunks(range(subjects))
    assert [len(c) for c in chunks] == tasks_queued
    assert sorted(pk for c in chunks for pk in c) == list(range(subjects))
