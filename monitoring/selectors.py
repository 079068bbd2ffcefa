"""Reads for pages: everything a page shows, scoped to what the user may see."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from subjects import access
from subjects.models import Dose, Subject

from . import ctcae, rules, services, units
from .models import Alert, Decision, LabDraw, LabResult, SubjectSafetyState

ACTIVE = (Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED)
LIPIDS = ("LDLC", "APOB")


# ---- subjects -----------------------------------------------------------------------------


def subject_rows(user):
    """The subjects table: each subject with its state, active alerts and latest ALT/AST peak."""
    latest_peak = (
        LabResult.objects.filter(
            draw__subject=OuterRef("pk"),
            analyte__in=units.PEAK_ANALYTES,
            uln_multiple__isnull=False,
        )
        .order_by("-draw__collected_at", "-uln_multiple")
        .values("uln_multiple")[:1]
    )
    latest_draw = (
        LabDraw.objects.filter(subject=OuterRef("pk"))
        .order_by("-collected_at")
        .values("collected_at")[:1]
    )
    active = Alert.objects.filter(subject=OuterRef("pk"), status__in=ACTIVE).order_by()
    return (
        access.visible_subjects(user)
        .select_related("site", "arm", "safety__regimen")
        .annotate(
            # Correlated subqueries, not a GROUP BY over every alert: computed per shown row.
            active_alerts=Coalesce(
                Subquery(active.values("subject").annotate(n=Count("pk")).values("n")[:1]), 0
            ),
            worst_rank=Subquery(active.order_by("severity_rank").values("severity_rank")[:1]),
            last_draw_at=Subquery(latest_draw),
            last_peak=Subquery(latest_peak),
        )
    )


# ---- the subject page ---------------------------------------------------------------------


@dataclass
class ResultRow:
    result: LabResult
    multiple: Fraction | None
    grade: int | None


@dataclass
class DrawRow:
    draw: LabDraw
    results: dict  # analyte -> ResultRow
    peak: Fraction | None

    def result(self, analyte):
        return self.results.get(analyte)


@dataclass
class Timeline:
    subject: Subject
    draws: list
    doses: list
    assessment: rules.SafetyAssessment
    baseline: dict  # analyte -> (Fraction canonical value, datetime)
    decisions: list  # signed decisions, newest first
    alerts: list = field(default_factory=list)
    now: datetime | None = None
    history: rules.History | None = None

    @property
    def reduced_restarts(self):
        """The signed re-starts at a reduced regimen, oldest first."""
        replaced = {d.replaces_id for d in self.decisions if d.replaces_id}
        return [
            d
            for d in reversed(self.decisions)
            if d.action == Decision.Action.RESUME_REDUCED_DOSE and d.pk not in replaced
        ]

    @property
    def first_dose(self):
        return self.doses[0] if self.doses else None

    def lipid_changes(self, analyte):
        """[(collected_at, percent change from baseline, value)] for LDLC or APOB."""
        base = self.baseline.get(analyte)
        if base is None or base[0] == 0:
            return []
        rows = []
        for row in self.draws:
            r = row.results.get(analyte)
            if r is None:
                continue
            value = r.result.exact_value()
            rows.append((row.draw.collected_at, (value - base[0]) / base[0] * 100, value))
        return rows

    def latest_lipid_change(self, analyte):
        changes = [c for c in self.lipid_changes(analyte) if c[0] > self.baseline[analyte][1]]
        return changes[-1] if changes else None


def subject_timeline(subject: Subject, *, with_alerts=True) -> Timeline:
    """The subject's draws, doses, decisions and rule assessment, ready for the chart and the
    lab table."""
    draws = list(
        LabDraw.objects.filter(subject=subject)
        .select_related("entered_by")
        .order_by("collected_at")
    )
    by_pk = {draw.pk: draw for draw in draws}
    results_by_draw = {}
    for r in LabResult.objects.filter(draw__subject=subject).order_by("analyte"):
        r._state.fields_cache["draw"] = by_pk[r.draw_id]
        results_by_draw.setdefault(r.draw_id, []).append(r)
    doses = list(Dose.objects.filter(subject=subject).order_by("administered_at"))
    now = timezone.now()
    history = services.history_of(subject)
    assessment = rules.evaluate(history, now)
    rows = []
    for draw in draws:
        results = {}
        for r in results_by_draw.get(draw.pk, ()):
            exact = services.result_for_rules(r.analyte, r.value, r.unit, r.reported_uln, r.uln)
            results[r.analyte] = ResultRow(
                r, exact.multiple, ctcae.grade(r.analyte, exact.multiple)
            )
        rows.append(DrawRow(draw, results, assessment.peaks.get(draw.pk)))
    baseline = {}
    if doses:
        first = doses[0].administered_at
        for row in rows:
            if row.draw.collected_at > first:
                break
            for analyte, r in row.results.items():
                baseline[analyte] = (r.result.exact_value(), row.draw.collected_at)
    decisions = list(
        Decision.objects.filter(subject=subject)
        .select_related("reviewer", "regimen", "replaces", "entered_by")
        .prefetch_related("alerts")
        .order_by("-signed_at", "-pk")
    )
    alerts = []
    if with_alerts:
        alerts = list(
            Alert.objects.filter(subject=subject)
            .select_related("draw", "dose")
            .prefetch_related(
                Prefetch("decisions", queryset=Decision.objects.select_related("reviewer"))
            )
            .order_by("-triggered_at", "severity_rank")
        )
    return Timeline(
        subject, rows, doses, assessment, baseline, decisions, alerts, now, history=history
    )


def study_rule_set(study=None) -> rules.RuleSet:
    """The rule set the study (the default one unless given) follows."""
    from subjects.models import Study

    code = study.rule_set if study is not None else None
    if code is None:
        code = (
            Study.objects.filter(code=settings.HEPWATCH_DEFAULT_STUDY)
            .values_list("rule_set", flat=True)
            .first()
        )
    return rules.RULE_SETS.get(code, rules.DEFAULT_RULE_SET)


def regimen_text(assessment: rules.SafetyAssessment) -> str:
    """The regimen in force at the end of the history and since when, in words."""
    regimen = assessment.regimen
    if regimen is None:
        return "no regimen"
    text = f"{regimen.describe()} ({regimen.code})"
    if assessment.regimen_since is not None:
        return f"{text}, since the re-start signed on {rules.when(assessment.regimen_since)}"
    return f"{text}, the arm's starting regimen"


def safety_state(subject: Subject) -> SubjectSafetyState:
    state, _ = SubjectSafetyState.objects.get_or_create(subject=subject)
    return state


# ---- alerts -------------------------------------------------------------------------------


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


# ---- cases ------------------------------------------------------------------------------


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
        return f"Repeat ALT/AST due by {rules.when(due)}" if due else "Repeat ALT/AST"


def cases(alerts) -> list[Case]:
    """The cases among these alerts, open ones first, most severe then earliest due."""
    grouped = {}
    for alert in alerts.filter(case_at__isnull=False).select_related("subject__site"):
        key = (alert.subject_id, alert.case_at)
        grouped.setdefault(key, Case(alert.subject, alert.case_at, [])).alerts.append(alert)
    found = list(grouped.values())
    for case in found:
        case.alerts.sort(key=lambda a: (a.triggered_at, a.severity_rank))
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(
        key=lambda c: (not c.is_open, c.lead.severity_rank, c.due_by or far, c.subject.subject_id)
    )
    return found


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
    for case in cases(alert_queue(user).filter(status__in=ACTIVE)):
        if (case.subject.pk, case.started_at) != (after.subject_id, after.case_at):
            return case.lead
    return None


def amendable_decisions(subject: Subject):
    """The subject's decisions in force (not yet amended), which a new decision may replace."""
    return (
        Decision.objects.filter(subject=subject, replaced_by__isnull=True)
        .select_related("reviewer")
        .order_by("-signed_at")
    )


# ---- dashboard ----------------------------------------------------------------------------


@dataclass
class Dashboard:
    alerts_by_severity: list  # [(severity, count)]
    subjects_by_state: list  # [(state, label, count)]
    cases: list  # open cases, most severe first
    overdue: list  # active alerts past due_by
    recent: list  # recent entries and decisions
    subject_count: int


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
    overdue = list(
        alerts.filter(overdue_q(now)).select_related("subject__site").order_by("due_by")[:20]
    )
    return Dashboard(
        alerts_by_severity=[(s, open_counts.get(s, 0)) for s in rules.SEVERITY_ORDER],
        subjects_by_state=[(s, labels[s], state_counts.get(s, 0)) for s in reversed(rules.STATES)],
        cases=[c for c in cases(alerts.filter(status__in=ACTIVE)) if c.is_open],
        overdue=overdue,
        recent=recent_activity(subjects, recent),
        subject_count=subjects.count(),
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
        .select_related("subject", "entered_by")
        .order_by("-entered_at")[:fetch]
    ):
        items.append(
            Activity(
                draw.entered_at,
                draw.entered_by,
                draw.subject,
                f"Lab draw of {rules.when(draw.collected_at)} entered",
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
    dosed = Subject.objects.in_bulk({d.subject_id for d in dose_records})
    for dose in dose_records:
        mg = units.format_number(dose.dose_mg)
        items.append(
            Activity(
                dose.history_date,
                dose.history_user,
                dosed[dose.subject_id],
                f"Dose {mg} mg of {rules.when(dose.administered_at)} entered",
                "subject",
                dose.subject_id,
                "dose",
            )
        )
    for decision in (
        Decision.objects.filter(subject__in=subjects)
        .select_related("subject", "reviewer")
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


# ---- history ------------------------------------------------------------------------------

ENGINE = "hepwatch rules"
NO_USER = "system (no signed-in user)"


@dataclass
class Change:
    field: str
    old: object
    new: object


@dataclass
class HistoryEntry:
    at: datetime
    who: str  # a person's name, "hepwatch rules", or the system
    kind: str  # created / changed / deleted
    what: str
    changes: list
    reason: str
    by_engine: bool = False


HIDDEN_ON_CREATE = {
    "subject_id",
    "draw_id",
    "alert_id",
    "study_id",
    "severity_rank",
    "closed_by_rules",
    "opened_as_of",
    "value_canonical",
}
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
SKIP_FIELDS = {"id", "history_id", "history_date", "history_change_reason", "history_type"}
# Values computed from what was entered (canonical value and ULN): rounded for reading.
DERIVED_PLACES = 2
DERIVED = {"value_canonical", "uln"}


def _describe(model_label, record, names):
    if model_label == "Subject":
        return f"Subject {record.subject_id}"
    if model_label == "Dose":
        return f"Dose of {rules.when(record.administered_at)}"
    if model_label == "Lab draw":
        return f"Lab draw of {rules.when(record.collected_at)}"
    if model_label == "Lab result":
        return f"{record.analyte} result of the {names.get((LabDraw, record.draw_id), 'lab draw')}"
    if model_label == "Alert":
        return f"Alert {record.rule} {rules.RULE_BY_KIND[record.kind].label}"
    if model_label == "Decision":
        return f"Decision of {rules.when(record.signed_at)}"
    return model_label


def _unit(model_label, attname, record):
    """The unit a numeric field of this history record is in, for showing with its value."""
    if model_label == "Dose" and attname == "dose_mg":
        return "mg"
    if model_label == "Lab result" and attname in ("value", "reported_uln"):
        return units.unit_label(record.unit)
    if model_label == "Lab result" and attname in DERIVED:
        return units.ANALYTES[record.analyte].canonical_unit
    return ""


def _names(sources):
    """{(related model, pk): how to name it} for every foreign key in these history records:
    people by their full name (else their username), draws and doses by their time, others by
    their own name."""
    wanted = {}
    for _, records, fields in sources:
        for f in fields:
            if f.is_relation:
                ids = {getattr(r, f.attname) for r in records} - {None}
                wanted.setdefault(f.related_model, set()).update(ids)
    names = {}
    for model, ids in wanted.items():
        for pk, obj in model.objects.in_bulk(ids).items():
            names[(model, pk)] = _name(obj)
    return names


def _name(obj):
    if hasattr(obj, "get_username"):
        return obj.get_full_name() or obj.get_username()
    if isinstance(obj, LabDraw):
        return f"lab draw of {rules.when(obj.collected_at)}"
    if isinstance(obj, Dose):
        return f"dose of {rules.when(obj.administered_at)}"
    if isinstance(obj, Alert):
        return f"alert {obj.rule} {obj.get_kind_display()}"
    return str(obj)


def _show(model_label, field, record, names):
    """A field's value in a history record, as a person reads it."""
    value = getattr(record, field.attname)
    if value is None or value == "":
        return None
    if field.is_relation:
        return names.get((field.related_model, value), f"{field.verbose_name} {value} (deleted)")
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return rules.when(value)
    if field.attname == "uln_multiple":
        return units.format_multiple(Fraction(value))
    if hasattr(value, "normalize"):
        if field.attname in DERIVED:
            value = round(value, DERIVED_PLACES)
        unit = _unit(model_label, field.attname, record)
        return f"{units.format_number(value)} {unit}".strip()
    return value


def _who(model_label, record, names):
    """The person who made a change; the engine for an alert no person touched."""
    if record.history_user_id is not None:
        return names.get((User, record.history_user_id), NO_USER), False
    if model_label == "Alert":
        return ENGINE, True
    return NO_USER, False


def subject_history(subject: Subject) -> list:
    """Every recorded change to the subject and its doses, draws, results, alerts and decisions,
    newest first: who, when, what, old → new (with units, and people and records by name), and
    the reason given."""
    draw_ids = list(LabDraw.history.filter(subject_id=subject.pk).values_list("id", flat=True))
    querysets = [
        ("Subject", Subject.history.filter(id=subject.pk)),
        ("Dose", Dose.history.filter(subject_id=subject.pk)),
        ("Lab draw", LabDraw.history.filter(subject_id=subject.pk)),
        ("Lab result", LabResult.history.filter(draw_id__in=set(draw_ids))),
        ("Alert", Alert.history.filter(subject_id=subject.pk)),
        ("Decision", Decision.history.filter(subject_id=subject.pk)),
    ]
    sources = []
    for label, records in querysets:
        fields = [
            f
            for f in records.model.instance_type._meta.fields
            if f.attname not in SKIP_FIELDS and not f.name.startswith("history")
        ]
        sources.append((label, list(records.order_by("history_date", "history_id")), fields))
    names = _names(sources)
    users = {r.history_user_id for _, records, _ in sources for r in records} - {None}
    names.update({(User, pk): _name(u) for pk, u in User.objects.in_bulk(users).items()})

    entries = []
    for label, records, fields in sources:
        previous = {}
        for record in records:
            before = previous.get(record.id)
            changes = []
            if record.history_type == "~" and before is not None:
                for f in fields:
                    old = _show(label, f, before, names)
                    new = _show(label, f, record, names)
                    if getattr(before, f.attname) != getattr(record, f.attname) and old != new:
                        changes.append(Change(f.verbose_name, old, new))
            elif record.history_type == "+":
                changes = [
                    Change(f.verbose_name, None, shown)
                    for f in fields
                    if f.attname not in HIDDEN_ON_CREATE
                    and (shown := _show(label, f, record, names)) is not None
                ]
            previous[record.id] = record
            if record.history_type == "~" and before is not None and not changes:
                continue
            who, by_engine = _who(label, record, names)
            entries.append(
                HistoryEntry(
                    record.history_date,
                    who,
                    HISTORY_TYPES.get(record.history_type, record.history_type),
                    _describe(label, record, names),
                    changes,
                    record.history_change_reason or "",
                    by_engine,
                )
            )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries
