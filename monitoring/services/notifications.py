"""E-mail: to the safety reviewers when an evaluation opens high or critical alerts; to a
site's coordinators when a data query is opened or sent back, and to its monitors when answered."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from monitoring.models import Alert, DataQuery, DataQueryStep
from monitoring.people import name_of
from monitoring.signals import alerts_opened
from subjects import access, site_time

log = logging.getLogger(__name__)

NOTIFY_SEVERITIES = ("critical", "high")


def reviewer_emails():
    User = get_user_model()
    return sorted(
        User.objects.filter(
            is_active=True, groups__name=access.SAFETY_REVIEWER, email__gt=""
        ).values_list("email", flat=True)
    )


def notify_reviewers(alerts) -> int:
    """E-mail the reviewers one message listing the high and critical alerts of one evaluation;
    returns how many messages were sent (0 or 1). Never raises: an alert is on the queue whether
    or not the mail went out."""
    alerts = [a for a in alerts if a.severity in NOTIFY_SEVERITIES]
    recipients = reviewer_emails()
    if not alerts or not recipients:
        return 0
    base = settings.HEPWATCH_BASE_URL.rstrip("/")
    subjects = sorted({str(a.subject) for a in alerts})
    top = min(alerts, key=lambda a: a.severity_rank)
    subject_line = (
        f"[hepwatch] {top.severity.upper()}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
        f" for {', '.join(subjects)}"
    )
    lines = []
    for alert in sorted(alerts, key=lambda a: (a.severity_rank, str(a.subject))):
        lines += [
            f"{alert.severity.upper()} {alert.rule} {alert.get_kind_display()} — subject "
            f"{alert.subject}, site {alert.subject.site}",
            f"  {when(alert)}",
            f"  {alert.explanation}",
            f"  What to do: {alert.rule_definition.action}.",
            f"  Review and sign: {base}{reverse('alert', args=[alert.pk])}",
            "",
        ]
    try:
        send_mail(subject_line, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        log.exception("could not e-mail reviewers about %d alert(s)", len(alerts))
        return 0
    return 1


def when(alert) -> str:
    """The triggering draw or dose and the deadline in the site's clock, with its zone."""
    site = alert.subject.site
    source = "dose" if alert.dose_id and not alert.draw_id else "draw"
    text = f"Triggered by the {source} of {site_time.shown(alert.triggered_at, site)}"
    if alert.due_by:
        text += f"; due by {site_time.shown(alert.due_by, site)}"
    return text + "."


def on_alerts_opened(sender, alert_pks, **kwargs):
    """E-mail the reviewers about the high and critical alerts an evaluation just opened."""
    alerts = Alert.objects.filter(
        pk__in=alert_pks, severity__in=NOTIFY_SEVERITIES, status=Alert.Status.OPEN
    ).select_related("subject__site")
    notify_reviewers(list(alerts))


def coordinator_emails(site):
    return sorted(
        site.coordinators.filter(is_active=True, email__gt="").values_list("email", flat=True)
    )


def _asker_emails(query):
    """The monitors and reviewers who asked: the opener and whoever sent it back."""
    askers = {query.opened_by, *(s.author for s in query.steps.all() if s.action == "reopened")}
    return sorted({u.email for u in askers if u.is_active and u.email})


def notify_query_step(step_pk) -> int:
    """E-mail about a step of a data query: an opened or sent-back query to the site's
    coordinators, an answer to those who asked. Returns how many messages were sent (0 or 1);
    never raises, like notify_reviewers: the query is in the app whether or not mail went out."""
    step = DataQueryStep.objects.select_related("author").get(pk=step_pk)
    query = (
        DataQuery.objects.select_related("subject__site", "opened_by")
        .prefetch_related("steps__author")
        .get(pk=step.query_id)
    )
    author = name_of(step.author)
    if step.action in (DataQueryStep.Action.OPENED, DataQueryStep.Action.REOPENED):
        recipients = coordinator_emails(query.subject.site)
        verb = "Data query" if step.action == DataQueryStep.Action.OPENED else "Query sent back"
        ask = "Answer it (correct the value, or explain it)"
    else:
        recipients = _asker_emails(query)
        verb = "Query answered"
        ask = "Close it, or send it back"
    if not recipients:
        return 0
    base = settings.HEPWATCH_BASE_URL.rstrip("/")
    subject_line = f"[hepwatch] {verb} {query.pk} for {query.subject}, site {query.subject.site}"
    lines = [
        f"{verb} on {query.about} — subject {query.subject}, site {query.subject.site}.",
        "",
        f"Question ({name_of(query.opened_by)}):",
        f"  {query.question}",
    ]
    if step.action != DataQueryStep.Action.OPENED:
        lines += ["", f"{step.get_action_display()} by {author}:", f"  {step.text}"]
        if step.correction:
            lines.append(f"  Corrected: {step.correction}")
    lines += ["", f"{ask}: {base}{reverse('data_query', args=[query.pk])}"]
    try:
        send_mail(subject_line, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        log.exception("could not e-mail about data query %s", query.pk)
        return 0
    return 1


def connect_notifications():
    alerts_opened.connect(on_alerts_opened, weak=False, dispatch_uid="hepwatch.review.notify")


def unblinded_emails(study):
    """The unblinded group's members listed on the study's roster."""
    User = get_user_model()
    return sorted(
        User.objects.filter(
            is_active=True,
            groups__name=access.UNBLINDED,
            unblinded_roster__study=study,
            email__gt="",
        )
        .distinct()
        .values_list("email", flat=True)
    )


def notify_unblinded_group(unblinding) -> int:
    """E-mail the unblinded group that a reviewer emergency-unblinded a subject (the arm is not
    in the mail: they can read it in hepwatch). Never raises."""
    subject = unblinding.subject
    recipients = unblinded_emails(subject.study)
    if not recipients:
        return 0
    base = settings.HEPWATCH_BASE_URL.rstrip("/")
    who = name_of(unblinding.reviewer)
    body = "\n".join(
        [
            f"{who} emergency-unblinded subject {subject} (site {subject.site}, study "
            f"{subject.study}) at {unblinding.signed_at:%Y-%m-%d %H:%M} UTC.",
            f"Reason: {unblinding.reason}",
            f"Subject: {base}{reverse('subject', args=[subject.pk])}",
        ]
    )
    try:
        send_mail(
            f"[hepwatch] Emergency unblinding: {subject}",
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
    except Exception:
        log.exception("could not e-mail the unblinded group about %s", subject)
        return 0
    return 1
