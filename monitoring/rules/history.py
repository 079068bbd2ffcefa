"""What the engine reads and writes: a subject's history (draws, doses, signed decisions,
regimens) and the assessment of it (findings, episodes, state). Plain frozen data."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from ..units import ANALYTES, PEAK_ANALYTES, format_multiple, format_number, unit_label

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# Decision actions the engine reads (the others only change alert statuses).
WITHHOLD = "withhold"
RESUME_SAME_DOSE = "resume_same_dose"
RESUME_REDUCED_DOSE = "resume_reduced_dose"
DISCONTINUE = "discontinue"
CONFIRM = "confirm"
DISMISS = "dismiss"
ACKNOWLEDGE = "acknowledge"
RESUMES = (RESUME_SAME_DOSE, RESUME_REDUCED_DOSE)
ACTIONS = (
    WITHHOLD,
    CONFIRM,
    RESUME_SAME_DOSE,
    RESUME_REDUCED_DOSE,
    DISCONTINUE,
    DISMISS,
    ACKNOWLEDGE,
)

# Safety states of a subject, from the most to the least restrictive.
DISCONTINUED = "discontinued"
WITHHELD = "withheld"
RESTART_PENDING = "restart_pending"
CLOSE_OBSERVATION = "close_observation"
MONITORING = "weekly_monitoring"
DOSING = "dosing"
STATES = (DISCONTINUED, WITHHELD, RESTART_PENDING, CLOSE_OBSERVATION, MONITORING, DOSING)
DOSABLE_STATES = (CLOSE_OBSERVATION, MONITORING, DOSING)


def when(moment: datetime) -> str:
    """A moment for an explanation: the date alone at midnight UTC, else date and time."""
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"{moment:%Y-%m-%d}"
    if moment.second:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


# ---- input -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One analyte of a draw, in its canonical unit; `uln` is None when it has none."""

    analyte: str
    value: Fraction
    uln: Fraction | None = None
    entered_value: Decimal | None = None
    entered_unit: str | None = None
    multiple: Fraction | None = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        # ×ULN, exact; computed once since every rule reads it.
        ok = self.uln is not None and self.uln > 0
        object.__setattr__(self, "multiple", self.value / self.uln if ok else None)

    def describe(self) -> str:
        """'ALT 135 U/L = 3.29× ULN (41 U/L)', with the entered SI value when there was one."""
        unit = ANALYTES[self.analyte].canonical_unit
        text = f"{self.analyte} {format_number(self.value)} {unit}"
        if self.entered_unit and self.entered_unit != unit:
            text += f" ({format_number(self.entered_value)} {unit_label(self.entered_unit)})"
        multiple = self.multiple
        if multiple is not None:
            text += f" = {format_multiple(multiple)} ULN ({format_number(self.uln)} {unit})"
        return text


@dataclass(frozen=True)
class Draw:
    key: object
    collected_at: datetime
    results: tuple[Result, ...] = ()
    symptoms: bool = False
    resulted_at: datetime | None = None  # None: known at collection

    @property
    def known_at(self) -> datetime:
        """When its results were known: the report time, else the collection time."""
        return self.resulted_at or self.collected_at

    def result(self, analyte: str) -> Result | None:
        for result in self.results:
            if result.analyte == analyte:
                return result
        return None

    def peak(self) -> tuple[Fraction, Result] | None:
        """The larger of ALT×ULN and AST×ULN in this draw, with the result that made it."""
        best = None
        for analyte in PEAK_ANALYTES:
            result = self.result(analyte)
            if result is None or result.multiple is None:
                continue
            if best is None or result.multiple > best[0]:
                best = (result.multiple, result)
        return best


@dataclass(frozen=True)
class Dose:
    key: object
    administered_at: datetime
    dose_mg: Decimal = Decimal(0)


@dataclass(frozen=True)
class Regimen:
    """A dosing regimen: mg per administration (None when unknown) and administrations a week."""

    code: str
    name: str = ""
    dose_mg: Decimal | None = None
    per_week: int = 1
    key: object = field(default=None, compare=False)  # the stored regimen's, as a draw's key

    def describe(self) -> str:
        if self.dose_mg is None:
            return self.name or self.code
        times = {1: "once", 2: "twice", 3: "three times"}.get(self.per_week)
        times = times or f"{self.per_week} times"
        return f"{format_number(self.dose_mg)} mg {times} weekly"

    def is_reduction_of(self, other: "Regimen") -> bool:
        """A lower dose per administration, or the same dose fewer times a week. With either
        dose unknown, neither can be told, so it is no reduction."""
        if self.dose_mg is None or other.dose_mg is None:
            return False
        if self.dose_mg < other.dose_mg:
            return True
        return self.dose_mg == other.dose_mg and self.per_week < other.per_week


@dataclass(frozen=True)
class Decision:
    """A signed decision as the engine reads it; `replaces` names the decision it amends."""

    key: object
    action: str
    signed_at: datetime
    regimen: Regimen | None = None  # the target of a resume_reduced_dose
    replaces: object = None
    reviewer: str = ""


@dataclass(frozen=True)
class History:
    draws: tuple[Draw, ...] = ()
    doses: tuple[Dose, ...] = ()
    decisions: tuple[Decision, ...] = ()
    active_liver_disease: bool = False
    maintenance_days: int = 30
    start_regimen: Regimen | None = None
    rule_set: str = "seed"  # the name of the study's rule set


# ---- output ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """An alert the rule set demands. Its identity is (kind, triggered_at). `resolution` says
    why the engine resolves it (None while its need stands); `case_at` is the collection time
    of the first draw of the episode whose case it belongs to."""

    rule: object  # the Rule of the set that fired
    triggered_at: datetime
    explanation: str
    draw_key: object = None
    dose_key: object = None
    due_by: datetime | None = None
    resolution: str | None = None
    case_at: datetime | None = None

    @property
    def kind(self) -> str:
        return self.rule.kind

    @property
    def severity(self) -> str:
        return self.rule.severity


@dataclass(frozen=True)
class Episode:
    """A run of draws over the episode threshold, from its first draw to the draw that ends it
    (None: open). `withhold_start` is when it started withholding dosing (None: it withholds
    nothing, as under close observation)."""

    start_key: object
    start_at: datetime
    withhold_start: datetime | None
    end_key: object = None
    end_at: datetime | None = None
    closed_by: Decision | None = None  # the resume or discontinuation that closed its case
    known_at: datetime | None = None  # when its first draw's results were known


@dataclass(frozen=True)
class Withholding:
    """A time dosing was withheld: from `start` until `end` (None: still), and why."""

    start: datetime
    end: datetime | None
    cause: str


@dataclass(frozen=True)
class SafetyAssessment:
    as_of: datetime
    findings: tuple[Finding, ...]
    episodes: tuple[Episode, ...]
    state: str
    regimen: Regimen | None
    regimen_since: datetime | None
    rule_set: object  # the RuleSet applied
    withholdings: tuple[Withholding, ...] = ()
    discontinued_at: datetime | None = None
    discontinued_by: str = ""
    peaks: dict = field(default_factory=dict)  # draw key -> peak ×ULN (Fraction)

    @property
    def may_dose(self) -> bool:
        return self.state in DOSABLE_STATES
