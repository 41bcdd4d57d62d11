"""Seeds until the answer is clear (imdb_sweep/report/seed_rule.py): which configurations get
another seed, and the rule's error rate under no effect at all, simulated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imdb_sweep.report.runs import JobRun
from imdb_sweep.report.seed_rule import SeedRule, is_settled, plan_seeds

KEYS = ["model.units"]


def runs_of(samples: dict[int, list[float]]) -> list[JobRun]:
    return [JobRun(f"{units}-{seed}", f"{units}-{seed}", "FINISHED", 0, {"model.units": units, "seed": seed},
                   {"best_val_accuracy": value, "test_accuracy": value})
            for units, values in samples.items() for seed, value in enumerate(values)]


def test_each_look_spends_an_equal_share_of_the_error():
    rule = SeedRule(min_seeds=3, max_seeds=10)
    assert rule.looks == 8 and rule.look_confidence == pytest.approx(1 - 0.05 / 8, abs=1e-15)
    with pytest.raises(ValueError, match="max_seeds = 2 is not allowed: expected at least min_seeds"):
        SeedRule(min_seeds=3, max_seeds=2)
    with pytest.raises(ValueError, match="min_seeds = 1 is not allowed"):
        SeedRule(min_seeds=1)


def test_clear_and_small_effects_stop_unclear_ones_go_on_until_the_cap():
    rule = SeedRule(min_seeds=3, max_seeds=5, half_width=0.004)
    clear = runs_of({32: [0.860, 0.862, 0.861], 64: [0.830, 0.831, 0.829], 16: [0.861, 0.859]})
    plans = {plan.configuration["model.units"]: plan for plan in plan_seeds(clear, KEYS, rule, defaults={})}
    assert plans["16"].more and plans["16"].reason == "fewer than 3 seeds"

    clear = runs_of({32: [0.860, 0.862, 0.861], 64: [0.830, 0.831, 0.829], 16: [0.8605, 0.8612, 0.8603]})
    plans = {plan.configuration["model.units"]: plan for plan in plan_seeds(clear, KEYS, rule, defaults={})}
    # 64 lost clearly; 16 is within a small fraction of a point of 32: settled too.
    assert not any(plan.more for plan in plans.values()) and is_settled(list(plans.values()))

    noisy = runs_of({32: [0.86, 0.85, 0.87], 64: [0.865, 0.85, 0.872]})
    plans = {plan.configuration["model.units"]: plan for plan in plan_seeds(noisy, KEYS, rule, defaults={})}
    assert plans["64"].more and plans["64"].reason == "unsettled: model.units=64"
    assert plans["32"].more  # the reference takes part in the unsettled effect

    capped = runs_of({32: [0.86, 0.85, 0.87, 0.855, 0.865], 64: [0.865, 0.85, 0.872, 0.858, 0.86]})
    plans = plan_seeds(capped, KEYS, rule, defaults={})
    assert is_settled(plans) and plans[0].reason.startswith("at the cap of 5 seeds; still unsettled")


def false_resolution_rate(rule: SeedRule, simulations: int, seed: int) -> float:
    """How often the rule ends with a resolved effect when both configurations are the
    same (spread of half a point, as seeds of the real model): its type I error."""
    generator = np.random.default_rng(seed)
    false = 0
    for _ in range(simulations):
        samples: dict[int, list[float]] = {32: [], 64: []}
        while True:
            runs = runs_of(samples)
            plans = plan_seeds(runs, KEYS, rule, defaults={}) if runs else []
            if runs and is_settled(plans):
                break
            wanted = [int(plan.configuration["model.units"]) for plan in plans if plan.more] or [32, 64]
            for units in wanted:
                samples[units].append(0.86 + generator.normal(0, 0.005))
        # Settled by the cap, or by a resolved (hence false) effect.
        false += any(not plan.reason.startswith("at the cap") for plan in plans)
    return false / simulations


def test_stopping_at_the_first_resolved_look_keeps_the_error_below_alpha():
    # A half-width bound no CI reaches: the rule stops only on resolution or the cap.
    simulations = 400
    rate = false_resolution_rate(SeedRule(min_seeds=3, max_seeds=8, half_width=1e-9), simulations, seed=3)
    # The bound holds up to three binomial standard deviations of the simulated rate.
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / simulations)
    assert rate <= bound
    # A 95% CI at every look (no spending: confidence 0.7 over 6 looks) breaks that bound.
    assert false_resolution_rate(SeedRule(min_seeds=3, max_seeds=8, half_width=1e-9, confidence=0.7),
                                 simulations, seed=3) > bound
