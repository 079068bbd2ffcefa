"""Reads for pages: everything a page shows, scoped to what the user may see."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

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
        .select_related("site", "arm", "safety")
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
    reduced_restarts: list  # doses that restarted at a lower dose than the one before
    alerts: list = field(default_factory=list)
    now: datetime | None = None

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
    """The subject's draws, doses and rule assessment, ready for the chart and the lab table."""
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
    history = services.history_of(subject, draws, doses, results_by_draw)
    assessment = rules.evaluate(history, now)
    rows = []
    for draw, exact in zip(draws, history.draws, strict=True):
        results = {}
        for r, e in zip(results_by_draw.get(draw.pk, ()), exact.results, strict=True):
            results[r.analyte] = ResultRow(r, e.multiple, ctcae.grade(r.analyte, e.multiple))
        rows.append(DrawRow(draw, results, assessment.peaks.get(draw.pk)))
    baseline = {}
    if doses:
        first = doses[0].administered_at
        for row in rows:
            if row.draw.collected_at > first:
                break
            for analyte, r in row.results.items():
                baseline[analyte] = (r.result.exact_value(), row.draw.collected_at)
    restarts = [
        later
        for earlier, later in zip(doses, doses[1:], strict=False)
        if later.dose_mg < earlier.dose_mg
    ]
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
    return Timeline(subject, rows, doses, assessment, baseline, restarts, alerts, now)


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
        Decision.objects.filter(alert=OuterRef("pk"))
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


# ---- dashboard ----------------------------------------------------------------------------


@dataclass
class Dashboard:
    alerts_by_severity: list  # [(severity, count)]
    subjects_by_state: list  # [(state, label, count)]
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
        Decision.objects.filter(alert__subject__in=subjects)
        .select_related("alert__subject", "reviewer")
        .order_by("-signed_at")[:limit]
    ):
        items.append(
            Activity(
                decision.signed_at,
                decision.reviewer,
                decision.alert.subject,
                f"Signed “{decision.get_action_display()}” on {decision.alert.rule} "
                f"{decision.alert.kind}",
                "alert",
                decision.alert_id,
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
        return f"Alert {record.rule} {record.kind}"
    if model_label == "Decision":
        return f"Decision on the {names.get((Alert, record.alert_id), 'alert')}"
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
        return f"alert {obj.rule} {obj.kind}"
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
    alert_ids = list(Alert.history.filter(subject_id=subject.pk).values_list("id", flat=True))
    querysets = [
        ("Subject", Subject.history.filter(id=subject.pk)),
        ("Dose", Dose.history.filter(subject_id=subject.pk)),
        ("Lab draw", LabDraw.history.filter(subject_id=subject.pk)),
        ("Lab result", LabResult.history.filter(draw_id__in=set(draw_ids))),
        ("Alert", Alert.history.filter(subject_id=subject.pk)),
        ("Decision", Decision.history.filter(alert_id__in=set(alert_ids))),
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
