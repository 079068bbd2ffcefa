"""Lab entry: whole draws, corrections of a saved value, ULNs resolved again. Each write is
one transaction and asks for evaluation on commit."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from lib.bulk import insert_with_history
from monitoring import units
from monitoring.evaluation.runner import mark_changed
from monitoring.models import LabDraw, LabResult, ReferenceRange
from monitoring.services.errors import EntryError
from subjects import inputs
from subjects.models import Subject


@dataclass(frozen=True)
class ResultEntry:
    analyte: str
    value: Decimal
    unit: str
    reported_uln: Decimal | None = None


def reference_ranges():
    return [r.as_spec() for r in ReferenceRange.objects.all()]


def fill_result(result: LabResult, subject: Subject, collected_at, ranges) -> LabResult:
    """Set the canonical value, ULN and ×ULN of a result from its value, unit and reported ULN."""
    measured = units.measure(
        result.analyte,
        result.value,
        result.unit,
        result.reported_uln,
        subject.sex,
        subject.birth_date,
        collected_at.date(),
        ranges,
    )
    return store_measurement(result, measured)


def store_measurement(result: LabResult, measured: units.Measurement) -> LabResult:
    """Set a result's normalised unit, canonical value, ULN and ×ULN from `measured`."""
    for name, value in measured._asdict().items():
        setattr(result, name, value)
    return result


def refresh_ulns(subjects):
    """Resolve ULNs again for these subjects' results (after a change of sex or birth date)."""
    ranges = reference_ranges()
    by_pk = {s.pk: s for s in subjects}
    changed = []
    for result in LabResult.objects.filter(draw__subject__in=subjects).select_related("draw"):
        before = (result.uln, result.uln_source, result.uln_multiple)
        fill_result(result, by_pk[result.draw.subject_id], result.draw.collected_at, ranges)
        if (result.uln, result.uln_source, result.uln_multiple) != before:
            changed.append(result)
    if changed:
        bulk_update_with_history(
            changed,
            LabResult,
            ["uln", "uln_source", "uln_multiple"],
            batch_size=2000,
            default_change_reason="ULN resolved again after a change to the subject",
        )


@transaction.atomic
def record_draw(
    subject,
    collected_at,
    results,
    *,
    resulted_at=None,
    symptoms=False,
    lab_name="",
    user=None,
    reason="",
) -> LabDraw:
    """Save a whole draw with its results and queue its evaluation. `resulted_at`, when the
    results were known, defaults to the moment they are entered."""
    if not results:
        raise EntryError("results", "enter at least one result")
    resulted_at = resulted_at or timezone.now()
    if resulted_at < collected_at:
        raise EntryError("resulted_at", "the results cannot be known before the blood was drawn")
    if LabDraw.objects.filter(subject=subject, collected_at=collected_at).exists():
        raise EntryError(
            "collected_at",
            f"a draw is already recorded for {subject} at {collected_at:%Y-%m-%d %H:%M}",
        )
    draw = LabDraw(
        subject=subject,
        collected_at=collected_at,
        resulted_at=resulted_at,
        lab_name=lab_name,
        symptoms_of_liver_injury=symptoms,
        entered_by=user,
    )
    draw._change_reason = reason or "entered"
    draw.save()
    ranges = reference_ranges()
    objs = [
        fill_result(
            LabResult(
                draw=draw,
                analyte=r.analyte,
                value=r.value,
                unit=r.unit,
                reported_uln=r.reported_uln,
            ),
            subject,
            collected_at,
            ranges,
        )
        for r in results
    ]
    insert_with_history(objs, LabResult, change_reason=reason or "entered", user=user)
    mark_changed([subject.pk])
    return draw


@transaction.atomic
def correct_result(result: LabResult, *, value, unit=None, reported_uln=None, reason, user=None):
    """Change a saved value; the reason is required and kept in the audit history."""
    try:
        reason = inputs.visible_text(reason)
    except ValueError:
        raise EntryError("reason", "a reason is required to change a saved lab value") from None
    result = LabResult.objects.select_for_update().select_related("draw__subject").get(pk=result.pk)
    result.value = value
    if unit is not None:
        result.unit = unit
    result.reported_uln = reported_uln
    fill_result(result, result.draw.subject, result.draw.collected_at, reference_ranges())
    result._change_reason = reason
    if user is not None:
        result._history_user = user
    result.save()
    mark_changed([result.draw.subject_id])
    return result
