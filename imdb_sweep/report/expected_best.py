"""Expected best validation score against the number of trials (Dodge et al., "Show Your
Work: Improved Reporting of Experimental Results", EMNLP 2019).

The N finished runs of a sweep are N draws of the validation score from the space. Draw
n of them with replacement and keep the best: with the scores sorted from worst to best,
v_(1) <= ... <= v_(N), the best of n is v_(i) with probability

    P(max = v_(i)) = (i/N)^n - ((i-1)/N)^n

(all n draws at or below v_(i), minus all of them below it). Its expectation and its
variance follow from those weights; ties need no care, since their weights add up.
The curve says how many trials this space needs: where it flattens, more trials of the
same space stop paying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExpectedBest:
    """The best score among `trials` draws: its expectation and standard deviation."""

    trials: int
    mean: float
    std: float


def best_of_weights(count: int, trials: int) -> np.ndarray:
    """P(the best of `trials` draws is the i-th worst of `count` scores), i = 1..count."""
    ranks = np.arange(1, count + 1, dtype=float)
    return (ranks / count) ** trials - ((ranks - 1) / count) ** trials


def expected_best(values: Sequence[float], trials: int, minimize: bool = False) -> ExpectedBest:
    """Expectation and standard deviation of the best of `trials` draws (with replacement)
    from `values`; lower is best with `minimize`."""
    if trials < 1:
        raise ValueError(f"trials = {trials} is not allowed: expected a whole number of at least 1")
    scores = np.sort(np.asarray([value for value in values if not math.isnan(value)], float))
    if scores.size == 0:
        return ExpectedBest(trials, math.nan, math.nan)
    if minimize:  # the best is the lowest: the same rule on the scores turned around
        scores = scores[::-1]
    weights = best_of_weights(scores.size, trials)
    mean = float(weights @ scores)
    # E[max^2] - E[max]^2, never below 0 where rounding would take it there.
    variance = max(float(weights @ (scores - mean) ** 2), 0.0)
    return ExpectedBest(trials, mean, math.sqrt(variance))


def expected_best_curve(values: Sequence[float], minimize: bool = False) -> list[ExpectedBest]:
    """expected_best for n = 1 .. N, N the number of scores."""
    count = sum(not math.isnan(value) for value in values)
    return [expected_best(values, trials, minimize) for trials in range(1, count + 1)]


def shown_trials(count: int) -> list[int]:
    """The n a human table shows: 1 to 10, then every 5th, and N itself."""
    return [n for n in range(1, count + 1) if n <= 10 or n % 5 == 0 or n == count]
