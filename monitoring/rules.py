"""The rule table (rules v2): a subject's whole history (draws, doses, signed decisions, flags,
regimens) and an evaluation time in; the findings, each alert's engine resolution, the safety
state and the regimen in force out. Pure: no ORM, no clock, exact arithmetic.

Read it next to DESIGN.md section 3. A study's rule set is a value (`RuleSet`) the engine is
given: its thresholds, windows and table; `SEED` is the seed guide's, and the rules page renders
it.
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
MONITORING = "weekly_monitoring"
DOSING = "dosing"
STATES = (DISCONTINUED, WITHHELD, RESTART_PENDING, MONITORING, DOSING)
DOSABLE_STATES = (MONITORING, DOSING)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    label: str  # the kind in words, as people see it
    severity: str
    fires_when: str
    action: str
    resolved_when: str


@dataclass(frozen=True)
class RuleSet:
    """A study's rules as data: the thresholds and windows the engine applies, and the table
    shown to people. Multiples compare as "≥" (3.0× counts as ≥ 3×)."""

    name: str
    title: str
    source: str
    version: str
    rules: tuple[Rule, ...]
    episode_multiple: Fraction = Fraction(3)
    severe_multiple: Fraction = Fraction(5)
    monitoring_multiple: Fraction = Fraction(1)
    bilirubin_multiple: Fraction = Fraction(2)
    repeat_window: timedelta = timedelta(days=7)
    early_phase: timedelta = timedelta(days=28)
    early_interval_days: int = 7
    grace: timedelta = timedelta(days=2)

    @property
    def label(self) -> str:
        return f"{self.title} ({self.version})"

    def rule(self, kind: str) -> Rule:
        return self.by_kind[kind]

    @property
    def by_kind(self) -> dict:
        return {rule.kind: rule for rule in self.rules}


CASE_CLOSES = "the case closes (a resume signed after the withhold start, or a discontinuation)"

SEED = RuleSet(
    name="seed",
    title="Seed guide: mipomersen liver safety",
    source="Seed mipomersen liver-safety guide (shared/reference), rule table of DESIGN.md §3",
    version="rules v2",
    rules=(
        Rule(
            "R1",
            "missing_baseline",
            "Baseline labs missing",
            "high",
            "the first dose has no draw on or before it holding all of ALT, AST, ALP, TBIL",
            "collect baseline; review dosing",
            "never (a reviewer acknowledges)",
        ),
        Rule(
            "R2",
            "weekly_monitoring",
            "Monitor weekly",
            "low",
            "a draw's peak is > 1× and < 3×, the previous draw with a peak had peak ≤ 1× "
            "(or there was none), and no episode is open",
            "keep dosing; monitor ALT/AST weekly",
            "a later draw has peak ≤ 1×, or a later draw starts an episode",
        ),
        Rule(
            "R3",
            "withhold_dose",
            "Withhold dosing",
            "high",
            "a draw starts an episode (peak ≥ 3× while no episode is open)",
            "withhold dosing now; repeat ALT/AST within 7 days",
            CASE_CLOSES,
        ),
        Rule(
            "R4",
            "elevation_confirmed",
            "Elevation confirmed",
            "high",
            "the next draw with a peak after the episode's first draw has peak ≥ 3× "
            "(however late it came)",
            "keep withholding; investigate other causes (medications, alcohol, liver disease)",
            CASE_CLOSES,
        ),
        Rule(
            "R5",
            "severe_elevation",
            "Severe elevation",
            "critical",
            "the first draw in an episode with peak ≥ 5×",
            "keep withholding; investigate urgently",
            CASE_CLOSES,
        ),
        Rule(
            "R6",
            "discontinue",
            "Discontinue treatment",
            "critical",
            "the subject's first draw with peak ≥ 3× together with TBIL ≥ 2× ULN in the same "
            "draw, the draw's symptoms flag, or the subject's active-liver-disease flag",
            "discontinue treatment (potential Hy's law)",
            "a discontinue decision is signed",
        ),
        Rule(
            "R7",
            "confirmation_overdue",
            "Repeat draw overdue",
            "high",
            "an episode's first draw has no later draw with a peak collected at most 7 days "
            "after it, and the evaluation time is past its collection + 7 days",
            "repeat ALT/AST now",
            "a later draw with a peak exists, or " + CASE_CLOSES,
        ),
        Rule(
            "R8",
            "eligible_reduced_dose",
            "Re-start decision needed",
            "medium",
            "the draw that ends an episode (the first later draw with peak < 3×)",
            "decide on a re-start: resume at a reduced dose or frequency (or the same dose), "
            "or discontinue",
            CASE_CLOSES,
        ),
        Rule(
            "R9",
            "dose_while_withheld",
            "Dose given while withheld",
            "critical",
            "a dose administered while the subject is withheld, or after discontinuation; "
            "one alert per dose",
            "review the dosing error",
            "never (a reviewer decides)",
        ),
        Rule(
            "R10",
            "lab_overdue",
            "Scheduled lab overdue",
            "medium",
            "a dosed, not discontinued subject: the evaluation time is past the reference (the "
            "later of the last draw with a peak and the latest resume; else the first dose) + "
            "interval + 2 days; the interval is 7 days within 28 days of the first dose or of "
            "the latest resume, or after a peak > 1×, else the maintenance interval",
            "collect the scheduled ALT/AST",
            "the lab comes",
        ),
        Rule(
            "R11",
            "dose_off_regimen",
            "Dose off regimen",
            "high",
            "a dose that is not an R9 and whose mg differs from the dose of the regimen in "
            "force at its time (when that regimen has a dose); one alert per dose",
            "review the dose against the regimen",
            "never (a reviewer decides)",
        ),
    ),
)
RULE_SETS = {SEED.name: SEED}
DEFAULT_RULE_SET = SEED

# Every kind any rule set knows, for model choices and labels.
RULES = tuple(rule for rule_set in RULE_SETS.values() for rule in rule_set.rules)
RULE_BY_KIND = {rule.kind: rule for rule in RULES}
KINDS = tuple(RULE_BY_KIND)
TIME_RULE_KINDS = ("confirmation_overdue", "lab_overdue")
CASE_KINDS = (
    "withhold_dose",
    "elevation_confirmed",
    "severe_elevation",
    "confirmation_overdue",
    "eligible_reduced_dose",
)
ENGINE_NAME = "hepwatch rules"


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


# ---- output ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """An alert the table demands. Its identity is (kind, triggered_at). `resolution` says why
    the engine resolves it (None while its need stands); `case_at` is the collection time of the
    first draw of the episode whose case it belongs to."""

    kind: str
    triggered_at: datetime
    explanation: str
    draw_key: object = None
    dose_key: object = None
    due_by: datetime | None = None
    resolution: str | None = None
    case_at: datetime | None = None

    @property
    def rule(self) -> Rule:
        return RULE_BY_KIND[self.kind]

    @property
    def severity(self) -> str:
        return self.rule.severity


@dataclass(frozen=True)
class Episode:
    """A run of draws with peak ≥ 3×, from its first draw to the draw that ends it (None: open).
    `withhold_start` is when its first draw's results were known."""

    start_key: object
    start_at: datetime
    withhold_start: datetime
    end_key: object = None
    end_at: datetime | None = None
    closed_by: Decision | None = None  # the resume or discontinuation that closed its case


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
    withholdings: tuple[Withholding, ...] = ()
    discontinued_at: datetime | None = None
    discontinued_by: str = ""
    rule_set: RuleSet = SEED
    peaks: dict = field(default_factory=dict)  # draw key -> peak ×ULN (Fraction)

    @property
    def may_dose(self) -> bool:
        return self.state in DOSABLE_STATES


# ---- the timeline of withholding and regimens -------------------------------------------


def when(moment: datetime) -> str:
    """A moment for an explanation: the date alone at midnight UTC, else date and time."""
    moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"{moment:%Y-%m-%d}"
    if moment.second:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def effective_decisions(decisions) -> tuple[Decision, ...]:
    """The decisions in force, in signing order: one that a later decision names as replaced
    leaves the history the engine sees (both stay on record)."""
    replaced = {d.replaces for d in decisions if d.replaces is not None}
    return tuple(
        sorted(
            (d for d in decisions if d.key not in replaced),
            key=lambda d: (d.signed_at, str(d.key)),
        )
    )


def peak_draws(draws, rule_set: RuleSet = SEED):
    """(draw, multiple, result) of each draw with a peak, in collection order."""
    ordered = sorted(draws, key=lambda d: (d.collected_at, str(d.key)))
    return [(d, *p) for d in ordered if (p := d.peak()) is not None]


def find_episodes(peaks, rule_set: RuleSet = SEED) -> list[Episode]:
    """Episodes: from the first draw with peak ≥ 3× while none is open to the first later draw
    with peak < 3×."""
    episodes, start = [], None
    for draw, multiple, _ in peaks:
        if start is None and multiple >= rule_set.episode_multiple:
            start = draw
        elif start is not None and multiple < rule_set.episode_multiple:
            episodes.append(
                Episode(start.key, start.collected_at, start.known_at, draw.key, draw.collected_at)
            )
            start = None
    if start is not None:
        episodes.append(Episode(start.key, start.collected_at, start.known_at))
    return episodes


@dataclass(frozen=True)
class Timeline:
    """What the history says about withholding, discontinuation and regimens at any time."""

    episodes: tuple[Episode, ...]
    decisions: tuple[Decision, ...]
    discontinued_at: datetime | None
    discontinued_by: str
    start_regimen: Regimen | None

    @property
    def withhold_starts(self) -> list[tuple[datetime, str]]:
        starts = [(e.withhold_start, f"the elevation of {when(e.start_at)}") for e in self.episodes]
        starts += [
            (d.signed_at, f"the withhold decision of {when(d.signed_at)}")
            for d in self.decisions
            if d.action == WITHHOLD
        ]
        return sorted(starts)

    @property
    def resumes(self) -> list[Decision]:
        return [d for d in self.decisions if d.action in RESUMES]

    def discontinued(self, t: datetime) -> bool:
        """Discontinued at or before t."""
        return self.discontinued_at is not None and self.discontinued_at <= t

    def open_episode(self, t: datetime) -> Episode | None:
        """The episode open at t: its first draw resulted before t, its ending draw (if any) was
        collected at or after t."""
        for e in self.episodes:
            if e.withhold_start < t and (e.end_at is None or e.end_at >= t):
                return e
        return None

    def unresumed_start(self, t: datetime) -> tuple[datetime, str] | None:
        """A withhold start before t with no resume after it, up to t."""
        for start, cause in self.withhold_starts:
            if start < t and not any(start < r.signed_at <= t for r in self.resumes):
                return start, cause
        return None

    def withheld_because(self, t: datetime) -> str | None:
        """Why the subject is withheld at t (not discontinued), or None."""
        if self.discontinued_at is not None and self.discontinued_at < t:
            return None
        episode = self.open_episode(t)
        if episode is not None:
            return f"the elevation of {when(episode.start_at)} (no draw below 3× since)"
        unresumed = self.unresumed_start(t)
        if unresumed is not None:
            return f"{unresumed[1]}, with no re-start signed since"
        return None

    def regimen_at(self, t: datetime) -> tuple[Regimen | None, datetime | None]:
        """The regimen in force at t, and the signing time of the decision that set it."""
        regimen, since = self.start_regimen, None
        for d in self.decisions:
            if d.action == RESUME_REDUCED_DOSE and d.signed_at <= t and d.regimen is not None:
                regimen, since = d.regimen, d.signed_at
        return regimen, since


def timeline_of(history: History, rule_set: RuleSet = SEED, peaks=None) -> Timeline:
    peaks = peak_draws(history.draws, rule_set) if peaks is None else peaks
    decisions = effective_decisions(history.decisions)
    episodes = find_episodes(peaks, rule_set)
    stops = []
    r6 = _discontinue_draw(peaks, history, rule_set)
    if r6 is not None:
        stops.append((r6[0].known_at, f"rule R6 on the draw of {when(r6[0].collected_at)}"))
    stops += [
        (d.signed_at, f"the discontinue decision of {when(d.signed_at)}")
        for d in decisions
        if d.action == DISCONTINUE
    ]
    stop = min(stops) if stops else (None, "")
    return Timeline(
        episodes=tuple(episodes),
        decisions=decisions,
        discontinued_at=stop[0],
        discontinued_by=stop[1],
        start_regimen=history.start_regimen,
    )


def _discontinue_draw(peaks, history: History, rule_set: RuleSet):
    """R6: the subject's first draw with peak ≥ 3× and TBIL ≥ 2×, symptoms, or active liver
    disease; (draw, multiple, result, reasons) or None."""
    for draw, multiple, result in peaks:
        if multiple < rule_set.episode_multiple:
            continue
        reasons = []
        tbil = draw.result("TBIL")
        if tbil is not None and tbil.multiple is not None:
            if tbil.multiple >= rule_set.bilirubin_multiple:
                reasons.append(f"{tbil.describe()} in the same draw")
        if draw.symptoms:
            reasons.append("symptoms of liver injury")
        if history.active_liver_disease:
            reasons.append("active liver disease")
        if reasons:
            return draw, multiple, result, reasons
    return None


# ---- what a reviewer may decide, and what a dose breaks ---------------------------------


def refusal(history: History, action: str, at: datetime, *, regimen=None, alert_kinds=()):
    """Why section 3 refuses this decision signed at `at`, or None when it is allowed.

    Judged against the whole history of labs and doses and the decisions signed before `at`.
    """
    earlier = History(
        draws=history.draws,
        doses=history.doses,
        decisions=tuple(d for d in history.decisions if d.signed_at < at),
        active_liver_disease=history.active_liver_disease,
        maintenance_days=history.maintenance_days,
        start_regimen=history.start_regimen,
    )
    timeline = timeline_of(earlier)
    if timeline.discontinued(at):
        allowed = action in (DISCONTINUE, ACKNOWLEDGE) or (
            action == DISMISS
            and alert_kinds
            and set(alert_kinds) <= {"dose_while_withheld", "dose_off_regimen"}
        )
        if not allowed:
            return (
                f"the subject was discontinued by {timeline.discontinued_by}; only a "
                "discontinuation, an acknowledgement, or dismissing a dosing-error alert "
                "(R9, R11) can be signed now"
            )
    if action not in RESUMES:
        return None
    episode = timeline.open_episode(at)
    if episode is not None:
        return (
            f"an elevation is still open (the draw of {when(episode.start_at)} has had no "
            "later draw below 3× ULN): dosing cannot resume until one comes back below 3×"
        )
    if timeline.withheld_because(at) is None:
        return "the subject is not withheld, so there is nothing to resume"
    if action == RESUME_REDUCED_DOSE:
        current, _ = timeline.regimen_at(at)
        if regimen is None:
            return "choose the reduced regimen to re-start on"
        if current is not None and not regimen.is_reduction_of(current):
            return (
                f"{regimen.describe()} is not a reduction of the regimen in force "
                f"({current.describe()}): a lower dose per administration, or the same dose "
                "fewer times a week"
            )
    return None


@dataclass(frozen=True)
class DoseJudgement:
    """What a dose at its own time breaks: the rule and why (none: it follows the rules)."""

    rule: str | None  # "R9", "R11" or None
    reason: str = ""
    regimen: Regimen | None = None


def judge_dose(history: History, at: datetime, dose_mg) -> DoseJudgement:
    """Judge a dose at its own administered_at against the rest of the history."""
    timeline = timeline_of(history)
    regimen, _ = timeline.regimen_at(at)
    if timeline.discontinued_at is not None and timeline.discontinued_at < at:
        return DoseJudgement(
            "R9",
            f"treatment was discontinued on {when(timeline.discontinued_at)} by "
            f"{timeline.discontinued_by}",
            regimen,
        )
    cause = timeline.withheld_because(at)
    if cause is not None:
        return DoseJudgement("R9", f"dosing was withheld at that time after {cause}", regimen)
    if regimen is not None and regimen.dose_mg is not None and Decimal(dose_mg) != regimen.dose_mg:
        return DoseJudgement(
            "R11",
            f"{format_number(dose_mg)} mg differs from the regimen in force at that time, "
            f"{regimen.describe()}",
            regimen,
        )
    return DoseJudgement(None, "", regimen)


# ---- the table ---------------------------------------------------------------------------


def _known(draw: Draw) -> str:
    """' (results known …)' when they came later than the collection."""
    if draw.known_at == draw.collected_at:
        return ""
    return f" (results known {when(draw.known_at)})"


def _has_baseline_panel(draw: Draw) -> bool:
    return all(draw.result(analyte) is not None for analyte in BASELINE_ANALYTES)


def evaluate(history: History, as_of: datetime, rule_set: RuleSet = SEED) -> SafetyAssessment:
    """Apply the rule set to a subject's whole history as of `as_of`.

    The result depends only on the data, never on the order it is given in; `as_of` only
    decides the overdue rules (R7, R10).
    """
    rs = rule_set
    draws = sorted(history.draws, key=lambda d: (d.collected_at, str(d.key)))
    doses = sorted(history.doses, key=lambda d: (d.administered_at, str(d.key)))
    peaks = peak_draws(draws, rs)
    timeline = timeline_of(history, rs, peaks)
    decisions = timeline.decisions
    resumes = timeline.resumes
    discontinue_decisions = [d for d in decisions if d.action == DISCONTINUE]
    findings: list[Finding] = []
    first_dose = doses[0] if doses else None

    def case_closer(episode: Episode) -> Decision | None:
        """The resume after its withhold start, or any discontinue decision, that closes it."""
        resume = next((r for r in resumes if r.signed_at > episode.withhold_start), None)
        return resume or (discontinue_decisions[0] if discontinue_decisions else None)

    def closing_text(decision: Decision | None) -> str | None:
        if decision is None:
            return None
        who = f" by {decision.reviewer}" if decision.reviewer else ""
        if decision.action == DISCONTINUE:
            return f"Treatment discontinued{who} on {when(decision.signed_at)}."
        if decision.action == RESUME_REDUCED_DOSE and decision.regimen is not None:
            return (
                f"Re-started at {decision.regimen.describe()}{who} on {when(decision.signed_at)}."
            )
        return f"Re-started at the same dose{who} on {when(decision.signed_at)}."

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
                f"ALT, AST, ALP and TBIL: {rs.rule('missing_baseline').action}.",
                dose_key=first_dose.key,
            )
        )

    # R2-R5, R8 along the draws; R7 per episode.
    episodes = []
    by_start = {e.start_key: e for e in timeline.episodes}
    current = None  # the open episode, with its first draw and what it has fired
    previous_multiple = None
    for index, (draw, multiple, result) in enumerate(peaks):
        later = peaks[index + 1 :]
        if current is None:
            if draw.key in by_start:
                episode = by_start[draw.key]
                closer = case_closer(episode)
                episode = Episode(
                    episode.start_key,
                    episode.start_at,
                    episode.withhold_start,
                    episode.end_key,
                    episode.end_at,
                    closer,
                )
                episodes.append(episode)
                current = {"episode": episode, "draw": draw, "multiple": multiple, "seen": 0}
                current["severe"] = False
                due = draw.collected_at + rs.repeat_window
                findings.append(
                    Finding(
                        "withhold_dose",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)}{_known(draw)}: "
                        f"withhold dosing; repeat ALT/AST by {when(due)}.",
                        draw_key=draw.key,
                        due_by=due,
                        resolution=closing_text(closer),
                        case_at=draw.collected_at,
                    )
                )
            elif multiple > rs.monitoring_multiple and (
                previous_multiple is None or previous_multiple <= rs.monitoring_multiple
            ):
                settle = next(
                    (
                        (d, m)
                        for d, m, _ in later
                        if m <= rs.monitoring_multiple or m >= rs.episode_multiple
                    ),
                    None,
                )
                resolution = None
                if settle is not None:
                    d, m = settle
                    resolution = (
                        f"ALT/AST back to {format_multiple(m)} ULN on {when(d.collected_at)}."
                        if m <= rs.monitoring_multiple
                        else f"An elevation started on {when(d.collected_at)}."
                    )
                findings.append(
                    Finding(
                        "weekly_monitoring",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)}: "
                        f"{rs.rule('weekly_monitoring').action}.",
                        draw_key=draw.key,
                        resolution=resolution,
                    )
                )
        else:
            episode, start_draw = current["episode"], current["draw"]
            current["seen"] += 1
            closed = closing_text(episode.closed_by)
            if multiple >= rs.episode_multiple:
                if current["seen"] == 1:
                    findings.append(
                        Finding(
                            "elevation_confirmed",
                            draw.collected_at,
                            f"{result.describe()} on {when(draw.collected_at)} confirms the "
                            f"elevation of {when(start_draw.collected_at)} "
                            f"({format_multiple(current['multiple'])} ULN): "
                            f"{rs.rule('elevation_confirmed').action}.",
                            draw_key=draw.key,
                            resolution=closed,
                            case_at=episode.start_at,
                        )
                    )
            else:
                findings.append(
                    Finding(
                        "eligible_reduced_dose",
                        draw.collected_at,
                        f"{result.describe()} on {when(draw.collected_at)} is below 3× ULN, "
                        f"ending the elevation of {when(start_draw.collected_at)}: "
                        f"{rs.rule('eligible_reduced_dose').action}.",
                        draw_key=draw.key,
                        resolution=closed,
                        case_at=episode.start_at,
                    )
                )
                current = None
        if current is not None and multiple >= rs.severe_multiple and not current["severe"]:
            current["severe"] = True
            findings.append(
                Finding(
                    "severe_elevation",
                    draw.collected_at,
                    f"{result.describe()} on {when(draw.collected_at)}: "
                    f"{rs.rule('severe_elevation').action}.",
                    draw_key=draw.key,
                    resolution=closing_text(current["episode"].closed_by),
                    case_at=current["episode"].start_at,
                )
            )
        previous_multiple = multiple

    # R6: potential Hy's law.
    r6 = _discontinue_draw(peaks, history, rs)
    if r6 is not None:
        draw, multiple, result, reasons = r6
        closer = discontinue_decisions[0] if discontinue_decisions else None
        # Its draw (peak ≥ 3×) lies in an episode: shown and answered with that episode's case.
        episode = next(
            e
            for e in episodes
            if e.start_at <= draw.collected_at
            and (e.end_at is None or draw.collected_at < e.end_at)
        )
        findings.append(
            Finding(
                "discontinue",
                draw.collected_at,
                f"{result.describe()} on {when(draw.collected_at)} with "
                f"{' and '.join(reasons)}: {rs.rule('discontinue').action}.",
                draw_key=draw.key,
                resolution=closing_text(closer),
                case_at=episode.start_at,
            )
        )

    # R7: an episode's first draw needs a repeat with a peak within the window.
    for episode in episodes:
        deadline = episode.start_at + rs.repeat_window
        later = [d for d, _, _ in peaks if d.collected_at > episode.start_at]
        if any(d.collected_at <= deadline for d in later) or as_of <= deadline:
            continue
        start_draw, _, start_result = next(p for p in peaks if p[0].key == episode.start_key)
        resolution = closing_text(episode.closed_by)
        if later:
            resolution = f"A repeat draw arrived on {when(later[0].collected_at)}."
        findings.append(
            Finding(
                "confirmation_overdue",
                episode.start_at,
                f"{start_result.describe()} on {when(episode.start_at)} had no repeat "
                f"ALT/AST by {when(deadline)}: {rs.rule('confirmation_overdue').action}.",
                draw_key=episode.start_key,
                resolution=resolution,
                case_at=episode.start_at,
            )
        )

    # R9 and R11: each dose judged at its own time.
    for dose in doses:
        t = dose.administered_at
        if timeline.discontinued_at is not None and timeline.discontinued_at < t:
            cause = f"after {timeline.discontinued_by} discontinued treatment"
        else:
            cause = timeline.withheld_because(t)
            cause = f"while dosing was withheld after {cause}" if cause else None
        if cause:
            findings.append(
                Finding(
                    "dose_while_withheld",
                    t,
                    f"Dose of {format_number(dose.dose_mg)} mg on {when(t)} was given {cause}: "
                    f"{rs.rule('dose_while_withheld').action}.",
                    dose_key=dose.key,
                )
            )
            continue
        regimen, _ = timeline.regimen_at(t)
        if regimen is not None and regimen.dose_mg is not None and dose.dose_mg != regimen.dose_mg:
            findings.append(
                Finding(
                    "dose_off_regimen",
                    t,
                    f"Dose of {format_number(dose.dose_mg)} mg on {when(t)} differs from the "
                    f"regimen in force, {regimen.describe()} ({regimen.code}): "
                    f"{rs.rule('dose_off_regimen').action}.",
                    dose_key=dose.key,
                )
            )

    # R10: the scheduled ALT/AST.
    if first_dose is not None and timeline.discontinued_at is None:
        finding = _lab_overdue(peaks, resumes, first_dose, history, as_of, rs)
        if finding is not None:
            findings.append(finding)

    regimen, regimen_since = timeline.regimen_at(datetime.max.replace(tzinfo=UTC))
    findings.sort(key=lambda f: (f.triggered_at, KINDS.index(f.kind)))
    return SafetyAssessment(
        as_of=as_of,
        findings=tuple(findings),
        episodes=tuple(episodes),
        state=_state(timeline, peaks, rs),
        regimen=regimen,
        regimen_since=regimen_since,
        withholdings=_withholdings(timeline),
        discontinued_at=timeline.discontinued_at,
        discontinued_by=timeline.discontinued_by,
        rule_set=rs,
        peaks={d.key: m for d, m, _ in peaks},
    )


def _lab_overdue(peaks, resumes, first_dose, history, as_of, rs) -> Finding | None:
    last_draw = peaks[-1] if peaks else None
    latest_resume = resumes[-1] if resumes else None
    ref_multiple, ref_draw_key, ref_dose_key = None, None, None
    if last_draw and (
        latest_resume is None or last_draw[0].collected_at >= latest_resume.signed_at
    ):
        ref_at, ref_multiple, ref_draw_key = (
            last_draw[0].collected_at,
            last_draw[1],
            last_draw[0].key,
        )
        what = "the last ALT/AST"
    elif latest_resume is not None:
        ref_at, what = latest_resume.signed_at, "the re-start"
    else:
        ref_at, ref_dose_key, what = first_dose.administered_at, first_dose.key, "the first dose"
    resumed_before = [r.signed_at for r in resumes if r.signed_at <= ref_at]
    early = ref_at - first_dose.administered_at < rs.early_phase or (
        resumed_before and ref_at - resumed_before[-1] < rs.early_phase
    )
    elevated = ref_multiple is not None and ref_multiple > rs.monitoring_multiple
    interval = rs.early_interval_days if early or elevated else history.maintenance_days
    due = ref_at + timedelta(days=interval)
    if as_of <= due + rs.grace:
        return None
    return Finding(
        "lab_overdue",
        ref_at,
        f"No ALT/AST since {what} on {when(ref_at)}; the next was due by {when(due)} "
        f"(every {interval} days): {rs.rule('lab_overdue').action}.",
        draw_key=ref_draw_key,
        dose_key=ref_dose_key,
        due_by=due,
    )


def _state(timeline: Timeline, peaks, rs: RuleSet) -> str:
    """The subject's safety state over its whole history (section 3, in that order)."""
    if timeline.discontinued_at is not None:
        return DISCONTINUED
    episodes = timeline.episodes
    if episodes and episodes[-1].end_at is None:
        return WITHHELD
    resumes = timeline.resumes
    unresumed = [
        s for s, _ in timeline.withhold_starts if not any(r.signed_at > s for r in resumes)
    ]
    if unresumed:
        last = episodes[-1] if episodes else None
        latest_resume = resumes[-1].signed_at if resumes else None
        if (
            last is not None
            and (latest_resume is None or last.withhold_start > latest_resume)
            and not any(
                d.action == WITHHOLD and d.signed_at > last.end_at for d in timeline.decisions
            )
        ):
            return RESTART_PENDING
        return WITHHELD
    if peaks and peaks[-1][1] > rs.monitoring_multiple:
        return MONITORING
    return DOSING


def _withholdings(timeline: Timeline) -> tuple[Withholding, ...]:
    """The periods dosing was withheld, for the chart: each withhold start until its first
    resume after it, merged where they overlap; an open episode runs until it ends."""
    spans = []
    for start, cause in timeline.withhold_starts:
        end = next((r.signed_at for r in timeline.resumes if r.signed_at > start), None)
        for e in timeline.episodes:
            if e.withhold_start == start and e.end_at is not None and end is not None:
                end = max(end, e.end_at)
        if timeline.discontinued_at is not None:
            if start >= timeline.discontinued_at:
                continue
            end = timeline.discontinued_at if end is None else min(end, timeline.discontinued_at)
        spans.append([start, end, cause])
    merged = []
    for start, end, cause in sorted(spans, key=lambda s: s[0]):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            if merged[-1][1] is not None and (end is None or end > merged[-1][1]):
                merged[-1][1] = end
            continue
        merged.append([start, end, cause])
    return tuple(Withholding(s, e, c) for s, e, c in merged)
