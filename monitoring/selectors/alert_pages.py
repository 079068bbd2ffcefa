"""Reads for the alerts queue and the alert page: the queue, overdue alerts, cases."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring import rules, units
from monitoring.models import Alert, Decision, LabResult
from monitoring.selectors.subject_pages import ACTIVE
from subjects import access, site_time
from subjects.models import Subject


def overdue_q(now=None):
    """Alerts asking for an ALT/AST draw that has not come: active, past due (R3's repeat by
    due_by, R10's scheduled lab) or overdue by nature (R7), with no ALT/AST collected since."""
    now = now or timezone.now()
    repeated = Exists(
        LabResult.objects.filter(
            draw__subject=OuterRef("subject"),
            draw__collected_at__gt=OuterRef("triggered_at"),
            analyte__in=units.PEAK_ANALYTES,
        )
    )
    due = Q(kind__in=rules.TIME_RULE_KINDS) | Q(due_by__lt=now)
    return Q(status__in=ACTIVE) & due & ~repeated


def alert_queue(user):
    """Alerts of the subjects the user may see, most severe first, then the earliest due;
    each with `overdue` and `decision_count`."""
    alerts = Alert.objects.all()
    if not access.sees_all_sites(user):
        alerts = alerts.filter(subject__in=access.visible_subjects(user))
    # Correlated subqueries rather than a GROUP BY: PostgreSQL computes them for the page's
    # rows only, after the sort and the limit, whatever the size of the queue.
    decisions = (
        Decision.alerts.through.objects.filter(alert=OuterRef("pk"))
        .order_by()
        .values("alert")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        alerts.select_related("subject__site", "draw")
        .annotate(
            decision_count=Coalesce(Subquery(decisions[:1]), 0),
            overdue=ExpressionWrapper(overdue_q(), output_field=BooleanField()),
        )
        .order_by("severity_rank", F("due_by").asc(nulls_last=True), "-triggered_at")
    )


def alert_for(user, pk):
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        Alert.objects.filter(subject__in=access.visible_subjects(user)).select_related(
            "subject__site", "subject__arm", "draw", "dose"
        ),
        pk=pk,
    )


@dataclass
class Case:
    """An episode's alerts (R3, R4, R5, R7, R8, and its R6) as one row of the queue."""

    subject: Subject
    started_at: datetime
    alerts: list

    @property
    def active(self):
        return [a for a in self.alerts if a.is_active]

    @property
    def is_open(self):
        return bool(self.active)

    @property
    def lead(self):
        """The alert whose page opens the case: its most severe active alert, else its first."""
        pool = self.active or self.alerts
        return min(pool, key=lambda a: (a.severity_rank, a.triggered_at))

    @property
    def severity(self):
        return self.lead.severity

    @property
    def due_by(self):
        return next((a.due_by for a in self.alerts if a.kind == "withhold_dose"), None)

    @property
    def overdue(self):
        return any(getattr(a, "overdue", False) for a in self.active)

    @property
    def needs(self) -> str:
        """What the case needs now, in words."""
        kinds = {a.kind for a in self.active}
        if not kinds:
            return "Closed"
        if "discontinue" in kinds:
            return "Discontinue to sign (potential Hy's law)"
        if "eligible_reduced_dose" in kinds:
            return "Re-start decision needed"
        if "confirmation_overdue" in kinds:
            return "Repeat ALT/AST overdue"
        if "elevation_confirmed" in kinds:
            return "Confirmed: keep withholding, investigate the cause"
        due = self.due_by
        if not due:
            return "Repeat ALT/AST"
        return f"Repeat ALT/AST due by {site_time.shown(due, self.subject.site)}"


CASES_SHOWN = 50


def cases(alerts, *, limit=CASES_SHOWN) -> list[Case]:
    """The first `limit` cases among these alerts, open ones first, most severe then earliest
    due. The cases are ranked in one grouped query, and only the alerts of those shown are
    read: a study's queue holds thousands of case alerts."""
    active = Q(status__in=ACTIVE)
    # Grouped from `alerts` itself (values() leaves its annotations and joins out of the
    # grouping), not from a pk__in of it: that semi-join had PostgreSQL scan every alert of the
    # study (19.6 ms at 40,809 alerts) where the status index reads the active ones. The count
    # is distinct, so a join to many rows in `alerts` could not count an alert twice.
    ranked = (
        alerts.filter(case_at__isnull=False)
        .order_by()
        .values("subject_id", "case_at")
        .annotate(
            open_alerts=Count("pk", filter=active, distinct=True),
            rank=Coalesce(Min("severity_rank", filter=active), Min("severity_rank")),
            due=Min("due_by", filter=Q(kind="withhold_dose")),
            subject_code=Min("subject__subject_id"),
        )
        .order_by(
            F("open_alerts").desc(nulls_last=True),
            "rank",
            F("due").asc(nulls_last=True),
            "subject_code",
        )
    )
    keys = [(row["subject_id"], row["case_at"]) for row in ranked[:limit]]
    if not keys:
        return []
    grouped = {key: None for key in keys}
    # Two IN lists, not an OR of 50 pairs (its compiling cost more than the query); the pairs
    # the lists cross but no case has are left out here.
    subject_pks, moments = zip(*keys, strict=True)
    for alert in alerts.filter(subject_id__in=subject_pks, case_at__in=moments).select_related(
        "subject__site"
    ):
        key = (alert.subject_id, alert.case_at)
        if key not in grouped:
            continue
        if grouped[key] is None:
            grouped[key] = Case(alert.subject, alert.case_at, [])
        grouped[key].alerts.append(alert)
    found = [case for case in grouped.values() if case is not None]
    for case in found:
        case.alerts.sort(key=lambda a: (a.triggered_at, a.severity_rank))
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(
        key=lambda c: (not c.is_open, c.lead.severity_rank, c.due_by or far, c.subject.subject_id)
    )
    return found


def open_case_count(alerts) -> int:
    """How many cases among these alerts have an active alert."""
    return (
        alerts.filter(case_at__isnull=False, status__in=ACTIVE)
        .values("subject_id", "case_at")
        .distinct()
        .count()
    )


def case_of(alert: Alert) -> Case | None:
    if alert.case_at is None:
        return None
    return Case(
        alert.subject,
        alert.case_at,
        list(
            Alert.objects.filter(subject_id=alert.subject_id, case_at=alert.case_at)
            .prefetch_related("decisions")
            .order_by("triggered_at", "severity_rank")
        ),
    )


def next_case(user, *, after: Alert) -> Alert | None:
    """The lead alert of the next open case in the queue after this alert's, or None."""
    for case in cases(alert_queue(user).filter(status__in=ACTIVE), limit=2):
        if (case.subject.pk, case.started_at) != (after.subject_id, after.case_at):
            return case.lead
    return None


def regimen_at_dose(alert, history) -> str | None:
    """The regimen in force when the alert's dose was given, in words (for R11's page: the
    engine's explanation leaves it out, so that it can be blinded)."""
    if alert.dose_id is None:
        return None
    regimen, _ = rules.timeline_of(history).regimen_at(alert.dose.administered_at)
    return f"{regimen.describe()} ({regimen.code})" if regimen is not None else None
