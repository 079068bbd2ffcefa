"""Study analysis on hand-made subjects: eDISH quadrants, the R ratio, and the arm comparison
computed by hand in the test (incidence, Wilson and Newcombe intervals, mean % change with a
t-based interval)."""

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from monitoring import rules
from monitoring.reports import analysis, intervals

DAY0 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)  # first dose
ULN = {"ALT": 40, "AST": 40, "ALP": 100, "TBIL": Fraction(1)}


def draw(day, symptoms=False, **multiples):
    """A draw `day` days after the first dose; ALT=3.5 means 3.5× ULN; LDLC=120 is mg/dL."""
    results = []
    for analyte, value in multiples.items():
        if analyte in ULN:
            results.append(
                rules.Result(analyte, Fraction(str(value)) * ULN[analyte], Fraction(ULN[analyte]))
            )
        else:
            results.append(rules.Result(analyte, Fraction(str(value))))
    at = DAY0 + timedelta(days=day) - timedelta(hours=2)
    return rules.Draw(key=(day, tuple(multiples)), collected_at=at, results=tuple(results))


def subject(subject_id, *draws, arm="standard", last_dose_day=182, dosed=True):
    return analysis.SubjectData(
        key=subject_id,
        subject_id=subject_id,
        arm=arm,
        draws=tuple(draws),
        first_dose_at=DAY0 if dosed else None,
        last_dose_at=DAY0 + timedelta(days=last_dose_day) if dosed else None,
    )


def quadrant_of(subject_data):
    (point,) = analysis.edish([subject_data])
    return point


# ---- eDISH ---------------------------------------------------------------------------------


def test_hys_law_quadrant_uses_peaks_from_different_draws():
    # ALT peaks at 4× on day 14 with normal bilirubin; bilirubin peaks at 2.5× on day 28 when
    # ALT is back to 1.5×. Neither draw alone is in the Hy's law quadrant; the peaks are.
    s = subject(
        "S1", draw(-1, ALT=0.5, TBIL=0.5), draw(14, ALT=4, TBIL=0.8), draw(28, ALT=1.5, TBIL=2.5)
    )
    point = quadrant_of(s)
    assert point.transaminase.multiple == 4 and point.transaminase.at.day == 24
    assert point.tbil.multiple == Fraction("2.5") and point.tbil.at.day == 7
    assert point.different_draws
    assert point.quadrant == analysis.HYS_LAW


def test_peak_is_the_larger_of_alt_and_ast():
    s = subject("S1", draw(7, ALT=2, AST="3.2", TBIL=1))
    point = quadrant_of(s)
    assert point.transaminase.analyte == "AST" and point.transaminase.multiple == Fraction("3.2")
    assert point.quadrant == analysis.TEMPLE


@pytest.mark.parametrize(
    "alt, tbil, expected",
    [
        ("3", "2", analysis.HYS_LAW),  # exactly 3.0× and 2.0× count, as in the rules
        ("2.999", "2", analysis.HYPERBILIRUBINEMIA),
        ("3", "1.999", analysis.TEMPLE),
        ("2.999", "1.999", analysis.NORMAL),
    ],
)
def test_quadrant_thresholds_are_inclusive_and_exact(alt, tbil, expected):
    assert quadrant_of(subject("S1", draw(7, ALT=alt, TBIL=tbil))).quadrant == expected


def test_baseline_draws_do_not_make_peaks():
    # A 5× ALT before the first dose is not drug-induced: only on-treatment draws count.
    s = subject("S1", draw(-1, ALT=5, TBIL=3), draw(7, ALT="0.8", TBIL="0.5"))
    point = quadrant_of(s)
    assert point.transaminase.multiple == Fraction("0.8")
    assert point.quadrant == analysis.NORMAL


def test_a_subject_never_dosed_or_without_on_treatment_alt_ast_is_not_plotted():
    never_dosed = subject("S1", draw(7, ALT=4, TBIL=3), dosed=False)
    only_baseline = subject("S2", draw(-1, ALT=4, TBIL=3))
    assert analysis.edish([never_dosed, only_baseline]) == []


def test_a_subject_without_on_treatment_bilirubin_has_its_own_group():
    point = quadrant_of(subject("S1", draw(7, ALT=4)))
    assert point.quadrant == analysis.NO_TBIL and point.tbil is None


def test_quadrant_membership_of_a_small_study():
    study = [
        subject("HY", draw(7, ALT=6, TBIL=3)),
        subject("TE", draw(7, ALT=3, TBIL=1)),
        subject("HB", draw(7, ALT=1, TBIL=2)),
        subject("NO", draw(7, ALT=1, TBIL=1)),
        subject("SPLIT", draw(7, AST=5, TBIL=1), draw(14, ALT=1, TBIL=2)),
    ]
    groups = analysis.by_quadrant(analysis.edish(study))
    members = {q: sorted(p.subject.subject_id for p in ps) for q, ps in groups.items()}
    assert members == {
        analysis.HYS_LAW: ["HY", "SPLIT"],
        analysis.TEMPLE: ["TE"],
        analysis.HYPERBILIRUBINEMIA: ["HB"],
        analysis.NORMAL: ["NO"],
        analysis.NO_TBIL: [],
    }


# ---- R ratio -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alt, alp, r, pattern",
    [
        ("6", "1", 6, analysis.HEPATOCELLULAR),
        ("5", "1", 5, analysis.HEPATOCELLULAR),  # R = 5 is hepatocellular
        ("4", "1", 4, analysis.MIXED),
        ("4", "2", 2, analysis.CHOLESTATIC),  # R = 2 is cholestatic
        ("1", "3", Fraction(1, 3), analysis.CHOLESTATIC),  # ALP ≥ 2× is injury too
    ],
)
def test_r_ratio_pattern_at_the_peak_alt_draw(alt, alp, r, pattern):
    s = subject("S1", draw(7, ALT=1, ALP=1, TBIL=1), draw(14, ALT=alt, ALP=alp, TBIL=1))
    point = quadrant_of(s)
    assert point.r_ratio == r
    assert point.pattern == pattern


def test_r_ratio_without_liver_injury_names_no_pattern():
    point = quadrant_of(subject("S1", draw(7, ALT=2, ALP=1, TBIL=1)))
    assert point.r_ratio == 2 and point.pattern is None
    assert "no liver injury" in point.r_note


def test_r_ratio_needs_alp_in_the_peak_alt_draw():
    s = subject("S1", draw(7, ALT=1, ALP=1, TBIL=1), draw(14, ALT=4, TBIL=1))
    point = quadrant_of(s)
    assert point.r_ratio is None and point.r_note == "no ALP in the peak ALT draw"


# ---- statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    # Student's t, two-sided 95% (t 0.975), from the published tables, for n - 1 degrees of freedom
    [(2, 12.706), (3, 4.303), (5, 2.776), (11, 2.228), (30, 2.045), (1001, 1.962)],
)
def test_mean_ci_uses_the_t_quantile_of_the_published_tables(n, expected):
    values = [0.0, 2.0] * (n // 2) + [1.0] * (n % 2)
    result = intervals.mean_ci(values)
    half = (result.ci.high - result.ci.low) / 2
    assert half / (result.sd / math.sqrt(n)) == pytest.approx(expected, abs=5e-4)


def test_wilson_interval_of_8_in_10_matches_the_textbook():
    # Newcombe (1998), Statistics in Medicine 17:857, and Wikipedia's worked example: 0.490-0.943.
    ci = intervals.wilson(8, 10)
    assert (round(ci.low, 3), round(ci.high, 3)) == (0.490, 0.943)


def test_wilson_interval_of_2_in_5_matches_the_literature():
    ci = intervals.wilson(2, 5)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.1176, 0.7693)


def test_wilson_interval_of_no_events_starts_at_zero():
    ci = intervals.wilson(0, 10)
    assert ci.low == pytest.approx(0, abs=1e-12) and ci.high == pytest.approx(0.2775, abs=1e-4)


def test_newcombe_difference_matches_newcombes_worked_example():
    # Newcombe (1998) Table II, example (a): 56/70 against 48/80, method 10: 0.0524 to 0.3339.
    ci = intervals.newcombe(56, 70, 48, 80)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.0524, 0.3339)


# ---- the arm comparison, computed by hand --------------------------------------------------


def small_study():
    """Standard: 5 subjects with on-treatment ALT/AST, 2 reach ≥ 3× (one only on AST; one at
    exactly 3.0×), plus one never dosed. Reduced: 4 subjects, 1 reaches ≥ 3×; one had 4× only
    at baseline. LDL-C baseline → last on-treatment value, by hand below."""
    return [
        subject("A1", draw(-1, ALT=1, LDLC=200), draw(14, ALT=4), draw(84, ALT=1, LDLC=150)),
        subject("A2", draw(-1, ALT=1, LDLC=100), draw(14, AST="3.0"), draw(84, ALT=1, LDLC=70)),
        subject("A3", draw(-1, ALT=1, LDLC=160), draw(14, ALT=2), draw(84, ALT=1, LDLC=128)),
        subject("A4", draw(-1, ALT=1), draw(14, ALT="2.99")),
        subject("A5", draw(-1, ALT=1), draw(14, ALT="0.5")),
        subject("A6", draw(-1, ALT=5), dosed=False),
        subject(
            "B1", draw(-1, ALT=1, LDLC=150), draw(14, ALT=6), draw(84, LDLC=135), arm="reduced"
        ),
        subject("B2", draw(-1, ALT=4, LDLC=120), draw(14, ALT=1), draw(84, LDLC=96), arm="reduced"),
        subject("B3", draw(-1, ALT=1), draw(14, ALT=1), arm="reduced"),
        subject("B4", draw(-1, ALT=1), draw(14, ALT=1), arm="reduced"),
    ]


def test_arm_comparison_on_a_small_study_computed_by_hand():
    arms, (difference,) = analysis.compare_arms(small_study(), ["standard", "reduced"])
    standard, reduced = arms

    # Incidence: A1 (4×) and A2 (AST exactly 3.0×) of the 5 dosed standard subjects with an
    # on-treatment ALT/AST; A6 was never dosed. Reduced: only B1; B2's 4× was at baseline.
    assert (standard.subjects, standard.treated) == (6, 5)
    assert (standard.incidence.events, standard.incidence.n) == (2, 5)
    assert standard.incidence.subject_ids == ("A1", "A2")
    assert (reduced.incidence.events, reduced.incidence.n) == (1, 4)

    # Wilson by hand: centre (p + z²/2n) / (1 + z²/n), half-width z√(p(1−p)/n + z²/4n²) / (…).
    z = 1.959963984540054
    p1, n1, p2, n2 = 2 / 5, 5, 1 / 4, 4

    def wilson(p, n):
        d = 1 + z * z / n
        c = (p + z * z / (2 * n)) / d
        h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
        return c - h, c + h

    l1, u1 = wilson(p1, n1)
    l2, u2 = wilson(p2, n2)
    assert standard.incidence.ci.low == pytest.approx(l1) == pytest.approx(0.11762, abs=1e-5)
    assert standard.incidence.ci.high == pytest.approx(u1) == pytest.approx(0.76928, abs=1e-5)
    assert reduced.incidence.ci.low == pytest.approx(l2)
    assert reduced.incidence.ci.high == pytest.approx(u2)

    # Newcombe's hybrid score interval of p1 − p2 = 0.15.
    assert difference.first == "standard" and difference.second == "reduced"
    assert difference.difference == pytest.approx(0.15)
    assert difference.ci.low == pytest.approx(0.15 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert difference.ci.high == pytest.approx(0.15 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    assert difference.ci.low == pytest.approx(-0.3808, abs=1e-3)
    assert difference.ci.high == pytest.approx(0.5721, abs=1e-3)

    # LDL-C: 200→150 (−25%), 100→70 (−30%), 160→128 (−20%): mean −25%, SD 5, n 3;
    # 95% CI −25 ± t(0.975, 2) · 5/√3 = −25 ± 4.302653 · 2.886751 = −25 ± 12.4207.
    ldl = standard.lipids["LDLC"].summary
    assert ldl.n == 3
    assert ldl.mean == pytest.approx(-25)
    assert ldl.sd == pytest.approx(5)
    assert ldl.ci.low == pytest.approx(-37.4207, abs=1e-4)
    assert ldl.ci.high == pytest.approx(-12.5793, abs=1e-4)
    # Reduced: 150→135 (−10%), 120→96 (−20%): mean −15%, SD 7.0711, t(0.975, 1) = 12.7062.
    ldl = reduced.lipids["LDLC"].summary
    assert ldl.mean == pytest.approx(-15)
    half = 12.706204736 * math.sqrt(50) / math.sqrt(2)
    assert ldl.ci.low == pytest.approx(-15 - half) and ldl.ci.high == pytest.approx(-15 + half)
    # No ApoB anywhere: no mean, no interval.
    assert standard.lipids["APOB"].summary.n == 0 and standard.lipids["APOB"].summary.mean is None


def test_lipid_follow_up_is_the_last_value_on_treatment():
    # Baseline is the latest value on or before the first dose (180, not 190); the follow-up is
    # the last value at most 14 days after the last dose (day 100: 120), not the later one.
    s = subject(
        "S1",
        draw(-20, LDLC=190),
        draw(-1, LDLC=180),
        draw(50, LDLC=140),
        draw(100, LDLC=120),
        draw(130, LDLC=175),
        last_dose_day=90,
    )
    baseline, value, percent, days = analysis.lipid_change(s, "LDLC")
    assert (baseline, value) == (180, 120)
    assert percent == Fraction(-100, 3)
    assert days == pytest.approx(100 - 2 / 24)
