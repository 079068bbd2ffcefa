"""The rule table (rules v1): a subject's whole history and an evaluation time in, the alerts
the table demands out. Pure: no ORM, no clock, exact arithmetic.

Read it next to DESIGN.md section 3; `RULES` below is that table, and the rules page renders it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from .units import (
    ANALYTES,
    BASELINE_ANALYTES,
    PEAK_ANALYTES,
    format_multiple,
    format_number,
    unit_label,
)

RULES_VERSION = "rules v1"

THREE = Fraction(3)
FIVE = Fraction(5)
ONE = Fraction(1)
TWO = Fraction(2)
REPEAT_WINDOW = timedelta(days=7)
EARLY_PHASE = timedelta(days=28)
EARLY_INTERVAL_DAYS = 7
GRACE = timedelta(days=2)

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    severity: str
    fires_when: str
    action: str


RULES = (
    Rule(
        "R1",
        "missing_baseline",
        "high",
        "the first dose has no draw on or before it holding all of ALT, AST, ALP, TBIL",
        "collect baseline; review dosing",
    ),
    Rule(
        "R2",
        "weekly_monitoring",
        "low",
        "a draw's peak is > 1× and < 3×, the previous draw with a peak had peak ≤ 1× "
        "(or there was none), and no episode is open",
        "keep dosing; monitor ALT/AST weekly",
    ),
    Rule(
        "R3",
        "withhold_dose",
        "high",
        "a draw starts an episode (peak ≥ 3× while no episode is open)",
        "withhold dosing now; repeat ALT/AST within 7 days",
    ),
    Rule(
        "R4",
        "elevation_confirmed",
        "high",
        "the next draw with a peak after the episode's first draw has peak ≥ 3× "
        "(however late it came)",
        "keep withholding; investigate other causes (medications, alcohol, liver disease)",
    ),
    Rule(
        "R5",
        "severe_elevation",
        "critical",
        "the first draw in an episode with peak ≥ 5×",
        "keep withholding; investigate urgently",
    ),
    Rule(
        "R6",
        "discontinue",
        "critical",
        "the subject's first draw with peak ≥ 3× together with TBIL ≥ 2× ULN in the same draw, "
        "the draw's symptoms flag, or the subject's active-liver-disease flag",
        "discontinue treatment (potential Hy's law)",
    ),
    Rule(
        "R7",
        "confirmation_overdue",
        "high",
        "an episode's first draw has no later draw with a peak collected at most 7 days after "
        "it, and the evaluation time is past its collected time + 7 days",
        "repeat ALT/AST now",
    ),
    Rule(
        "R8",
        "eligible_reduced_dose",
        "medium",
        "the draw that ends an episode (first later draw with peak < 3×)",
        "reviewer may re-start at 70 mg three times weekly",
    ),
    Rule(
        "R9",
        "dose_while_withheld",
        "critical",
        "a dose given after an episode's first draw and before the draw that ends it, "
        "or after the discontinue draw; one alert per dose",
        "review the dosing error",
    ),
    Rule(
        "R10",
        "lab_overdue",
        "medium",
        "a dosed, not discontinued subject: the evaluation time is past the reference "
        "(last draw with a peak, else the first dose) + interval + 2 days; the interval is "
        "7 days in the first 28 days or after a peak > 1×, else the maintenance interval",
        "collect the scheduled ALT/AST",
    ),
)
RULE_BY_KIND = {rule.kind: rule for rule in RULES}
KINDS = tuple(rule.kind for rule in RULES)
TIME_RULE_KINDS = ("confirmation_overdue", "lab_overdue")

# Safety states of a subject, from the most to the least restrictive.
DISCONTINUED = "discontinued"
WITHHELD = "withheld"
MONITORING = "weekly_monitoring"
DOSING = "dosing"
STATES = (DISCONTINUED, WITHHELD, MONITORING, DOSING)


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
class History:
    draws: tuple[Draw, ...] = ()
    doses: tuple[Dose, ...] = ()
    active_liver_disease: bool = False
    maintenance_days: int = 30


# ---- output ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """An alert the table demands. Its identity is (kind, triggered_at)."""

    kind: str
    triggered_at: datetime
    explanation: str
    draw_key: object = None
    dose_key: object = None
    due_by: datetime | None = None

    @property
    def rule(self) -> Rule:
        return RULE_BY_KIND[self.kind]

    @property
    def severity(self) -> str:
        return self.rule.severity


@dataclass(frozen=True)
class Episode:
    """A run of draws with peak ≥ 3×: withheld from `start_at` until `end_at` (None: open)."""

    start_key: object
    start_at: datetime
    end_key: object = None
    end_at: datetime | None = None


@dataclass(frozen=True)
class SafetyAssessment:
    as_of: datetime
    findings: tuple[Finding, ...]
    episodes: tuple[Episode, ...]
    state: str
    discontinued_at: datetime | None = None
    peaks: dict = field(default_factory=dict)  # draw key -> peak ×ULN (Fraction)


# ---- the table ---------------------------------------------------------------------------


def when(moment: datetime) -> str:
    """A moment for an explanation: the date alone at midnight UTC, else date and time."""
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"{moment:%Y-%m-%d}"
    if moment.second:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _has_baseline_panel(draw: Draw) -> bool:
    return all(draw.result(analyte) is not None for analyte in BASELINE_ANALYTES)


def _tbil_multiple(draw: Draw) -> Fraction | None:
    tbil = draw.result("TBIL")
    return tbil.multiple if tbil else None


def evaluate(history: History, as_of: datetime) -> SafetyAssessment:
    """Apply rules R1-R10 to a subject's whole history as of `as_of`.

    The result depends only on the data, never on the order it is given in.
    """
    draws = sorted(history.draws, key=lambda d: (d.collected_at, str(d.key)))
    doses = sorted(history.doses, key=lambda d: (d.administered_at, str(d.key)))
    findings: list[Finding] = []
    first_dose = doses[0] if doses else None

    # R1: a baseline panel on or before the first dose.
    if first_dose and not any(
        d.collected_at <= first_dose.administered_at and _has_baseline_panel(d) for d in draws
    ):
        findings.append(
            Finding(
                "missing_baseline",
                first_dose.administered_at,
                f"First dose ({format_number(first_dose.dose_mg)} mg) on "
                f"{when(first_dose.administered_at)} has no draw on or before it holding all of "
                f"ALT, AST, ALP and TBIL: {RULE_BY_KIND['missing_baseline'].action}.",
                dose_key=first_dose.key,
            )
        )

    peak_draws = [(d, *p) for d in draws if (p := d.peak()) is not None]
    episodes: list[Episode] = []
    open_start = None  # (draw, multiple, result) of the open episode's first draw
    repeats_in_episode = 0
    severe_seen = False
    previous_multiple = None
    discontinue_draw = None

    for draw, multiple, result in peak_draws:
        if open_start is None:
            if multiple >= THREE:
                open_start = (draw, multiple, result)
                repeats_in_episode = 0
                severe_seen = False
                due = draw.collected_at + REPEAT_WINDOW
                findings.append(
                    Finding(
                        "withhold_dose",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)}: withhold dosing; "
                        f"repeat ALT/AST by {when(due)}.",
                        draw_key=draw.key,
                        due_by=due,
                    )
                )
            elif multiple > ONE and (previous_multiple is None or previous_multiple <= ONE):
                findings.append(
                    Finding(
                        "weekly_monitoring",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)}: "
                        f"{RULE_BY_KIND['weekly_monitoring'].action}.",
                        draw_key=draw.key,
                    )
                )
        else:
            start_draw, start_multiple, start_result = open_start
            repeats_in_episode += 1
            if multiple >= THREE:
                if repeats_in_episode == 1:
                    findings.append(
                        Finding(
                            "elevation_confirmed",
                            draw.collected_at,
                            f"{result.describe()} on {when(draw.collected_at)} confirms the "
                            f"elevation of {when(start_draw.collected_at)} "
                            f"({format_multiple(start_multiple)} ULN): "
                            f"{RULE_BY_KIND['elevation_confirmed'].action}.",
                            draw_key=draw.key,
                        )
                    )
            else:
                episodes.append(
                    Episode(start_draw.key, start_draw.collected_at, draw.key, draw.collected_at)
                )
                open_start = None
                findings.append(
                    Finding(
                        "eligible_reduced_dose",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)} is below 3× ULN, "
                        f"ending the elevation of {when(start_draw.collected_at)}: "
                        f"{RULE_BY_KIND['eligible_reduced_dose'].action}.",
                        draw_key=draw.key,
                    )
                )

        if open_start is not None and multiple >= FIVE and not severe_seen:
            severe_seen = True
            findings.append(
                Finding(
                    "severe_elevation",
                    draw.collected_at,
                    f"{result.describe()} on {when(draw.collected_at)}: "
                    f"{RULE_BY_KIND['severe_elevation'].action}.",
                    draw_key=draw.key,
                )
            )

        if discontinue_draw is None and multiple >= THREE:
            reasons = []
            tbil_multiple = _tbil_multiple(draw)
            if tbil_multiple is not None and tbil_multiple >= TWO:
                reasons.append(f"{draw.result('TBIL').describe()} in the same draw")
            if draw.symptoms:
                reasons.append("symptoms of liver injury")
            if history.active_liver_disease:
                reasons.append("active liver disease")
            if reasons:
                discontinue_draw = draw
                findings.append(
                    Finding(
                        "discontinue",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)} with "
                        f"{' and '.join(reasons)}: {RULE_BY_KIND['discontinue'].action}.",
                        draw_key=draw.key,
                    )
                )
        previous_multiple = multiple

    if open_start is not None:
        episodes.append(Episode(open_start[0].key, open_start[0].collected_at))

    # R7: an episode's first draw needs a repeat with a peak within 7 days.
    peak_times = [d.collected_at for d, _, _ in peak_draws]
    start_multiples = {d.key: (m, r) for d, m, r in peak_draws}
    for episode in episodes:
        deadline = episode.start_at + REPEAT_WINDOW
        repeated = any(episode.start_at < t <= deadline for t in peak_times)
        if not repeated and as_of > deadline:
            _, start_result = start_multiples[episode.start_key]
            findings.append(
                Finding(
                    "confirmation_overdue",
                    episode.start_at,
                    f"{start_result.describe()} on {when(episode.start_at)} had no repeat "
                    f"ALT/AST by {when(deadline)}: {RULE_BY_KIND['confirmation_overdue'].action}.",
                    draw_key=episode.start_key,
                )
            )

    # R9: doses inside a withheld period.
    withheld = [(e.start_at, e.end_at, "the elevation of " + when(e.start_at)) for e in episodes]
    if discontinue_draw is not None:
        withheld.append(
            (
                discontinue_draw.collected_at,
                None,
                f"discontinuation on {when(discontinue_draw.collected_at)}",
            )
        )
    for dose in doses:
        t = dose.administered_at
        cause = next((c for s, e, c in withheld if s < t and (e is None or t < e)), None)
        if cause:
            findings.append(
                Finding(
                    "dose_while_withheld",
                    t,
                    f"Dose of {format_number(dose.dose_mg)} mg on {when(t)} was given while dosing "
                    f"was withheld after {cause}: {RULE_BY_KIND['dose_while_withheld'].action}.",
                    dose_key=dose.key,
                )
            )

    # R10: the scheduled ALT/AST.
    if first_dose is not None and discontinue_draw is None:
        if peak_draws:
            ref_draw, ref_multiple, _ = peak_draws[-1]
            ref_at, ref_draw_key, ref_dose_key = ref_draw.collected_at, ref_draw.key, None
            what = "the last ALT/AST"
        else:
            ref_multiple = None
            ref_at, ref_draw_key, ref_dose_key = first_dose.administered_at, None, first_dose.key
            what = "the first dose"
        early = ref_at - first_dose.administered_at < EARLY_PHASE
        elevated = ref_multiple is not None and ref_multiple > ONE
        interval = EARLY_INTERVAL_DAYS if early or elevated else history.maintenance_days
        due = ref_at + timedelta(days=interval)
        if as_of > due + GRACE:
            findings.append(
                Finding(
                    "lab_overdue",
                    ref_at,
                    f"No ALT/AST since {what} on {when(ref_at)}; the next was due by {when(due)} "
                    f"(every {interval} days): {RULE_BY_KIND['lab_overdue'].action}.",
                    draw_key=ref_draw_key,
                    dose_key=ref_dose_key,
                    due_by=due,
                )
            )

    if discontinue_draw is not None:
        state = DISCONTINUED
    elif episodes and episodes[-1].end_at is None:
        state = WITHHELD
    elif peak_draws and peak_draws[-1][1] > ONE:
        state = MONITORING
    else:
        state = DOSING

    findings.sort(key=lambda f: (f.triggered_at, KINDS.index(f.kind)))
    return SafetyAssessment(
        as_of=as_of,
        findings=tuple(findings),
        episodes=tuple(episodes),
        state=state,
        discontinued_at=discontinue_draw.collected_at if discontinue_draw else None,
        peaks={d.key: m for d, m, _ in peak_draws},
    )
