"""Hand-computed cases that check the differential-test oracle (tests/oracle.py, rules v2)
itself, and that the synthetic study generator is deterministic and reaches every rule, state,
regimen and status. No database: pure stdlib on both sides."""

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from tests import oracle
from tests.oracle import oracle_alerts, oracle_assess, parse_instant
from tests.synthetic import DEFAULT_AS_OF, generate_study, write_study

SUBJECTS = "subject_id,site,sex,birth_date,arm,enrolled_on,active_liver_disease\n"
DOSES = "subject_id,administered_at,dose_mg\n"
LABS = "subject_id,collected_at,test,value,unit,uln,symptoms,resulted_at\n"
DECISIONS = "subject_id,signed_at,action,regimen,reviewer,reason\n"
KEYS = {"subject_id", "kind", "severity", "rule", "status", "triggered_at", "due_by"}
FIRST_DOSE = "2024-01-02T09:00:00"
BASELINE = [  # full baseline, female, everything well under 1x ULN
    ("2024-01-01T08:00:00", "ALT", "20", "U/L", ""),
    ("2024-01-01T08:00:00", "AST", "18", "U/L", ""),
    ("2024-01-01T08:00:00", "ALP", "70", "U/L", ""),
    ("2024-01-01T08:00:00", "TBIL", "0.5", "mg/dL", ""),
]
# female default ULN 33 U/L: 99 / 33 = 3.0 exactly starts an episode; 30 / 33 < 1x ends it
ONSET, ENDING = "2024-01-09T09:00:00", "2024-01-12T09:00:00"
EPISODE = [(ONSET, "ALT", "99", "U/L", ""), (ENDING, "ALT", "30", "U/L", "")]
AS_OF = datetime(2024, 1, 15, tzinfo=UTC)
LATE = datetime(2024, 6, 1, tzinfo=UTC)
EARLY = datetime(2024, 1, 5, tzinfo=UTC)  # before the lab_overdue of a baseline-only history


def at(text):
    return parse_instant(text)


def texts(labs=(), doses=(FIRST_DOSE,), decisions=(), *, sex="F", ald="false", arm="standard"):
    """labs: (collected_at, test, value, unit, uln[, symptoms[, resulted_at]]); doses: an
    instant (200 mg) or (instant, mg); decisions: (signed_at, action[, regimen])."""
    labs_csv = LABS + "".join(
        "P1," + ",".join(tuple(row) + ("",) * (7 - len(row))) + "\n" for row in labs
    )
    doses_csv = DOSES + "".join(
        f"P1,{d},200\n" if isinstance(d, str) else f"P1,{d[0]},{d[1]}\n" for d in doses
    )
    decisions_csv = DECISIONS + "".join(
        f"P1,{d[0]},{d[1]},{d[2] if len(d) > 2 else ''},dr_reviewer,signed on paper\n"
        for d in decisions
    )
    subjects_csv = SUBJECTS + f"P1,S01,{sex},1970-05-05,{arm},2024-01-01,{ald}\n"
    return subjects_csv, doses_csv, labs_csv, decisions_csv


def assess(labs=(), doses=(FIRST_DOSE,), decisions=(), *, baseline=True, as_of=AS_OF, **kw):
    options = {k: kw.pop(k) for k in ("maintenance_days", "regimens", "arms") if k in kw}
    rows = (list(BASELINE) if baseline else []) + list(labs)
    alerts, states = oracle_assess(*texts(rows, doses, decisions, **kw), as_of, **options)
    for a in alerts:
        assert set(a) == KEYS
        assert a["triggered_at"].tzinfo is not None
        assert a["status"] in ("open", "resolved")
    assert set(states["P1"]) == {"state", "regimen"}
    return alerts, states["P1"]


def run(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    """{(rule, triggered_at, due_by)}"""
    return {
        (a["rule"], a["triggered_at"], a["due_by"]) for a in assess(labs, doses, decisions, **kw)[0]
    }


def statuses(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    """{(rule, triggered_at): status}"""
    return {
        (a["rule"], a["triggered_at"]): a["status"] for a in assess(labs, doses, decisions, **kw)[0]
    }


def state(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    return assess(labs, doses, decisions, **kw)[1]["state"]


def rules(result):
    return sorted(r for r, _, _ in result)


def r9(labs, doses, decisions=(), **kw):
    return sorted(when for rule, when, _ in run(labs, doses, decisions, **kw) if rule == "R9")


# ---- the multiples, units and draws (unchanged from rules v1) ---------------------------------
def test_exactly_3x_uln_fires_withhold_dose_with_due_by_7_days():
    got = run(EPISODE)
    assert got == {
        ("R3", at(ONSET), at("2024-01-16T09:00:00")),
        ("R8", at(ENDING), None),
    }


def test_2999x_uln_is_weekly_monitoring_not_withhold():
    got = run([("2024-01-09T09:00:00", "ALT", "98.967", "U/L", "")])  # 98.967 / 33 = 2.999
    assert got == {("R2", at("2024-01-09T09:00:00"), None)}
    # a reported ULN wins over the default: 120 / 40 = 3.0
    assert rules(run([("2024-01-09T09:00:00", "AST", "120.0", "U/L", "40")])) == ["R3"]
    # exactly 1x is not > 1x: nothing fires
    assert run([("2024-01-09T09:00:00", "ALT", "33", "U/L", "")]) == set()


def test_si_units_convert_exactly():
    # 1.65 ukat/L = 99 U/L = 3.0x of 33; 2.05 ukat/L = 123 U/L = 3.0x of 41 (male)
    assert rules(run([("2024-01-09T09:00:00", "ALT", "1.65", "ukat/L", "")])) == ["R3"]
    assert rules(run([("2024-01-09T09:00:00", "ALT", "2.05", "ukat/L", "")], sex="M")) == ["R3"]
    assert rules(run([("2024-01-09T09:00:00", "ALT", "2.049", "ukat/L", "")], sex="M")) == ["R2"]
    # reported ULN in ukat/L is converted like the value: 1.65 / 0.55 = 3
    assert rules(run([("2024-01-09T09:00:00", "AST", "1.65", "ukat/L", "0.55")])) == ["R3"]
    # TBIL 41.04 umol/L = 2.4 mg/dL = 2.0x of 1.2: with ALT >= 3x it is a discontinue
    hy = [
        ("2024-01-09T09:00:00", "ALT", "99", "U/L", ""),
        ("2024-01-09T09:00:00", "TBIL", "41.04", "umol/L", ""),
    ]
    assert rules(run(hy)) == ["R3", "R6"]
    hy[1] = ("2024-01-09T09:00:00", "TBIL", "41.03", "umol/L", "")
    assert rules(run(hy)) == ["R3"]
    # lipids in SI parse and take part in no rule
    lipids = [
        ("2024-01-09T09:00:00", "LDLC", "3.42", "mmol/L", ""),
        ("2024-01-09T09:00:00", "APOB", "1.1", "g/L", ""),
    ]
    assert run(lipids, as_of=EARLY) == set()


def test_rows_at_one_instant_in_different_offsets_are_one_draw():
    baseline = [
        ("2024-01-01T10:00:00+02:00", "ALT", "20", "U/L", ""),
        ("2024-01-01T08:00:00", "AST", "18", "U/L", ""),
        ("2024-01-01T08:00:00Z", "ALP", "70", "U/L", ""),
        ("2024-01-01T03:00:00-05:00", "TBIL", "0.5", "mg/dL", ""),
    ]
    assert run(baseline, baseline=False, as_of=EARLY) == set()  # one complete draw: no R1
    # a draw's symptoms flag is true if any of its rows says true; symptoms need >= 3x
    got = run(
        [
            ("2024-01-09T09:00:00", "ALT", "99", "U/L", "", "false"),
            ("2024-01-09T11:00:00+02:00", "AST", "10", "U/L", "", "true"),
        ]
    )
    assert rules(got) == ["R3", "R6"]
    assert run([("2024-01-09T09:00:00", "ALT", "60", "U/L", "", "true")]) == {
        ("R2", at("2024-01-09T09:00:00"), None)
    }


def test_missing_baseline():
    first = at(FIRST_DOSE)
    incomplete = BASELINE[:3]
    assert run(incomplete, baseline=False, as_of=EARLY) == {("R1", first, None)}
    # on or before: a baseline at the same instant as the first dose counts
    same = [(FIRST_DOSE, t, v, u, uln) for _, t, v, u, uln in BASELINE]
    assert run(same, baseline=False, as_of=EARLY) == set()
    # one second after the first dose does not
    late = [("2024-01-02T09:00:01", t, v, u, uln) for _, t, v, u, uln in BASELINE]
    assert rules(run(late, baseline=False, as_of=EARLY)) == ["R1"]
    # literal reading: a single draw must hold all four (split over two draws -> R1)
    split = incomplete + [("2024-01-01T07:00:00", "TBIL", "0.5", "mg/dL", "")]
    assert rules(run(split, baseline=False, as_of=EARLY)) == ["R1"]
    # a date-only dose is 00:00 UTC, so a baseline at 08:00 that day comes after it
    assert rules(run([], doses=("2024-01-01",), as_of=EARLY)) == ["R1"]
    # R1 is never resolved by the engine
    assert statuses(incomplete, baseline=False, as_of=EARLY) == {("R1", first): "open"}


# ---- episodes, confirmation, R7 ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("repeat", "r7"),
    [
        ("2024-01-16T09:00:00", False),  # exactly 168 h later: within 7 days
        ("2024-01-16T11:00:00+02:00", False),  # the same instant, written with an offset
        ("2024-01-16T09:00:01", True),  # 168 h + 1 s: too late, R7 stands (resolved)
    ],
)
def test_repeat_exactly_7_days_later_counts_as_within(repeat, r7):
    got = statuses(
        [(ONSET, "ALT", "150", "U/L", ""), (repeat, "ALT", "140", "U/L", "")],
        as_of=datetime(2024, 2, 1, tzinfo=UTC),
    )
    assert got[("R4", at(repeat))] == "open"  # confirmation, however late it came
    # the late repeat is "a later draw with a peak": R7 is resolved by the engine
    assert got.get(("R7", at(ONSET))) == ("resolved" if r7 else None)


def test_confirmation_overdue_depends_on_evaluation_time_and_stays_open_without_repeat():
    labs = [(ONSET, "ALT", "99", "U/L", "")]
    limit = at("2024-01-16T09:00:00")
    assert "R7" not in rules(run(labs, as_of=limit))
    after = statuses(labs, as_of=limit + timedelta(seconds=1))
    assert after[("R7", at(ONSET))] == "open"
    assert after[("R3", at(ONSET))] == "open"
    # a draw without a peak after it is not a repeat
    lipid = [("2024-01-20T09:00:00", "LDLC", "150", "mg/dL", "")]
    assert statuses(labs + lipid, as_of=LATE)[("R7", at(ONSET))] == "open"


def test_severe_and_confirmed():
    got = run(
        [
            ("2024-01-09T09:00:00", "ALT", "132", "U/L", ""),  # 4x: R3
            ("2024-01-10T09:00:00", "LDLC", "150", "mg/dL", ""),  # no peak: ends nothing
            ("2024-01-12T09:00:00", "ALT", "165", "U/L", ""),  # 5x: R4 and R5
            ("2024-01-15T09:00:00", "ALT", "200", "U/L", ""),  # still open, R5 done
            ("2024-01-18T09:00:00", "ALT", "40", "U/L", ""),  # < 3x: R8
        ]
    )
    assert rules(got) == ["R3", "R4", "R5", "R8"]


def test_weekly_monitoring_resolution():
    mild = ("2024-01-09T09:00:00", "ALT", "60", "U/L", "")  # 1.8x
    assert statuses([mild]) == {("R2", at(mild[0])): "open"}
    assert state([mild]) == "weekly_monitoring"
    # a later draw at exactly 1x resolves it
    down = ("2024-01-12T09:00:00", "ALT", "33", "U/L", "")
    assert statuses([mild, down])[("R2", at(mild[0]))] == "resolved"
    assert state([mild, down]) == "dosing"
    # a later draw still above 1x does not; a later episode start does
    up = ("2024-01-12T09:00:00", "ALT", "70", "U/L", "")
    assert statuses([mild, up])[("R2", at(mild[0]))] == "open"
    high = ("2024-01-12T09:00:00", "ALT", "99", "U/L", "")
    assert statuses([mild, high])[("R2", at(mild[0]))] == "resolved"


# ---- withholding: resulted_at, instants, resumes (R9) ------------------------------------------
def test_withholding_starts_at_the_result_not_the_collection():
    labs = [
        (ONSET, "ALT", "99", "U/L", "", "", "2024-01-10T09:00:00"),  # resulted a day later
        (ENDING, "ALT", "30", "U/L", ""),
    ]
    doses = (
        FIRST_DOSE,
        "2024-01-09T12:00:00",  # between collection and result: not withheld yet
        "2024-01-10T10:00:00+01:00",  # exactly the withhold start: not after it
        "2024-01-10T09:00:01",  # after it: R9
    )
    assert r9(labs, doses) == [at("2024-01-10T09:00:01")]
    # the same draw without resulted_at: withholding starts at its collection
    plain = [row[:5] for row in labs]
    assert r9(plain, doses) == [
        at("2024-01-09T12:00:00"),
        at("2024-01-10T09:00:00"),
        at("2024-01-10T09:00:01"),
    ]
    # an empty resulted_at cell means collected_at, like a missing column
    empty = [(ONSET, "ALT", "99", "U/L", "", "", ""), (ENDING, "ALT", "30", "U/L", "")]
    assert r9(empty, doses) == r9(plain, doses)


def test_resulted_at_must_be_after_collection_and_the_same_on_every_row():
    before = [(ONSET, "ALT", "99", "U/L", "", "", "2024-01-09T08:59:59")]
    with pytest.raises(ValueError, match="resulted_at"):
        assess(before)
    same_instant = [
        (ONSET, "ALT", "99", "U/L", "", "", "2024-01-10T09:00:00"),
        (ONSET, "AST", "20", "U/L", "", "", "2024-01-10T11:00:00+02:00"),
    ]
    assert rules(run(same_instant)) == ["R3"]
    differs = [
        (ONSET, "ALT", "99", "U/L", "", "", "2024-01-10T09:00:00"),
        (ONSET, "AST", "20", "U/L", "", "", "2024-01-10T09:00:01"),
    ]
    with pytest.raises(ValueError, match="resulted_at"):
        assess(differs)


def test_dose_at_the_ending_draw_is_withheld_and_withholding_lasts_until_a_resume():
    labs = [(ONSET, "ALT", "99", "U/L", ""), ("2024-01-14T09:00:00", "ALT", "30", "U/L", "")]
    doses = (
        FIRST_DOSE,
        ONSET,  # the same instant as the withhold start: not after it
        "2024-01-09T09:00:01",
        "2024-01-14T09:00:00",  # the ending draw's instant: the episode is still open
        "2024-01-15T09:00:00",  # ended, but no resume yet: still withheld
        "2024-01-16T09:00:00",  # a resume at the dose's instant ends the withholding
        "2024-01-17T09:00:00",
    )
    resume = [("2024-01-16T09:00:00", "resume_same_dose")]
    assert r9(labs, doses, resume) == [
        at("2024-01-09T09:00:01"),
        at("2024-01-14T09:00:00"),
        at("2024-01-15T09:00:00"),
    ]
    # without the resume every dose after the withhold start is R9, and the state says so
    assert len(r9(labs, doses)) == 5
    assert state(labs, doses) == "restart_pending"
    assert state(labs, doses, resume) == "dosing"


def test_withhold_decision_without_episode():
    mild = [("2024-01-09T09:00:00", "ALT", "50", "U/L", "")]
    hold = [("2024-01-09T09:00:00", "withhold")]  # signed at the draw's instant
    doses = (FIRST_DOSE, "2024-01-09T09:00:00", "2024-01-10T09:00:00", "2024-01-20T09:00:00")
    assert r9(mild, doses, hold) == [at("2024-01-10T09:00:00"), at("2024-01-20T09:00:00")]
    assert state(mild, doses, hold) == "withheld"  # no episode: never restart_pending
    resumed = hold + [("2024-01-20T09:00:00", "resume_same_dose")]
    assert r9(mild, doses, resumed) == [at("2024-01-10T09:00:00")]
    assert state(mild, doses, resumed) == "weekly_monitoring"  # last peak 50/33 > 1x


def test_doses_after_discontinuation():
    labs = EPISODE
    doses = (FIRST_DOSE, "2024-01-13T09:00:00")
    # v2: after the episode the subject stays withheld (no resume): R9 either way
    assert rules(run(labs, doses, as_of=LATE)) == ["R10", "R3", "R8", "R9"]
    # active liver disease: R6 at the onset; discontinued from its result, and no R10
    assert rules(run(labs, doses, ald="true", as_of=LATE)) == ["R3", "R6", "R8", "R9"]
    # a discontinue decision: a dose strictly after it is R9, at its instant it is not (no
    # withholding before it); a resume after it is refused (see the refusal tests)
    quit_ = [("2024-01-05T09:00:00", "discontinue")]
    doses = (FIRST_DOSE, "2024-01-05T09:00:00", "2024-01-05T09:00:01")
    assert r9([], doses, quit_) == [at("2024-01-05T09:00:01")]
    assert state([], doses, quit_) == "discontinued"
    assert "R10" not in rules(run([], doses, quit_, as_of=LATE))


# ---- the case ----------------------------------------------------------------------------------
def test_case_closes_by_a_resume_after_the_withhold_start():
    labs = [
        (ONSET, "ALT", "150", "U/L", ""),  # 4.5x: R3
        ("2024-01-20T09:00:00", "ALT", "170", "U/L", ""),  # late repeat: R4, R5; R7 resolved
        ("2024-01-25T09:00:00", "ALT", "50", "U/L", ""),  # ends: R8 (1.5x: no R2 with R8)
    ]
    open_ = statuses(labs, as_of=LATE)
    case = {("R3", at(ONSET)), ("R4", at(labs[1][0])), ("R5", at(labs[1][0]))}
    case |= {("R7", at(ONSET)), ("R8", at(labs[2][0]))}
    assert case <= set(open_)
    r7 = ("R7", at(ONSET))
    assert {k: open_[k] for k in case - {r7}} == dict.fromkeys(case - {r7}, "open")
    assert open_[r7] == "resolved"  # the late repeat exists
    closed = statuses(labs, decisions=[("2024-01-26T09:00:00", "resume_same_dose")], as_of=LATE)
    assert {k: closed[k] for k in case} == dict.fromkeys(case, "resolved")
    # the next episode after that resume is a new case, open
    again = labs + [("2024-02-05T09:00:00", "ALT", "100", "U/L", "")]
    got = statuses(again, decisions=[("2024-01-26T09:00:00", "resume_same_dose")], as_of=LATE)
    assert got[("R3", at("2024-02-05T09:00:00"))] == "open"
    assert got[("R3", at(ONSET))] == "resolved"


def test_case_closes_by_any_discontinue_decision_before_or_after_the_episode():
    for signed in ("2024-01-05T09:00:00", "2024-01-13T09:00:00"):
        got = statuses(EPISODE, decisions=[(signed, "discontinue")])
        assert got == {("R3", at(ONSET)): "resolved", ("R8", at(ENDING)): "resolved"}


def test_discontinue_resolves_r6():
    labs = [(ONSET, "ALT", "99", "U/L", "", "true", "2024-01-09T15:00:00")]  # symptoms
    assert statuses(labs)[("R6", at(ONSET))] == "open"
    assert state(labs) == "discontinued"
    got = statuses(labs, decisions=[("2024-01-10T09:00:00", "discontinue")])
    assert got == {("R3", at(ONSET)): "resolved", ("R6", at(ONSET)): "resolved"}
    # the rules keep firing after discontinuation: a later elevation opens a case (closed)
    later = labs + [
        ("2024-01-12T09:00:00", "ALT", "20", "U/L", ""),
        ("2024-01-20T09:00:00", "ALT", "120", "U/L", ""),
    ]
    got = statuses(later, decisions=[("2024-01-10T09:00:00", "discontinue")])
    assert got[("R3", at("2024-01-20T09:00:00"))] == "resolved"
    assert ("R6", at("2024-01-20T09:00:00")) not in got  # R6 fires once: the first such draw


# ---- the refusals ------------------------------------------------------------------------------
def refused(labs=(), decisions=(), **kw):
    with pytest.raises(ValueError, match=r"decisions line \d+: action: P1: refused") as info:
        assess(labs, decisions=decisions, **kw)
    return str(info.value)


def test_a_resume_is_refused_unless_withheld_episode_closed_and_not_discontinued():
    resume = "resume_same_dose"
    assert "not withheld" in refused([], [("2024-01-10T09:00:00", resume)])
    # while the episode is open: up to and including the ending draw's collected_at
    assert "episode is open" in refused(EPISODE, [("2024-01-10T09:00:00", resume)])
    assert "episode is open" in refused(EPISODE, [(ENDING, resume)])
    assert state(EPISODE, decisions=[("2024-01-12T09:00:01", resume)]) == "dosing"
    # at the withhold start itself the subject is not yet withheld
    onset_only = [(ONSET, "ALT", "20", "U/L", "", "", ""), (ONSET, "AST", "99", "U/L", "")]
    assert "not withheld" in refused(onset_only, [(ONSET, resume)], sex="F")
    # twice: the first resume ended the withholding
    twice = [("2024-01-13T09:00:00", resume), ("2024-01-14T09:00:00", resume)]
    message = refused(EPISODE, twice)
    assert "not withheld" in message and "line 3" in message
    # once discontinued (R6 from its draw's resulted_at, or a discontinue decision)
    hy = [(ONSET, "ALT", "99", "U/L", "", "true", "2024-01-09T12:00:00"), EPISODE[1]]
    assert "discontinued" in refused(hy, [("2024-01-13T09:00:00", resume)])
    stop = [("2024-01-12T10:00:00", "discontinue"), ("2024-01-13T09:00:00", resume)]
    assert "discontinued" in refused(EPISODE, stop)
    # the file's row order does not matter: checked in signed_at order
    assert "discontinued" in refused(EPISODE, stop[::-1])


def test_decisions_on_a_discontinued_subject():
    hy = [(ONSET, "ALT", "99", "U/L", "", "true", "2024-01-09T12:00:00")]
    assert "discontinued" in refused(hy, [("2024-01-09T13:00:00", "withhold")])
    # AMBIGUOUS reading: discontinued from the R6 draw's resulted_at, that instant included
    assert "discontinued" in refused(hy, [("2024-01-09T12:00:00", "withhold")])
    # before the result is known the subject is not discontinued yet
    assert state(hy, decisions=[("2024-01-09T11:59:59", "withhold")]) == "discontinued"
    # a discontinue is always accepted, also twice
    twice = [("2024-01-10T09:00:00", "discontinue"), ("2024-01-11T09:00:00", "discontinue")]
    assert state(hy, decisions=twice) == "discontinued"


def test_resume_reduced_dose_must_reduce_the_regimen_in_force():
    reduce = [("2024-01-13T09:00:00", "resume_reduced_dose", "reduced")]
    assert assess(EPISODE, decisions=reduce)[1] == {"state": "dosing", "regimen": "reduced"}
    # reduced -> standard is not a reduction; reduced -> reduced neither
    for target in ("standard", "reduced"):
        bad = [("2024-01-13T09:00:00", "resume_reduced_dose", target)]
        assert "not a reduction" in refused(EPISODE, bad, arm="reduced")
    # after a re-start at reduced, a second reduction to reduced is refused
    again = [
        *EPISODE,
        ("2024-02-01T09:00:00", "ALT", "99", "U/L", ""),
        ("2024-02-05T09:00:00", "ALT", "30", "U/L", ""),
    ]
    second = [*reduce, ("2024-02-06T09:00:00", "resume_reduced_dose", "reduced")]
    assert "not a reduction" in refused(again, second)
    # the same dose fewer times a week is a reduction; an unknown dose is never compared
    regimens = {
        "standard": (Fraction(200), 1),
        "reduced": (Fraction(70), 3),
        "rarer": (Fraction(200), Fraction(1, 2)),
        "unknown": (None, 1),
    }
    for target, ok in (("rarer", True), ("unknown", False)):
        decision = [("2024-01-13T09:00:00", "resume_reduced_dose", target)]
        if ok:
            assert assess(EPISODE, decisions=decision, regimens=regimens)[1]["regimen"] == target
        else:
            assert "not a reduction" in refused(EPISODE, decision, regimens=regimens)


def test_decision_rows_that_are_bad_in_themselves():
    for decisions, field in (
        ([("2024-01-13T09:00:00", "resume_reduced_dose", "")], "regimen"),
        ([("2024-01-13T09:00:00", "resume_reduced_dose", "low")], "regimen"),
        ([("2024-01-13T09:00:00", "resume_same_dose", "reduced")], "regimen"),
        ([("2024-01-13T09:00:00", "confirm")], "action"),
        ([("1899-12-31T23:59:59", "withhold")], "signed_at"),
        ([("2999-01-01T00:00:00", "withhold")], "signed_at"),
        (
            [("2024-01-13T09:00:00", "withhold"), ("2024-01-13T10:00:00+01:00", "withhold")],
            "signed_at",
        ),
    ):
        with pytest.raises(ValueError, match=field):
            assess(EPISODE, decisions=decisions)


def test_resume_at_the_instant_of_a_later_withhold_start():
    """Withheld by a decision; an episode's result arrives at s; a resume signed at exactly s
    is accepted (withheld from before s, no episode open at s: its first draw resulted at s,
    not before), ends the decision's withholding but not s's: still withheld, case open."""
    labs = [(ONSET, "ALT", "99", "U/L", "", "", "2024-01-10T09:00:00"), EPISODE[1]]
    decisions = [("2024-01-08T09:00:00", "withhold"), ("2024-01-10T09:00:00", "resume_same_dose")]
    doses = (FIRST_DOSE, "2024-01-08T12:00:00", "2024-01-10T09:00:00", "2024-01-13T09:00:00")
    # the dose at s: the resume at its instant ends the decision's withholding, and s is not
    # before it; the dose after the ending draw: s has no resume
    assert r9(labs, doses, decisions) == [at("2024-01-08T12:00:00"), at("2024-01-13T09:00:00")]
    got = statuses(labs, doses, decisions)
    assert got[("R3", at(ONSET))] == got[("R8", at(ENDING))] == "open"
    # s has no later resume, but the latest resume is not before s: withheld, not pending
    assert state(labs, doses, decisions) == "withheld"


# ---- the safety state --------------------------------------------------------------------------
def test_restart_pending_versus_withheld():
    assert state(EPISODE[:1]) == "withheld"  # an episode is open
    assert state(EPISODE) == "restart_pending"  # ended; nobody decided
    # a withhold signed after the ending draw was collected: withheld
    assert state(EPISODE, decisions=[("2024-01-12T09:00:01", "withhold")]) == "withheld"
    # ... at exactly its collected_at is not after it
    assert state(EPISODE, decisions=[(ENDING, "withhold")]) == "restart_pending"
    # a withhold signed during the episode changes nothing
    assert state(EPISODE, decisions=[("2024-01-10T09:00:00", "withhold")]) == "restart_pending"
    # resumed, then withheld again without an episode: withheld
    later = [("2024-01-13T09:00:00", "resume_same_dose"), ("2024-01-20T09:00:00", "withhold")]
    assert state(EPISODE, decisions=later) == "withheld"
    # resumed: the last peak decides (30/33 <= 1x: dosing; 2.4x: weekly monitoring)
    assert state(EPISODE, decisions=later[:1]) == "dosing"
    high_end = [EPISODE[0], (ENDING, "ALT", "79.2", "U/L", "")]
    assert state(high_end, decisions=later[:1]) == "weekly_monitoring"
    # a second episode, resumed in between: pending again once it ends
    two = [
        *EPISODE,
        ("2024-02-01T09:00:00", "ALT", "99", "U/L", ""),
        ("2024-02-05T09:00:00", "ALT", "30", "U/L", ""),
    ]
    assert state(two, decisions=later[:1]) == "restart_pending"


# ---- the regimen and R11 -----------------------------------------------------------------------
def test_dose_off_regimen_after_a_reduced_resume():
    reduce = [("2024-01-13T09:00:00", "resume_reduced_dose", "reduced")]
    doses = (
        FIRST_DOSE,
        ("2024-01-05T09:00:00", "70"),  # 70 mg while on standard: R11
        ("2024-01-06T09:00:00", "200.00"),  # the same dose written differently: nothing
        ("2024-01-11T09:00:00", "70"),  # while withheld: R9, not R11
        ("2024-01-13T09:00:00", "70"),  # at the resume's instant: reduced is in force
        ("2024-01-15T09:00:00", "70"),
        ("2024-01-17T09:00:00", "200"),  # 200 mg on reduced: R11
    )
    got = run(EPISODE, doses, reduce)
    assert sorted((r, w) for r, w, _ in got if r in ("R9", "R11")) == [
        ("R11", at("2024-01-05T09:00:00")),
        ("R11", at("2024-01-17T09:00:00")),
        ("R9", at("2024-01-11T09:00:00")),
    ]
    assert statuses(EPISODE, doses, reduce)[("R11", at("2024-01-17T09:00:00"))] == "open"
    # 200 mg at exactly the reduced resume's instant is off the (new) regimen
    assert ("R11", at("2024-01-13T09:00:00"), None) in run(
        EPISODE, (FIRST_DOSE, ("2024-01-13T09:00:00", "200")), reduce
    )
    # a resume at the same dose keeps the arm's regimen
    same = [("2024-01-13T09:00:00", "resume_same_dose")]
    assert assess(EPISODE, doses, same)[1]["regimen"] == "standard"
    # a regimen whose dose is unknown checks no dose
    regimens = {"standard": (None, 1), "reduced": (Fraction(70), 3)}
    assert "R11" not in rules(run(EPISODE, doses, same, regimens=regimens))


# ---- R10 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_draw", "alt", "interval_days"),
    [
        ("2024-01-30T09:00:00", "20", 30),  # exactly 28 days after the first dose, <= 1x
        ("2024-01-30T08:59:59", "20", 7),  # 1 s under 28 days
        ("2024-03-01T09:00:00", "40", 7),  # peak > 1x (40 / 33)
        ("2024-03-01T09:00:00", "33", 30),  # peak exactly 1x is not > 1x
    ],
)
def test_lab_overdue_interval(last_draw, alt, interval_days):
    reference = at(last_draw)
    due = reference + timedelta(days=interval_days)
    labs = [(last_draw, "ALT", alt, "U/L", "")]
    limit = due + timedelta(days=2)
    assert "R10" not in rules(run(labs, as_of=limit))
    assert run(labs, as_of=limit + timedelta(seconds=1)) >= {("R10", reference, due)}
    assert statuses(labs, as_of=limit + timedelta(seconds=1))[("R10", reference)] == "open"
    if interval_days == 30:  # the reduced-dose comparison study's 14 days
        shorter = reference + timedelta(days=14)
        assert ("R10", reference, shorter) in run(labs, as_of=limit, maintenance_days=14)


def test_lab_overdue_reference_is_first_dose_or_pre_dose_baseline():
    first = at(FIRST_DOSE)
    # no draw with a peak at all: the first dose is the reference, and the trigger time
    no_peak = [("2024-01-01T08:00:00", "TBIL", "0.5", "mg/dL", "")]
    got = run(no_peak, baseline=False, as_of=first + timedelta(days=9, seconds=1))
    assert ("R10", first, first + timedelta(days=7)) in got
    assert "R10" not in rules(run(no_peak, baseline=False, as_of=first + timedelta(days=9)))
    # only the pre-dose baseline has a peak: it is the reference (7 days: before the dose)
    base = at("2024-01-01T08:00:00")
    got = run([], as_of=base + timedelta(days=9, seconds=1))
    assert got == {("R10", base, base + timedelta(days=7))}
    # no dose: neither R1 nor R10
    assert run([], doses=(), baseline=False, as_of=datetime(2025, 1, 1, tzinfo=UTC)) == set()


def test_lab_overdue_reference_is_the_latest_resume():
    resume = "2024-03-01T09:00:00"  # long after the last draw (2024-01-12), > 28 d after dose 1
    decisions = [(resume, "resume_same_dose")]
    r10 = [x for x in run(EPISODE, decisions=decisions, as_of=LATE) if x[0] == "R10"]
    assert r10 == [("R10", at(resume), at(resume) + timedelta(days=7))]  # 7 d after a resume
    # a draw at the resume's instant: the draw is the reference (the same instant here)
    check = [*EPISODE, (resume, "ALT", "20", "U/L", "")]
    r10 = [x for x in run(check, decisions=decisions, as_of=LATE) if x[0] == "R10"]
    assert r10 == [("R10", at(resume), at(resume) + timedelta(days=7))]
    # a draw exactly 28 days after the latest resume: maintenance; 1 s less: 7 days
    for offset, days in ((timedelta(days=28), 30), (timedelta(days=28, seconds=-1), 7)):
        draw = at(resume) + offset
        labs = [*EPISODE, (draw.isoformat(), "ALT", "20", "U/L", "")]
        r10 = [x for x in run(labs, decisions=decisions, as_of=LATE) if x[0] == "R10"]
        assert r10 == [("R10", draw, draw + timedelta(days=days))]
    # a discontinued subject has no R10
    stop = [*decisions, ("2024-03-02T09:00:00", "discontinue")]
    assert "R10" not in rules(run(EPISODE, decisions=stop, as_of=LATE))


# ---- the generator -----------------------------------------------------------------------------
def _plants(study):
    """Boundary situations the generator is meant to plant, counted from the parsed data."""
    subjects = oracle.load_study(*study)
    alerts, _ = oracle_assess(*study, DEFAULT_AS_OF)
    found = Counter()
    for s in subjects.values():
        facts, decisions = oracle.scan(s), s.decisions
        stop = oracle.discontinued_from(facts, decisions)
        starts, resumes = oracle.withhold_starts(facts, decisions), oracle.resumes(decisions)
        draw_instants = {d.at for d in s.draws}
        for e in facts.episodes:
            for when, _ in s.doses:
                if e.first.at < when <= e.start and not oracle.dose_withheld(
                    facts, decisions, stop, when
                ):
                    found["dose between collection and result, no R9"] += 1
        for when, _ in s.doses:
            found["dose at a withhold start"] += when in starts
            found["resume at a dose's instant"] += when in resumes
        for d in decisions:
            found["decision at a draw's instant"] += d.at in draw_instants
            found["resume at a withhold start"] += d.action in oracle.RESUMES and d.at in starts
            found[d.action] += 1
        found["re-elevated after a resume"] += any(
            e.start > r for e in facts.episodes for r in resumes
        )
        found["withheld by a decision, no episode"] += not facts.episodes and any(
            d.action == "withhold" for d in decisions
        )
    for a in alerts:
        decisions = subjects[a["subject_id"]].decisions
        if a["rule"] == "R10":
            found["R10 at a resume"] += a["triggered_at"] in oracle.resumes(decisions)
        if a["rule"] == "R11":
            found["R11 after a reduced resume"] += any(
                d.action == "resume_reduced_dose" and d.at <= a["triggered_at"] for d in decisions
            )
        if a["rule"] == "R3" and a["status"] == "resolved":
            stopped = any(d.action == "discontinue" for d in decisions)
            found["case closed by " + ("discontinue" if stopped else "resume")] += 1
    return found


@pytest.fixture(scope="module")
def studies():
    return {seed: generate_study(seed, 120) for seed in (7, 2026)}


def test_generator_is_deterministic_and_plain(studies, tmp_path):
    study = studies[7]
    assert len(study) == 4
    assert study == generate_study(7, 120)
    assert study != generate_study(8, 120)
    subjects_csv, doses_csv, labs_csv, decisions_csv = study
    labs = list(csv.DictReader(io.StringIO(labs_csv)))
    by_draw = {}
    for row in labs:
        assert re.fullmatch(r"\d+(\.\d+)?", row["value"]) and Fraction(row["value"]) > 0, row
        collected = parse_instant(row["collected_at"])
        key = (row["subject_id"], collected)
        by_draw.setdefault(key, set()).add(row["resulted_at"])
        if row["resulted_at"]:
            assert parse_instant(row["resulted_at"]) >= collected
    assert all(len(cells) == 1 for cells in by_draw.values())  # the same text on every row
    cells = [next(iter(c)) for c in by_draw.values()]
    assert "" in cells and any(cells)
    gaps = {
        parse_instant(c) - k[1] > timedelta(days=1)
        for k, c in ((k, next(iter(v))) for k, v in by_draw.items())
        if c
    }
    assert gaps == {True, False}  # hours and days after collection
    decisions = list(csv.DictReader(io.StringIO(decisions_csv)))
    assert {r["reviewer"] for r in decisions} == {"dr_reviewer"}
    assert all(r["reason"] for r in decisions)
    assert {r["regimen"] for r in decisions} == {"", "reduced"}
    low, high = datetime(1900, 1, 1, tzinfo=UTC), DEFAULT_AS_OF
    for seed_study in studies.values():
        for text, column in zip(
            seed_study[1:],
            ("administered_at", "collected_at", "signed_at"),
            strict=True,
        ):
            for row in csv.DictReader(io.StringIO(text)):
                for name in (column, "resulted_at"):
                    if row.get(name):
                        assert low < parse_instant(row[name]) < high, row
    paths = write_study(tmp_path, 7, 20)
    assert len(paths) == 4 and [p.name for p in paths][-1] == "decisions.csv"
    assert [p.read_text() for p in paths] == list(generate_study(7, 20))


def test_generator_emits_only_decisions_the_app_accepts(studies):
    for study in studies.values():
        subjects = oracle.load_study(*study)
        oracle.check_decisions(subjects)  # raises on a refused row
        oracle_assess(*study, DEFAULT_AS_OF)


def test_generator_reaches_every_rule_state_regimen_and_status(studies):
    kinds, states, regimens, status = Counter(), Counter(), Counter(), Counter()
    for study in studies.values():
        alerts, by_subject = oracle_assess(*study, DEFAULT_AS_OF)
        kinds.update(a["rule"] for a in alerts)
        status.update(a["status"] for a in alerts)
        states.update(s["state"] for s in by_subject.values())
        regimens.update(s["regimen"] for s in by_subject.values())
        assert oracle_alerts(*study[:3], DEFAULT_AS_OF, study[3]) == alerts
    assert set(kinds) == {f"R{n}" for n in range(1, 12)}
    assert set(states) == set(oracle.STATES)
    assert set(regimens) == {"standard", "reduced"}
    assert set(status) == {"open", "resolved"}


def test_generator_plants_the_v2_boundaries(studies):
    found = Counter()
    for study in studies.values():
        found += _plants(study)
    for situation in (
        "dose between collection and result, no R9",
        "dose at a withhold start",
        "resume at a dose's instant",
        "resume at a withhold start",
        "decision at a draw's instant",
        "re-elevated after a resume",
        "withheld by a decision, no episode",
        "R10 at a resume",
        "R11 after a reduced resume",
        "case closed by resume",
        "case closed by discontinue",
        "withhold",
        "resume_same_dose",
        "resume_reduced_dose",
        "discontinue",
    ):
        assert found[situation] > 0, situation
