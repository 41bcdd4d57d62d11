"""Expected best score against trials (imdb_sweep/report/expected_best.py): a small case
computed by hand, and every case against the enumeration of all ordered draws."""

from __future__ import annotations

import math
from itertools import product

import pytest

from imdb_sweep.report.expected_best import expected_best, expected_best_curve, shown_trials

# Sums of at most 3^4 products of short decimals: rounding errors near 1e-16 each.
TOLERANCE = 1e-12


def enumerated(values: list[float], trials: int, best=max) -> tuple[float, float]:
    """Mean and standard deviation of the best of `trials` draws, over all N^trials
    equally likely ordered draws with replacement."""
    bests = [best(draw) for draw in product(values, repeat=trials)]
    mean = sum(bests) / len(bests)
    return mean, math.sqrt(sum((value - mean) ** 2 for value in bests) / len(bests))


def test_a_small_case_by_hand():
    # Best of two draws from {0.1, 0.2, 0.3}: P = 1/9, 3/9, 5/9; mean 2.2/9,
    # E[best^2] = (0.01 + 0.12 + 0.45)/9 = 0.58/9.
    point = expected_best([0.3, 0.1, 0.2], 2)
    assert point.trials == 2
    assert point.mean == pytest.approx(2.2 / 9, abs=TOLERANCE)
    assert point.std == pytest.approx(math.sqrt(0.58 / 9 - (2.2 / 9) ** 2), abs=TOLERANCE)
    one = expected_best([0.3, 0.1, 0.2], 1)  # one draw: the plain mean and population std
    assert (one.mean, one.std) == pytest.approx((0.2, math.sqrt(0.02 / 3)), abs=TOLERANCE)


@pytest.mark.parametrize("values", [[0.84, 0.86, 0.85], [0.5, 0.5, 0.7], [0.81, 0.88, 0.83, 0.83]])
def test_every_point_of_the_curve_matches_the_enumeration(values):
    curve = expected_best_curve(values)
    assert [point.trials for point in curve] == list(range(1, len(values) + 1))
    for point in curve:
        assert (point.mean, point.std) == pytest.approx(enumerated(values, point.trials), abs=TOLERANCE)
    means = [point.mean for point in curve]
    assert means == sorted(means) and means[-1] < max(values)


def test_lower_is_best_when_minimizing_and_bad_input_is_refused():
    values = [0.30, 0.25, 0.40]
    point = expected_best(values, 3, minimize=True)
    assert (point.mean, point.std) == pytest.approx(enumerated(values, 3, best=min), abs=TOLERANCE)
    assert math.isnan(expected_best([], 2).mean)
    with pytest.raises(ValueError, match="trials = 0 is not allowed"):
        expected_best(values, 0)


def test_the_human_table_shows_the_first_ten_then_every_fifth_and_the_last():
    assert shown_trials(4) == [1, 2, 3, 4]
    assert shown_trials(48) == [*range(1, 11), 15, 20, 25, 30, 35, 40, 45, 48]
