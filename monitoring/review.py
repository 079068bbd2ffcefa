"""Reviewer decisions and what they allow: signed decisions on alerts, bulk acknowledgement,
the "may this subject be dosed?" gate, doses checked against it, and e-mail to reviewers when
high or critical alerts open.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from subjects import access
from subjects.models import Dose, Subject
from subjects.services import DoseRefused, record_dose

from . import rules, services
from .models import Alert, Decision, LabDraw, SubjectSafetyState
from .signals import alerts_opened

log = logging.getLogger(__name__)

BLOCKING_ACTIONS = (Decision.Action.WITHHOLD, Decision.Action.DISCONTINUE)
RESUMING_ACTIONS = (Decision.Action.RESUME_SAME_DOSE, Decision.Action.RESUME_REDUCED_DOSE)
# What a decision does to its alert.
CLOSING_ACTIONS = (Decision.Action.DISMISS, *RESUMING_ACTIONS)
SIGNATURE_MEANING = (
    "Electronic signature of {name} ({username}), safety reviewer: I have reviewed this alert "
    "and the subject's data, and I am responsible for this decision."
)
NOTIFY_SEVERITIES = ("critical", "high")


class DecisionError(ValueError):
    """A decision that cannot be signed, naming the field it concerns."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---- the dosing gate ----------------------------------------------------------------------


@dataclass(frozen=True)
class DosingBlock:
    """Why a subject may not be dosed now."""

    reason: str
    source: str  # "rules" or "decision"


def dosing_block(subject: Subject) -> DosingBlock | None:
    """None when the subject may be dosed; else why not.

    Blocked when the rules put the subject in `withheld` or `discontinued` (evaluated on the spot
    when the stored evaluation is behind the data, so a fresh ≥ 3× draw blocks at once), or when
    a reviewer's latest withhold/discontinue decision has not been followed by a resume.
    """
    state = _rules_state(subject)
    if state == rules.DISCONTINUED:
        return DosingBlock("Treatment is discontinued for this subject (rule R6).", "rules")
    if state == rules.WITHHELD:
        return DosingBlock(
            "Dosing is withheld: ALT or AST is at or above 3× ULN and no later draw has come "
            "back below 3× (rule R3).",
            "rules",
        )
    latest = (
        Decision.objects.filter(
            alert__subject=subject, action__in=(*BLOCKING_ACTIONS, *RESUMING_ACTIONS)
        )
        .select_related("reviewer")
        .order_by("-signed_at", "-pk")
        .first()
    )
    if latest is not None and latest.action in BLOCKING_ACTIONS:
        who = latest.reviewer.get_full_name() or latest.reviewer.get_username()
        return DosingBlock(
            f"{latest.get_action_display()} — decision signed by {who} on "
            f"{rules.when(latest.signed_at)}: {latest.reason}",
            "decision",
        )
    return None


def _rules_state(subject: Subject) -> str:
    safety = SubjectSafetyState.objects.filter(subject=subject).first()
    if safety is not None and not safety.pending:
        return safety.state
    draws = LabDraw.objects.filter(subject=subject).prefetch_related("results")
    doses = Dose.objects.filter(subject=subject)
    history = services.history_of(subject, draws, doses)
    return rules.evaluate(history, timezone.now()).state


@transaction.atomic
def record_checked_dose(subject, administered_at, dose_mg, *, user, override_reason=""):
    """Record a dose through subjects.services.record_dose, unless the gate refuses it.

    A blocked dose needs a safety reviewer's override with a reason; it is kept on the dose.
    """
    # Serialise dose entry per subject with evaluation, which locks the same row.
    SubjectSafetyState.objects.get_or_create(subject=subject)
    SubjectSafetyState.objects.select_for_update().filter(subject=subject).first()
    block = dosing_block(subject)
    override_reason = (override_reason or "").strip()
    if block is not None:
        if not access.can_decide(user):
            raise DoseRefused(block.reason + " Only a safety reviewer can override this.")
        if not override_reason:
            raise DoseRefused(block.reason + " An override needs a reason.")
    else:
        override_reason = ""
    return record_dose(
        subject, administered_at, dose_mg, user=user, override_reason=override_reason
    )


# ---- decisions ----------------------------------------------------------------------------


@transaction.atomic
def record_decision(alert: Alert, reviewer, action, reason, password) -> Decision:
    """Sign a decision: the reviewer re-enters their password as an electronic signature.

    Withhold, confirm and discontinue acknowledge the alert; dismiss and resume close it.
    A discontinue decision makes the subject's state discontinued at its next evaluation.
    """
    if not access.can_decide(reviewer):
        raise DecisionError("reviewer", "only a safety reviewer can sign decisions")
    if action not in Decision.Action.values:
        raise DecisionError("action", f"unknown action {action!r}")
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("reason", "a reason is required")
    if not password or not reviewer.check_password(password):
        raise DecisionError("password", "the password does not match: the decision is not signed")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if not alert.is_active:
        raise DecisionError("action", f"this alert is {alert.get_status_display().lower()}")
    now = timezone.now()
    decision = Decision(
        alert=alert,
        reviewer=reviewer,
        action=action,
        reason=reason,
        signed_at=now,
        signature_meaning=SIGNATURE_MEANING.format(
            name=reviewer.get_full_name() or reviewer.get_username(),
            username=reviewer.get_username(),
        ),
    )
    decision._change_reason = reason
    decision._history_user = reviewer
    decision.save()
    label = decision.get_action_display().lower()
    if action in CLOSING_ACTIONS:
        _set_status(alert, Alert.Status.RESOLVED, f"Closed by decision: {label}.", reviewer)
    elif alert.status == Alert.Status.OPEN:
        _set_status(alert, Alert.Status.ACKNOWLEDGED, f"Decision: {label}.", reviewer)
    if action == Decision.Action.DISCONTINUE:
        services.mark_changed([alert.subject_id])
    return decision


def _set_status(alert, status, reason, user):
    alert.status = status
    alert.status_reason = reason
    alert._change_reason = reason
    alert._history_user = user
    alert.save(update_fields=["status", "status_reason"])


@transaction.atomic
def acknowledge_alerts(alert_pks, user) -> int:
    """Mark open alerts as seen by a reviewer; returns how many changed."""
    if not access.can_decide(user):
        raise DecisionError("reviewer", "only a safety reviewer can acknowledge alerts")
    alerts = Alert.objects.select_for_update().filter(pk__in=alert_pks, status=Alert.Status.OPEN)
    who = user.get_full_name() or user.get_username()
    count = 0
    for alert in alerts:
        _set_status(alert, Alert.Status.ACKNOWLEDGED, f"Acknowledged by {who}.", user)
        count += 1
    return count


# ---- e-mail to reviewers ------------------------------------------------------------------


def reviewer_emails():
    User = get_user_model()
    return sorted(
        User.objects.filter(
            is_active=True, groups__name=access.SAFETY_REVIEWER, email__gt=""
        ).values_list("email", flat=True)
    )


def notify_reviewers(alerts) -> int:
    """E-mail the reviewers one message per high or critical alert; returns how many were sent.

    Never raises: an alert is on the queue whether or not the mail went out.
    """
    recipients = reviewer_emails()
    sent = 0
    if not recipients:
        return 0
    base = getattr(settings, "HEPWATCH_BASE_URL", "").rstrip("/")
    for alert in alerts:
        if alert.severity not in NOTIFY_SEVERITIES:
            continue
        subject_line = (
            f"[hepwatch] {alert.severity.upper()} {alert.rule} {alert.kind}: {alert.subject}"
        )
        body = (
            f"{alert.explanation}\n\n"
            f"What to do: {alert.rule_definition.action}.\n"
            f"Site {alert.subject.site}, subject {alert.subject}.\n"
            f"Review and sign a decision: {base}{reverse('alert', args=[alert.pk])}\n"
        )
        try:
            send_mail(subject_line, body, settings.DEFAULT_FROM_EMAIL, recipients)
            sent += 1
        except Exception:
            log.exception("could not e-mail reviewers about alert %s", alert.pk)
    return sent


def on_alerts_opened(sender, alert_pks, **kwargs):
    """E-mail the reviewers about the high and critical alerts an evaluation just opened."""
    alerts = Alert.objects.filter(
        pk__in=alert_pks, severity__in=NOTIFY_SEVERITIES, status=Alert.Status.OPEN
    ).select_related("subject__site")
    notify_reviewers(alerts)


def connect_notifications():
    alerts_opened.connect(on_alerts_opened, weak=False, dispatch_uid="hepwatch.review.notify")
