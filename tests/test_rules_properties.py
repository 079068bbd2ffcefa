"""Properties of rules.evaluate that hold for any history: draws with result times, doses,
signed decisions and regimens."""

import dataclasses
import random
from datetime import timedelta
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitoring import rules

from .rulebook import REDUCED, STANDARD, day, dose, draw

multiples = st.sampled_from(["0.5", "0.9", "1", "1.5", "2.999", "3", "3.5", "4.999", "5", "7"])
ACTIONS = ("withhold", "resume_same_dose", "resume_reduced_dose", "discontinue", "confirm")


@st.composite
def histories(draw_):
    n_draws = draw_(st.integers(0, 12))
    offsets = draw_(
        st.lists(st.integers(-5 * 24, 120 * 24), min_size=n_draws, max_size=n_draws, unique=True)
    )
    draws = []
    for hours in offsets:
        at = day(0) + timedelta(hours=hours)
        kwargs = {}
        if draw_(st.booleans()):
            kwargs["alt"] = draw_(multiples)
        if draw_(st.booleans()):
            kwargs["ast"] = draw_(multiples)
        if draw_(st.booleans()):
            kwargs["tbil"] = draw_(st.sampled_from(["0.5", "1.999", "2", "3"]))
        if draw_(st.booleans()):
            kwargs["alp"] = "0.5"
        delay = timedelta(hours=draw_(st.sampled_from([0, 0, 1, 6, 30])))
        draws.append(
            draw(
                at,
                symptoms=draw_(st.booleans()) and draw_(st.booleans()),
                resulted_at=at + delay,
                **kwargs,
            )
        )
    dose_hours = draw_(st.lists(st.integers(0, 120 * 24), max_size=10, unique=True))
    doses = [
        dose(day(0) + timedelta(hours=h), draw_(st.sampled_from([200, 200, 70])))
        for h in dose_hours
    ]
    decision_hours = draw_(st.lists(st.integers(0, 120 * 24), max_size=4, unique=True))
    decisions = []
    for index, hours in enumerate(decision_hours):
        action = draw_(st.sampled_from(ACTIONS))
        decisions.append(
            rules.Decision(
                key=f"decision {index}",
                action=action,
                signed_at=day(0) + timedelta(hours=hours),
                regimen=REDUCED if action == "resume_reduced_dose" else None,
            )
        )
    return rules.History(
        draws=tuple(draws),
        doses=tuple(doses),
        decisions=tuple(decisions),
        active_liver_disease=draw_(st.booleans()) and draw_(st.booleans()),
        start_regimen=STANDARD,
    )


as_of_times = st.integers(0, 200 * 24).map(lambda h: day(0) + timedelta(hours=h))


@settings(max_examples=300, deadline=None)
@given(histories(), as_of_times, st.randoms())
def test_input_order_never_changes_the_result(history, as_of, rnd: random.Random):
    shuffled = {}
    for name in ("draws", "doses", "decisions"):
        items = list(getattr(history, name))
        rnd.shuffle(items)
        shuffled[name] = tuple(items)
    assert rules.evaluate(dataclasses.replace(history, **shuffled), as_of) == rules.evaluate(
        history, as_of
    )


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times, as_of_times)
def test_only_the_overdue_rules_depend_on_the_evaluation_time(history, early, late):
    one, two = rules.evaluate(history, early), rules.evaluate(history, late)
    timeless = [f for f in one.findings if f.kind not in rules.TIME_RULE_KINDS]
    assert timeless == [f for f in two.findings if f.kind not in rules.TIME_RULE_KINDS]
    assert (one.state, one.regimen, one.regimen_since) == (
        two.state,
        two.regimen,
        two.regimen_since,
    )


@settings(max_examples=300, deadline=None)
@given(histories(), as_of_times, st.sampled_from(["0.5", "0.9", "1"]), st.integers(1, 30 * 24))
def test_normal_draw_after_an_episode_ended_never_adds_a_withhold(history, as_of, alt, hours):
    before = rules.evaluate(history, as_of)
    assume(before.episodes and before.episodes[-1].end_at is not None)
    last = max(d.collected_at for d in history.draws)
    extra = draw(last + timedelta(hours=hours), alt=alt, ast=alt)
    after = rules.evaluate(dataclasses.replace(history, draws=history.draws + (extra,)), as_of)
    withholds = [f for f in after.findings if f.kind == "withhold_dose"]
    assert withholds == [f for f in before.findings if f.kind == "withhold_dose"]


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times)
def test_at_most_one_alert_of_a_kind_per_trigger(history, as_of):
    findings = rules.evaluate(history, as_of).findings
    identities = [(f.kind, f.triggered_at) for f in findings]
    assert len(identities) == len(set(identities))


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times)
def test_every_withhold_is_due_seven_days_after_its_draw(history, as_of):
    for finding in rules.evaluate(history, as_of).findings:
        if finding.kind == "withhold_dose":
            assert finding.due_by == finding.triggered_at + timedelta(days=7)
        elif finding.kind != "lab_overdue":
            assert finding.due_by is None


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times)
def test_a_dose_is_never_both_a_dosing_error_while_withheld_and_off_regimen(history, as_of):
    by_dose = {}
    for finding in rules.evaluate(history, as_of).findings:
        if finding.kind in ("dose_while_withheld", "dose_off_regimen"):
            by_dose.setdefault(finding.dose_key, []).append(finding.kind)
    assert all(len(kinds) == 1 for kinds in by_dose.values())


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times)
def test_the_state_says_dosable_exactly_when_a_dose_now_would_break_no_withholding(history, as_of):
    assessment = rules.evaluate(history, as_of)
    far = max(
        [day(400)] + [d.known_at for d in history.draws] + [d.signed_at for d in history.decisions]
    )
    judged = rules.judge_dose(history, far + timedelta(days=1), Decimal(0))
    assert assessment.may_dose == (judged.rule != "R9")
