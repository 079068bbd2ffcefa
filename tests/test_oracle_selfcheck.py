"""Hand-computed cases that check the differential-test oracle (tests/oracle.py) itself,
and that the synthetic study generator is deterministic and reaches every rule."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from tests.oracle import oracle_alerts, parse_instant
from tests.synthetic import DEFAULT_AS_OF, generate_study, write_study

SUBJECTS = "subject_id,site,sex,birth_date,arm,enrolled_on,active_liver_disease\n"
DOSES = "subject_id,administered_at,dose_mg\n"
LABS = "subject_id,collected_at,test,value,unit,uln,symptoms\n"
FIRST_DOSE = "2024-01-02T09:00:00"
BASELINE = [  # full baseline, female, everything well under 1x ULN
    ("2024-01-01T08:00:00", "ALT", "20", "U/L", ""),
    ("2024-01-01T08:00:00", "AST", "18", "U/L", ""),
    ("2024-01-01T08:00:00", "ALP", "70", "U/L", ""),
    ("2024-01-01T08:00:00", "TBIL", "0.5", "mg/dL", ""),
]
AS_OF = datetime(2024, 1, 15, tzinfo=UTC)
EARLY = datetime(2024, 1, 5, tzinfo=UTC)  # before the lab_overdue of a baseline-only history


def at(text):
    return parse_instant(text)


def run(
    labs,
    doses=(FIRST_DOSE,),
    *,
    sex="F",
    ald="false",
    as_of=AS_OF,
    baseline=True,
    maintenance_days=30,
):
    """labs: (collected_at, test, value, unit, uln[, symptoms]); returns {(rule, when, due)}."""
    rows = (list(BASELINE) if baseline else []) + list(labs)
    labs_csv = LABS + "".join(
        "P1," + ",".join(row) + ("\n" if len(row) == 6 else ",\n") for row in rows
    )
    doses_csv = DOSES + "".join(f"P1,{d},200\n" for d in doses)
    subjects_csv = SUBJECTS + f"P1,S01,{sex},1970-05-05,standard,2024-01-01,{ald}\n"
    alerts = oracle_alerts(subjects_csv, doses_csv, labs_csv, as_of, maintenance_days)
    for a in alerts:
        assert set(a) == {"subject_id", "kind", "severity", "rule", "triggered_at", "due_by"}
        assert a["triggered_at"].tzinfo is not None
    return {(a["rule"], a["triggered_at"], a["due_by"]) for a in alerts}


def rules(result):
    return sorted(r for r, _, _ in result)


def test_exactly_3x_uln_fires_withhold_dose_with_due_by_7_days():
    # female default ULN 33 U/L: 99 / 33 = 3 exactly; the repeat 30 / 33 < 3 ends the episode
    got = run(
        [
            ("2024-01-09T09:00:00", "ALT", "99", "U/L", ""),
            ("2024-01-12T09:00:00", "ALT", "30", "U/L", ""),
        ]
    )
    assert got == {
        ("R3", at("2024-01-09T09:00:00"), at("2024-01-16T09:00:00")),
        ("R8", at("2024-01-12T09:00:00"), None),
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
    assert (
        run(
            [
                ("2024-01-09T09:00:00", "LDLC", "3.42", "mmol/L", ""),
                ("2024-01-09T09:00:00", "APOB", "1.1", "g/L", ""),
            ],
            as_of=EARLY,
        )
        == set()
    )


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


@pytest.mark.parametrize(
    ("repeat", "r7"),
    [
        ("2024-01-16T09:00:00", False),  # exactly 168 h later: within 7 days
        ("2024-01-16T11:00:00+02:00", False),  # the same instant, written with an offset
        ("2024-01-16T09:00:01", True),  # 168 h + 1 s: too late, R7 stands
    ],
)
def test_repeat_exactly_7_days_later_counts_as_within(repeat, r7):
    got = run(
        [("2024-01-09T09:00:00", "ALT", "150", "U/L", ""), (repeat, "ALT", "140", "U/L", "")],
        as_of=datetime(2024, 2, 1, tzinfo=UTC),
    )
    assert ("R4", at(repeat), None) in got  # confirmation, however late it came
    assert (("R7", at("2024-01-09T09:00:00"), None) in got) is r7


def test_confirmation_overdue_depends_on_evaluation_time():
    labs = [("2024-01-09T09:00:00", "ALT", "99", "U/L", "")]
    limit = at("2024-01-16T09:00:00")
    assert "R7" not in rules(run(labs, as_of=limit))
    assert ("R7", at("2024-01-09T09:00:00"), None) in run(labs, as_of=limit + timedelta(seconds=1))


def test_severe_and_confirmed():
    got = run(
        [
            ("2024-01-09T09:00:00", "ALT", "132", "U/L", ""),  # 4x: R3
            ("2024-01-10T09:00:00", "LDLC", "150", "mg/dL", ""),  # no peak: ends nothing
            ("2024-01-12T09:00:00", "ALT", "165", "U/L", ""),  # 5x: R4 and R5
            ("2024-01-15T09:00:00", "ALT", "200", "U/L", ""),  # still open, R5 done
            ("2024-01-18T09:00:00", "ALT", "40", "U/L", ""),
        ]
    )  # < 3x: R8
    assert rules(got) == ["R3", "R4", "R5", "R8"]


def test_dose_at_the_instant_of_the_episode_draws_is_not_while_withheld():
    labs = [
        ("2024-01-09T09:00:00", "ALT", "99", "U/L", ""),
        ("2024-01-14T09:00:00", "ALT", "30", "U/L", ""),
    ]
    doses = (
        FIRST_DOSE,
        "2024-01-09T09:00:00",
        "2024-01-09T09:00:01",
        "2024-01-14T08:59:59",
        "2024-01-14T10:00:00+01:00",
        "2024-01-15T09:00:00",
    )
    got = run(labs, doses=doses)
    r9 = sorted(when for rule, when, _ in got if rule == "R9")
    assert r9 == [at("2024-01-09T09:00:01"), at("2024-01-14T08:59:59")]


def test_doses_after_discontinue_are_while_withheld_and_stop_lab_overdue():
    labs = [
        ("2024-01-09T09:00:00", "ALT", "99", "U/L", ""),
        ("2024-01-12T09:00:00", "ALT", "30", "U/L", ""),
    ]
    doses = (FIRST_DOSE, "2024-01-13T09:00:00")
    late = datetime(2024, 6, 1, tzinfo=UTC)
    assert rules(run(labs, doses=doses, ald="false", as_of=late)) == ["R10", "R3", "R8"]
    got = run(labs, doses=doses, ald="true", as_of=late)  # active liver disease: R6
    assert rules(got) == ["R3", "R6", "R8", "R9"]


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


def test_generator_is_deterministic_plain_and_reaches_every_rule(tmp_path):
    study = generate_study(7, 300)
    assert study == generate_study(7, 300)
    assert study != generate_study(8, 300)
    subjects_csv, doses_csv, labs_csv = study
    for line in labs_csv.splitlines()[1:]:
        value = line.split(",")[3]
        assert re.fullmatch(r"\d+(\.\d+)?", value) and Fraction(value) > 0, line
    alerts = oracle_alerts(*study, DEFAULT_AS_OF)
    assert set(Counter(a["rule"] for a in alerts)) == {f"R{n}" for n in range(1, 11)}
    paths = write_study(tmp_path, 7, 20)
    assert [p.read_text() for p in paths] == list(generate_study(7, 20))
