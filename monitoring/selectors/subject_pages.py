"""Reads for the subject list and the subject page, scoped to what the user may see."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import (
    Count,
    OuterRef,
    Prefetch,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring import rules, units
from monitoring.evaluation import loader
from monitoring.models import Alert, Decision, LabDraw, LabResult, Measures, SubjectSafetyState
from subjects import access
from subjects.models import Dose, Study, Subject

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
        .select_related("site", "arm", "study", "safety__regimen")
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


@dataclass(frozen=True, slots=True)
class DrawValues:
    """A stored draw as the subject page reads it: plain values, read once for the table, the
    charts and the rules (evaluation.loader.DRAW_COLUMNS), no model instance."""

    pk: int
    subject_id: int
    collected_at: datetime
    resulted_at: datetime
    symptoms_of_liver_injury: bool


@dataclass(frozen=True, slots=True)
class ResultValues(Measures):
    """A stored result as the subject page reads it (evaluation.loader.RESULT_COLUMNS, then its
    key and ULN source), meaning what the model's would (models.Measures)."""

    draw_id: int
    analyte: str
    value: Decimal
    unit: str
    reported_uln: Decimal | None
    uln: Decimal | None
    pk: int
    uln_source: str


@dataclass
class ResultRow:
    result: ResultValues
    multiple: Fraction | None
    grade: int | None


@dataclass
class DrawRow:
    draw: DrawValues
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
    sees_arm: bool = True  # whether the viewer may see the arm and regimens (subjects.access)

    def regimen_name(self, regimen) -> str:
        """A regimen's name, or "Blinded" to a viewer who may not see it."""
        return regimen.name if self.sees_arm else access.BLINDED

    @property
    def reduced_restarts(self):
        """The signed re-starts at a reduced regimen, oldest first."""
        replaced = {d.replaces_id for d in self.decisions if d.replaces_id}
        return [
            d
            for d in reversed(self.decisions)
            if d.action == Decision.Action.RESUME_REDUCED_DOSE and d.pk not in replaced
        ]

    def analytes_shown(self, analytes):
        """The lab table's columns: the liver tests always, the others when the subject has them
        (an INR or eosinophil column of dashes helps nobody)."""
        held = {analyte for row in self.draws for analyte in row.results}
        return [a for a in analytes if a in units.BASELINE_ANALYTES or a in held]

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


def subject_timeline(subject: Subject, *, with_alerts=True, sees_arm=True) -> Timeline:
    """The subject's draws, doses, decisions and rule assessment, ready for the chart and the
    lab table; `sees_arm` False blinds the regimens in what is built from it."""
    # Draws and results read once, as plain values, for the table, the charts and the rules:
    # models of 300 draws and 900 results, read again by the loader, were half the page.
    draw_rows = list(
        LabDraw.objects.filter(subject=subject)
        .order_by("collected_at")
        .values_list(*loader.DRAW_COLUMNS)
    )
    result_rows = list(
        LabResult.objects.filter(draw__subject=subject)
        .order_by("analyte")
        .values_list(*loader.RESULT_COLUMNS, "pk", "uln_source")
    )
    results_of = {}
    for row in result_rows:
        results_of.setdefault(row[0], []).append(ResultValues(*row))
    doses = list(Dose.objects.filter(subject=subject).order_by("administered_at"))
    now = timezone.now()
    rule_columns = len(loader.RESULT_COLUMNS)
    history = loader.history_of(
        subject, draws=draw_rows, results=[row[:rule_columns] for row in result_rows]
    )
    assessment = rules.evaluate(history, now)
    rows = []
    for draw in (DrawValues(*row) for row in draw_rows):
        results = {}
        for r in results_of.get(draw.pk, ()):
            results[r.analyte] = ResultRow(r, r.exact_multiple(), r.ctcae_grade())
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
        subject,
        rows,
        doses,
        assessment,
        baseline,
        decisions,
        alerts,
        now,
        history=history,
        sees_arm=sees_arm,
    )


def study_rule_set(study=None) -> rules.RuleSet:
    """The rule set the study (the default one unless given) follows."""
    code = study.rule_set if study is not None else None
    if code is None:
        code = (
            Study.objects.filter(code=settings.HEPWATCH_DEFAULT_STUDY)
            .values_list("rule_set", flat=True)
            .first()
        )
    return rules.RULE_SETS.get(code, rules.DEFAULT_RULE_SET)


def regimen_text(assessment: rules.SafetyAssessment, sees_arm=True) -> str:
    """The regimen in force at the end of the history and since when, in words ("Blinded" for
    its name to a viewer who may not see it)."""
    regimen = assessment.regimen
    if regimen is None:
        return "no regimen"
    text = f"{regimen.describe()} ({regimen.code})" if sees_arm else access.BLINDED
    if not sees_arm and assessment.regimen_since is not None:
        return f"{text}, a reduced dose since the re-start signed on " + rules.when(
            assessment.regimen_since
        )
    if assessment.regimen_since is not None:
        return f"{text}, since the re-start signed on {rules.when(assessment.regimen_since)}"
    return f"{text}, the arm's starting regimen"


def safety_state(subject: Subject) -> SubjectSafetyState:
    state, _ = SubjectSafetyState.objects.get_or_create(subject=subject)
    return state


# ---- alerts -------------------------------------------------------------------------------


# ---- cases ------------------------------------------------------------------------------


def amendable_decisions(subject: Subject):
    """The subject's decisions in force (not yet amended), which a new decision may replace."""
    return (
        Decision.objects.filter(subject=subject, replaced_by__isnull=True)
        .select_related("reviewer")
        .order_by("-signed_at")
    )


# ---- dashboard ----------------------------------------------------------------------------


# ---- history ------------------------------------------------------------------------------
