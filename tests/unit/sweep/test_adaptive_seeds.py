"""The adaptive seeds' rounds (imdb_sweep/sweep/adaptive_seeds.py) on synthetic numbers:
which configuration runs which seed next, and the settings refused before any job."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from imdb_sweep.config.validation import ConfigError
from imdb_sweep.report.seed_rule import SeedRule
from imdb_sweep.sweep.adaptive_seeds import SeedRounds, check_adaptive_seeds, grid_of

GRID = [["model.units=32"], ["model.units=64"], ["model.units=128"]]
KEYS = ["model.units"]
# 32 is the reference (the default config's value).
DEFAULTS = {"model.units": 32}


def rounds_of(rule: SeedRule, first_seed: int = 42) -> SeedRounds:
    return SeedRounds([list(job) for job in GRID], KEYS, rule, "best_val_accuracy", first_seed, DEFAULTS)


def run_round(rounds: SeedRounds, configurations: list[int], value_of) -> None:
    """Each job's value from `value_of(configuration, its seed index)`."""
    taken = [len(values) for values in rounds.values]
    values = []
    for index in configurations:
        values.append(value_of(index, taken[index]))
        taken[index] += 1
    rounds.record(configurations, values)


def test_the_first_round_runs_every_configuration_min_seeds_times_with_consecutive_seeds():
    rounds = rounds_of(SeedRule(min_seeds=3, max_seeds=5), first_seed=7)
    first = rounds.first_round()
    assert first == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert rounds.jobs(first)[:4] == [["model.units=32", "seed=7"], ["model.units=64", "seed=7"],
                                      ["model.units=128", "seed=7"], ["model.units=32", "seed=8"]]
    assert rounds.jobs(first)[-1] == ["model.units=128", "seed=9"]


def test_only_the_configurations_of_an_unsettled_effect_get_another_seed():
    # 64 is 5 points above 32 with a spread of 0.1 point: resolved at once. 128 is within
    # 0.1 point of 32 but spread over 4 points: its CI covers 0 and is far wider than ±0.5.
    spread = {0: [0.0, 0.001, -0.001], 1: [0.0, 0.001, -0.001], 2: [0.02, -0.02, 0.0]}
    means = {0: 0.85, 1: 0.90, 2: 0.851}
    rounds = rounds_of(SeedRule(min_seeds=3, max_seeds=5, half_width=0.005))
    run_round(rounds, rounds.first_round(), lambda index, seed: means[index] + spread[index][seed % 3])
    # The reference (32) takes part in the 128 effect, so it gets a seed too; 64 does not.
    assert rounds.next_round() == [0, 2]
    assert rounds.jobs([0, 2]) == [["model.units=32", "seed=45"], ["model.units=128", "seed=45"]]
    plans = dict(rounds.plans())
    assert not plans[1].more and plans[1].reason == "every effect it takes part in is settled"
    assert plans[2].more and "model.units=128" in plans[2].reason


def test_the_rounds_stop_at_the_cap_and_the_record_says_which_effects_stayed_open():
    rule = SeedRule(min_seeds=2, max_seeds=3, half_width=0.005)
    rounds = rounds_of(rule)
    noise = [0.03, -0.03, 0.0]  # spread of 3 points: nothing resolves with 3 seeds
    run_round(rounds, rounds.first_round(), lambda index, seed: 0.85 + noise[seed])
    assert rounds.next_round() == [0, 1, 2]
    run_round(rounds, [0, 1, 2], lambda index, seed: 0.85 + noise[seed])
    assert rounds.next_round() == []
    assert rounds.outcome() == "capped"
    summary = rounds.summary()
    assert summary["rounds"] == [["model.units=32", "model.units=64", "model.units=128"] * 2,
                                 ["model.units=32", "model.units=64", "model.units=128"]]
    assert [entry["seeds"] for entry in summary["configurations"]] == [[42, 43, 44]] * 3
    assert summary["configurations"][2]["reason"].startswith("at the cap of 3 seeds; still unsettled")
    assert summary["rule"]["looks"] == 2 and summary["rule"]["look_confidence"] == pytest.approx(0.975)


def test_a_small_effect_known_to_be_small_settles_without_excluding_zero():
    # Every configuration within 0.05 point of the others, spread 0.01 point: the CIs cover
    # 0 but are far narrower than ±0.5 point.
    rounds = rounds_of(SeedRule(min_seeds=3, max_seeds=10, half_width=0.005))
    run_round(rounds, rounds.first_round(), lambda index, seed: 0.85 + 0.0001 * seed + 0.0005 * index)
    assert rounds.next_round() == [] and rounds.outcome() == "settled"


def sweeper_config(**settings) -> object:
    values = {"min_seeds": 3, "max_seeds": 10, "half_width": 0.5, "metric": "best_val_accuracy", "params": None,
              "_target_": "x", **settings}
    return OmegaConf.create({"hydra": {"sweeper": values}})


def test_the_settings_make_the_rule_in_accuracy():
    rule, metric = check_adaptive_seeds(sweeper_config(min_seeds=2, max_seeds=4, half_width=0.25), ["model.units"])
    assert (rule.min_seeds, rule.max_seeds, rule.half_width, metric) == (2, 4, 0.0025, "best_val_accuracy")


def test_bad_settings_are_all_said_at_once():
    with pytest.raises(ConfigError) as raised:
        check_adaptive_seeds(sweeper_config(half_width=0, metric="test_accuracy", min_seeds=1), ["seed"])
    text = str(raised.value)
    assert "hydra.sweeper.half_width = 0 is not allowed: expected a number in (0, 50]" in text
    assert "hydra.sweeper.metric = 'test_accuracy' is not allowed: expected one of best_val_accuracy" in text
    assert "hydra.sweeper.min_seeds = 1 is not allowed: expected an integer >= 2" in text
    assert "seed is swept, but hydra/sweeper=adaptive_seeds chooses the seeds itself" in text


def test_max_seeds_below_min_seeds_is_refused():
    with pytest.raises(ConfigError, match=r"hydra.sweeper.max_seeds = 2 is not allowed: expected at least "
                                          r"hydra.sweeper.min_seeds \(3\)"):
        check_adaptive_seeds(sweeper_config(max_seeds=2), ["model.units"])


def test_a_fixed_seed_is_the_first_seed_and_leaves_the_grid():
    grid, first = grid_of([["model.units=32", "seed=5"], ["model.units=64", "seed=5"]])
    assert grid == [["model.units=32"], ["model.units=64"]] and first == 5
    assert grid_of([["model.units=32"]]) == ([["model.units=32"]], None)
