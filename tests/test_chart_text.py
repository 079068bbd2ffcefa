"""The charts in words: the dosing state of each row of a chart's data table."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitoring.reports.chart_text import states_along

T0 = datetime(2026, 1, 1, tzinfo=UTC)
days = st.integers(0, 120).map(lambda d: T0 + timedelta(days=d))
periods = st.lists(
    st.tuples(days, st.integers(1, 40), st.sampled_from(["withheld", "discontinued"])).map(
        lambda p: (p[0], p[0] + timedelta(days=p[1]), False, p[2])
    ),
    max_size=8,
)


@given(periods=periods, moments=st.lists(days, max_size=30).map(sorted))
def test_each_rows_state_names_every_period_it_falls_in_in_their_order(periods, moments):
    expected = [
        ", ".join(label for start, stop, _, label in periods if start <= moment < stop)
        for moment in moments
    ]
    assert states_along(periods, moments) == expected
