"""warm_start.py's arithmetic: a logged param read back into the space, ASHA's rungs of an earlier run."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from imdb_sweep.search.warm_start import asha_rungs, value_in

ASHA = {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1, "reduction_factor": 3}


def test_a_logged_param_is_a_value_of_the_space_or_none():
    assert value_in(CategoricalDistribution([16, 32]), "32") == 32
    assert value_in(CategoricalDistribution(["relu", None]), "null") is None  # None is `null`, not a choice
    assert value_in(CategoricalDistribution([16, 32]), "64") is None
    assert value_in(IntDistribution(1, 3), "2") == 2 and value_in(IntDistribution(1, 3), "4") is None
    assert value_in(IntDistribution(2, 8, step=2), "5") is None
    assert value_in(FloatDistribution(0.0, 0.5), "0.25") == 0.25
    assert value_in(FloatDistribution(0.0, 0.5), "0.6") is None and value_in(FloatDistribution(0.0, 0.5), "x") is None
    assert value_in(FloatDistribution(0.0, 0.5), None) is None


def test_asha_rungs_are_the_values_at_min_resource_times_powers_of_the_factor():
    curve = {step: step / 10 for step in range(1, 11)}
    assert asha_rungs(ASHA, curve) == {"completed_rung_0": 0.1, "completed_rung_1": 0.3, "completed_rung_2": 0.9}
    assert asha_rungs({**ASHA, "min_resource": 2, "min_early_stopping_rate": 1}, curve) == {
        "completed_rung_0": 0.6}  # 2 * 3 ** 1; the next rung, 18, is beyond the curve
    assert asha_rungs({**ASHA, "min_resource": "auto"}, curve) == {}
    assert asha_rungs({"_target_": "optuna.pruners.MedianPruner"}, curve) == {}
    assert asha_rungs(None, curve) == {}
