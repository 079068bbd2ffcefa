"""Properties of rules.evaluate that hold for any history."""

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring import rules

from .rulebook import day, dose, draw

multiples = st.sampled_from(["0.5", "0.9", "1", "1.5", "2.999", "3", "3.5", "4.999", "5", "7"])


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
        draws.append(draw(at, symptoms=draw_(st.booleans()) and draw_(st.booleans()), **kwargs))
    dose_hours = draw_(st.lists(st.integers(0, 120 * 24), max_size=10, unique=True))
    doses = [dose(day(0) + timedelta(hours=h)) for h in dose_hours]
    return rules.History(
        draws=tuple(draws),
        doses=tuple(doses),
        active_liver_disease=draw_(st.booleans()) and draw_(st.booleans()),
    )


as_of_times = st.integers(0, 200 * 24).map(lambda h: day(0) + timedelta(hours=h))


@settings(max_examples=300, deadline=None)
@given(histories(), as_of_times, st.randoms())
def test_input_order_never_changes_the_result(history, as_of, rnd: random.Random):
    draws, doses = list(history.draws), list(history.doses)
    rnd.shuffle(draws)
    rnd.shuffle(doses)
    shuffled = rules.History(tuple(draws), tuple(doses), history.active_liver_disease)
    assert rules.evaluate(shuffled, as_of) == rules.evaluate(history, as_of)


@settings(max_examples=200, deadline=None)
@given(histories(), as_of_times)
def test_evaluating_twice_gives_the_same_result(history, as_of):
    assert rules.evaluate(history, as_of) == rules.evaluate(history, as_of)


@settings(max_examples=300, deadline=None)
@given(histories(), as_of_times, st.sampled_from(["0.5", "0.9", "1"]), st.integers(1, 30 * 24))
def test_normal_draw_after_an_episode_ended_never_adds_a_withhold(history, as_of, alt, hours):
    before = rules.evaluate(history, as_of)
    if not before.episodes or before.episodes[-1].end_at is None:
        return
    last = max(d.collected_at for d in history.draws)
    extra = draw(last + timedelta(hours=hours), alt=alt, ast=alt)
    after = rules.evaluate(
        rules.History(history.draws + (extra,), history.doses, history.active_liver_disease),
        as_of,
    )
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
