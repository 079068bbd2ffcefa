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
from subjects.models import Dose, Regimen, Subject

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


# ---- evaluation ---------------------------------------------------------------------------


def history_of(subject) -> rules.History:
    """One subject's whole history for the rules."""
    return load_histories([subject.pk])[subject.pk]


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


def evaluate_subjects(subject_pks, as_of=None, *, because=None):
    """Re-evaluate these subjects' whole histories and reconcile their alerts. `because` says
    why alerts the rules no longer give are retracted, when that is not a change of data (a
    change of the study's rule set).

    Loads each chunk of subjects in a handful of queries; one transaction per chunk, holding a
    lock on the subjects' safety states so two evaluations of one subject never interleave.
    Returns the number of subjects evaluated.
    """
    subject_pks = sorted(
        Subject.objects.filter(pk__in=set(subject_pks)).values_list("pk", flat=True)
    )
    done = 0
    for start in range(0, len(subject_pks), EVALUATION_CHUNK):
        done += _evaluate_chunk(subject_pks[start : start + EVALUATION_CHUNK], as_of, because)
    return done


def load_histories(pks) -> dict:
    """The histories of these subjects for the rules: draws with their results, doses, signed
    decisions, flags and regimens, read as plain rows (no model instances). The one loader."""
    draws, results, doses, decisions = {}, {}, {}, {}
    subject_draws = LabDraw.objects.filter(subject_id__in=pks).order_by()
    for pk, subject_pk, collected_at, resulted_at, symptoms in _rows(
        subject_draws.values_list(
            "pk", "subject_id", "collected_at", "resulted_at", "symptoms_of_liver_injury"
        )
    ):
        draws.setdefault(subject_pk, []).append((pk, collected_at, resulted_at, symptoms))
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
    subjects = list(
        Subject.objects.filter(pk__in=pks).values_list(
            "pk",
            "active_liver_disease",
            "study__maintenance_interval_days",
            "arm__regimen_id",
            "study__rule_set",
        )
    )
    regimens = regimens_for_rules(Regimen.objects.filter(study__subjects__pk__in=pks).distinct())
    for pk, subject_pk, action, signed_at, regimen_id, replaces_id, first, last, username in _rows(
        Decision.objects.filter(subject_id__in=pks)
        .order_by()
        .values_list(
            "pk",
            "subject_id",
            "action",
            "signed_at",
            "regimen_id",
            "replaces_id",
            "reviewer__first_name",
            "reviewer__last_name",
            "reviewer__username",
        )
    ):
        decisions.setdefault(subject_pk, []).append(
            rules.Decision(
                pk,
                action,
                signed_at,
                regimens.get(regimen_id),
                replaces_id,
                f"{first} {last}".strip() or username,
            )
        )
    return {
        pk: rules.History(
            draws=tuple(
                rules.Draw(key, collected_at, tuple(results[key]), symptoms, resulted_at)
                for key, collected_at, resulted_at, symptoms in draws.get(pk, ())
            ),
            doses=tuple(doses.get(pk, ())),
            decisions=tuple(decisions.get(pk, ())),
            active_liver_disease=liver,
            maintenance_days=interval or settings.HEPWATCH_MAINTENANCE_DAYS,
            start_regimen=regimens.get(regimen_id),
            rule_set=rule_set,
        )
        for pk, liver, interval, regimen_id, rule_set in subjects
    }


def regimens_for_rules(regimens) -> dict:
    """{pk: rules.Regimen} of these Regimen rows."""
    return {
        pk: rules.Regimen(code, name, dose_mg, per_week)
        for pk, code, name, dose_mg, per_week in regimens.values_list(
            "pk", "code", "name", "dose_mg", "administrations_per_week"
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
def _evaluate_chunk(pks, as_of, because=None):
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
    histories = load_histories(pks)
    regimen_pks = {
        (study_pk, code): pk
        for pk, study_pk, code in Regimen.objects.filter(study__subjects__pk__in=pks)
        .distinct()
        .values_list("pk", "study_id", "code")
    }
    study_of = dict(Subject.objects.filter(pk__in=pks).values_list("pk", "study_id"))
    alerts = {}
    for alert in Alert.objects.filter(subject_id__in=pks).order_by():
        alerts.setdefault(alert.subject_id, []).append(alert)
    new_alerts = []
    outcome = {}  # (state, regimen pk, regimen since, version seen) -> subject pks
    for pk, history in histories.items():
        assessment = rules.evaluate(history, as_of)
        new_alerts += reconcile(pk, assessment, alerts.get(pk, []), now, because)
        regimen = assessment.regimen
        regimen_pk = regimen_pks.get((study_of[pk], regimen.code)) if regimen else None
        key = (assessment.state, regimen_pk, assessment.regimen_since, versions[pk])
        outcome.setdefault(key, []).append(pk)
    for alert in new_alerts:
        by_the_engine(alert)
    insert_with_history(new_alerts, Alert, change_reason="raised by " + rules.ENGINE_NAME)
    if live and new_alerts:
        opened = [alert.pk for alert in new_alerts]
        transaction.on_commit(lambda: alerts_opened.send(sender=Alert, alert_pks=opened))
    for (state, regimen_pk, since, version), subject_pks in outcome.items():
        SubjectSafetyState.objects.filter(subject_id__in=subject_pks).update(
            state=state,
            regimen_id=regimen_pk,
            regimen_since=since,
            evaluated_version=version,
            evaluated_at=now,
            evaluated_as_of=as_of,
        )
    return len(histories)


def reconcile(subject_pk, assessment, stored, now, because=None):
    """Bring stored alerts in line with an assessment; returns the alerts to create.

    An alert the assessment still demands keeps what reviewers did with it (their decisions,
    acknowledgement or dismissal); its wording, due date and the engine's resolution follow the
    data, so a correction can reopen what the engine had resolved. An alert it no longer demands
    is never deleted: a lab-driven one is retracted (its trigger was corrected away); a
    time-driven one whose moment has passed is resolved. The one exception is an undecided
    time-driven alert raised by an evaluation at a later time than this one (`evaluate --as-of`
    going back in time): it never existed as of this time, so it goes, and its audit history
    keeps the record.
    """
    by_identity = {(a.kind, a.triggered_at): a for a in stored}
    rule_set = assessment.rule_set
    to_create = []
    demanded = set()
    for finding in assessment.findings:
        identity = (finding.kind, finding.triggered_at)
        demanded.add(identity)
        alert = by_identity.get(identity)
        if alert is None:
            alert = Alert(
                subject_id=subject_pk,
                kind=finding.kind,
                rule=finding.rule.id,
                severity=finding.severity,
                severity_rank=rules.SEVERITY_ORDER[finding.severity],
                draw_id=finding.draw_key,
                dose_id=finding.dose_key,
                triggered_at=finding.triggered_at,
                due_by=finding.due_by,
                case_at=finding.case_at,
                opened_at=now,
                opened_as_of=assessment.as_of,
                explanation=finding.explanation,
                rule_set=rule_set.name,
                rule_set_version=rule_set.version,
            )
            if finding.resolution:
                alert.status = Alert.Status.RESOLVED
                alert.status_reason = finding.resolution
                alert.closed_by_rules = True
            to_create.append(alert)
            continue
        changes = {
            "explanation": finding.explanation,
            "due_by": finding.due_by,
            "draw_id": finding.draw_key,
            "dose_id": finding.dose_key,
            "case_at": finding.case_at,
        }
        reason = "updated by re-evaluation"
        dismissed = alert.status == Alert.Status.RESOLVED and not alert.closed_by_rules
        if finding.resolution and not dismissed:
            changes.update(
                status=Alert.Status.RESOLVED, status_reason=finding.resolution, closed_by_rules=True
            )
            reason = "resolved by " + rules.ENGINE_NAME
        elif not finding.resolution and alert.closed_by_rules:
            acknowledged = alert.acknowledged_at is not None
            changes.update(
                status=Alert.Status.ACKNOWLEDGED if acknowledged else Alert.Status.OPEN,
                status_reason="Raised again: the need it answered is back.",
                closed_by_rules=False,
            )
            reason = "raised again by " + rules.ENGINE_NAME
        if alert.status == Alert.Status.RETRACTED:
            changes.update(rule_set=rule_set.name, rule_set_version=rule_set.version)
        _update(alert, changes, reason)

    for identity, alert in by_identity.items():
        if identity in demanded:
            continue
        time_rule = alert.kind in rules.TIME_RULE_KINDS
        if time_rule and alert.opened_as_of > assessment.as_of and not alert.decisions.exists():
            alert._change_reason = f"not raised as of {assessment.as_of:%Y-%m-%d %H:%M} UTC"
            by_the_engine(alert).delete()
        elif alert.status == Alert.Status.RETRACTED or (
            time_rule and alert.status == Alert.Status.RESOLVED
        ):
            continue
        elif time_rule and not because:
            _update(
                alert,
                {
                    "status": Alert.Status.RESOLVED,
                    "status_reason": "The lab it asked for came: no longer overdue as of "
                    f"{rules.when(assessment.as_of)}.",
                    "closed_by_rules": True,
                },
                "resolved by " + rules.ENGINE_NAME,
            )
        else:
            why = (
                f"Retracted as of {rules.when(assessment.as_of)}: {because}."
                if because
                else "Its trigger no longer exists as of "
                f"{rules.when(assessment.as_of)}: the data it rested on changed."
            )
            _update(
                alert,
                {
                    "status": Alert.Status.RETRACTED,
                    "status_reason": why,
                    "closed_by_rules": True,
                },
                "retracted by " + rules.ENGINE_NAME,
            )
    return to_create


def _update(alert, changes, reason):
    changed = {k: v for k, v in changes.items() if getattr(alert, k) != v}
    if not changed:
        return
    for key, value in changed.items():
        setattr(alert, key, value)
    alert._change_reason = reason
    by_the_engine(alert).save(update_fields=list(changed))


def by_the_engine(alert):
    """Record in the audit history that the rules, not a person, wrote this alert. Evaluation
    may run inside someone's request (on the embedded default, or a request that evaluates on
    commit); simple_history would otherwise credit that request's user."""
    alert._history_user = None
    return alert


@transaction.atomic
def set_rule_set(study, name, *, reason, user=None):
    """Switch the study to another published rule set, with a reason kept in its audit
    history, and re-evaluate every subject: alerts the new set no longer gives are retracted
    with the reason "rule set changed"."""
    if name not in rules.RULE_SETS:
        raise EntryError(
            "rule_set", f"{name!r} is not a rule set (use {', '.join(rules.RULE_SETS)})"
        )
    try:
        reason = inputs.visible_text(reason or "")
    except ValueError:
        raise EntryError("reason", "a reason is required to change the study's rule set") from None
    old = rules.RULE_SETS.get(study.rule_set, rules.DEFAULT_RULE_SET)
    new = rules.RULE_SETS[name]
    if name == study.rule_set:
        raise EntryError("rule_set", f"the study already follows {new.label}")
    study.rule_set = name
    study._change_reason = reason
    if user is not None:
        study._history_user = user
    study.save(update_fields=["rule_set"])
    pks = list(Subject.objects.filter(study=study).values_list("pk", flat=True))
    mark_changed(pks, evaluate=False)
    evaluate_subjects(pks, because=f"rule set changed from {old.label} to {new.label} ({reason})")
    return new


def evaluate_now(subject_pks):
    """Record a change to these subjects and evaluate them inside the caller's transaction, so
    what the change closes (a case a decision answers) is closed when the page returns."""
    mark_changed(subject_pks, evaluate=False)
    evaluate_subjects(subject_pks)


def unevaluated_subject_pks():
    return list(
        SubjectSafetyState.objects.filter(evaluated_version__lt=F("data_version")).values_list(
            "subject_id", flat=True
        )
    )


def all_subject_pks():
    return list(Subject.objects.values_list("pk", flat=True))
