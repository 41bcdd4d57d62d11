"""Seed statistics: mean, standard deviation, Student-t confidence interval, Welch's t-test."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """Mean of n repeated measurements; std and CI are NaN when n < 2."""

    mean: float
    std: float  # sample standard deviation (ddof=1)
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """A configuration against the baseline configuration."""

    difference: float  # mean(configuration) - mean(baseline)
    p_value: float  # Welch's t-test, two-sided; NaN when it cannot be computed


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample std and the Student-t confidence interval of the mean."""
    sample = np.asarray([value for value in values if value is not None and not math.isnan(value)], float)
    n = int(sample.size)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(sample.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, math.nan, n)
    std = float(sample.std(ddof=1))
    # t quantile with n-1 degrees of freedom: with 3 seeds the interval is about
    # 2.5 standard deviations wide each side, not the 1.96 of a normal law.
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
    return Summary(mean, std, mean - half_width, mean + half_width, n)


def welch_test(values: Sequence[float], baseline: Sequence[float]) -> Comparison:
    """Difference of means and the two-sided Welch t-test p-value (unequal variances)."""
    sample = np.asarray(values, float)
    reference = np.asarray(baseline, float)
    if sample.size == 0 or reference.size == 0:
        return Comparison(math.nan, math.nan)
    difference = float(sample.mean() - reference.mean())
    if sample.size < 2 or reference.size < 2:
        return Comparison(difference, math.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Two groups without any spread (identical seeds) have no defined test
        # statistic; scipy warns and returns NaN, which we show as "n/a".
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(sample, reference, equal_var=False)
    return Comparison(difference, float(result.pvalue))


def one_sided_welch(values: Sequence[float], reference: Sequence[float], minimize: bool = False) -> float:
    """p-value of Welch's t-test against "`values` are no better than `reference`": better
    is a higher mean, or lower with `minimize`. NaN with fewer than 2 values on a side, or
    without any spread on both."""
    sample = np.asarray(values, float)
    baseline = np.asarray(reference, float)
    if sample.size < 2 or baseline.size < 2:
        return math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(sample, baseline, equal_var=False, alternative="less" if minimize else "greater")
    return float(result.pvalue)
