"""The rule table of DESIGN.md section 3, one rule at a time, boundaries included."""

from decimal import Decimal

from monitoring import rules

from .rulebook import baseline, day, dose, draw, evaluate, kinds, result


def fired(assessment, kind):
    return kinds(assessment, kind)


# ---- peaks and units ----------------------------------------------------------------------


def test_peak_is_the_larger_of_alt_and_ast_multiples():
    d = draw(day(0), alt="1.5", ast="2.5")
    multiple, res = d.peak()
    assert multiple == Decimal("2.5") and res.analyte == "AST"


def test_draw_with_only_lipids_has_no_peak_and_fires_nothing():
    lipids = draw(day(3), results=(result("LDLC", 130), result("APOB", 90)))
    assessment = evaluate([lipids], as_of=day(4))
    assert lipids.peak() is None
    assert assessment.findings == ()
    assert assessment.peaks == {}


def test_alt_in_ukat_per_litre_converts_exactly_to_three_times_uln():
    # 2.05 µkat/L × 60 = 123 U/L = 3.0 × 41 U/L (male default).
    d = rules.Draw("k", day(0), (result("ALT", "2.05", "ukat/L"),))
    assert d.peak()[0] == 3
    assert fired(evaluate([d]), "withhold_dose") == [day(0)]


def test_reported_uln_in_si_units_is_converted_like_the_value():
    # 2.04 / 0.68 µkat/L is exactly 3×, whatever the default ULN says.
    d = rules.Draw("k", day(0), (result("ALT", "2.04", "ukat/L", uln="0.68"),))
    assert d.peak()[0] == 3


def test_female_default_uln_is_lower_than_male():
    female = rules.Draw("f", day(0), (result("ALT", 99, sex="F"),))  # 99 / 33 = 3.0
    male = rules.Draw("m", day(0), (result("ALT", 99, sex="M"),))  # 99 / 41 < 3
    assert female.peak()[0] == 3
    assert male.peak()[0] < 3


def test_bilirubin_in_umol_per_litre_at_exactly_twice_uln():
    # 41.04 µmol/L ÷ 17.1 = 2.4 mg/dL = 2 × 1.2 mg/dL.
    tbil = result("TBIL", "41.04", "umol/L")
    assert tbil.multiple == 2


def test_explanation_names_analyte_value_uln_multiple_and_date():
    d = rules.Draw("k", day(0), (result("ALT", 135),))
    (finding,) = evaluate([d]).findings
    assert finding.explanation == (
        "ALT 135 U/L = 3.29× ULN (41 U/L) on 2026-01-05 09:00 UTC: withhold dosing; "
        "repeat ALT/AST by 2026-01-12 09:00 UTC."
    )


def test_displayed_multiple_never_rounds_up_across_a_threshold():
    d = rules.Draw("k", day(0), (result("ALT", "122.959"),))  # 2.9990×
    assessment = evaluate([d])
    assert "2.99× ULN" in assessment.findings[0].explanation


# ---- R1 missing_baseline ------------------------------------------------------------------


def test_first_dose_without_any_draw_is_missing_baseline():
    assessment = evaluate(doses=[dose(day(0))])
    assert fired(assessment, "missing_baseline") == [day(0)]
    assert assessment.findings[0].severity == "high"


def test_baseline_panel_on_the_same_instant_as_the_first_dose_counts():
    assert fired(evaluate([baseline(day(0))], [dose(day(0))]), "missing_baseline") == []


def test_baseline_must_hold_all_four_liver_tests_in_one_draw():
    split = [draw(day(-2), alt="0.5", ast="0.5"), draw(day(-1), alp="0.5", tbil="0.5")]
    assert fired(evaluate(split, [dose(day(0))]), "missing_baseline") == [day(0)]


def test_baseline_after_the_first_dose_is_still_missing_baseline():
    assert fired(evaluate([baseline(day(1))], [dose(day(0))]), "missing_baseline") == [day(0)]


def test_only_the_first_dose_is_judged_for_baseline():
    assessment = evaluate([baseline(day(2))], [dose(day(0)), dose(day(7))], as_of=day(3))
    assert fired(assessment, "missing_baseline") == [day(0)]


# ---- R2 weekly_monitoring -----------------------------------------------------------------


def test_first_mild_elevation_asks_for_weekly_monitoring():
    assessment = evaluate([draw(day(0), alt="1.5")])
    assert fired(assessment, "weekly_monitoring") == [day(0)]
    assert assessment.state == rules.MONITORING


def test_exactly_one_times_uln_is_not_an_elevation():
    assert fired(evaluate([draw(day(0), alt="1")]), "weekly_monitoring") == []


def test_second_mild_elevation_in_a_row_does_not_fire_again():
    draws = [draw(day(0), alt="1.5"), draw(day(7), alt="2")]
    assert fired(evaluate(draws), "weekly_monitoring") == [day(0)]


def test_mild_elevation_after_a_normal_draw_fires_again():
    draws = [draw(day(0), alt="1.5"), draw(day(7), alt="0.8"), draw(day(14), alt="1.2")]
    assert fired(evaluate(draws), "weekly_monitoring") == [day(0), day(14)]


def test_lipid_only_draw_between_does_not_count_as_previous_peak():
    draws = [
        draw(day(0), alt="0.8"),
        draw(day(3), results=(result("LDLC", 100),)),
        draw(day(7), alt="1.4"),
    ]
    assert fired(evaluate(draws), "weekly_monitoring") == [day(7)]


def test_draw_ending_an_episode_is_never_weekly_monitoring():
    draws = [draw(day(0), alt="3.5"), draw(day(5), alt="2")]
    assessment = evaluate(draws)
    assert fired(assessment, "eligible_reduced_dose") == [day(5)]
    assert fired(assessment, "weekly_monitoring") == []


def test_mild_draw_after_episode_end_with_mild_peak_does_not_fire():
    draws = [draw(day(0), alt="3.5"), draw(day(5), alt="2"), draw(day(12), alt="1.5")]
    assert fired(evaluate(draws), "weekly_monitoring") == []


# ---- R3 withhold_dose ---------------------------------------------------------------------


def test_alt_at_three_times_uln_withholds_dose():
    assessment = evaluate([draw(day(0), alt="3")])
    (finding,) = assessment.findings
    assert (finding.kind, finding.severity, finding.rule.id) == ("withhold_dose", "high", "R3")
    assert finding.due_by == day(7)
    assert assessment.state == rules.WITHHELD


def test_alt_at_2_999_times_uln_does_not_withhold():
    assessment = evaluate([draw(day(0), alt="2.999")])
    assert fired(assessment, "withhold_dose") == []
    assert fired(assessment, "weekly_monitoring") == [day(0)]


def test_ast_alone_can_start_an_episode():
    assert fired(evaluate([draw(day(0), alt="0.9", ast="3.1")]), "withhold_dose") == [day(0)]


def test_second_episode_after_resolution_withholds_again():
    draws = [draw(day(0), alt="3.2"), draw(day(6), alt="1.5"), draw(day(40), alt="3.4")]
    assert fired(evaluate(draws), "withhold_dose") == [day(0), day(40)]


def test_elevated_draws_inside_an_open_episode_do_not_withhold_again():
    draws = [draw(day(0), alt="3.2"), draw(day(6), alt="3.5"), draw(day(12), alt="4")]
    assert fired(evaluate(draws), "withhold_dose") == [day(0)]


# ---- R4 elevation_confirmed ---------------------------------------------------------------


def test_repeat_at_three_times_confirms_the_elevation():
    draws = [draw(day(0), alt="3.5"), draw(day(6), ast="3")]
    assert fired(evaluate(draws), "elevation_confirmed") == [day(6)]


def test_late_repeat_still_confirms():
    draws = [draw(day(0), alt="3.5"), draw(day(30), alt="3.1")]
    assessment = evaluate(draws, as_of=day(31))
    assert fired(assessment, "elevation_confirmed") == [day(30)]
    assert fired(assessment, "confirmation_overdue") == [day(0)]


def test_only_the_next_draw_with_a_peak_can_confirm():
    lipid = draw(day(2), results=(result("LDLC", 100),))
    draws = [draw(day(0), alt="3.5"), lipid, draw(day(6), alt="3.2"), draw(day(12), alt="3.3")]
    assert fired(evaluate(draws), "elevation_confirmed") == [day(6)]


def test_repeat_below_three_times_does_not_confirm():
    draws = [draw(day(0), alt="3.5"), draw(day(6), alt="2.999")]
    assert fired(evaluate(draws), "elevation_confirmed") == []


# ---- R5 severe_elevation ------------------------------------------------------------------


def test_five_times_uln_is_severe_together_with_withhold():
    assessment = evaluate([draw(day(0), alt="5")])
    assert kinds(assessment) == [("withhold_dose", day(0)), ("severe_elevation", day(0))]
    assert assessment.findings[1].severity == "critical"


def test_4_999_times_uln_is_not_severe():
    assert fired(evaluate([draw(day(0), alt="4.999")]), "severe_elevation") == []


def test_only_the_first_severe_draw_of_an_episode_fires():
    draws = [draw(day(0), alt="3.5"), draw(day(6), alt="5.5"), draw(day(12), alt="6")]
    assert fired(evaluate(draws), "severe_elevation") == [day(6)]


def test_each_episode_can_have_its_own_severe_draw():
    draws = [draw(day(0), alt="5.5"), draw(day(6), alt="1"), draw(day(30), alt="5.1")]
    assert fired(evaluate(draws), "severe_elevation") == [day(0), day(30)]


# ---- R6 discontinue -----------------------------------------------------------------------


def test_elevation_with_bilirubin_twice_uln_discontinues():
    assessment = evaluate([draw(day(0), alt="3.1", tbil="2")])
    assert fired(assessment, "discontinue") == [day(0)]
    assert assessment.state == rules.DISCONTINUED
    assert "TBIL" in assessment.findings[-1].explanation


def test_bilirubin_just_under_twice_uln_does_not_discontinue():
    assert fired(evaluate([draw(day(0), alt="3.1", tbil="1.999")]), "discontinue") == []


def test_symptoms_with_elevation_discontinue():
    assert fired(evaluate([draw(day(0), alt="3", symptoms=True)]), "discontinue") == [day(0)]


def test_symptoms_without_elevation_do_not_discontinue():
    assert fired(evaluate([draw(day(0), alt="2.9", symptoms=True)]), "discontinue") == []


def test_active_liver_disease_discontinues_at_the_first_elevation():
    draws = [draw(day(0), alt="2"), draw(day(7), alt="3.2"), draw(day(14), alt="3.4")]
    assessment = evaluate(draws, active_liver_disease=True)
    assert fired(assessment, "discontinue") == [day(7)]


def test_discontinue_fires_once_at_the_first_qualifying_draw_even_mid_episode():
    draws = [
        draw(day(0), alt="3.5"),
        draw(day(6), alt="3.6", tbil="2.5"),
        draw(day(12), alt="3.7", tbil="2.6"),
    ]
    assert fired(evaluate(draws), "discontinue") == [day(6)]


def test_bilirubin_elevation_in_another_draw_does_not_count():
    draws = [draw(day(0), alt="3.5"), draw(day(1), tbil="2.5")]
    assert fired(evaluate(draws), "discontinue") == []


# ---- R7 confirmation_overdue --------------------------------------------------------------


def test_no_repeat_after_seven_days_is_overdue():
    assessment = evaluate([draw(day(0), alt="3.5")], as_of=day(7, seconds=1))
    assert fired(assessment, "confirmation_overdue") == [day(0)]
    finding = [f for f in assessment.findings if f.kind == "confirmation_overdue"][0]
    assert finding.due_by is None and finding.severity == "high"


def test_exactly_seven_days_after_is_not_yet_overdue():
    assert fired(evaluate([draw(day(0), alt="3.5")], as_of=day(7)), "confirmation_overdue") == []


def test_repeat_exactly_168_hours_later_is_within_seven_days():
    draws = [draw(day(0), alt="3.5"), draw(day(7), alt="1")]
    assert fired(evaluate(draws, as_of=day(30)), "confirmation_overdue") == []


def test_repeat_one_second_after_seven_days_is_too_late():
    draws = [draw(day(0), alt="3.5"), draw(day(7, seconds=1), alt="1")]
    assert fired(evaluate(draws, as_of=day(30)), "confirmation_overdue") == [day(0)]


def test_lipid_only_draw_is_not_a_repeat():
    draws = [draw(day(0), alt="3.5"), draw(day(3), results=(result("LDLC", 100),))]
    assert fired(evaluate(draws, as_of=day(8)), "confirmation_overdue") == [day(0)]


# ---- R8 eligible_reduced_dose -------------------------------------------------------------


def test_draw_below_three_times_ends_the_episode():
    draws = [draw(day(0), alt="3.5"), draw(day(6), alt="3.2"), draw(day(13), alt="2.999")]
    assessment = evaluate(draws)
    assert fired(assessment, "eligible_reduced_dose") == [day(13)]
    assert assessment.episodes == (
        rules.Episode(draws[0].key, day(0), day(0), draws[2].key, day(13), known_at=day(0)),
    )
    assert assessment.findings[-1].severity == "medium"


# ---- R9 dose_while_withheld ---------------------------------------------------------------


def test_dose_during_an_open_episode_is_flagged():
    assessment = evaluate([draw(day(0), alt="3.5")], [dose(day(2))], as_of=day(3))
    assert fired(assessment, "dose_while_withheld") == [day(2)]


def test_dose_at_the_same_instant_as_the_elevated_draw_is_not_after_it():
    assessment = evaluate([draw(day(0), alt="3.5")], [dose(day(0))], as_of=day(1))
    assert fired(assessment, "dose_while_withheld") == []


def test_dose_at_the_instant_of_the_ending_draw_is_still_withheld_and_so_is_one_after_it():
    # v2: the episode is open until its ending draw's collection, inclusive, and the subject
    # stays withheld after it until a resume is signed.
    draws = [draw(day(0), alt="3.5"), draw(day(6), alt="1")]
    doses = [dose(day(6)), dose(day(6, seconds=-1)), dose(day(7))]
    assert fired(evaluate(draws, doses, as_of=day(8)), "dose_while_withheld") == [
        day(6, seconds=-1),
        day(6),
        day(7),
    ]


def test_each_dose_while_withheld_is_its_own_alert():
    doses = [dose(day(1)), dose(day(3)), dose(day(5))]
    assessment = evaluate([draw(day(0), alt="4")], doses, as_of=day(6))
    assert fired(assessment, "dose_while_withheld") == [day(1), day(3), day(5)]


def test_any_dose_after_the_discontinue_draw_is_flagged_even_after_recovery():
    draws = [draw(day(0), alt="3.5", symptoms=True), draw(day(6), alt="1")]
    assessment = evaluate(draws, [dose(day(20))], as_of=day(21))
    assert fired(assessment, "dose_while_withheld") == [day(20)]


# ---- R10 lab_overdue ----------------------------------------------------------------------


def test_first_dose_with_no_draw_since_is_overdue_after_seven_plus_two_days():
    doses = [dose(day(0))]
    assert fired(evaluate([], doses, as_of=day(9)), "lab_overdue") == []
    assessment = evaluate([], doses, as_of=day(9, seconds=1))
    (finding,) = [f for f in assessment.findings if f.kind == "lab_overdue"]
    assert finding.triggered_at == day(0) and finding.due_by == day(7)


def test_reference_is_the_last_draw_with_a_peak_even_a_baseline_before_dosing():
    assessment = evaluate([baseline(day(-1))], [dose(day(0))], as_of=day(8, seconds=1))
    (finding,) = [f for f in assessment.findings if f.kind == "lab_overdue"]
    assert finding.triggered_at == day(-1) and finding.due_by == day(6)


def test_maintenance_interval_after_the_first_28_days():
    draws = [baseline(day(-1)), draw(day(28), alt="0.9")]
    doses = [dose(day(0))]
    assert fired(evaluate(draws, doses, as_of=day(60)), "lab_overdue") == []
    overdue = evaluate(draws, doses, as_of=day(60, seconds=1))
    (finding,) = [f for f in overdue.findings if f.kind == "lab_overdue"]
    assert finding.due_by == day(58)


def test_reference_27_days_after_first_dose_keeps_the_weekly_interval():
    draws = [baseline(day(-1)), draw(day(27, hours=23), alt="0.9")]
    assessment = evaluate(draws, [dose(day(0))], as_of=day(37))
    assert fired(assessment, "lab_overdue") == [day(27, hours=23)]


def test_elevated_reference_keeps_the_weekly_interval_after_28_days():
    draws = [baseline(day(-1)), draw(day(40), alt="1.5")]
    assert fired(evaluate(draws, [dose(day(0))], as_of=day(50)), "lab_overdue") == [day(40)]


def test_reduced_dose_comparison_study_uses_its_own_maintenance_interval():
    draws = [baseline(day(-1)), draw(day(30), alt="0.9")]
    assessment = evaluate(draws, [dose(day(0))], as_of=day(46, seconds=1), maintenance_days=14)
    assert fired(assessment, "lab_overdue") == [day(30)]


def test_no_lab_overdue_without_a_dose_or_after_discontinuation():
    assert fired(evaluate([draw(day(0), alt="0.5")], as_of=day(100)), "lab_overdue") == []
    stopped = evaluate([draw(day(1), alt="3.5", tbil="2.2")], [dose(day(0))], as_of=day(100))
    assert fired(stopped, "lab_overdue") == []


# ---- combinations and states --------------------------------------------------------------


def test_one_draw_can_withhold_be_severe_and_discontinue_at_once():
    assessment = evaluate([draw(day(0), alt="5.2", tbil="2.1")])
    assert [k for k, _ in kinds(assessment)] == [
        "withhold_dose",
        "severe_elevation",
        "discontinue",
    ]


def test_rules_table_has_eleven_rules_in_order_with_their_severities():
    assert [(r.id, r.kind, r.severity) for r in rules.SEED.rules] == [
        ("R1", "missing_baseline", "high"),
        ("R2", "weekly_monitoring", "low"),
        ("R3", "withhold_dose", "high"),
        ("R4", "elevation_confirmed", "high"),
        ("R5", "severe_elevation", "critical"),
        ("R6", "discontinue", "critical"),
        ("R7", "confirmation_overdue", "high"),
        ("R8", "eligible_reduced_dose", "medium"),
        ("R9", "dose_while_withheld", "critical"),
        ("R10", "lab_overdue", "medium"),
        ("R11", "dose_off_regimen", "high"),
    ]


def test_normal_subject_keeps_dosing_without_alerts():
    draws = [baseline(day(-1)), draw(day(6), alt="0.7"), draw(day(13), alt="0.9")]
    assessment = evaluate(draws, [dose(day(0)), dose(day(7))], as_of=day(14))
    assert assessment.findings == ()
    assert assessment.state == rules.DOSING
