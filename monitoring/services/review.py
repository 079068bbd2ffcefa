"""Reviewers' signed decisions: the actions section 3 allows a subject now, decisions signed in
the app or transcribed from paper, and acknowledgement of low and medium alerts."""

from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from lib import bulk
from monitoring import rules
from monitoring.evaluation import loader, runner
from monitoring.models import Alert, Decision, SubjectSafetyState
from monitoring.people import name_of
from monitoring.services import errors
from subjects import access, inputs
from subjects.models import Regimen, Subject

SIGNATURE_MEANING = (
    "Electronic signature of {name} ({username}), safety reviewer: I have reviewed this alert "
    "and the subject's data, and I am responsible for this decision."
)
TRANSCRIBED_MEANING = (
    "Transcribed by {entered_by} from a record signed by {name} ({username}); not an electronic "
    "signature."
)
BULK_SEVERITIES = ("low", "medium")
# What a decision does to the alerts it answers (the engine resolves the rest).
ACKNOWLEDGING = (
    rules.ACKNOWLEDGE,
    rules.WITHHOLD,
    rules.CONFIRM,
    rules.RESUME_SAME_DOSE,
    rules.RESUME_REDUCED_DOSE,
    rules.DISCONTINUE,
)
DOSING_ERROR_KINDS = ("dose_while_withheld", "dose_off_regimen")


class DecisionError(errors.EntryError):
    """A decision that cannot be signed, naming the field it concerns."""


# ---- what may be decided, and dosed, now -------------------------------------------------


@dataclass(frozen=True)
class ActionChoice:
    action: str
    label: str
    refused: str | None  # why section 3 does not allow it now; None: allowed


def action_choices(subject: Subject, alerts, at=None) -> list[ActionChoice]:
    """Every decision action, each with why it is not allowed for this subject now."""
    history = loader.history_of(subject)
    at = at or timezone.now()
    kinds = [a.kind for a in alerts]
    offered = reductions(subject, history, at)
    choices = []
    for action, label in Decision.Action.choices:
        target = None
        if action == rules.RESUME_REDUCED_DOSE and offered:
            target = loader.regimens_for_rules(Regimen.objects.filter(pk=offered[0].pk))
            target = target[offered[0].pk]
        refused = rules.refusal(history, action, at, regimen=target, alert_kinds=kinds)
        if refused is None and action == rules.RESUME_REDUCED_DOSE and not offered:
            refused = "the study has no regimen that reduces the one in force"
        choices.append(ActionChoice(action, label, refused))
    return choices


def reductions(subject: Subject, history=None, at=None) -> list[Regimen]:
    """The study's regimens that reduce the one in force at `at`."""
    history = history or loader.history_of(subject)
    at = at or timezone.now()
    current, _ = rules.timeline_of(history).regimen_at(at)
    regimens = Regimen.objects.filter(study_id=subject.study_id)
    by_pk = loader.regimens_for_rules(regimens)
    return [r for r in regimens if current is None or by_pk[r.pk].is_reduction_of(current)]


# ---- decisions ----------------------------------------------------------------------------


def answerable_alerts(alert: Alert):
    """What one signed decision on this alert answers: the active alerts of its case (the
    episode's R3, R4, R5, R7, R8 and its R6), or the alert alone."""
    if alert.case_at is None:
        return [alert] if alert.is_active else []
    return list(
        Alert.objects.filter(
            subject_id=alert.subject_id,
            case_at=alert.case_at,
            status__in=(Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED),
        ).order_by("severity_rank", "triggered_at")
    )


@transaction.atomic
def record_decision(
    subject: Subject,
    alerts,
    reviewer,
    action,
    reason,
    password,
    *,
    regimen: Regimen | None = None,
    replaces: Decision | None = None,
) -> Decision:
    """Sign a decision: the reviewer re-enters their password as an electronic signature.

    Refused (nothing written) when section 3 does not allow it for this subject now. The
    subject is evaluated at once, so the case it answers resolves before the page returns.
    """
    if not access.can_decide(reviewer):
        raise DecisionError("reviewer", "only a safety reviewer can sign decisions")
    if not password or not reviewer.check_password(password):
        raise DecisionError("password", "the password does not match: the decision is not signed")
    SubjectSafetyState.objects.get_or_create(subject=subject)
    SubjectSafetyState.objects.select_for_update().filter(subject=subject).first()
    alerts = list(Alert.objects.select_for_update().filter(pk__in=[a.pk for a in alerts]))
    if any(a.subject_id != subject.pk for a in alerts):
        raise DecisionError("alerts", "a decision answers alerts of one subject only")
    decision = _checked_decision(
        subject,
        alerts,
        action,
        reason,
        signed_at=timezone.now(),
        reviewer=reviewer,
        regimen=regimen,
        replaces=replaces,
    )
    decision.signature_meaning = SIGNATURE_MEANING.format(
        name=name_of(reviewer), username=reviewer.get_username()
    )
    _save(decision, alerts, reviewer)
    runner.evaluate_now([subject.pk])
    return decision


def _checked_decision(
    subject,
    alerts,
    action,
    reason,
    *,
    signed_at,
    reviewer,
    regimen=None,
    replaces=None,
    history=None,
    regimens=None,
    peaks=None,
) -> Decision:
    """The decision, unsaved, if section 3 allows it against `history` (by default the
    subject's as stored); else DecisionError naming the field. `regimens` ({pk: rules.Regimen})
    holds the regimen when the caller has read it already; `peaks` the history's peak draws
    (rules.peak_draws), when the caller checks several decisions on the same draws."""
    if action not in Decision.Action.values:
        raise DecisionError("action", f"unknown action {action!r}")
    try:
        reason = inputs.visible_text(reason or "")
    except ValueError:
        raise DecisionError("reason", "a reason is required (visible text)") from None
    if action == rules.RESUME_REDUCED_DOSE:
        if regimen is None:
            raise DecisionError("regimen", "choose the reduced regimen to re-start on")
        if regimen.study_id != subject.study_id:
            raise DecisionError("regimen", f"{regimen.code} is not a regimen of this study")
    elif regimen is not None:
        raise DecisionError("regimen", "only a resume at a reduced dose names a regimen")
    if replaces is not None:
        if replaces.subject_id != subject.pk:
            raise DecisionError("replaces", "the decision it replaces is another subject's")
        if Decision.objects.filter(replaces=replaces).exists():
            raise DecisionError("replaces", "that decision has already been amended")
    target = {}
    if regimen is not None:
        target = regimens or loader.regimens_for_rules(Regimen.objects.filter(pk=regimen.pk))
    history = history or loader.history_of(subject)
    if replaces is not None:
        history = replace(
            history, decisions=tuple(d for d in history.decisions if d.key != replaces.pk)
        )
    refused = rules.refusal(
        history,
        action,
        signed_at,
        regimen=target.get(regimen.pk) if regimen else None,
        alert_kinds=[a.kind for a in alerts],
        peaks=peaks,
    )
    if refused:
        field = (
            "regimen"
            if action == rules.RESUME_REDUCED_DOSE and "reduction" in refused
            else "action"
        )
        label = Decision.Action(action).label
        raise DecisionError(field, f"{label} is not allowed: {refused}.")
    return Decision(
        subject=subject,
        reviewer=reviewer,
        action=action,
        regimen=regimen,
        replaces=replaces,
        reason=reason,
        signed_at=signed_at,
    )


def _save(decision: Decision, alerts, user):
    decision._change_reason = decision.reason
    decision._history_user = user
    decision.save()
    if alerts:  # a new decision links nothing else
        decision.alerts.set(alerts)
    who = name_of(decision.reviewer)
    label = decision.get_action_display()
    for alert in alerts:
        if not alert.is_active:
            continue
        if decision.action == rules.DISMISS:
            _set(
                alert,
                {
                    "status": Alert.Status.RESOLVED,
                    "status_reason": f"Dismissed by {who}: {decision.reason}",
                    "closed_by_rules": False,
                },
                user,
                f"dismissed by {who}",
            )
        elif decision.action in ACKNOWLEDGING:
            changes = {"acknowledged_at": decision.signed_at, "acknowledged_by": decision.reviewer}
            if alert.status == Alert.Status.OPEN:
                changes.update(
                    status=Alert.Status.ACKNOWLEDGED, status_reason=f"{label} signed by {who}."
                )
            _set(alert, changes, user, f"{label.lower()} signed by {who}")


def _set(alert, changes, user, reason):
    for name, value in changes.items():
        setattr(alert, name, value)
    alert._change_reason = reason
    alert._history_user = user
    alert.save(update_fields=list(changes))


def sign_as_seeded(subject, signed_at, action, regimen_code, reason, reviewer) -> Decision:
    """One of the demo's decisions, checked as any other decision is; its alerts are linked
    once the seed has evaluated (link_case_alerts)."""
    regimen = Regimen.objects.get(study=subject.study, code=regimen_code) if regimen_code else None
    decision = _checked_decision(
        subject, [], action, reason, signed_at=signed_at, reviewer=reviewer, regimen=regimen
    )
    decision.signature_meaning = SIGNATURE_MEANING.format(
        name=name_of(reviewer), username=reviewer.get_username()
    )
    _save(decision, [], reviewer)
    return decision


def link_case_alerts(decision: Decision):
    """Link a seeded decision to the alerts of the cases it answered: those of episodes that
    started before it and after the subject's decision before it."""
    earlier = (
        Decision.objects.filter(subject=decision.subject, signed_at__lt=decision.signed_at)
        .order_by("-signed_at")
        .values_list("signed_at", flat=True)
        .first()
    )
    alerts = Alert.objects.filter(
        subject=decision.subject, case_at__isnull=False, case_at__lt=decision.signed_at
    )
    if earlier is not None:
        alerts = alerts.filter(case_at__gt=earlier)
    decision.alerts.set(alerts)


@dataclass(frozen=True)
class TranscribedDecision:
    """A row of a decisions file: a decision signed on paper or in an earlier system."""

    line: int
    subject: Subject
    signed_at: object
    action: str
    regimen: Regimen | None
    reviewer: object
    reason: str


def record_transcribed(rows, *, entered_by) -> list[Decision]:
    """Record transcribed decisions, checked per subject in signing order against all of its
    labs and doses and the decisions before them. Call inside the import's transaction; a row
    section 3 refuses raises DecisionError with its `line`, and nothing is kept.

    Each subject's history is read once, for all its rows, and grows by each decision kept: a
    file of a study's decisions then reads every history once, not once per row.
    """
    by_subject = {}
    for row in rows:
        by_subject.setdefault(row.subject.pk, []).append(row)
    histories = loader.load_histories(list(by_subject))
    recorded = set(
        Decision.objects.filter(subject_id__in=list(by_subject)).values_list(
            "subject_id", "signed_at", "action"
        )
    )
    targets = loader.regimens_for_rules(
        Regimen.objects.filter(pk__in={row.regimen.pk for row in rows if row.regimen})
    )
    saved = []
    for subject_pk, subject_rows in by_subject.items():
        history = histories[subject_pk]
        peaks = rules.peak_draws(history.draws)  # its draws stay as they are: only decisions grow
        for row in sorted(subject_rows, key=lambda r: (r.signed_at, r.line)):
            if (subject_pk, row.signed_at, row.action) in recorded:
                continue  # the same file again: idempotent on its natural key
            try:
                decision = _checked_decision(
                    row.subject,
                    [],
                    row.action,
                    row.reason,
                    signed_at=row.signed_at,
                    reviewer=row.reviewer,
                    regimen=row.regimen,
                    history=history,
                    regimens=targets,
                    peaks=peaks,
                )
            except DecisionError as error:
                error.line = row.line
                raise
            decision.transcribed = True
            decision.entered_by = entered_by
            decision.signature_meaning = TRANSCRIBED_MEANING.format(
                entered_by=name_of(entered_by) if entered_by else "an import",
                name=name_of(row.reviewer),
                username=row.reviewer.get_username(),
            )
            recorded.add((subject_pk, row.signed_at, row.action))
            saved.append(decision)
            kept = rules.Decision(
                None,  # a transcribed decision replaces none: its key is never looked up
                decision.action,
                decision.signed_at,
                targets.get(decision.regimen_id),
                None,
                name_of(row.reviewer),
            )
            history = replace(history, decisions=(*history.decisions, kept))
    # Written together, one insert per reason (each decision's reason is its history's).
    by_reason = {}
    for decision in saved:
        by_reason.setdefault(decision.reason, []).append(decision)
    for reason, decisions in by_reason.items():
        bulk.insert_with_history(decisions, Decision, change_reason=reason, user=entered_by)
    return saved


@transaction.atomic
def acknowledge_alerts(alert_pks, user) -> int:
    """Mark open low and medium alerts as seen by a reviewer; returns how many changed. High
    and critical alerts need a signed decision."""
    if not access.can_decide(user):
        raise DecisionError("reviewer", "only a safety reviewer can acknowledge alerts")
    alerts = Alert.objects.select_for_update().filter(
        pk__in=alert_pks, status=Alert.Status.OPEN, severity__in=BULK_SEVERITIES
    )
    who = name_of(user)
    now = timezone.now()
    count = 0
    for alert in alerts:
        _set(
            alert,
            {
                "status": Alert.Status.ACKNOWLEDGED,
                "status_reason": f"Acknowledged by {who}.",
                "acknowledged_at": now,
                "acknowledged_by": user,
            },
            user,
            f"acknowledged by {who}",
        )
        count += 1
    return count


# ---- e-mail to reviewers ------------------------------------------------------------------
