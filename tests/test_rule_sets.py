"""The published rule sets of DESIGN section 3b, rule by rule with their boundaries: the
KYNAMRO label confirms 3-5× before withholding and withholds at once at ≥ 5×; FDA's 2009 DILI
guidance observes > 3× closely and stops on S1-S4, comparing strictly."""

from datetime import timedelta

from monitoring import rules

from .rulebook import day, decision, dose, draw, history, kinds, result

KYNAMRO = rules.KYNAMRO_LABEL
FDA = rules.FDA_DILI_2009


def under(rule_set, draws=(), doses=(), decisions=(), as_of=None, **kwargs):
    return rules.evaluate(
        history(draws, doses, decisions, rule_set=rule_set.name, **kwargs), as_of or day(1)
    )


def fired(assessment, kind):
    return kinds(assessment, kind)


def rule_of(assessment, kind):
    return next(f.rule.id for f in assessment.findings if f.kind == kind)


# ---- kynamro_label ------------------------------------------------------------------------


def test_k3_confirm_elevation_fires_at_3x_and_withholds_nothing():
    a = under(KYNAMRO, [draw(day(0), alt="3")], [dose(day(2))], as_of=day(3))
    assert fired(a, "confirm_elevation") == [day(0)]
    (k3,) = [f for f in a.findings if f.kind == "confirm_elevation"]
    assert k3.due_by == day(7) and k3.rule.id == "K3" and k3.severity == "high"
    assert fired(a, "withhold_dose") == [] and fired(a, "dose_while_withheld") == []
    assert a.state == rules.CLOSE_OBSERVATION and a.may_dose


def test_k3_stops_below_5x_and_a_first_draw_at_5x_withholds_at_once_with_r3_and_r5():
    below = under(KYNAMRO, [draw(day(0), alt="4.999")])
    assert fired(below, "confirm_elevation") == [day(0)] and fired(below, "withhold_dose") == []
    at_five = under(KYNAMRO, [draw(day(0), alt="5")], [dose(day(2))], as_of=day(3))
    assert fired(at_five, "confirm_elevation") == []
    assert fired(at_five, "withhold_dose") == [day(0)]
    assert fired(at_five, "severe_elevation") == [day(0)]
    assert fired(at_five, "dose_while_withheld") == [day(2)]
    assert at_five.state == rules.WITHHELD


def test_kynamro_r4_confirms_and_withholds_from_the_confirming_draws_results():
    draws = [draw(day(0), alt="3.5"), draw(day(6), alt="3", resulted_at=day(6, hours=5))]
    doses = [dose(day(3)), dose(day(6, hours=4)), dose(day(6, hours=6))]
    a = under(KYNAMRO, draws, doses, as_of=day(7))
    assert fired(a, "elevation_confirmed") == [day(6)]
    assert rule_of(a, "elevation_confirmed") == "R4"
    assert "obtain TBIL, ALP and INR" in next(
        f.explanation for f in a.findings if f.kind == "elevation_confirmed"
    )
    # Before the confirming results were known dosing went on; after, it is withheld.
    assert fired(a, "dose_while_withheld") == [day(6, hours=6)]
    assert a.state == rules.WITHHELD
    k3 = next(f for f in a.findings if f.kind == "confirm_elevation")
    assert k3.resolution and k3.case_at == day(0)  # a withheld episode: K3 joins its case


def test_k8_elevation_not_confirmed_ends_the_episode_without_r8():
    a = under(KYNAMRO, [draw(day(0), alt="3.5"), draw(day(6), alt="2.999")], as_of=day(7))
    assert fired(a, "elevation_not_confirmed") == [day(6)]
    assert rule_of(a, "elevation_not_confirmed") == "K8"
    assert fired(a, "eligible_reduced_dose") == []
    k8 = next(f for f in a.findings if f.kind == "elevation_not_confirmed")
    assert k8.severity == "low" and k8.resolution is None and k8.case_at is None
    assert a.state == rules.MONITORING


def test_kynamro_r5_on_the_confirming_draw_withholds_with_r4():
    a = under(KYNAMRO, [draw(day(0), alt="3.5"), draw(day(5), alt="6")], [dose(day(5, hours=1))])
    assert fired(a, "elevation_confirmed") == [day(5)] and fired(a, "severe_elevation") == [day(5)]
    assert fired(a, "dose_while_withheld") == [day(5, hours=1)]


def test_kynamro_r8_only_for_an_episode_that_withheld():
    draws = [draw(day(0), alt="3.5"), draw(day(5), alt="4"), draw(day(12), alt="1.5")]
    a = under(KYNAMRO, draws, as_of=day(13))
    assert fired(a, "eligible_reduced_dose") == [day(12)]
    assert fired(a, "elevation_not_confirmed") == []
    assert a.state == rules.RESTART_PENDING


def test_kynamro_has_no_r2():
    a = under(KYNAMRO, [draw(day(0), alt="0.5"), draw(day(7), alt="2")], as_of=day(8))
    assert fired(a, "weekly_monitoring") == []
    assert not KYNAMRO.has("weekly_monitoring")


def test_kynamro_refuses_a_resume_while_any_episode_is_open_even_one_withholding_nothing():
    h = history(
        [draw(day(0), alt="5.5"), draw(day(7), alt="1"), draw(day(20), alt="3.5")],
        decisions=[decision(day(8), "withhold")],
        rule_set="kynamro_label",
    )
    assert "still open" in rules.refusal(h, "resume_same_dose", day(21))
    assert rules.refusal(h, "resume_same_dose", day(19)) is None


def test_kynamro_r10_interval_is_30_days_in_the_first_year_and_91_after():
    first = dose(day(0))
    early = [draw(day(-1), alt="0.5", ast="0.5", alp="0.5", tbil="0.5"), draw(day(300), alt="2")]
    a = under(KYNAMRO, early, [first], as_of=day(300 + 32, seconds=1))
    (r10,) = [f for f in a.findings if f.kind == "lab_overdue"]
    assert r10.due_by == day(330)  # 30 days even after a peak > 1×
    assert fired(under(KYNAMRO, early, [first], as_of=day(332)), "lab_overdue") == []
    late = [early[0], draw(day(365), alt="0.5")]
    a = under(KYNAMRO, late, [first], as_of=day(365 + 93, seconds=1))
    assert [f.due_by for f in a.findings if f.kind == "lab_overdue"] == [day(456)]
    just_before = [early[0], draw(day(365, seconds=-1), alt="0.5")]
    a = under(KYNAMRO, just_before, [first], as_of=day(400))
    assert [f.due_by for f in a.findings if f.kind == "lab_overdue"] == [day(395, seconds=-1)]


def test_kynamro_r10_is_weekly_for_28_days_after_a_resume():
    draws = [draw(day(-1), alt="0.5", ast="0.5", alp="0.5", tbil="0.5")]
    draws += [draw(day(100), alt="5.5"), draw(day(107), alt="1")]
    a = under(
        KYNAMRO, draws, [dose(day(0))], [decision(day(110), "resume_same_dose")], as_of=day(120)
    )
    assert [f.due_by for f in a.findings if f.kind == "lab_overdue"] == [day(117)]


# ---- fda_dili_2009 ------------------------------------------------------------------------


def test_fda_3x_exactly_is_not_over_3x():
    a = under(FDA, [draw(day(0), alt="3")])
    assert a.findings == () and a.episodes == ()
    assert fired(under(FDA, [draw(day(0), alt="3.001")]), "close_observation") == [day(0)]


def test_f3_close_observation_withholds_nothing_and_is_due_in_72_hours():
    a = under(FDA, [draw(day(0), alt="4")], [dose(day(1))], as_of=day(2))
    (f3,) = [f for f in a.findings if f.kind == "close_observation"]
    assert f3.rule.id == "F3" and f3.due_by == day(3) and f3.case_at is None
    assert fired(a, "dose_while_withheld") == []
    assert a.state == rules.CLOSE_OBSERVATION


def test_f3_is_resolved_once_a_later_draw_with_a_peak_exists():
    a = under(FDA, [draw(day(0), alt="4"), draw(day(2), alt="3.5")], as_of=day(3))
    (f3,) = [f for f in a.findings if f.kind == "close_observation"]
    assert f3.resolution and "2026-01-07" in f3.resolution


def test_f7_repeat_overdue_after_72_hours_exactly_and_not_at_them():
    one = [draw(day(0), alt="4")]
    assert fired(under(FDA, one, as_of=day(3)), "repeat_overdue") == []
    assert fired(under(FDA, one, as_of=day(3, seconds=1)), "repeat_overdue") == [day(0)]
    repeated = one + [draw(day(3), alt="3.5")]
    assert fired(under(FDA, repeated, as_of=day(10)), "repeat_overdue") == []
    late = one + [draw(day(3, seconds=1), alt="3.5")]
    (f7,) = [f for f in under(FDA, late, as_of=day(10)).findings if f.kind == "repeat_overdue"]
    assert f7.rule.id == "F7" and f7.resolution


def test_f8_observation_ended_at_3x_exactly():
    a = under(FDA, [draw(day(0), alt="4"), draw(day(2), alt="3")], as_of=day(3))
    assert fired(a, "observation_ended") == [day(2)]
    assert rule_of(a, "observation_ended") == "F8" and a.state == rules.MONITORING


def test_fda_has_no_r2_r3_r4_r5_r7_r8_nor_cases():
    draws = [draw(day(0), alt="0.5"), draw(day(7), alt="6"), draw(day(8), alt="7")]
    a = under(FDA, draws, as_of=day(30))
    assert {f.kind for f in a.findings} <= {"close_observation", "repeat_overdue"}
    assert all(f.case_at is None for f in a.findings)


def test_f6_s1_over_8x_and_not_at_8x():
    assert fired(under(FDA, [draw(day(0), alt="8")]), "discontinue") == []
    a = under(FDA, [draw(day(0), alt="8.001")], [dose(day(1))], as_of=day(2))
    assert fired(a, "discontinue") == [day(0)] and rule_of(a, "discontinue") == "F6"
    assert "S1" in next(f.explanation for f in a.findings if f.kind == "discontinue")
    assert a.state == rules.DISCONTINUED and fired(a, "dose_while_withheld") == [day(1)]


def test_f6_s2_needs_more_than_336_hours_of_consecutive_draws_over_5x():
    run = [draw(day(0), alt="5.5"), draw(day(7), alt="6")]
    exactly = under(FDA, run + [draw(day(14), alt="5.1")], as_of=day(15))
    assert fired(exactly, "discontinue") == []
    over = under(FDA, run + [draw(day(14, seconds=1), alt="5.1")], as_of=day(15))
    assert fired(over, "discontinue") == [day(14, seconds=1)]
    broken = [draw(day(0), alt="5.5"), draw(day(7), alt="5"), draw(day(15), alt="5.5")]
    assert fired(under(FDA, broken, as_of=day(16)), "discontinue") == []


def test_f6_s3_tbil_over_2x_or_inr_over_1_5_with_a_peak_over_3x():
    assert fired(under(FDA, [draw(day(0), alt="3.5", tbil="2")]), "discontinue") == []
    assert fired(under(FDA, [draw(day(0), alt="3.5", tbil="2.01")]), "discontinue") == [day(0)]
    at_limit = draw(day(0), alt="3.5", results=(result("INR", "1.5"),))
    assert fired(under(FDA, [at_limit]), "discontinue") == []
    over = draw(day(0), alt="3.5", results=(result("INR", "1.51"),))
    assert fired(under(FDA, [over]), "discontinue") == [day(0)]
    low_peak = draw(day(0), alt="3", results=(result("INR", "2"),))
    assert fired(under(FDA, [low_peak]), "discontinue") == []


def test_f6_s4_symptoms_or_eosinophils_over_5_percent_with_a_peak_over_3x():
    assert fired(under(FDA, [draw(day(0), alt="3.1", symptoms=True)]), "discontinue") == [day(0)]
    at_limit = draw(day(0), alt="3.1", results=(result("EOS", "5"),))
    assert fired(under(FDA, [at_limit]), "discontinue") == []
    over = draw(day(0), alt="3.1", results=(result("EOS", "5.1"),))
    (f6,) = [f for f in under(FDA, [over]).findings if f.kind == "discontinue"]
    assert "S4" in f6.explanation and "eosinophilia" in f6.explanation


def test_f6_ignores_active_liver_disease():
    a = under(FDA, [draw(day(0), alt="4")], active_liver_disease=True)
    assert fired(a, "discontinue") == []
    seed = rules.evaluate(history([draw(day(0), alt="4")], active_liver_disease=True), day(1))
    assert fired(seed, "discontinue") == [day(0)]


def test_fda_r10_is_as_in_v2():
    draws = [draw(day(-1), alt="0.5", ast="0.5", alp="0.5", tbil="0.5"), draw(day(40), alt="1.5")]
    a = under(FDA, draws, [dose(day(0))], as_of=day(49, seconds=1))
    assert [f.due_by for f in a.findings if f.kind == "lab_overdue"] == [day(47)]


# ---- every set -----------------------------------------------------------------------------


def test_each_set_names_its_source_and_version_and_every_rule_has_words():
    for rule_set in rules.RULE_SETS.values():
        assert rule_set.source and rule_set.version and rule_set.title
        assert all(r.label and r.fires_when and r.action for r in rule_set.rules)
        ids = [r.id for r in rule_set.rules]
        assert len(ids) == len(set(ids))


def test_shared_rules_hold_in_every_set():
    """R1, R9 and R11 are rules v2's in every set."""
    baseline_less = [draw(day(1), alt="0.5")]
    for rule_set in rules.RULE_SETS.values():
        a = under(rule_set, baseline_less, [dose(day(0)), dose(day(7), 70)], as_of=day(8))
        assert fired(a, "missing_baseline") == [day(0)]
        assert fired(a, "dose_off_regimen") == [day(7)]
        stopped = under(
            rule_set,
            baseline_less,
            [dose(day(3))],
            [decision(day(2), "discontinue")],
            as_of=day(4),
        )
        assert fired(stopped, "dose_while_withheld") == [day(3)]
        assert stopped.state == rules.DISCONTINUED


def test_windows_compare_exactly_in_hours():
    assert FDA.repeat_window == timedelta(hours=72)
    assert KYNAMRO.repeat_window == rules.SEED.repeat_window == timedelta(hours=168)
