"""Writes: lab draws, corrections, evaluation and reconciliation of alerts. Each public function
is one transaction; evaluation is requested on commit so it never sees uncommitted data, and the
entry never fails because the broker is down (the sweep catches up)."""

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.pq import Format
from simple_history.utils import bulk_update_with_history

from subjects import inputs
from subjects.models import Dose, Subject

from . import rules, units
from .bulk import insert_with_history
from .models import Alert, Decision, LabDraw, LabResult, ReferenceRange, SubjectSafetyState
from .signals import alerts_opened

log = logging.getLogger(__name__)

EVALUATION_CHUNK = 200


class EntryError(ValueError):
    """Bad input, naming the field it concerns."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ResultEntry:
    analyte: str
    value: Decimal
    unit: str
    reported_uln: Decimal | None = None


# ---- evaluation requests ------------------------------------------------------------------


def mark_changed(subject_pks, *, evaluate=True):
    """Record that these subjects' safety data changed; evaluate them once this commits.

    A bulk import passes evaluate=False and asks once at its end, so a subject is evaluated on
    its complete data rather than once per file.
    """
    subject_pks = sorted(set(subject_pks))
    if not subject_pks:
        return
    now = timezone.now()
    existing = set(
        SubjectSafetyState.objects.filter(subject_id__in=subject_pks).values_list(
            "subject_id", flat=True
        )
    )
    SubjectSafetyState.objects.bulk_create(
        [SubjectSafetyState(subject_id=pk) for pk in subject_pks if pk not in existing],
        ignore_conflicts=True,
    )
    SubjectSafetyState.objects.filter(subject_id__in=subject_pks).update(
        data_version=F("data_version") + 1, data_changed_at=now
    )
    if evaluate:
        transaction.on_commit(lambda: enqueue_evaluation(subject_pks))


def enqueue_evaluation(subject_pks):
    """Queue evaluation; if the broker is unreachable, log it and leave it to the sweep."""
    from . import tasks

    subject_pks = sorted(set(subject_pks))
    try:
        for start in range(0, len(subject_pks), EVALUATION_CHUNK):
            tasks.evaluate_subjects.delay(subject_pks[start : start + EVALUATION_CHUNK])
    except Exception:
        log.exception(
            "could not queue evaluation of %d subject(s); the sweep will retry", len(subject_pks)
        )


# ---- lab entry ----------------------------------------------------------------------------


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
    subject, collected_at, results, *, symptoms=False, lab_name="", user=None, reason=""
) -> LabDraw:
    """Save a whole draw with its results and queue its evaluation."""
    if not results:
        raise EntryError("results", "enter at least one result")
    if LabDraw.objects.filter(subject=subject, collected_at=collected_at).exists():
        raise EntryError(
            "collected_at",
            f"a draw is already recorded for {subject} at {collected_at:%Y-%m-%d %H:%M}",
        )
    draw = LabDraw(
        subject=subject,
        collected_at=collected_at,
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


# ---- evaluation ---------------------------------------------------------------------------


def history_of(subject, draws, doses, results_by_draw=None) -> rules.History:
    """A subject's history for the rules, from model instances. Results come from
    `results_by_draw` ({draw pk: [LabResult]}) when given, else from each draw's results."""
    if results_by_draw is None:
        results_by_draw = {draw.pk: draw.results.all() for draw in draws}
    return rules.History(
        draws=tuple(
            rules.Draw(
                key=draw.pk,
                collected_at=draw.collected_at,
                symptoms=draw.symptoms_of_liver_injury,
                results=tuple(
                    result_for_rules(r.analyte, r.value, r.unit, r.reported_uln, r.uln)
                    for r in results_by_draw.get(draw.pk, ())
                ),
            )
            for draw in draws
        ),
        doses=tuple(
            rules.Dose(key=d.pk, administered_at=d.administered_at, dose_mg=d.dose_mg)
            for d in doses
        ),
        active_liver_disease=subject.active_liver_disease,
        maintenance_days=subject.study.maintenance_days,
    )


@lru_cache(maxsize=8192)
def result_for_rules(analyte, value, unit, reported_uln, uln) -> rules.Result:
    """A stored result as the rules see it: exact canonical value and ULN.

    Kept for the next identical result (a Result is immutable): liver enzymes come as a few
    hundred distinct whole numbers against a few ULNs, and the exact arithmetic is most of the
    cost of loading a history.
    """
    return rules.Result(
        analyte=analyte,
        value=units.to_canonical(analyte, value, unit),
        uln=units.exact_uln(analyte, unit, reported_uln, uln),
        entered_value=value,
        entered_unit=unit,
    )


def evaluate_subjects(subject_pks, as_of=None):
    """Re-evaluate these subjects' whole histories and reconcile their alerts.

    Loads each chunk of subjects in a handful of queries; one transaction per chunk, holding a
    lock on the subjects' safety states so two evaluations of one subject never interleave.
    Returns the number of subjects evaluated.
    """
    subject_pks = sorted(
        Subject.objects.filter(pk__in=set(subject_pks)).values_list("pk", flat=True)
    )
    done = 0
    for start in range(0, len(subject_pks), EVALUATION_CHUNK):
        done += _evaluate_chunk(subject_pks[start : start + EVALUATION_CHUNK], as_of)
    return done


def _histories(pks):
    """Histories of these subjects for the rules, read as plain rows (no model instances)."""
    draws, results, doses = {}, {}, {}
    subject_draws = LabDraw.objects.filter(subject_id__in=pks).order_by()
    for pk, subject_pk, collected_at, symptoms in _rows(
        subject_draws.values_list("pk", "subject_id", "collected_at", "symptoms_of_liver_injury")
    ):
        draws.setdefault(subject_pk, []).append((pk, collected_at, symptoms))
        results[pk] = []
    # Of these draws by a subquery, not by a join on the subject: the planner then reads them
    # through the draw index instead of scanning every result of the study.
    for draw_id, *fields in _rows(
        LabResult.objects.filter(draw_id__in=subject_draws.values("pk"))
        .order_by()
        .values_list("draw_id", "analyte", "value", "unit", "reported_uln", "uln")
    ):
        results[draw_id].append(result_for_rules(*fields))
    for pk, subject_pk, administered_at, dose_mg in _rows(
        Dose.objects.filter(subject_id__in=pks)
        .order_by()
        .values_list("pk", "subject_id", "administered_at", "dose_mg")
    ):
        doses.setdefault(subject_pk, []).append(rules.Dose(pk, administered_at, dose_mg))
    return {
        pk: rules.History(
            draws=tuple(
                rules.Draw(key, collected_at, tuple(results[key]), symptoms)
                for key, collected_at, symptoms in draws.get(pk, ())
            ),
            doses=tuple(doses.get(pk, ())),
            active_liver_disease=liver,
            maintenance_days=interval or settings.HEPWATCH_MAINTENANCE_DAYS,
        )
        for pk, liver, interval in Subject.objects.filter(pk__in=pks).values_list(
            "pk", "active_liver_disease", "study__maintenance_interval_days"
        )
    }


def _rows(values_list):
    """The rows of a values_list() of plain columns. On PostgreSQL timestamps are read by
    psycopg's own loader: Django's is pure Python, and was a fifth of an evaluation. Both give
    the same aware UTC datetimes; integers, text, decimals and booleans need no conversion."""
    if connection.vendor != "postgresql":
        return list(values_list)
    sql, params = values_list.query.sql_with_params()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.adapters.register_loader("timestamptz", _psycopg_timestamptz_loader())
        cursor.execute(sql, params)
        return cursor.fetchall()


@lru_cache(maxsize=1)
def _psycopg_timestamptz_loader():
    """psycopg's own loader (its C one when installed), in place of the one Django sets."""
    return psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)


@transaction.atomic
def _evaluate_chunk(pks, as_of):
    now = timezone.now()
    live = as_of is None  # evaluating the present: what it opens is news for the reviewers
    as_of = as_of or now
    SubjectSafetyState.objects.bulk_create(
        [SubjectSafetyState(subject_id=pk) for pk in pks], ignore_conflicts=True
    )
    versions = dict(
        SubjectSafetyState.objects.select_for_update()
        .filter(subject_id__in=pks)
        .values_list("subject_id", "data_version")
    )
    histories = _histories(pks)
    alerts = {}
    for alert in Alert.objects.filter(subject_id__in=pks).order_by():
        alerts.setdefault(alert.subject_id, []).append(alert)
    discontinued_by_reviewer = set(
        Decision.objects.filter(
            alert__subject_id__in=pks, action=Decision.Action.DISCONTINUE
        ).values_list("alert__subject_id", flat=True)
    )
    new_alerts = []
    outcome = {}  # (state, version seen) -> subject pks
    for pk, history in histories.items():
        assessment = rules.evaluate(history, as_of)
        new_alerts += reconcile(pk, assessment, alerts.get(pk, []), now)
        state = rules.DISCONTINUED if pk in discontinued_by_reviewer else assessment.state
        outcome.setdefault((state, versions[pk]), []).append(pk)
    insert_with_history(new_alerts, Alert, change_reason="raised by " + rules.RULES_VERSION)
    if live and new_alerts:
        opened = [alert.pk for alert in new_alerts]
        transaction.on_commit(lambda: alerts_opened.send(sender=Alert, alert_pks=opened))
    for (state, version), subject_pks in outcome.items():
        SubjectSafetyState.objects.filter(subject_id__in=subject_pks).update(
            state=state, evaluated_version=version, evaluated_at=now, evaluated_as_of=as_of
        )
    return len(histories)


def reconcile(subject_pk, assessment, stored, now):
    """Bring stored alerts in line with an assessment; returns the alerts to create.

    Alerts the assessment still demands keep their status and decisions (their wording and due
    date follow the data). Alerts it no longer demands are never deleted: a lab-driven one is
    retracted (its trigger was corrected away); a time-driven one whose moment has passed is
    resolved. The one exception is an undecided time-driven alert raised by an evaluation at a
    later time than this one (`evaluate --as-of` going back in time): it never existed as of this
    time, so it goes, and its audit history keeps the record.
    """
    by_identity = {(a.kind, a.triggered_at): a for a in stored}
    to_create = []
    demanded = set()
    for finding in assessment.findings:
        identity = (finding.kind, finding.triggered_at)
        demanded.add(identity)
        alert = by_identity.get(identity)
        if alert is None:
            to_create.append(
                Alert(
                    subject_id=subject_pk,
                    kind=finding.kind,
                    rule=finding.rule.id,
                    severity=finding.severity,
                    severity_rank=rules.SEVERITY_ORDER[finding.severity],
                    draw_id=finding.draw_key,
                    dose_id=finding.dose_key,
                    triggered_at=finding.triggered_at,
                    due_by=finding.due_by,
                    opened_at=now,
                    opened_as_of=assessment.as_of,
                    explanation=finding.explanation,
                )
            )
            continue
        changes = {
            "explanation": finding.explanation,
            "due_by": finding.due_by,
            "draw_id": finding.draw_key,
            "dose_id": finding.dose_key,
        }
        reason = "updated by re-evaluation"
        if alert.closed_by_rules:
            changes.update(status=Alert.Status.OPEN, status_reason="", closed_by_rules=False)
            reason = "raised again: its trigger is present again"
        _update(alert, changes, reason)

    for identity, alert in by_identity.items():
        if identity in demanded or alert.closed_by_rules:
            continue
        time_rule = alert.kind in rules.TIME_RULE_KINDS
        if time_rule and alert.opened_as_of > assessment.as_of and not alert.decisions.exists():
            alert._change_reason = f"not raised as of {assessment.as_of:%Y-%m-%d %H:%M} UTC"
            alert.delete()
        elif time_rule:
            if alert.status != Alert.Status.RESOLVED:
                _update(
                    alert,
                    {
                        "status": Alert.Status.RESOLVED,
                        "status_reason": f"No longer overdue as of {rules.when(assessment.as_of)}.",
                        "closed_by_rules": True,
                    },
                    "resolved by re-evaluation",
                )
        else:
            _update(
                alert,
                {
                    "status": Alert.Status.RETRACTED,
                    "status_reason": "Its trigger no longer exists as of "
                    f"{rules.when(assessment.as_of)}: the data it rested on changed.",
                    "closed_by_rules": True,
                },
                "retracted by re-evaluation",
            )
    return to_create


def _update(alert, changes, reason):
    changed = {k: v for k, v in changes.items() if getattr(alert, k) != v}
    if not changed:
        return
    for key, value in changed.items():
        setattr(alert, key, value)
    alert._change_reason = reason
    alert.save(update_fields=list(changed))


def unevaluated_subject_pks():
    return list(
        SubjectSafetyState.objects.filter(evaluated_version__lt=F("data_version")).values_list(
            "subject_id", flat=True
        )
    )


def all_subject_pks():
    return list(Subject.objects.values_list("pk", flat=True))
