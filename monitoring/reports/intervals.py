"""95% confidence intervals: Wilson and Newcombe from statsmodels, a mean's from scipy's t."""

import math
from dataclasses import dataclass
from statistics import fmean, stdev

from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(events: int, n: int) -> Interval | None:
    """Wilson score 95% interval of a proportion; None when n is 0."""
    if n == 0:
        return None
    low, high = proportion_confint(events, n, alpha=0.05, method="wilson")
    return Interval(float(low), float(high))


def newcombe(e1: int, n1: int, e2: int, n2: int) -> Interval | None:
    """Newcombe's hybrid score 95% interval (method 10) for p1 − p2."""
    if n1 == 0 or n2 == 0:
        return None
    low, high = confint_proportions_2indep(
        e1, n1, e2, n2, method="newcomb", compare="diff", alpha=0.05
    )
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float | None
    sd: float | None
    ci: Interval | None


def mean_ci(values) -> MeanCI:
    """Mean with a t-based 95% CI; no CI for fewer than two values."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return MeanCI(0, None, None, None)
    mean = fmean(values)
    if n < 2:
        return MeanCI(n, mean, None, None)
    sd = stdev(values)
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return MeanCI(n, mean, sd, Interval(mean - half, mean + half))
