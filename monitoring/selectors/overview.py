"""Reads for the dashboard: counts by severity and state, overdue repeats, recent activity."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
)
from django.utils import timezone

from monitoring import rules, units
from monitoring.models import Alert, Decision, LabDraw, SubjectSafetyState
from monitoring.selectors import data_queries
from monitoring.selectors.alert_pages import cases, open_case_count, overdue_q
from monitoring.selectors.subject_pages import ACTIVE
from subjects import access, site_time
from subjects.models import Dose, Subject


@dataclass
class Dashboard:
    alerts_by_severity: list  # [(severity, count)]
    subjects_by_state: list  # [(state, label, count)]
    cases: list  # the most severe open cases
    open_cases: int
    overdue: list  # active alerts past due_by
    recent: list  # recent entries and decisions
    subject_count: int
    queries: list  # data queries waiting for this user (selectors.data_queries.awaiting)
    queries_waiting: int


def dashboard(user, *, recent=12) -> Dashboard:
    now = timezone.now()
    subjects = access.visible_subjects(user)
    alerts = Alert.objects.filter(subject__in=subjects)
    open_counts = dict(
        alerts.filter(status=Alert.Status.OPEN)
        .values_list("severity")
        .annotate(n=Count("pk"))
        .values_list("severity", "n")
    )
    state_counts = dict(
        SubjectSafetyState.objects.filter(subject__in=subjects)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    labels = dict(SubjectSafetyState._meta.get_field("state").choices)
    waiting = data_queries.awaiting(user)
    overdue = list(
        alerts.filter(overdue_q(now)).select_related("subject__site").order_by("due_by")[:20]
    )
    return Dashboard(
        alerts_by_severity=[(s, open_counts.get(s, 0)) for s in rules.SEVERITY_ORDER],
        subjects_by_state=[(s, labels[s], state_counts.get(s, 0)) for s in reversed(rules.STATES)],
        cases=[c for c in cases(alerts.filter(status__in=ACTIVE), limit=20) if c.is_open],
        open_cases=open_case_count(alerts),
        overdue=overdue,
        recent=recent_activity(subjects, recent),
        subject_count=subjects.count(),
        queries=list(waiting[:10]),
        queries_waiting=data_queries.awaiting_count(user),
    )


@dataclass
class Activity:
    at: datetime
    user: object
    subject: Subject
    what: str
    url_name: str
    url_arg: int
    kind: str = ""
    count: int = 1


def recent_activity(subjects, limit):
    """The latest draws, doses and decisions among these subjects; entries of one kind for one
    subject made together (an import, a seed) are shown as one line."""
    fetch = limit * 20
    items = []
    for draw in (
        LabDraw.objects.filter(subject__in=subjects)
        .select_related("subject__site", "entered_by")
        .order_by("-entered_at")[:fetch]
    ):
        items.append(
            Activity(
                draw.entered_at,
                draw.entered_by,
                draw.subject,
                f"Lab draw of {site_time.shown(draw.collected_at, draw.subject.site)} entered",
                "draw",
                draw.pk,
                "draw",
            )
        )
    dose_records = list(
        Dose.history.filter(subject_id__in=subjects.values("pk"), history_type="+")
        .select_related("history_user")
        .order_by("-history_date")[:fetch]
    )
    dosed = Subject.objects.select_related("site").in_bulk({d.subject_id for d in dose_records})
    for dose in dose_records:
        mg = units.format_number(dose.dose_mg)
        items.append(
            Activity(
                dose.history_date,
                dose.history_user,
                dosed[dose.subject_id],
                f"Dose {mg} mg of "
                f"{site_time.shown(dose.administered_at, dosed[dose.subject_id].site)} entered",
                "subject",
                dose.subject_id,
                "dose",
            )
        )
    for decision in (
        Decision.objects.filter(subject__in=subjects)
        .select_related("subject__site", "reviewer")
        .order_by("-signed_at")[:limit]
    ):
        items.append(
            Activity(
                decision.signed_at,
                decision.reviewer,
                decision.subject,
                f"{'Transcribed' if decision.transcribed else 'Signed'} "
                f"“{decision.get_action_display()}”",
                "subject",
                decision.subject_id,
                "decision",
            )
        )
    items.sort(key=lambda a: a.at, reverse=True)
    grouped = []
    for item in items:
        last = grouped[-1] if grouped else None
        if (
            last is not None
            and item.kind in ("draw", "dose")
            and (last.kind, last.subject.pk, last.user) == (item.kind, item.subject.pk, item.user)
            and last.at - item.at < timedelta(minutes=1)
        ):
            last.count += 1
            noun = "lab draws" if item.kind == "draw" else "doses"
            last.what = f"{last.count} {noun} entered together"
            last.url_name, last.url_arg = "subject", item.subject.pk
            continue
        grouped.append(item)
    return grouped[:limit]
