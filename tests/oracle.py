"""Independent oracle for the hepwatch rule table (DESIGN.md section 3, rules v2, and the
published rule sets of section 3b: `kynamro_label` and `fda_dili_2009`).

Written straight from the table, without looking at the production engine, for differential
testing. Pure stdlib, exact arithmetic (fractions.Fraction, never floats), no Django.

    alerts, states = oracle_assess(subjects_csv, doses_csv, labs_csv, decisions_csv, as_of)
    alerts, states = oracle_assess(..., as_of, rule_set="kynamro_label")  # or "fda_dili_2009"
    alerts = oracle_alerts(subjects_csv, doses_csv, labs_csv, as_of, decisions_csv="")

Each alert dict has exactly: subject_id, kind, severity, rule, status, triggered_at, due_by;
`status` is "open" or "resolved": what a fresh import followed by one evaluation at as_of gives
(nothing retracted, nothing acknowledged; transcribed decisions name no alerts, so only the
table's "resolved by the engine when" column and "The case" paragraph resolve anything).
states maps subject_id -> {"state": ..., "regimen": code in force at the end of the history}.

rule_set (section 3b; "seed", the default, is rules v2 exactly): RULES_OF_SET names the rule ids
each set can fire (K3, K8, F3, F6, F7, F8 beside the v2 ids; SET_RULES gives their kinds and
severities) and STATES_OF_SET the states it can give (`close_observation` in the two published
sets). scan(), check_decisions() and check_decision_files() take the same rule_set; the other
helpers read it from the Scan that scan() returns.

Input it cannot interpret (unknown subject, arm, test, unit, sex, action, regimen, a duplicate
natural key, a datetime before 1900 or later than now, resulted_at before collected_at) raises
ValueError: section 5 makes such a row a bad row. A transcribed decision the app would refuse
(section 3, "The app refuses ...") raises ValueError naming its line: check_decisions() and
refusal() implement those rules, and the synthetic generator uses them to emit only valid rows.

Readings chosen where the text is ambiguous are marked `# AMBIGUOUS:` below.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

SEVEN_DAYS = timedelta(days=7)  # "7 days means 168 hours"
GRACE = timedelta(days=2)
TWENTY_EIGHT_DAYS = timedelta(days=28)
SEVENTY_TWO_HOURS = timedelta(hours=72)  # fda_dili_2009: F3's due_by and F7's window
FOURTEEN_DAYS = timedelta(hours=336)  # fda_dili_2009 S2: "more than 14 days (336 hours)"
ONE_YEAR = timedelta(days=365)  # kynamro_label R10: "less than 365 days after the first dose"
THIRTY_DAYS = timedelta(days=30)
NINETY_ONE_DAYS = timedelta(days=91)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)

# code -> (dose mg per administration, or None when unknown; administrations per week)
DEFAULT_REGIMENS = {"standard": (Fraction(200), 1), "reduced": (Fraction(70), 3)}
DEFAULT_ARMS = {"standard": "standard", "reduced": "reduced"}  # arm code -> starting regimen

# (test, unit) -> factor into the canonical unit (section 3 "Conversions to canonical").
TO_CANONICAL = {
    ("ALT", "U/L"): Fraction(1),
    ("ALT", "ukat/L"): Fraction(60),
    ("ALT", "µkat/L"): Fraction(60),
    ("AST", "U/L"): Fraction(1),
    ("AST", "ukat/L"): Fraction(60),
    ("AST", "µkat/L"): Fraction(60),
    ("ALP", "U/L"): Fraction(1),
    ("ALP", "ukat/L"): Fraction(60),
    ("ALP", "µkat/L"): Fraction(60),
    ("TBIL", "mg/dL"): Fraction(1),
    ("TBIL", "umol/L"): 1 / Fraction("17.1"),
    ("TBIL", "µmol/L"): 1 / Fraction("17.1"),
    ("LDLC", "mg/dL"): Fraction(1),
    ("LDLC", "mmol/L"): Fraction("38.67"),
    ("APOB", "mg/dL"): Fraction(1),
    ("APOB", "g/L"): Fraction(100),
    # section 3b (fda_dili_2009) and section 5: INR (no ULN, an absolute limit) and
    # eosinophils (% of leukocytes); their values are compared as given.
    ("INR", "{INR}"): Fraction(1),
    ("EOS", "%"): Fraction(1),
}
# AMBIGUOUS: INR and EOS rows are accepted in a study of any rule set (section 5 lists them as
# test codes "once section 3b adds them") and take part only in F6 of fda_dili_2009.
# Alternative: they are bad rows unless the study follows fda_dili_2009.
ABSOLUTE_TESTS = ("INR", "EOS")
# Adult defaults (canonical units). No reference-range table in this oracle.
DEFAULT_ULN = {
    ("ALT", "M"): Fraction(41),
    ("ALT", "F"): Fraction(33),
    ("AST", "M"): Fraction(40),
    ("AST", "F"): Fraction(32),
    ("ALP", "M"): Fraction(129),
    ("ALP", "F"): Fraction(104),
    ("TBIL", "M"): Fraction("1.2"),
    ("TBIL", "F"): Fraction("1.2"),
}
BASELINE_TESTS = ("ALT", "AST", "ALP", "TBIL")
RULES = {  # id -> (kind, severity)
    "R1": ("missing_baseline", "high"),
    "R2": ("weekly_monitoring", "low"),
    "R3": ("withhold_dose", "high"),
    "R4": ("elevation_confirmed", "high"),
    "R5": ("severe_elevation", "critical"),
    "R6": ("discontinue", "critical"),
    "R7": ("confirmation_overdue", "high"),
    "R8": ("eligible_reduced_dose", "medium"),
    "R9": ("dose_while_withheld", "critical"),
    "R10": ("lab_overdue", "medium"),
    "R11": ("dose_off_regimen", "high"),
}
SET_RULES = {  # section 3b: id -> (kind, severity)
    "K3": ("confirm_elevation", "high"),
    "K8": ("elevation_not_confirmed", "low"),
    "F3": ("close_observation", "high"),
    "F6": ("discontinue", "critical"),
    "F7": ("repeat_overdue", "high"),
    "F8": ("observation_ended", "low"),
}
ALL_RULES = {**RULES, **SET_RULES}
# the order of alerts of one subject at one instant (the v2 ids keep their relative order)
ORDER = ("R1", "R2", "K3", "R3", "F3", "R4", "R5", "R6", "F6", "R7", "F7", "R8", "K8", "F8")
ORDER += ("R9", "R10", "R11")
CASE_RULES = ("R3", "R4", "R5", "R7", "R8")
KYNAMRO_CASE_RULES = ("K3", "R3", "R4", "R5", "R7", "R8")
RULE_SETS = ("seed", "kynamro_label", "fda_dili_2009")
RULES_OF_SET = {  # the rule ids each set can fire
    "seed": tuple(RULES),
    "kynamro_label": ("R1", "K3", "R3", "R4", "R5", "R6", "R7", "R8", "K8", "R9", "R10", "R11"),
    "fda_dili_2009": ("R1", "F3", "F6", "F7", "F8", "R9", "R10", "R11"),
}
RESUMES = ("resume_same_dose", "resume_reduced_dose")
ACTIONS = ("withhold", *RESUMES, "discontinue")
STATES = ("discontinued", "withheld", "restart_pending", "weekly_monitoring", "dosing")
# AMBIGUOUS: in fda_dili_2009 no episode has a withhold start of its own, so "the last
# episode's withhold start" of `restart_pending` never exists: the state is unreachable there
# (an unresumed withhold decision gives `withheld`). Alternative: read "the last episode" as the
# last FDA episode and its first draw's resulted_at as its withhold start.
STATES_OF_SET = {
    "seed": STATES,
    "kynamro_label": (*STATES, "close_observation"),
    "fda_dili_2009": ("discontinued", "withheld", "close_observation", "weekly_monitoring")
    + ("dosing",),
}


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or datetime, with or without offset; naive (and date-only) means UTC."""
    value = datetime.fromisoformat(text.strip())  # a bare date gives 00:00
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _instant(text: str, what: str, now: datetime) -> datetime:
    value = parse_instant(text)
    if value < EARLIEST or value > now:  # section 5: before 1900 or later than now: bad row
        raise ValueError(f"{what}: {text!r} is before 1900 or later than now")
    return value


def parse_bool(text: str | None) -> bool:
    text = (text or "").strip().lower()
    if text not in ("", "true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return text == "true"


def _rows(text: str) -> list[tuple[int, dict]]:
    """(line number in the file, row); the header is line 1."""
    reader = csv.DictReader(io.StringIO((text or "").lstrip("\ufeff")))
    return [(reader.line_num, row) for row in reader]


def _cell(row: dict, name: str) -> str:
    return (row.get(name) or "").strip()


@dataclass
class Draw:
    at: datetime  # collected_at
    resulted: datetime | None = None  # resulted_at; collected_at when not given
    multiples: dict = field(default_factory=dict)  # test -> value / ULN (Fraction); not lipids
    tests: set = field(default_factory=set)
    symptoms: bool = False
    absolute: dict = field(default_factory=dict)  # INR, EOS -> value as given (Fraction)

    @property
    def peak(self) -> Fraction | None:
        found = [self.multiples[t] for t in ("ALT", "AST") if t in self.multiples]
        return max(found) if found else None

    @property
    def tbil_multiple(self) -> Fraction | None:
        return self.multiples.get("TBIL")

    @property
    def inr(self) -> Fraction | None:
        return self.absolute.get("INR")

    @property
    def eosinophils(self) -> Fraction | None:
        return self.absolute.get("EOS")


@dataclass
class Decision:
    at: datetime  # signed_at
    action: str
    regimen: str | None  # the target of a resume_reduced_dose, else None
    line: int = 0  # line in decisions.csv (0: not from a file)


@dataclass
class Subject:
    sid: str
    sex: str
    arm: str
    ald: bool
    doses: list = field(default_factory=list)  # (administered_at, dose_mg), sorted
    draws: list = field(default_factory=list)  # Draw, sorted by collected_at
    decisions: list = field(default_factory=list)  # Decision, sorted by signed_at


@dataclass
class Episode:
    first: Draw
    end: Draw | None = None
    confirmed: Draw | None = None  # R4 (seed, kynamro_label)
    severe: Draw | None = None  # R5 (seed, kynamro_label)
    # The episode's own withhold start: its first draw's resulted_at in seed (and for an
    # episode that starts at >= 5x in kynamro_label); the confirming or first >= 5x draw's
    # resulted_at in kynamro_label; None while it has started no withholding (always in
    # fda_dili_2009).
    start: datetime | None = None

    @property
    def withheld(self) -> bool:
        """A *withheld episode*: one with its own withhold start."""
        return self.start is not None


@dataclass
class Scan:
    """What the labs alone say (draws in collected_at order)."""

    peaked: list  # draws with a peak
    episodes: list  # Episode
    weekly: list  # R2 draws
    r6: Draw | None  # the discontinuing draw: R6, or F6 in fda_dili_2009
    rule_set: str = "seed"
    criteria: tuple = ()  # F6: the criteria (S1..S4) its draw meets


# ---- loading -----------------------------------------------------------------------------------
def load_study(
    subjects_csv: str,
    doses_csv: str,
    labs_csv: str,
    decisions_csv: str = "",
    *,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
    now: datetime | None = None,
) -> dict[str, Subject]:
    """Parse the four files; decisions are parsed (bad cells raise) but not checked here."""
    now = now or datetime.now(UTC)
    subjects: dict[str, Subject] = {}
    for line, row in _rows(subjects_csv):
        sid, sex, arm = _cell(row, "subject_id"), _cell(row, "sex"), _cell(row, "arm")
        if not sid or sex not in ("M", "F") or sid in subjects or arm not in arms:
            raise ValueError(f"subjects line {line}: bad subject row {row}")
        if arms[arm] not in regimens:
            raise ValueError(f"subjects line {line}: arm {arm!r} starts on an unknown regimen")
        subjects[sid] = Subject(sid, sex, arm, parse_bool(row.get("active_liver_disease")))

    for line, row in _rows(doses_csv):
        sid = _cell(row, "subject_id")
        if sid not in subjects:
            raise ValueError(f"doses line {line}: subject_id: unknown subject {sid!r}")
        at = _instant(row["administered_at"], f"doses line {line}: administered_at", now)
        mg = Fraction(_cell(row, "dose_mg"))
        if mg <= 0:
            raise ValueError(f"doses line {line}: dose_mg: not positive")
        # AMBIGUOUS: two dose rows of one subject at the same instant. Read as one natural key
        # (subject, administered_at) given twice -> bad input (ValueError). Alternative: two
        # doses, each with its own R9 / R11 alert.
        if any(at == other for other, _ in subjects[sid].doses):
            raise ValueError(f"doses line {line}: administered_at: duplicate dose {sid} {at}")
        subjects[sid].doses.append((at, mg))

    draws: dict[str, dict] = {sid: {} for sid in subjects}
    resulted_text: dict = {}
    for line, row in _rows(labs_csv):
        sid, test, unit = _cell(row, "subject_id"), _cell(row, "test"), _cell(row, "unit")
        if sid not in subjects or (test, unit) not in TO_CANONICAL:
            raise ValueError(f"labs line {line}: bad lab row {row}")
        at = _instant(row["collected_at"], f"labs line {line}: collected_at", now)
        draw = draws[sid].setdefault(at, Draw(at))
        # AMBIGUOUS: the same test twice in one draw. Read as a duplicate natural key
        # (subject, collected_at, test) -> bad input. Alternative: keep the larger (or last).
        if test in draw.tests:
            raise ValueError(f"labs line {line}: test: duplicate {test} in draw {sid} {at}")
        # resulted_at: empty or missing -> collected_at (an import); at or after collected_at;
        # the same on every row of a draw.
        # AMBIGUOUS: "the same on every row of a draw" compares instants (offsets may differ),
        # and a row that leaves it empty while another row of the draw gives it is a bad row
        # (it is not the same on every row). Alternative: an empty cell defers to the others.
        text = _cell(row, "resulted_at")
        resulted = _instant(text, f"labs line {line}: resulted_at", now) if text else None
        key = (sid, at)
        if key in resulted_text and resulted_text[key] != resulted:
            raise ValueError(f"labs line {line}: resulted_at: differs within draw {sid} {at}")
        resulted_text[key] = resulted
        if resulted is not None and resulted < at:
            raise ValueError(f"labs line {line}: resulted_at: before collected_at")
        draw.resulted = resulted if resulted is not None else at
        draw.tests.add(test)
        draw.symptoms = draw.symptoms or parse_bool(row.get("symptoms"))
        if test in ("LDLC", "APOB"):
            continue  # lipids never take part in a rule
        if test in ABSOLUTE_TESTS:
            # AMBIGUOUS: INR and EOS have no ULN ("its limit is absolute"): a `uln` cell on
            # such a row is ignored. Alternative: a bad row.
            draw.absolute[test] = Fraction(_cell(row, "value"))
            continue
        factor = TO_CANONICAL[(test, unit)]
        value = Fraction(_cell(row, "value")) * factor
        uln_text = _cell(row, "uln")
        uln = Fraction(uln_text) * factor if uln_text else DEFAULT_ULN[(test, subjects[sid].sex)]
        if uln <= 0:
            raise ValueError(f"labs line {line}: uln: not positive")
        draw.multiples[test] = value / uln

    for line, row in _rows(decisions_csv):
        sid = _cell(row, "subject_id")
        if sid not in subjects:
            raise ValueError(f"decisions line {line}: subject_id: unknown subject {sid!r}")
        at = _instant(row["signed_at"], f"decisions line {line}: signed_at", now)
        action, regimen = _cell(row, "action"), _cell(row, "regimen")
        if action not in ACTIONS:
            raise ValueError(f"decisions line {line}: action: unknown {action!r}")
        if action == "resume_reduced_dose":
            if regimen not in regimens:
                raise ValueError(f"decisions line {line}: regimen: unknown {regimen!r}")
        elif regimen:
            raise ValueError(f"decisions line {line}: regimen: must be empty for {action}")
        if not _cell(row, "reviewer") or not _cell(row, "reason"):
            raise ValueError(f"decisions line {line}: reviewer/reason: required")
        # AMBIGUOUS: two decisions of one subject signed at the same instant have no defined
        # order ("checked in signed_at order ... against the decisions before them"): read as
        # a bad row. Alternative: keep file order for ties.
        if any(at == other.at for other in subjects[sid].decisions):
            raise ValueError(f"decisions line {line}: signed_at: a second decision at {at}")
        subjects[sid].decisions.append(Decision(at, action, regimen or None, line))

    for sid, subject in subjects.items():
        subject.doses.sort()
        subject.draws = sorted(draws[sid].values(), key=lambda d: d.at)
        subject.decisions.sort(key=lambda d: d.at)
    return subjects


# ---- what the labs say -------------------------------------------------------------------------
def _rule_set(rule_set: str) -> str:
    if rule_set not in RULE_SETS:
        raise ValueError(f"unknown rule set {rule_set!r}")
    return rule_set


def scan(subject: Subject, rule_set: str = "seed") -> Scan:
    rule_set = _rule_set(rule_set)
    if rule_set == "fda_dili_2009":
        return _scan_fda(subject)
    kynamro = rule_set == "kynamro_label"
    # AMBIGUOUS: every rule applies to every draw, pre-dose baseline draws included (a baseline
    # >= 3x opens an episode and starts withholding). Alternative: only post-dose draws.
    peaked = [d for d in subject.draws if d.peak is not None]  # draws without ALT/AST: ignored
    episodes, weekly, r6 = [], [], None
    episode, previous_peak = None, None
    for draw in peaked:
        peak = draw.peak
        if episode is None:
            if peak >= 3:
                episode = Episode(draw)
                episodes.append(episode)
                if not kynamro or peak >= 5:  # kynamro_label: K3 at 3-5x withholds nothing
                    episode.start = draw.resulted
            elif not kynamro and peak > 1 and (previous_peak is None or previous_peak <= 1):
                weekly.append(draw)  # "no episode is open" holds in this branch; no R2 in K
        elif peak < 3:
            episode.end = draw
            episode = None
        elif episode.confirmed is None:
            # R4: the next draw with a peak after the episode's first draw has peak >= 3x
            # (the second draw of an open episode: below 3x it would have ended it).
            episode.confirmed = draw
            if episode.start is None:  # kynamro_label: the confirmation starts withholding
                episode.start = draw.resulted
        # AMBIGUOUS: R4 and R5 fire once per episode (a second episode can fire them again).
        # Alternative: once per subject, like R6's "the subject's first draw".
        if episode is not None and episode.severe is None and peak >= 5:
            episode.severe = draw
            if episode.start is None:  # unreachable: a >= 5x draw confirms or starts
                episode.start = draw.resulted
        if (
            r6 is None
            and peak >= 3
            and (
                (draw.tbil_multiple is not None and draw.tbil_multiple >= 2)
                or draw.symptoms
                or subject.ald
            )
        ):
            r6 = draw
        previous_peak = peak
    return Scan(peaked, episodes, weekly, r6, rule_set)


def f6_criteria(draw: Draw, run_first: Draw | None) -> tuple:
    """fda_dili_2009 F6: the criteria a draw meets (strict comparisons); run_first is the first
    draw of the run of consecutive draws with peak > 5x that ends at this draw (or None)."""
    peak, found = draw.peak, []
    if peak > 8:
        found.append("S1")
    if peak > 5 and run_first is not None and draw.at - run_first.at > FOURTEEN_DAYS:
        found.append("S2")
    if peak > 3 and (
        (draw.tbil_multiple is not None and draw.tbil_multiple > 2)
        or (draw.inr is not None and draw.inr > Fraction(3, 2))
    ):
        found.append("S3")
    if peak > 3 and (draw.symptoms or (draw.eosinophils is not None and draw.eosinophils > 5)):
        found.append("S4")
    return tuple(found)


def _scan_fda(subject: Subject) -> Scan:
    # AMBIGUOUS: as in seed, pre-dose baseline draws take part (a baseline > 3x opens an
    # episode; a baseline meeting S1-S4 is the F6 draw). Alternative: only post-dose draws.
    peaked = [d for d in subject.draws if d.peak is not None]
    episodes, f6, criteria = [], None, ()
    episode, run_first = None, None
    for draw in peaked:
        peak = draw.peak
        if episode is None:
            if peak > 3:
                episode = Episode(draw)  # withholds nothing: no withhold start
                episodes.append(episode)
        elif peak <= 3:
            episode.end = draw
            episode = None
        # "Consecutive draws" are consecutive draws with a peak: a draw without one is skipped
        # (it neither breaks nor joins a run).
        if peak > 5:
            run_first = run_first or draw
        else:
            run_first = None
        if f6 is None:
            met = f6_criteria(draw, run_first)
            if met:
                f6, criteria = draw, met
    return Scan(peaked, episodes, [], f6, "fda_dili_2009", criteria)


# ---- withholding, discontinuation, regimen -----------------------------------------------------
def episode_open_at(facts: Scan, t: datetime) -> bool:
    """(a): an episode whose first draw resulted before t, and whose ending draw, if any, was
    collected at or after t. Section 3b: from the episode's withhold start instead of its first
    draw (an episode that has started no withholding withholds nothing)."""
    return any(
        e.start is not None and e.start < t and (e.end is None or e.end.at >= t)
        for e in facts.episodes
    )


def any_episode_open_at(facts: Scan, t: datetime) -> bool:
    """An episode is open at t, withholding or not (the resume refusal)."""
    # AMBIGUOUS: an episode that withholds nothing is open (for the refusal) from its first
    # draw's resulted_at, as section 3 defines "open at t"; its withhold start plays no part.
    # Alternative: from its first draw's collected_at. (The generator keeps resumes out of
    # that gap.)
    # AMBIGUOUS: "A resume is refused while any episode is open, withholding or not" is said of
    # kynamro_label; fda_dili_2009 is read the same (section 3's "while an episode is open",
    # literally). Alternative: an FDA episode withholds nothing, so it never refuses a resume.
    # (Emitted decisions pass both: this reading refuses more.)
    return any(e.first.resulted < t and (e.end is None or e.end.at >= t) for e in facts.episodes)


def withhold_starts(facts: Scan, decisions) -> list[datetime]:
    own = [e.start for e in facts.episodes if e.start is not None]
    return own + [d.at for d in decisions if d.action == "withhold"]


def resumes(decisions) -> list[datetime]:
    return [d.at for d in decisions if d.action in RESUMES]


def held_by_start(facts: Scan, decisions, t: datetime) -> bool:
    """(b): some withhold start s < t has no resume r with s < r <= t."""
    rs = resumes(decisions)
    return any(s < t and not any(s < r <= t for r in rs) for s in withhold_starts(facts, decisions))


def discontinued_from(facts: Scan, decisions) -> datetime | None:
    found = [d.at for d in decisions if d.action == "discontinue"]
    if facts.r6 is not None:
        found.append(facts.r6.resulted)
    return min(found) if found else None


def regimen_at(subject: Subject, decisions, t: datetime, arms=DEFAULT_ARMS) -> str:
    """The arm's starting regimen, replaced by the target of each resume_reduced_dose signed at
    or before t."""
    code = arms[subject.arm]
    for d in decisions:  # in signed_at order
        if d.action == "resume_reduced_dose" and d.at <= t:
            code = d.regimen
    return code


def is_reduction(current, target) -> bool:
    """A lower dose per administration, or the same dose fewer times a week."""
    (dose, per_week), (new_dose, new_per_week) = current, target
    # AMBIGUOUS: a regimen whose dose is unknown (None) cannot be compared: never a reduction,
    # neither way (not even to the same unknown dose fewer times a week). Alternative: treat
    # two unknown doses as "the same dose".
    if dose is None or new_dose is None:
        return False
    return new_dose < dose or (new_dose == dose and new_per_week < per_week)


def refusal(
    subject: Subject,
    facts: Scan,
    before: list,
    decision: Decision,
    *,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
) -> str | None:
    """Why the app refuses `decision`, checked against all of the subject's labs (facts) and the
    decisions signed before it (`before`, already accepted); None when it is accepted."""
    t = decision.at
    stop = discontinued_from(facts, before)
    # AMBIGUOUS: "discontinued from" X includes X: a decision signed at exactly the R6 draw's
    # resulted_at (or a prior discontinue's signed_at) is on a discontinued subject.
    # Alternative: only strictly after X (as R9's "after discontinuation" reads).
    discontinued = stop is not None and stop <= t
    if decision.action == "discontinue":
        return None  # always accepted (acknowledge / dismiss are not transcribed actions)
    if discontinued:
        return f"{decision.action} on a discontinued subject (since {stop.isoformat()})"
    if decision.action == "withhold":
        return None
    if any_episode_open_at(facts, t):
        return "a resume while an episode is open"
    if not held_by_start(facts, before, t):
        return "a resume while the subject is not withheld"
    if decision.action == "resume_reduced_dose":
        current = regimen_at(subject, before, t, arms)
        if not is_reduction(regimens[current], regimens[decision.regimen]):
            return f"{decision.regimen!r} is not a reduction of the regimen in force {current!r}"
    return None


def accepted_decisions(
    subject: Subject, facts: Scan, candidates, *, regimens=DEFAULT_REGIMENS, arms=DEFAULT_ARMS
) -> tuple[list, list]:
    """Check candidates in signed_at order, each against the accepted ones before it; returns
    (accepted, [(refused decision, reason)]). For the generator: drop what the app refuses."""
    accepted, refused = [], []
    for decision in sorted(candidates, key=lambda d: d.at):
        reason = refusal(subject, facts, accepted, decision, regimens=regimens, arms=arms)
        if reason is None:
            accepted.append(decision)
        else:
            refused.append((decision, reason))
    return accepted, refused


def check_decisions(
    subjects: dict[str, Subject],
    *,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
    rule_set: str = "seed",
) -> None:
    """Raise ValueError naming the first decision row (by subject, in signed_at order) the app
    would refuse."""
    for sid, subject in subjects.items():
        facts = scan(subject, rule_set)
        _, refused = accepted_decisions(
            subject, facts, subject.decisions, regimens=regimens, arms=arms
        )
        if refused:
            decision, reason = refused[0]
            raise ValueError(f"decisions line {decision.line}: action: {sid}: refused: {reason}")


def check_decision_files(
    subjects_csv: str,
    doses_csv: str,
    labs_csv: str,
    decisions_csv: str,
    *,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
    rule_set: str = "seed",
) -> None:
    """check_decisions() on the four files' texts."""
    study = load_study(
        subjects_csv, doses_csv, labs_csv, decisions_csv, regimens=regimens, arms=arms
    )
    check_decisions(study, regimens=regimens, arms=arms, rule_set=rule_set)


# ---- the rules ---------------------------------------------------------------------------------
def oracle_assess(
    subjects_csv: str,
    doses_csv: str,
    labs_csv: str,
    decisions_csv: str,
    as_of: datetime,
    *,
    maintenance_days: int = 30,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
    rule_set: str = "seed",
) -> tuple[list[dict], dict[str, dict]]:
    """rule_set: "seed" (rules v2, section 3), "kynamro_label" or "fda_dili_2009" (3b)."""
    rule_set = _rule_set(rule_set)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    subjects = load_study(
        subjects_csv, doses_csv, labs_csv, decisions_csv, regimens=regimens, arms=arms
    )
    check_decisions(subjects, regimens=regimens, arms=arms, rule_set=rule_set)
    alerts, states = [], {}
    for sid, subject in subjects.items():
        found, state = evaluate(
            subject,
            as_of,
            maintenance=timedelta(days=maintenance_days),
            regimens=regimens,
            arms=arms,
            rule_set=rule_set,
        )
        alerts += found
        states[sid] = state
    alerts.sort(key=lambda a: (a["subject_id"], a["triggered_at"], ORDER.index(a["rule"])))
    return alerts, states


def oracle_alerts(
    subjects_csv: str,
    doses_csv: str,
    labs_csv: str,
    as_of: datetime,
    decisions_csv: str = "",
    **options,
) -> list[dict]:
    return oracle_assess(subjects_csv, doses_csv, labs_csv, decisions_csv, as_of, **options)[0]


def dose_withheld(facts: Scan, decisions, stop: datetime | None, t: datetime) -> bool:
    """R9's condition for a dose at t (decisions: all of the subject's, valid)."""
    # AMBIGUOUS: "withheld ... when not discontinued" only keeps the states apart; a dose at
    # exactly the discontinuation instant is R9 when (a) or (b) holds at it, and any dose
    # strictly after it is R9. Alternative (literal): at that instant the subject is
    # discontinued, so not withheld, and not yet "after discontinuation": no R9.
    return (
        (stop is not None and t > stop)
        or episode_open_at(facts, t)
        or held_by_start(facts, decisions, t)
    )


def evaluate(
    subject,
    as_of,
    *,
    maintenance,
    regimens=DEFAULT_REGIMENS,
    arms=DEFAULT_ARMS,
    rule_set: str = "seed",
):
    # AMBIGUOUS: as_of only sets the evaluation time of R7 and R10; every rule sees the whole
    # stored history, including rows dated after as_of. Alternative: ignore data after as_of.
    rule_set = _rule_set(rule_set)
    sid, decisions, doses = subject.sid, subject.decisions, subject.doses
    facts = scan(subject, rule_set)
    stop = discontinued_from(facts, decisions)
    resume_times = resumes(decisions)
    any_discontinue = any(d.action == "discontinue" for d in decisions)
    alerts = []

    def fire(rule, at, resolved=False, due_by=None):
        kind, severity = ALL_RULES[rule]
        alerts.append(
            {
                "subject_id": sid,
                "kind": kind,
                "severity": severity,
                "rule": rule,
                "status": "resolved" if resolved else "open",
                "triggered_at": at,
                "due_by": due_by,
            }
        )

    first_dose = doses[0][0] if doses else None

    # R1: the first dose has no draw on or before it holding all of ALT, AST, ALP, TBIL.
    # AMBIGUOUS: "a draw holding all" is read literally as ONE draw with all four results, and
    # "on or before" compares its collected_at (not resulted_at). Alternative: the union of the
    # draws on or before the first dose (the per-analyte "baseline value").
    if first_dose is not None and not any(
        d.at <= first_dose and all(t in d.tests for t in BASELINE_TESTS) for d in subject.draws
    ):
        fire("R1", first_dose)

    # R2: resolved when a later draw has peak <= 1x, or a later draw starts an episode.
    starts = {id(e.first) for e in facts.episodes}
    for draw in facts.weekly:  # empty outside seed
        later = [d for d in facts.peaked if d.at > draw.at]
        fire("R2", draw.at, any(d.peak <= 1 or id(d) in starts for d in later))

    if rule_set == "seed":
        _episode_rules_seed(fire, facts, as_of, resume_times, any_discontinue)
    elif rule_set == "kynamro_label":
        _episode_rules_kynamro(fire, facts, as_of, resume_times, any_discontinue)
    else:
        _episode_rules_fda(fire, facts, as_of)

    # R6 (F6 in fda_dili_2009): resolved when a discontinue decision is signed.
    # AMBIGUOUS: any discontinue decision of the subject resolves R6, even one signed before
    # the R6 draw (like the case's "signed before or after"). Alternative: only one signed
    # after the R6 draw (or its result). (The generator keeps this out of its data.)
    if facts.r6 is not None:
        fire("F6" if rule_set == "fda_dili_2009" else "R6", facts.r6.at, any_discontinue)

    # R9 and R11: one alert per dose; never resolved by the engine.
    for at, mg in doses:
        if dose_withheld(facts, decisions, stop, at):
            fire("R9", at)
            continue
        planned = regimens[regimen_at(subject, decisions, at, arms)][0]
        if planned is not None and mg != planned:
            fire("R11", at)

    # R10: a subject with a first dose and no discontinuation.
    # AMBIGUOUS: "no discontinuation" means none anywhere in the history (an R6 draw or a
    # discontinue decision, even one after as_of). Alternative: none at or before as_of.
    if first_dose is not None and stop is None:
        last = facts.peaked[-1] if facts.peaked else None  # may be a pre-dose baseline
        latest = resume_times[-1] if resume_times else None
        if last is not None and (latest is None or last.at >= latest):
            reference, reference_peak = last.at, last.peak  # the draw when both at one instant
        elif latest is not None:
            reference, reference_peak = latest, None
        else:
            reference, reference_peak = first_dose, None
        before = [r for r in resume_times if r <= reference]
        after_resume = bool(before) and reference - before[-1] < TWENTY_EIGHT_DAYS
        if rule_set == "kynamro_label":
            # The interval replaces v2's: 7 days when the reference is less than 28 days after
            # the latest resume; else 30 days while it is less than 365 days after the first
            # dose, 91 days after that.
            # AMBIGUOUS: v2's "less than 28 days after the first dose -> 7 days" is not part of
            # the replacing interval (the label: monthly for the first year). Alternative: it
            # still applies, as only the maintenance interval and "peak > 1x" are excluded.
            # AMBIGUOUS: a reference before the first dose (pre-dose baseline) is "less than
            # 365 days after the first dose" -> 30 days.
            if after_resume:
                interval = SEVEN_DAYS
            elif reference - first_dose < ONE_YEAR:
                interval = THIRTY_DAYS
            else:
                interval = NINETY_ONE_DAYS
        # AMBIGUOUS: a reference before the first dose (pre-dose baseline) is "less than 28 days
        # after the first dose" (negative difference) -> 7 days. Alternative: maintenance.
        elif (
            reference - first_dose < TWENTY_EIGHT_DAYS
            or after_resume
            or (reference_peak is not None and reference_peak > 1)
        ):
            interval = SEVEN_DAYS
        else:
            interval = maintenance
        if as_of > reference + interval + GRACE:
            fire("R10", reference, False, reference + interval)

    return alerts, {
        "state": safety_state(facts, decisions, stop),
        "regimen": regimen_at(subject, decisions, datetime.max.replace(tzinfo=UTC), arms),
    }


def _repeat_overdue(fire, rule, episode, facts, as_of, window, closed=False):
    """R7 / F7: the episode's first draw has no later draw with a peak collected at most
    `window` after it, and the evaluation time is later than its collected_at + window.
    Resolved when a later draw with a peak exists (or the case closes)."""
    # AMBIGUOUS: a repeat that came late (after the window) does not cancel R7 / F7 (the first
    # draw still "has no later draw with a peak collected at most 7 days after it"); it
    # resolves it ("a later draw with a peak exists"). Alternative: a late repeat retracts it.
    first = episode.first
    limit = first.at + window
    if not any(first.at < d.at <= limit for d in facts.peaked) and as_of > limit:
        later = any(d.at > first.at for d in facts.peaked)
        fire(rule, first.at, later or closed)


def _episode_rules_seed(fire, facts, as_of, resume_times, any_discontinue):
    for e in facts.episodes:
        # The case closes when a resume is signed after the episode's withhold start, or the
        # subject has a discontinue decision (before or after the episode).
        closed = any_discontinue or any(r > e.start for r in resume_times)
        fire("R3", e.first.at, closed, e.first.at + SEVEN_DAYS)
        if e.confirmed is not None:
            fire("R4", e.confirmed.at, closed)
        if e.severe is not None:
            fire("R5", e.severe.at, closed)
        _repeat_overdue(fire, "R7", e, facts, as_of, SEVEN_DAYS, closed)
        if e.end is not None:
            fire("R8", e.end.at, closed)


def _episode_rules_kynamro(fire, facts, as_of, resume_times, any_discontinue):
    for e in facts.episodes:
        # A case is a withheld episode's K3, R3, R4, R5, R7 and R8 alerts; it closes as in v2
        # (a resume signed after the episode's withhold start, or any discontinue decision).
        # An episode that never withheld has no case: its alerts resolve only by their own
        # condition.
        closed = e.withheld and (any_discontinue or any(r > e.start for r in resume_times))
        if e.first.peak >= 5:
            fire("R3", e.first.at, closed, e.first.at + SEVEN_DAYS)
        else:
            # K3: resolved once the episode's next draw with a peak exists (the confirming
            # or the ending draw).
            nxt = e.confirmed or e.end
            fire("K3", e.first.at, closed or nxt is not None, e.first.at + SEVEN_DAYS)
        if e.confirmed is not None:
            fire("R4", e.confirmed.at, closed)
        if e.severe is not None:
            fire("R5", e.severe.at, closed)
        _repeat_overdue(fire, "R7", e, facts, as_of, SEVEN_DAYS, closed)
        if e.end is not None:
            if e.withheld:
                fire("R8", e.end.at, closed)  # R8 only for episodes that were withheld
            else:
                # K8 (low): the next draw ended it unconfirmed; open until acknowledged.
                # AMBIGUOUS: "episodes that were withheld" (R8) means withheld episodes (their
                # own withhold start); an unconfirmed episode during which a `withhold`
                # decision held the subject still ends with K8, not R8.
                fire("K8", e.end.at)


def _episode_rules_fda(fire, facts, as_of):
    for e in facts.episodes:
        # F3: resolved by the engine once a later draw with a peak exists. No cases.
        later = any(d.at > e.first.at for d in facts.peaked)
        fire("F3", e.first.at, later, e.first.at + SEVENTY_TWO_HOURS)
        _repeat_overdue(fire, "F7", e, facts, as_of, SEVENTY_TWO_HOURS)
        if e.end is not None:
            fire("F8", e.end.at)  # low; open until acknowledged


def safety_state(facts: Scan, decisions, stop) -> str:
    """Section 3 "Safety state", over the whole history, in the table's order; section 3b's
    `close_observation` for an open episode that has started no withholding."""
    if stop is not None:
        return "discontinued"
    rs = resumes(decisions)
    starts = withhold_starts(facts, decisions)
    unresumed = any(not any(r > s for r in rs) for s in starts)
    # AMBIGUOUS: "an episode is open" over the whole history means the last episode has no
    # ending draw (whether or not its first draw has resulted by as_of).
    if facts.episodes and facts.episodes[-1].end is None:
        if facts.episodes[-1].withheld:
            return "withheld"
        # AMBIGUOUS: an open episode whose withhold start is in the whole history (e.g. a
        # confirming draw) is `withheld`, whenever that start is; "started no withholding"
        # is read over the whole history, like the rest of the state.
        return "withheld" if unresumed else "close_observation"
    # kynamro_label: "the last episode" of restart_pending is the last withheld episode.
    withheld = [e for e in facts.episodes if e.withheld]
    if unresumed and withheld:
        last = withheld[-1]
        if (not rs or last.start > rs[-1]) and not any(
            d.action == "withhold" and d.at > last.end.at for d in decisions
        ):
            return "restart_pending"
    if unresumed:
        return "withheld"
    if facts.peaked and facts.peaked[-1].peak > 1:
        return "weekly_monitoring"
    return "dosing"
