"""Reads for the dashboard: counts by severity and state, overdue repeats, recent activity."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
)
from django.utils import timezone

from monitoring import rules, units
from monitoring.models import Alert, Decision, LabDraw, SubjectSafetyState
from monitoring.people import name_columns, name_from
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
    # The count is the navigation's, read once a request; the list only when something waits.
    waiting = data_queries.awaiting_count(user)
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
        queries=list(data_queries.awaiting(user)[:10]) if waiting else [],
        queries_waiting=waiting,
    )


@dataclass
class Activity:
    at: datetime
    who: str  # the person's full name, else their username; "" for none
    subject: Subject
    what: str
    url_name: str
    url_arg: int
    kind: str = ""
    count: int = 1


@dataclass
class _Entry:
    """One draw, dose or decision as read for grouping: ids and moments, no model instances."""

    at: datetime
    who: str
    subject_id: int
    kind: str
    pk: int
    moment: datetime | None = None  # a draw's collection, a dose's administration
    detail: object = None  # a dose's mg; a decision's (transcribed, action)
    count: int = 1


def recent_activity(subjects, limit):
    """The latest draws, doses and decisions among these subjects; entries of one kind for one
    subject made together (an import, a seed) are shown as one line. They are read as plain
    rows (with the person's name) and grouped first; only the `limit` lines shown get their
    subject and words."""
    fetch = limit * 20
    entries = [
        _Entry(entered_at, name_from(*names), subject_id, "draw", pk, collected_at)
        for pk, subject_id, entered_at, collected_at, *names in LabDraw.objects.filter(
            subject__in=subjects
        )
        .order_by("-entered_at")
        .values_list("pk", "subject_id", "entered_at", "collected_at", *name_columns("entered_by"))[
            :fetch
        ]
    ]
    entries += [
        _Entry(at, name_from(*names), subject_id, "dose", subject_id, administered_at, mg)
        for at, subject_id, administered_at, mg, *names in Dose.history.filter(
            subject_id__in=subjects.values("pk"), history_type="+"
        )
        .order_by("-history_date")
        .values_list(
            "history_date",
            "subject_id",
            "administered_at",
            "dose_mg",
            *name_columns("history_user"),
        )[:fetch]
    ]
    entries += [
        _Entry(
            at, name_from(*names), subject_id, "decision", subject_id, None, (transcribed, action)
        )
        for at, subject_id, transcribed, action, *names in Decision.objects.filter(
            subject__in=subjects
        )
        .order_by("-signed_at")
        .values_list("signed_at", "subject_id", "transcribed", "action", *name_columns("reviewer"))[
            :limit
        ]
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    grouped = []
    for entry in entries:
        last = grouped[-1] if grouped else None
        if (
            last is not None
            and entry.kind in ("draw", "dose")
            and (last.kind, last.subject_id, last.who) == (entry.kind, entry.subject_id, entry.who)
            and last.at - entry.at < timedelta(minutes=1)
        ):
            last.count += 1
            continue
        grouped.append(entry)
    shown = grouped[:limit]
    subjects_by_pk = Subject.objects.select_related("site").in_bulk({e.subject_id for e in shown})
    actions = dict(Decision.Action.choices)
    activities = []
    for e in shown:
        subject = subjects_by_pk[e.subject_id]
        if e.count > 1:
            noun = "lab draws" if e.kind == "draw" else "doses"
            what, url_name, url_arg = f"{e.count} {noun} entered together", "subject", subject.pk
        elif e.kind == "draw":
            moment = site_time.shown(e.moment, subject.site)
            what, url_name, url_arg = f"Lab draw of {moment} entered", "draw", e.pk
        elif e.kind == "dose":
            mg, moment = units.format_number(e.detail), site_time.shown(e.moment, subject.site)
            what, url_name, url_arg = f"Dose {mg} mg of {moment} entered", "subject", subject.pk
        else:
            transcribed, action = e.detail
            what = f"{'Transcribed' if transcribed else 'Signed'} “{actions.get(action, action)}”"
            url_name, url_arg = "subject", subject.pk
        activities.append(Activity(e.at, e.who, subject, what, url_name, url_arg, e.kind, e.count))
    return activities
