"""The published rule sets as data (DESIGN sections 3 and 3b): each set's table, thresholds,
windows and how its episodes open, plus the few small criteria that differ between sets. A new
set is a new value here; the engine (engine.py) is not edited for it. Its length is the three
tables written out in full, as people read them on the rules page."""

from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction

from .history import when

WITHHOLDING = "withhold"  # an episode withholds dosing from its first draw's results (v2)
CONFIRMING = "confirm"  # 3-5× is confirmed before withholding; ≥ 5× withholds at once (label)
OBSERVING = "observe"  # an episode is close observation and withholds nothing (FDA)


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
    """A study's rules: the table shown to people, and what the engine applies. `strict`: the
    multiples compare with ">" (3.0× is not over 3×) instead of "≥"."""

    name: str
    title: str
    source: str
    version: str
    rules: tuple[Rule, ...]
    opens: str = WITHHOLDING
    strict: bool = False
    cases: bool = True
    episode_multiple: Fraction = Fraction(3)
    severe_multiple: Fraction = Fraction(5)
    monitoring_multiple: Fraction = Fraction(1)
    repeat_window: timedelta = timedelta(days=7)
    grace: timedelta = timedelta(days=2)
    discontinue: object = None  # (draw, multiple, earlier peaks, history, set) -> reasons
    lab_interval: object = None  # (reference, first dose, latest resume, multiple, ...) -> days
    by_kind: dict = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "by_kind", {rule.kind: rule for rule in self.rules})

    @property
    def label(self) -> str:
        return f"{self.title} ({self.version})"

    def rule(self, kind: str) -> Rule:
        return self.by_kind[kind]

    def has(self, kind: str) -> bool:
        return kind in self.by_kind

    def over(self, multiple, threshold) -> bool:
        """Whether a multiple is over a threshold, as this set compares."""
        return multiple > threshold if self.strict else multiple >= threshold


# ---- criteria that differ between sets ---------------------------------------------------


def hys_law_seed(draw, multiple, earlier, history, rs) -> list[str]:
    """R6: peak ≥ 3× with TBIL ≥ 2× ULN, the symptoms flag or active liver disease."""
    if multiple < rs.episode_multiple:
        return []
    reasons = []
    tbil = draw.result("TBIL")
    if tbil is not None and tbil.multiple is not None and tbil.multiple >= 2:
        reasons.append(f"{tbil.describe()} in the same draw")
    if draw.symptoms:
        reasons.append("symptoms of liver injury")
    if history.active_liver_disease:
        reasons.append("active liver disease")
    return reasons


FOURTEEN_DAYS = timedelta(hours=336)


def stopping_rules_fda(draw, multiple, earlier, history, rs) -> list[str]:
    """F6: FDA 2009 stopping rules S1-S4, strict; the guidance has no liver-disease criterion."""
    reasons = []
    if multiple > 8:
        reasons.append("S1: ALT or AST > 8× ULN")
    if multiple > 5:
        run_start = draw
        for previous, previous_multiple in reversed(earlier):
            if previous_multiple <= 5:
                break
            run_start = previous
        if draw.collected_at - run_start.collected_at > FOURTEEN_DAYS:
            reasons.append(
                "S2: ALT or AST > 5× ULN in every draw since "
                f"{when(run_start.collected_at)}, more than 2 weeks"
            )
    if multiple > 3:
        tbil, inr = draw.result("TBIL"), draw.result("INR")
        if tbil is not None and tbil.multiple is not None and tbil.multiple > 2:
            reasons.append(f"S3: {tbil.describe()} with ALT or AST > 3× ULN")
        if inr is not None and inr.value > Fraction(3, 2):
            reasons.append(f"S3: {inr.describe()} > 1.5 with ALT or AST > 3× ULN")
        eos = draw.result("EOS")
        if draw.symptoms:
            reasons.append("S4: symptoms of liver injury with ALT or AST > 3× ULN")
        if eos is not None and eos.value > 5:
            reasons.append(f"S4: eosinophilia ({eos.describe()} > 5%) with ALT or AST > 3× ULN")
    return reasons


EARLY = timedelta(days=28)


def interval_seed(reference, first_dose, latest_resume, multiple, maintenance_days, rs) -> int:
    """R10 (v2): 7 days within 28 days of the first dose or of the latest resume, or after a
    peak > 1×; else the study's maintenance interval."""
    early = reference - first_dose < EARLY or (
        latest_resume is not None and reference - latest_resume < EARLY
    )
    elevated = multiple is not None and multiple > rs.monitoring_multiple
    return 7 if early or elevated else maintenance_days


def interval_kynamro(reference, first_dose, latest_resume, multiple, maintenance_days, rs) -> int:
    """R10 (label): monthly in the first year, then every 3 months; weekly for 28 days after a
    re-start."""
    if latest_resume is not None and reference - latest_resume < EARLY:
        return 7
    return 30 if reference - first_dose < timedelta(days=365) else 91


# ---- the table rows, shared where sets agree ---------------------------------------------

CASE_CLOSES = "the case closes (a resume signed after the withhold start, or a discontinuation)"

R1 = Rule(
    "R1",
    "missing_baseline",
    "Baseline labs missing",
    "high",
    "the first dose has no draw on or before it holding all of ALT, AST, ALP, TBIL",
    "collect baseline; review dosing",
    "never (a reviewer acknowledges)",
)
R2 = Rule(
    "R2",
    "weekly_monitoring",
    "Monitor weekly",
    "low",
    "a draw's peak is > 1× and < 3×, the previous draw with a peak had peak ≤ 1× (or there was "
    "none), and no episode is open",
    "keep dosing; monitor ALT/AST weekly",
    "a later draw has peak ≤ 1×, or a later draw starts an episode",
)
R3 = Rule(
    "R3",
    "withhold_dose",
    "Withhold dosing",
    "high",
    "a draw starts an episode (peak ≥ 3× while no episode is open)",
    "withhold dosing now; repeat ALT/AST within 7 days",
    CASE_CLOSES,
)
R4 = Rule(
    "R4",
    "elevation_confirmed",
    "Elevation confirmed",
    "high",
    "the next draw with a peak after the episode's first draw has peak ≥ 3× (however late it came)",
    "keep withholding; investigate other causes (medications, alcohol, liver disease)",
    CASE_CLOSES,
)
R5 = Rule(
    "R5",
    "severe_elevation",
    "Severe elevation",
    "critical",
    "the first draw in an episode with peak ≥ 5×",
    "keep withholding; investigate urgently",
    CASE_CLOSES,
)
R6 = Rule(
    "R6",
    "discontinue",
    "Discontinue treatment",
    "critical",
    "the subject's first draw with peak ≥ 3× together with TBIL ≥ 2× ULN in the same draw, the "
    "draw's symptoms flag, or the subject's active-liver-disease flag",
    "discontinue treatment (potential Hy's law)",
    "a discontinue decision is signed",
)
R7 = Rule(
    "R7",
    "confirmation_overdue",
    "Repeat draw overdue",
    "high",
    "an episode's first draw has no later draw with a peak collected at most 7 days after it, "
    "and the evaluation time is past its collection + 7 days",
    "repeat ALT/AST now",
    "a later draw with a peak exists, or " + CASE_CLOSES,
)
R8 = Rule(
    "R8",
    "eligible_reduced_dose",
    "Re-start decision needed",
    "medium",
    "the draw that ends an episode (the first later draw with peak < 3×)",
    "decide on a re-start: resume at a reduced dose or frequency (or the same dose), or "
    "discontinue",
    CASE_CLOSES,
)
R9 = Rule(
    "R9",
    "dose_while_withheld",
    "Dose given while withheld",
    "critical",
    "a dose administered while the subject is withheld, or after discontinuation; one alert per "
    "dose",
    "review the dosing error",
    "never (a reviewer decides)",
)
R10 = Rule(
    "R10",
    "lab_overdue",
    "Scheduled lab overdue",
    "medium",
    "a dosed, not discontinued subject: the evaluation time is past the reference (the later of "
    "the last draw with a peak and the latest resume; else the first dose) + interval + 2 days; "
    "the interval is 7 days within 28 days of the first dose or of the latest resume, or after "
    "a peak > 1×, else the maintenance interval",
    "collect the scheduled ALT/AST",
    "the lab comes",
)
R11 = Rule(
    "R11",
    "dose_off_regimen",
    "Dose off regimen",
    "high",
    "a dose that is not an R9 and whose mg differs from the dose of the regimen in force at its "
    "time (when that regimen has a dose); one alert per dose",
    "review the dose against the regimen",
    "never (a reviewer decides)",
)

SEED = RuleSet(
    name="seed",
    title="Seed guide: mipomersen liver safety",
    source="Seed mipomersen liver-safety guide (shared/reference), rule table of DESIGN.md §3",
    version="rules v2",
    rules=(R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11),
    discontinue=hys_law_seed,
    lab_interval=interval_seed,
)

KYNAMRO_LABEL = RuleSet(
    name="kynamro_label",
    title="KYNAMRO (mipomersen) US prescribing information",
    source="KYNAMRO prescribing information, Table 1 of section 2.3 and section 5.1",
    version="label 2013, rules v2 base",
    opens=CONFIRMING,
    discontinue=hys_law_seed,
    lab_interval=interval_kynamro,
    rules=(
        R1,
        Rule(
            "K3",
            "confirm_elevation",
            "Confirm the elevation",
            "high",
            "a draw starts an episode with peak ≥ 3× and < 5×",
            "repeat ALT/AST within 7 days to confirm; dosing continues until confirmed",
            "the episode's next draw with a peak exists",
        ),
        Rule(
            "R3",
            "withhold_dose",
            "Withhold dosing",
            "high",
            "a draw starts an episode with peak ≥ 5×",
            "withhold dosing now; repeat ALT/AST within 7 days",
            CASE_CLOSES,
        ),
        Rule(
            "R4",
            "elevation_confirmed",
            "Elevation confirmed",
            "high",
            "the next draw with a peak after the episode's first draw has peak ≥ 3× (it "
            "withholds dosing from its results)",
            "withhold dosing; obtain TBIL, ALP and INR; investigate the cause",
            CASE_CLOSES,
        ),
        Rule(
            "R5",
            "severe_elevation",
            "Severe elevation",
            "critical",
            "the first draw with peak ≥ 5× of any episode (it withholds dosing from its results "
            "when the episode does not yet)",
            "keep withholding; investigate urgently",
            CASE_CLOSES,
        ),
        R6,
        R7,
        Rule(
            "K8",
            "elevation_not_confirmed",
            "Elevation not confirmed",
            "low",
            "the episode's next draw with a peak is below 3×: the elevation is not confirmed",
            "continue dosing; monitor more often",
            "never (a reviewer acknowledges)",
        ),
        Rule(
            "R8",
            "eligible_reduced_dose",
            "Re-start decision needed",
            "medium",
            "the draw that ends an episode that withheld dosing",
            R8.action,
            CASE_CLOSES,
        ),
        R9,
        Rule(
            "R10",
            "lab_overdue",
            "Scheduled lab overdue",
            "medium",
            "a dosed, not discontinued subject: the evaluation time is past the reference + "
            "interval + 2 days; the interval is 30 days in the first year after the first dose, "
            "91 days after it, and 7 days within 28 days of the latest resume",
            R10.action,
            R10.resolved_when,
        ),
        R11,
    ),
)

FDA_DILI_2009 = RuleSet(
    name="fda_dili_2009",
    title="FDA guidance: drug-induced liver injury, premarketing clinical evaluation",
    source="FDA Guidance for Industry, Drug-Induced Liver Injury: Premarketing Clinical "
    "Evaluation (July 2009)",
    version="July 2009, rules v2 base",
    opens=OBSERVING,
    strict=True,
    cases=False,
    repeat_window=timedelta(hours=72),
    discontinue=stopping_rules_fda,
    lab_interval=interval_seed,
    rules=(
        R1,
        Rule(
            "F3",
            "close_observation",
            "Close observation",
            "high",
            "a draw starts an episode (peak > 3× while no episode is open)",
            "repeat ALT, AST, ALP and TBIL within 72 hours; close observation",
            "a later draw with a peak exists",
        ),
        Rule(
            "F6",
            "discontinue",
            "Discontinue treatment",
            "critical",
            "the subject's first draw meeting a stopping rule: S1 peak > 8×; S2 peak > 5× in a "
            "run of consecutive draws > 5× begun more than 2 weeks before; S3 peak > 3× with "
            "TBIL > 2× ULN or INR > 1.5; S4 peak > 3× with symptoms or eosinophils > 5%",
            "discontinue treatment",
            "a discontinue decision is signed",
        ),
        Rule(
            "F7",
            "repeat_overdue",
            "Repeat draw overdue",
            "high",
            "an episode's first draw has no later draw with a peak collected at most 72 hours "
            "after it, and the evaluation time is past its collection + 72 hours",
            "repeat ALT, AST, ALP and TBIL now",
            "a later draw with a peak exists",
        ),
        Rule(
            "F8",
            "observation_ended",
            "Close observation ended",
            "low",
            "the draw that ends an episode (the first later draw with peak ≤ 3×)",
            "continue routine monitoring",
            "never (a reviewer acknowledges)",
        ),
        R9,
        R10,
        R11,
    ),
)

RULE_SETS = {s.name: s for s in (SEED, KYNAMRO_LABEL, FDA_DILI_2009)}
DEFAULT_RULE_SET = SEED

# Every kind any set knows, for model choices and labels (R6 and F6 share their kind).


def _first_by_kind(rule_sets) -> dict:
    found = {}
    for rule_set in rule_sets:
        for rule in rule_set.rules:
            found.setdefault(rule.kind, rule)
    return found


RULE_BY_KIND = _first_by_kind(RULE_SETS.values())
RULES = tuple(RULE_BY_KIND.values())
KINDS = tuple(RULE_BY_KIND)
TIME_RULE_KINDS = ("confirmation_overdue", "repeat_overdue", "lab_overdue")
