"""Hand-computed cases for the published rule sets of DESIGN.md section 3b (`kynamro_label` and
`fda_dili_2009`) in the differential-test oracle (tests/oracle.py), each rule at its boundaries,
and the synthetic generator's section 3b option (tests/synthetic.py). No database: pure stdlib.

A female subject (default ULNs: ALT 33 U/L, TBIL 1.2 mg/dL): ALT 99 = 3.0x, 99.033 = 3.001x,
132 = 4.0x, 164.967 = 4.999x, 165 = 5.0x, 264 = 8.0x, 264.033 = 8.001x; TBIL 2.4 = 2.0x."""

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests import oracle
from tests.oracle import oracle_assess, parse_instant
from tests.synthetic import DEFAULT_AS_OF, generate_study, write_study

K, FDA = "kynamro_label", "fda_dili_2009"
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
ONSET, SECOND_DRAW, THIRD_DRAW = "2024-01-09T09:00:00", "2024-01-12T09:00:00", "2024-01-16T09:00:00"
AS_OF = datetime(2024, 1, 15, tzinfo=UTC)  # no lab_overdue before it in these histories
FDA_AS_OF = datetime(2024, 1, 12, 9, tzinfo=UTC)  # exactly 72 h after ONSET: no F7 yet
LATE = datetime(2024, 6, 1, tzinfo=UTC)
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


def at(text):
    return parse_instant(text)


def alt(when, value, *, symptoms="", resulted=""):
    return (when, "ALT", value, "U/L", "", symptoms, resulted)


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


def assess(labs=(), doses=(FIRST_DOSE,), decisions=(), *, rule_set, baseline=True, **kw):
    as_of = kw.pop("as_of", FDA_AS_OF if rule_set == FDA else AS_OF)
    options = {k: kw.pop(k) for k in ("maintenance_days",) if k in kw}
    rows = (list(BASELINE) if baseline else []) + list(labs)
    alerts, states = oracle_assess(
        *texts(rows, doses, decisions, **kw), as_of, rule_set=rule_set, **options
    )
    for a in alerts:
        assert set(a) == KEYS
        assert a["status"] in ("open", "resolved")
        assert a["rule"] in oracle.RULES_OF_SET[rule_set], a
        assert (a["kind"], a["severity"]) == oracle.ALL_RULES[a["rule"]]
    assert states["P1"]["state"] in oracle.STATES_OF_SET[rule_set]
    return alerts, states["P1"]


def run(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    """{(rule, triggered_at, due_by): status}"""
    alerts, _ = assess(labs, doses, decisions, **kw)
    got = {(a["rule"], a["triggered_at"], a["due_by"]): a["status"] for a in alerts}
    assert len(got) == len(alerts), "one alert of a kind per trigger"
    return got


def rules(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    return sorted(r for r, _, _ in run(labs, doses, decisions, **kw))


def state(labs=(), doses=(FIRST_DOSE,), decisions=(), **kw):
    return assess(labs, doses, decisions, **kw)[1]["state"]


def r9(labs, doses, decisions=(), **kw):
    return sorted(w for (r, w, _) in run(labs, doses, decisions, **kw) if r == "R9")


def refused(labs=(), decisions=(), **kw):
    with pytest.raises(ValueError, match=r"decisions line \d+: action: P1: refused") as info:
        assess(labs, decisions=decisions, **kw)
    return str(info.value)


def test_unknown_rule_set_is_refused_and_seed_is_the_default():
    with pytest.raises(ValueError, match="rule set"):
        assess([alt(ONSET, "99")], rule_set="fda")
    study = texts(BASELINE + [alt(ONSET, "99"), alt(SECOND_DRAW, "60")])
    assert oracle_assess(*study, LATE) == oracle_assess(*study, LATE, rule_set="seed")


def test_inr_and_eosinophils_parse_without_a_uln_and_take_no_part_outside_fda():
    labs = [
        alt(ONSET, "99.033"),
        (ONSET, "INR", "2.0", "{INR}", "1.1"),  # AMBIGUOUS reading: a given ULN is ignored
        (ONSET, "EOS", "9", "%", ""),
    ]
    assert rules(labs, rule_set="seed") == ["R3"]
    assert rules(labs, rule_set=K) == ["K3"]
    assert rules(labs, rule_set=FDA) == ["F3", "F6"]
    with pytest.raises(ValueError):  # INR has one unit
        assess([(ONSET, "INR", "1.0", "ratio", "")], rule_set=FDA)


# ---- kynamro_label -----------------------------------------------------------------------------
def test_k3_confirm_elevation_fires_at_3x_and_withholds_nothing():
    onset = [alt(ONSET, "99", resulted="2024-01-09T15:00:00")]  # exactly 3.0x
    assert run(onset, rule_set=K) == {("K3", at(ONSET), at(ONSET) + 7 * DAY): "open"}
    # dosing continues until confirmed: no dose is withheld, before or after the result
    doses = (FIRST_DOSE, "2024-01-09T15:00:00", "2024-01-09T15:00:01", "2024-01-12T09:00:00")
    assert r9(onset, doses, rule_set=K) == []
    assert state(onset, doses, rule_set=K) == "close_observation"
    # 2.999x starts no episode, and kynamro_label has no R2
    assert run([alt(ONSET, "98.967")], rule_set=K) == {}
    assert state([alt(ONSET, "98.967")], rule_set=K) == "weekly_monitoring"
    # just under 5x is still K3, not R3
    assert rules([alt(ONSET, "164.967")], rule_set=K) == ["K3"]


def test_k3_confirmed_by_the_next_draw_fires_r4_and_withholds_from_its_result():
    labs = [
        alt(ONSET, "132"),  # 4x: K3
        alt(SECOND_DRAW, "99", resulted="2024-01-13T09:00:00"),  # 3.0x confirms: R4
    ]
    got = run(labs, rule_set=K)
    assert got == {
        ("K3", at(ONSET), at(ONSET) + 7 * DAY): "resolved",  # its next draw exists
        ("R4", at(SECOND_DRAW), None): "open",
    }
    doses = (
        FIRST_DOSE,
        "2024-01-10T09:00:00",  # during K3: dosing continues
        "2024-01-12T12:00:00",  # confirmed draw collected, not yet resulted: not withheld
        "2024-01-13T09:00:00",  # exactly the withhold start: not after it
        "2024-01-13T09:00:01",  # after it: R9
    )
    assert r9(labs, doses, rule_set=K) == [at("2024-01-13T09:00:01")]
    assert state(labs, rule_set=K) == "withheld"
    # the episode ends: R8 (it was withheld); nobody decided: restart_pending
    ended = [*labs, alt(THIRD_DRAW, "40")]
    assert run(ended, rule_set=K)[("R8", at(THIRD_DRAW), None)] == "open"
    assert "K8" not in rules(ended, rule_set=K)
    assert state(ended, rule_set=K) == "restart_pending"
    # a resume after the end closes the case: K3, R4, R8 all resolved
    resume = [("2024-01-17T09:00:00", "resume_same_dose")]
    assert set(run(ended, decisions=resume, rule_set=K).values()) == {"resolved"}
    assert state(ended, decisions=resume, rule_set=K) == "weekly_monitoring"  # 40/33 > 1x


def test_k8_elevation_not_confirmed_when_the_next_draw_is_below_3x_and_no_r8():
    labs = [alt(ONSET, "99"), alt(SECOND_DRAW, "98.967")]  # 3.0x, then 2.999x
    assert run(labs, rule_set=K) == {
        ("K3", at(ONSET), at(ONSET) + 7 * DAY): "resolved",
        ("K8", at(SECOND_DRAW), None): "open",  # low, open until acknowledged
    }
    assert state(labs, rule_set=K) == "weekly_monitoring"  # never withheld, 2.999x > 1x
    assert r9(labs, (FIRST_DOSE, "2024-01-10T09:00:00"), rule_set=K) == []
    # nothing to resume: the subject was never withheld
    assert "not withheld" in refused(
        labs, [("2024-01-13T09:00:00", "resume_same_dose")], rule_set=K
    )
    # not a case: a discontinue decision does not resolve K8
    stop = [("2024-01-13T09:00:00", "discontinue")]
    assert run(labs, decisions=stop, rule_set=K)[("K8", at(SECOND_DRAW), None)] == "open"
    # a draw without a peak in between is not "the next draw with a peak"
    lipid = ("2024-01-09T10:00:00", "LDLC", "150", "mg/dL", "")
    assert rules([labs[0], lipid, labs[1]], rule_set=K) == ["K3", "K8"]


def test_kynamro_5x_first_draw_fires_r3_and_r5_and_withholds_at_its_result():
    labs = [alt(ONSET, "165", resulted="2024-01-10T09:00:00")]  # exactly 5.0x
    assert run(labs, rule_set=K) == {
        ("R3", at(ONSET), at(ONSET) + 7 * DAY): "open",
        ("R5", at(ONSET), None): "open",
    }
    doses = (FIRST_DOSE, "2024-01-09T12:00:00", "2024-01-10T09:00:00", "2024-01-10T09:00:01")
    assert r9(labs, doses, rule_set=K) == [at("2024-01-10T09:00:01")]
    assert state(labs, rule_set=K) == "withheld"
    # the next draw >= 3x confirms (R4 as in v2), < 3x ends it with R8, never K8
    confirmed = [*labs, alt(SECOND_DRAW, "100"), alt(THIRD_DRAW, "20")]
    assert rules(confirmed, rule_set=K) == ["R3", "R4", "R5", "R8"]
    assert rules([*labs, alt(SECOND_DRAW, "20")], rule_set=K) == ["R3", "R5", "R8"]


def test_kynamro_r5_fires_on_the_first_5x_draw_of_any_episode():
    # K3 at 4x, confirmed at 5x: R4 and R5 on the confirming draw, whose result withholds
    labs = [alt(ONSET, "132"), alt(SECOND_DRAW, "165", resulted="2024-01-12T18:00:00")]
    assert rules(labs, rule_set=K) == ["K3", "R4", "R5"]
    doses = (FIRST_DOSE, "2024-01-12T18:00:00", "2024-01-12T18:00:01")
    assert r9(labs, doses, rule_set=K) == [at("2024-01-12T18:00:01")]
    # K3 at 4x, R4 at 3.6x, then the first >= 5x draw: R5 there, once
    later = [
        alt(ONSET, "132"),
        alt(SECOND_DRAW, "118.8"),
        alt(THIRD_DRAW, "165"),
        alt("2024-01-20T09:00:00", "200"),
    ]
    got = run(later, rule_set=K, as_of=datetime(2024, 1, 21, tzinfo=UTC))
    assert sorted((r, w) for r, w, _ in got) == [
        ("K3", at(ONSET)),
        ("R4", at(SECOND_DRAW)),
        ("R5", at(THIRD_DRAW)),
    ]


def test_kynamro_resume_is_refused_while_any_episode_is_open_withholding_or_not():
    hold = ("2024-01-05T09:00:00", "withhold")
    k3 = [alt(ONSET, "99"), alt(SECOND_DRAW, "40")]  # never confirmed: withholds nothing
    # during the open (unwithholding) episode: refused, up to its ending draw's instant
    for signed in ("2024-01-10T09:00:00", SECOND_DRAW):
        message = refused(k3, [hold, (signed, "resume_same_dose")], rule_set=K)
        assert "episode is open" in message
    # after it ended: accepted (withheld by the decision)
    resumed = [hold, ("2024-01-12T09:00:01", "resume_same_dose")]
    assert state(k3, decisions=resumed, rule_set=K) == "weekly_monitoring"
    # before the first draw's result the episode is not open yet (section 3's "open at t")
    before = [alt(ONSET, "99", resulted="2024-01-09T12:00:00"), k3[1]]
    ok = [hold, ("2024-01-09T11:00:00", "resume_same_dose")]
    assert state(before, decisions=ok, rule_set=K) == "weekly_monitoring"


def test_kynamro_a_case_is_only_a_withheld_episodes_alerts():
    # an unconfirmed episode with no repeat: K3 and R7 stay open even after a discontinue
    # decision (no case to close), and K3 is only resolved by the episode's next draw
    stop = [("2024-01-20T09:00:00", "discontinue")]
    got = run([alt(ONSET, "99")], decisions=stop, rule_set=K, as_of=LATE)
    assert got == {
        ("K3", at(ONSET), at(ONSET) + 7 * DAY): "open",
        ("R7", at(ONSET), None): "open",
    }
    # a withheld episode: the discontinue decision closes the case, K3 included
    labs = [alt(ONSET, "99"), alt("2024-01-18T09:00:00", "100")]  # late confirmation
    got = run(labs, decisions=stop, rule_set=K, as_of=LATE)
    assert got == {
        ("K3", at(ONSET), at(ONSET) + 7 * DAY): "resolved",
        ("R4", at("2024-01-18T09:00:00"), None): "resolved",
        ("R7", at(ONSET), None): "resolved",
    }


def test_kynamro_r7_confirmation_overdue_as_in_v2():
    labs = [alt(ONSET, "99")]
    limit = at(ONSET) + 7 * DAY
    assert "R7" not in rules(labs, rule_set=K, as_of=limit)
    assert run(labs, rule_set=K, as_of=limit + SECOND)[("R7", at(ONSET), None)] == "open"
    # a repeat at exactly 168 h is within; 168 h + 1 s is late: R7, resolved by it
    for repeat, r7 in (("2024-01-16T09:00:00", False), ("2024-01-16T09:00:01", True)):
        got = run([*labs, alt(repeat, "40")], rule_set=K, as_of=LATE)
        assert (("R7", at(ONSET), None) in got) == r7
        assert got.get(("R7", at(ONSET), None), "resolved") == "resolved"


def test_kynamro_r6_as_in_v2_at_3x_with_symptoms_tbil_or_liver_disease():
    symptoms = [alt(ONSET, "99", symptoms="true")]
    assert rules(symptoms, rule_set=K) == ["K3", "R6"]
    assert state(symptoms, rule_set=K) == "discontinued"
    tbil = [alt(ONSET, "99"), (ONSET, "TBIL", "2.4", "mg/dL", "")]  # exactly 2.0x
    assert rules(tbil, rule_set=K) == ["K3", "R6"]
    assert rules([alt(ONSET, "99")], ald="true", rule_set=K) == ["K3", "R6"]
    # a discontinue decision resolves it
    stop = [("2024-01-10T09:00:00", "discontinue")]
    assert run(symptoms, decisions=stop, rule_set=K)[("R6", at(ONSET), None)] == "resolved"


def test_kynamro_close_observation_unless_some_withhold_start_is_unresumed():
    k3 = [alt(ONSET, "99")]
    assert state(k3, rule_set=K) == "close_observation"
    hold = ("2024-01-05T09:00:00", "withhold")
    assert state(k3, decisions=[hold], rule_set=K) == "withheld"
    resumed = [hold, ("2024-01-06T09:00:00", "resume_same_dose")]
    assert state(k3, decisions=resumed, rule_set=K) == "close_observation"
    # an earlier withheld episode never resumed: withheld
    two = [alt("2024-01-04T09:00:00", "165"), alt("2024-01-06T09:00:00", "20"), *k3]
    assert state(two, rule_set=K) == "withheld"
    # discontinued wins
    stop = [("2024-01-10T09:00:00", "discontinue")]
    assert state(k3, decisions=stop, rule_set=K) == "discontinued"


def test_kynamro_restart_pending_reads_the_last_withheld_episode():
    withheld = [alt("2024-01-04T09:00:00", "165"), alt("2024-01-06T09:00:00", "20")]
    unconfirmed = [alt(ONSET, "99"), alt(SECOND_DRAW, "20")]
    assert state(withheld + unconfirmed, rule_set=K) == "restart_pending"
    # a withhold signed after the last withheld episode's ending draw: withheld
    hold = [("2024-01-07T09:00:00", "withhold")]
    assert state(withheld + unconfirmed, decisions=hold, rule_set=K) == "withheld"
    # only an unwithheld episode and a withhold decision: withheld, never restart_pending
    hold = [("2024-01-05T09:00:00", "withhold")]
    assert state(unconfirmed, decisions=hold, rule_set=K) == "withheld"


def test_kynamro_r10_interval_is_30_days_in_the_first_year():
    first = at(FIRST_DOSE)
    for offset in (DAY, 365 * DAY - SECOND):
        reference = first + offset  # peak 1.5x: "peak > 1x" does not apply
        labs = [alt(reference.isoformat(), "49.5")]
        limit = reference + 32 * DAY
        assert "R10" not in rules(labs, rule_set=K, as_of=limit)
        got = run(labs, rule_set=K, as_of=limit + SECOND)
        assert got[("R10", reference, reference + 30 * DAY)] == "open"
        # the study's maintenance interval does not apply either
        got = run(labs, rule_set=K, as_of=limit + SECOND, maintenance_days=14)
        assert ("R10", reference, reference + 30 * DAY) in got
    # AMBIGUOUS reading: v2's 7 days in the first 28 days after the first dose is replaced
    only_baseline = run([], rule_set=K, as_of=datetime(2024, 1, 15, tzinfo=UTC))
    assert only_baseline == {}


def test_kynamro_r10_interval_is_91_days_after_a_year():
    first = at(FIRST_DOSE)
    reference = first + 365 * DAY  # exactly a year after the first dose: 91 days
    labs = [alt(reference.isoformat(), "20")]
    limit = reference + 93 * DAY
    assert "R10" not in rules(labs, rule_set=K, as_of=limit)
    got = run(labs, rule_set=K, as_of=limit + SECOND)
    assert got == {("R10", reference, reference + 91 * DAY): "open"}
    # seed: 30 days there
    assert ("R10", reference, reference + 30 * DAY) in run(labs, rule_set="seed", as_of=limit)


def test_kynamro_r10_interval_is_7_days_within_28_days_of_the_latest_resume():
    labs = [alt(ONSET, "165"), alt(SECOND_DRAW, "20")]
    resume = "2025-02-01T09:00:00"  # over a year after the first dose
    decisions = [(resume, "resume_same_dose")]
    got = run(labs, decisions=decisions, rule_set=K, as_of=datetime(2025, 6, 1, tzinfo=UTC))
    assert ("R10", at(resume), at(resume) + 7 * DAY) in got
    # a draw 28 days after the resume: a year after the first dose -> 91; 1 s less -> 7
    for offset, days in ((28 * DAY, 91), (28 * DAY - SECOND, 7)):
        draw = at(resume) + offset
        with_draw = [*labs, alt(draw.isoformat(), "20")]
        got = run(
            with_draw, decisions=decisions, rule_set=K, as_of=datetime(2025, 9, 1, tzinfo=UTC)
        )
        assert [k for k in got if k[0] == "R10"] == [("R10", draw, draw + days * DAY)]


# ---- fda_dili_2009 -----------------------------------------------------------------------------
def test_fda_3x_exactly_is_not_over_3x():
    assert run([alt(ONSET, "99")], rule_set=FDA) == {}
    assert state([alt(ONSET, "99")], rule_set=FDA) == "weekly_monitoring"
    got = run([alt(ONSET, "99.033")], rule_set=FDA)  # 3.001x
    assert got == {("F3", at(ONSET), at(ONSET) + timedelta(hours=72)): "open"}
    assert state([alt(ONSET, "99.033")], rule_set=FDA) == "close_observation"


def test_fda_episode_ends_at_exactly_3x_with_f8_observation_ended():
    labs = [alt(ONSET, "132"), alt(SECOND_DRAW, "132"), alt(THIRD_DRAW, "99")]
    got = run(labs, rule_set=FDA, as_of=datetime(2024, 1, 17, tzinfo=UTC))
    assert got == {
        ("F3", at(ONSET), at(ONSET) + timedelta(hours=72)): "resolved",
        ("F8", at(THIRD_DRAW), None): "open",  # low, open until acknowledged
    }
    assert state(labs, rule_set=FDA) == "weekly_monitoring"
    # the next draw > 3x opens a new episode (a new F3)
    again = [*labs, alt("2024-01-17T09:00:00", "99.033")]
    assert rules(again, rule_set=FDA, as_of=datetime(2024, 1, 18, tzinfo=UTC)) == [
        "F3",
        "F3",
        "F8",
    ]
    # no R2, R3, R4, R5, R8 in the set
    assert rules([alt(ONSET, "60")], rule_set=FDA) == []


def test_fda_f3_close_observation_is_resolved_once_a_later_draw_with_a_peak_exists():
    onset = alt(ONSET, "165")
    key = ("F3", at(ONSET), at(ONSET) + timedelta(hours=72))
    lipid = ("2024-01-10T09:00:00", "LDLC", "150", "mg/dL", "")
    assert run([onset, lipid], rule_set=FDA)[key] == "open"
    # a later draw still > 3x resolves it (the episode goes on)
    assert run([onset, alt("2024-01-10T09:00:00", "140")], rule_set=FDA)[key] == "resolved"


def test_fda_f7_repeat_overdue_has_a_72_hour_window():
    onset = alt(ONSET, "132")
    limit = at(ONSET) + timedelta(hours=72)
    assert "F7" not in rules([onset], rule_set=FDA, as_of=limit)
    got = run([onset], rule_set=FDA, as_of=limit + SECOND)
    assert got[("F7", at(ONSET), None)] == "open"
    assert "R7" not in rules([onset], rule_set=FDA, as_of=LATE)
    for repeat, f7 in ((limit, False), (limit + SECOND, True)):
        got = run([onset, alt(repeat.isoformat(), "40")], rule_set=FDA, as_of=AS_OF)
        assert (("F7", at(ONSET), None) in got) == f7
        assert got.get(("F7", at(ONSET), None), "resolved") == "resolved"


def test_fda_episode_withholds_nothing_and_has_no_case():
    labs = [alt(ONSET, "132"), alt(SECOND_DRAW, "40")]
    doses = (FIRST_DOSE, "2024-01-09T09:00:01", "2024-01-10T09:00:00", "2024-01-13T09:00:00")
    assert r9(labs, doses, rule_set=FDA) == []
    assert "not withheld" in refused(
        labs, [("2024-01-13T09:00:00", "resume_same_dose")], rule_set=FDA
    )
    # a withhold decision withholds; a resume while the episode is open is refused (AMBIGUOUS
    # reading), after it ended accepted; the resume resolves nothing (no case)
    hold = ("2024-01-09T10:00:00", "withhold")
    assert r9(labs, doses, [hold], rule_set=FDA) == [at(d) for d in doses[2:]]
    assert "episode is open" in refused(
        labs, [hold, ("2024-01-11T09:00:00", "resume_same_dose")], rule_set=FDA
    )
    resumed = [hold, ("2024-01-13T09:00:00", "resume_same_dose")]
    assert r9(labs, doses, resumed, rule_set=FDA) == [at("2024-01-10T09:00:00")]
    got = run(labs, doses, resumed, rule_set=FDA)
    assert got[("F8", at(SECOND_DRAW), None)] == "open"
    assert state(labs, doses, resumed, rule_set=FDA) == "weekly_monitoring"


def test_fda_has_no_restart_pending_an_unresumed_withhold_is_withheld():
    labs = [alt(ONSET, "132"), alt(SECOND_DRAW, "20")]
    hold = [("2024-01-09T10:00:00", "withhold")]
    assert state(labs, decisions=hold, rule_set=FDA) == "withheld"  # AMBIGUOUS reading
    assert state(labs[:1], decisions=hold, rule_set=FDA) == "withheld"  # open, unresumed
    assert state(labs, rule_set=FDA) == "dosing"


def test_f6_s1_peak_over_8x():
    assert rules([alt(ONSET, "264")], rule_set=FDA) == ["F3"]  # exactly 8.0x
    labs = [alt(ONSET, "264.033", resulted="2024-01-09T12:00:00")]  # 8.001x
    assert run(labs, rule_set=FDA) == {
        ("F3", at(ONSET), at(ONSET) + timedelta(hours=72)): "open",
        ("F6", at(ONSET), None): "open",
    }
    assert state(labs, rule_set=FDA) == "discontinued"
    doses = (FIRST_DOSE, "2024-01-09T12:00:00", "2024-01-09T12:00:01")
    assert r9(labs, doses, rule_set=FDA) == [at("2024-01-09T12:00:01")]
    stop = [("2024-01-10T09:00:00", "discontinue")]
    assert run(labs, decisions=stop, rule_set=FDA)[("F6", at(ONSET), None)] == "resolved"
    # no R10 once discontinued; a resume is refused
    assert "R10" not in rules(labs, rule_set=FDA, as_of=LATE)
    hold = [("2024-01-09T11:00:00", "withhold"), ("2024-01-13T09:00:00", "resume_same_dose")]
    assert "discontinued" in refused([*labs, alt(SECOND_DRAW, "20")], hold, rule_set=FDA)


def test_f6_s2_needs_more_than_336_hours_of_consecutive_draws_over_5x():
    d0 = at("2024-01-03T09:00:00")
    one_week = (d0 + 7 * DAY).isoformat()

    def run_of(later, *middle):
        labs = [alt(d0.isoformat(), "198"), *middle, alt(later.isoformat(), "171.6")]  # 6x, 5.2x
        got = run(labs, rule_set=FDA, as_of=datetime(2024, 1, 18, tzinfo=UTC))
        return sorted(w for r, w, _ in got if r == "F6")

    exactly, past = d0 + timedelta(hours=336), d0 + timedelta(hours=336, seconds=1)
    assert run_of(exactly, alt(one_week, "181.5")) == []  # 336 h is not more than 336 h
    assert run_of(past, alt(one_week, "181.5")) == [past]
    # a draw without a peak neither breaks nor joins the run
    lipid = (one_week, "LDLC", "150", "mg/dL", "")
    assert run_of(past, lipid) == [past]
    # a draw at exactly 5.0x (not > 5x) breaks it; so does one at 4x
    assert run_of(past, alt(one_week, "165")) == []
    assert run_of(past, alt(one_week, "132")) == []
    # the run's first draw, not the episode's: 4x at d0 - 1 day does not start it
    early = [alt((d0 - DAY).isoformat(), "132"), alt(d0.isoformat(), "198")]
    labs = [*early, alt((d0 + timedelta(hours=336)).isoformat(), "171.6")]
    assert "F6" not in rules(labs, rule_set=FDA, as_of=datetime(2024, 1, 18, tzinfo=UTC))


def test_f6_s3_inr_exactly_1_5_is_not_over():
    def f6(peak, *extra):
        return "F6" in rules([alt(ONSET, peak), *extra], rule_set=FDA)

    assert not f6("99.033", (ONSET, "INR", "1.5", "{INR}", ""))
    assert f6("99.033", (ONSET, "INR", "1.51", "{INR}", ""))
    assert not f6("99", (ONSET, "INR", "2.5", "{INR}", ""))  # peak 3.0x is not > 3x
    # TBIL exactly 2.0x is not > 2x; 2.41 mg/dL is
    assert not f6("99.033", (ONSET, "TBIL", "2.4", "mg/dL", ""))
    assert f6("99.033", (ONSET, "TBIL", "2.41", "mg/dL", ""))
    assert f6("99.033", (ONSET, "TBIL", "41.2", "umol/L", ""))  # 2.409 mg/dL
    # "in the same draw": an INR one second later is another draw
    assert not f6("99.033", ("2024-01-09T09:00:01", "INR", "2.0", "{INR}", ""))


def test_f6_s4_symptoms_or_eosinophils_over_5_percent():
    def f6(peak, *extra, symptoms=""):
        return "F6" in rules([alt(ONSET, peak, symptoms=symptoms), *extra], rule_set=FDA)

    assert not f6("99.033", (ONSET, "EOS", "5", "%", ""))
    assert f6("99.033", (ONSET, "EOS", "5.1", "%", ""))
    assert f6("99.033", symptoms="true")
    assert not f6("99", symptoms="true")  # 3.0x
    assert not f6("99", (ONSET, "EOS", "9", "%", ""))


def test_f6_ignores_active_liver_disease_and_fires_once():
    assert rules([alt(ONSET, "132")], ald="true", rule_set=FDA) == ["F3"]
    labs = [alt(ONSET, "264.033"), alt(SECOND_DRAW, "300")]
    assert rules(labs, rule_set=FDA) == ["F3", "F6"]  # the subject's first draw only


def test_fda_r10_as_in_v2():
    first = at(FIRST_DOSE)
    reference = first + 60 * DAY
    for value, days in (("33", 30), ("34", 7)):  # 1.0x: maintenance; > 1x: 7 days
        labs = [alt(reference.isoformat(), value)]
        got = run(labs, rule_set=FDA, as_of=reference + (days + 2) * DAY + SECOND)
        assert got == {("R10", reference, reference + days * DAY): "open"}
        assert run(labs, rule_set=FDA, as_of=reference + (days + 2) * DAY) == {}
    got = run([alt(reference.isoformat(), "20")], rule_set=FDA, as_of=LATE, maintenance_days=14)
    assert ("R10", reference, reference + 14 * DAY) in got


# ---- the generator -----------------------------------------------------------------------------
SEEDS = (7, 2026)


@pytest.fixture(scope="module")
def studies():
    return {
        (rule_set, seed): generate_study(seed, 120, rule_set=rule_set)
        for rule_set in (K, FDA)
        for seed in SEEDS
    }


def test_generator_is_deterministic_per_seed_and_keeps_the_seed_output(studies, tmp_path):
    for rule_set in (K, FDA):
        assert studies[(rule_set, 7)] == generate_study(7, 120, rule_set=rule_set)
        assert studies[(rule_set, 7)] != studies[(rule_set, 2026)]
    assert studies[(K, 7)] != studies[(FDA, 7)]
    assert generate_study(7, 30) == generate_study(7, 30, rule_set="seed")
    assert "INR" not in generate_study(7, 30)[2]
    paths = write_study(tmp_path, 7, 20, rule_set=FDA)
    assert [p.read_text() for p in paths] == list(generate_study(7, 20, rule_set=FDA))
    with pytest.raises(ValueError):
        generate_study(7, 5, rule_set="fda")


def test_generator_writes_inr_and_eosinophils_plainly(studies):
    low, high = datetime(1900, 1, 1, tzinfo=UTC), DEFAULT_AS_OF
    for study in studies.values():
        labs = list(csv.DictReader(io.StringIO(study[2])))
        units = {(r["test"], r["unit"]) for r in labs if r["test"] in ("INR", "EOS")}
        assert units == {("INR", "{INR}"), ("EOS", "%")}
        assert all(r["uln"] == "" for r in labs if r["test"] in ("INR", "EOS"))
        for text, column in zip(
            study[1:], ("administered_at", "collected_at", "signed_at"), strict=True
        ):
            for row in csv.DictReader(io.StringIO(text)):
                for name in (column, "resulted_at"):
                    if row.get(name):
                        assert low < parse_instant(row[name]) < high, row


def test_generator_emits_only_decisions_the_set_accepts(studies):
    for (rule_set, _), study in studies.items():
        oracle.check_decisions(oracle.load_study(*study), rule_set=rule_set)
        decisions = list(csv.DictReader(io.StringIO(study[3])))
        assert {r["action"] for r in decisions} >= {"withhold", "resume_same_dose", "discontinue"}


def test_generator_reaches_every_kind_state_and_status_of_each_set(studies):
    for rule_set in (K, FDA):
        kinds, states, status = Counter(), Counter(), Counter()
        for seed in SEEDS:
            alerts, by_subject = oracle_assess(
                *studies[(rule_set, seed)], DEFAULT_AS_OF, rule_set=rule_set
            )
            kinds.update(a["rule"] for a in alerts)
            status.update(a["status"] for a in alerts)
            states.update(s["state"] for s in by_subject.values())
        assert set(kinds) == set(oracle.RULES_OF_SET[rule_set]), rule_set
        assert set(states) == set(oracle.STATES_OF_SET[rule_set]), rule_set
        assert "close_observation" in states
        assert set(status) == {"open", "resolved"}


def _plants(rule_set, study):
    """Section 3b boundary situations, counted from the parsed data and the oracle's alerts."""
    subjects = oracle.load_study(*study)
    alerts, _ = oracle_assess(*study, DEFAULT_AS_OF, rule_set=rule_set)
    found = Counter()
    hours_336 = timedelta(hours=336)
    for s in subjects.values():
        facts = oracle.scan(s, rule_set)
        peaked = facts.peaked
        for d in peaked:
            p = d.peak
            found["peak 3.0x"] += p == 3
            found["peak 8.0x"] += p == 8
            found["peak just above 3x"] += 3 < p <= oracle.Fraction("3.01")
            found["peak just above 8x"] += 8 < p <= oracle.Fraction("8.01")
            if p > 3:
                found["INR 1.5 over 3x"] += d.inr == oracle.Fraction("1.5")
                found["INR > 1.5 over 3x"] += d.inr is not None and d.inr > oracle.Fraction("1.5")
                found["EOS 5 over 3x"] += d.eosinophils == 5
                found["EOS > 5 over 3x"] += d.eosinophils is not None and d.eosinophils > 5
                found["TBIL 2x over 3x"] += d.tbil_multiple == 2
                found["TBIL > 2x over 3x"] += d.tbil_multiple is not None and d.tbil_multiple > 2
                found["symptoms over 3x"] += d.symptoms
        for i, d in enumerate(peaked):  # runs > 5x whose first is 336 h (+1 s) before a later one
            j = i
            while d.peak > 5 and j > 0 and peaked[j - 1].peak > 5:
                j -= 1
            gap = d.at - peaked[j].at
            found["run > 5x over exactly 336 h"] += gap == hours_336
            found["run > 5x over 336 h + 1 s"] += gap == hours_336 + timedelta(seconds=1)
        for e in facts.episodes:
            if e.first.peak >= 5:
                found["first draw >= 5x"] += 1
                continue
            later = [d for d in peaked if d.at > e.first.at]
            if later:  # the episode's next draw with a peak goes on (confirms) or ends it
                confirmed = later[0] is not e.end
                found[f"3-5x first draw {'confirmed' if confirmed else 'not confirmed'}"] += 1
        found["F6 " + "+".join(facts.criteria)] += facts.r6 is not None and rule_set == FDA
        if s.doses and peaked:  # the last draw with a peak: R10's reference (no later resume)
            after = peaked[-1].at - s.doses[0][0]
            year = timedelta(days=365)
            found["last draw 365 d after the first dose"] += after == year
            found["last draw 365 d - 1 s after the first dose"] += after == year - SECOND
    for a in alerts:
        if a["rule"] == "R10":
            interval = a["due_by"] - a["triggered_at"]
            found[f"R10 at {interval.days} days"] += 1
    return found


def test_generator_plants_the_section_3b_boundaries(studies):
    for rule_set in (K, FDA):
        found = Counter()
        for seed in SEEDS:
            found += _plants(rule_set, studies[(rule_set, seed)])
        wanted = [
            "peak 3.0x",
            "peak 8.0x",
            "peak just above 3x",
            "peak just above 8x",
            "INR 1.5 over 3x",
            "INR > 1.5 over 3x",
            "EOS 5 over 3x",
            "EOS > 5 over 3x",
            "TBIL 2x over 3x",
            "TBIL > 2x over 3x",
            "symptoms over 3x",
            "run > 5x over exactly 336 h",
            "run > 5x over 336 h + 1 s",
            "first draw >= 5x",
            "3-5x first draw confirmed",
            "3-5x first draw not confirmed",
        ]
        if rule_set == K:
            wanted += ["last draw 365 d after the first dose"]
            wanted += ["last draw 365 d - 1 s after the first dose"]
            wanted += ["R10 at 91 days", "R10 at 30 days", "R10 at 7 days"]
        else:
            wanted += ["F6 S1", "F6 S2", "F6 S3", "F6 S4"]
        missing = [w for w in wanted if not found[w]]
        assert missing == [], (rule_set, missing, found)
