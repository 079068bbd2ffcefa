"""Independent oracle for the hepwatch rule table (DESIGN.md section 3, rules v1).

Written straight from the table, without looking at the production engine, for differential
testing. Pure stdlib, exact arithmetic (fractions.Fraction, never floats), no Django.

    oracle_alerts(subjects_csv, doses_csv, labs_csv, as_of) -> list of alert dicts

Each alert dict has exactly: subject_id, kind, severity, rule, triggered_at, due_by.
Input it cannot interpret (unknown subject, test, unit, sex, duplicate natural key) raises
ValueError: the table is not defined for it, and section 5 makes such a row a bad row.

Readings chosen where the table is ambiguous are marked `# AMBIGUOUS:` below.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

SEVEN_DAYS = timedelta(days=7)  # "7 days means 168 hours"

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
}
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
}


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or datetime, with or without offset; naive (and date-only) means UTC."""
    value = datetime.fromisoformat(text.strip())  # a bare date gives 00:00
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_bool(text: str | None) -> bool:
    text = (text or "").strip().lower()
    if text not in ("", "true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return text == "true"


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@dataclass
class Draw:
    at: datetime
    multiples: dict = field(default_factory=dict)  # test -> value / ULN (Fraction); not lipids
    tests: set = field(default_factory=set)
    symptoms: bool = False

    @property
    def peak(self) -> Fraction | None:
        found = [self.multiples[t] for t in ("ALT", "AST") if t in self.multiples]
        return max(found) if found else None

    @property
    def tbil_multiple(self) -> Fraction | None:
        return self.multiples.get("TBIL")


def _load(subjects_csv, doses_csv, labs_csv):
    subjects = {}
    for row in _rows(subjects_csv):
        sid = row["subject_id"].strip()
        sex = row["sex"].strip()
        if sex not in ("M", "F") or sid in subjects:
            raise ValueError(f"bad subject row {row}")
        subjects[sid] = {"sex": sex, "ald": parse_bool(row.get("active_liver_disease"))}

    doses = {sid: [] for sid in subjects}
    for row in _rows(doses_csv):
        sid = row["subject_id"].strip()
        at = parse_instant(row["administered_at"])
        # AMBIGUOUS: two dose rows of one subject at the same instant. Read as one natural key
        # (subject, administered_at) given twice -> bad input (ValueError). Alternative: two
        # doses, each with its own R9 alert.
        if sid not in doses or at in doses[sid]:
            raise ValueError(f"bad dose row {row}")
        doses[sid].append(at)

    draws = {sid: {} for sid in subjects}
    for row in _rows(labs_csv):
        sid, test, unit = row["subject_id"].strip(), row["test"].strip(), row["unit"].strip()
        if sid not in draws or (test, unit) not in TO_CANONICAL:
            raise ValueError(f"bad lab row {row}")
        at = parse_instant(row["collected_at"])
        draw = draws[sid].setdefault(at, Draw(at))
        # AMBIGUOUS: the same test twice in one draw. Read as a duplicate natural key
        # (subject, collected_at, test) -> bad input. Alternative: keep the larger (or last).
        if test in draw.tests:
            raise ValueError(f"duplicate {test} in draw {sid} {at.isoformat()}")
        draw.tests.add(test)
        draw.symptoms = draw.symptoms or parse_bool(row.get("symptoms"))
        if test in ("LDLC", "APOB"):
            continue  # lipids never take part in a rule
        factor = TO_CANONICAL[(test, unit)]
        value = Fraction(row["value"].strip()) * factor
        uln_text = (row.get("uln") or "").strip()
        uln = Fraction(uln_text) * factor if uln_text else DEFAULT_ULN[(test, subjects[sid]["sex"])]
        draw.multiples[test] = value / uln
    return subjects, doses, draws


def oracle_alerts(
    subjects_csv: str, doses_csv: str, labs_csv: str, as_of: datetime, maintenance_days: int = 30
) -> list[dict]:
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    as_of = as_of.astimezone(UTC)
    subjects, doses, draws = _load(subjects_csv, doses_csv, labs_csv)
    alerts = []
    for sid, subject in subjects.items():
        history = sorted(draws[sid].values(), key=lambda d: d.at)
        alerts += _evaluate(
            sid, subject, sorted(doses[sid]), history, as_of, timedelta(days=maintenance_days)
        )
    order = list(RULES)
    alerts.sort(key=lambda a: (a["subject_id"], a["triggered_at"], order.index(a["rule"])))
    return alerts


def _evaluate(sid, subject, doses, history, as_of, maintenance):
    # AMBIGUOUS: as_of only sets the evaluation time of R7 and R10; every rule sees the whole
    # stored history, including rows dated after as_of. Alternative: ignore data after as_of.
    # AMBIGUOUS: every rule applies to every draw, pre-dose baseline draws included (a baseline
    # >= 3x opens an episode, and a first dose after it is R9). Alternative: only post-dose draws.
    alerts = []

    def fire(rule, at, due_by=None):
        kind, severity = RULES[rule]
        alerts.append(
            {
                "subject_id": sid,
                "kind": kind,
                "severity": severity,
                "rule": rule,
                "triggered_at": at,
                "due_by": due_by,
            }
        )

    first_dose = doses[0] if doses else None

    # R1: the first dose has no draw on or before it holding all of ALT, AST, ALP, TBIL.
    # AMBIGUOUS: "a draw holding all" is read literally as ONE draw with all four results.
    # Alternative: the union of the draws on or before the first dose (the per-analyte
    # "baseline value" of the last paragraph of section 3).
    if first_dose is not None and not any(
        d.at <= first_dose and all(t in d.tests for t in BASELINE_TESTS) for d in history
    ):
        fire("R1", first_dose)

    peaked = [d for d in history if d.peak is not None]  # draws without ALT/AST are ignored
    episodes = []  # [first draw, ending draw or None]
    episode = None  # the open episode, a list [first draw, ending draw]
    episode_draws = 0  # draws with a peak seen in the open episode
    episode_severe = False  # R5 already fired in the open episode
    previous_peak = None
    discontinue_draw = None
    for draw in peaked:
        peak = draw.peak
        if episode is None:
            if peak >= 3:
                episode = [draw, None]
                episodes.append(episode)
                episode_draws, episode_severe = 1, False
                fire("R3", draw.at, draw.at + SEVEN_DAYS)
            elif peak > 1 and (previous_peak is None or previous_peak <= 1):
                fire("R2", draw.at)  # "no episode is open" holds in this branch
        elif peak < 3:
            episode[1] = draw
            episode = None
            fire("R8", draw.at)
        else:
            episode_draws += 1
            if episode_draws == 2:  # the next draw with a peak after the first one
                fire("R4", draw.at)
        # AMBIGUOUS: R4 and R5 fire once per episode (a second episode can fire them again).
        # Alternative: once per subject, like R6's "the subject's first draw".
        if episode is not None and not episode_severe and peak >= 5:
            episode_severe = True
            fire("R5", draw.at)
        if (
            discontinue_draw is None
            and peak >= 3
            and (
                (draw.tbil_multiple is not None and draw.tbil_multiple >= 2)
                or draw.symptoms
                or subject["ald"]
            )
        ):
            discontinue_draw = draw
            fire("R6", draw.at)
        previous_peak = peak
    # AMBIGUOUS: rules R2-R5, R7, R8 keep firing after a `discontinue` (the table has no
    # exception for them). Alternative: stop evaluating episodes once R6 has fired.

    # R7: no later draw with a peak at most 7 days after an episode's first draw, and the
    # evaluation time is past first draw + 7 days.
    # AMBIGUOUS: a repeat that came late (after 7 days) does not cancel R7: the first draw still
    # "has no later draw with a peak collected at most 7 days after it". Alternative: R7 only
    # while no repeat exists at all (a late repeat retracts it).
    for first, _end in episodes:
        limit = first.at + SEVEN_DAYS
        repeated = any(first.at < d.at <= limit for d in peaked)
        if not repeated and as_of > limit:
            fire("R7", first.at)

    # R9: one alert per dose strictly after an episode's first draw and strictly before the draw
    # that ends it (if any), or strictly after the discontinue draw.
    for dose in doses:
        withheld = any(
            first.at < dose and (end is None or dose < end.at) for first, end in episodes
        )
        if withheld or (discontinue_draw is not None and dose > discontinue_draw.at):
            fire("R9", dose)

    # R10: subject with a first dose and no discontinue (R6 did not fire, anywhere in history).
    if first_dose is not None and discontinue_draw is None:
        if peaked:  # the last draw with a peak of the whole history, even a pre-dose baseline
            reference, reference_peak = peaked[-1].at, peaked[-1].peak
        else:
            reference, reference_peak = first_dose, None
        # AMBIGUOUS: a reference before the first dose (pre-dose baseline) is "less than 28 days
        # after the first dose" (negative difference) -> 7 days. Alternative: maintenance.
        if reference - first_dose < timedelta(days=28) or (
            reference_peak is not None and reference_peak > 1
        ):
            interval = SEVEN_DAYS
        else:
            interval = maintenance
        if as_of > reference + interval + timedelta(days=2):
            fire("R10", reference, reference + interval)
    return alerts
