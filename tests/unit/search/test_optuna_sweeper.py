"""Our search sweeper (hydra/sweeper=imdb_optuna) against Hydra's own Optuna sweeper's tests
(facebookresearch/hydra, plugins/hydra_optuna_sweeper/tests/test_optuna_sweeper_plugin.py),
adapted: the override grammar's distributions, direction, a sampler given by _target_, and
the upstream settings we refuse. Where our meaning differs from upstream's, a test asserts
ours and says so beside it. On the command line: tests/e2e/test_optuna_sweeper.py."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from imdb_sweep.config.validation import ConfigError
from imdb_sweep.search.settings import build_sampler
from imdb_sweep.search.space import SearchSpace
from tests.helpers import optuna_search_spaces
from tests.helpers.searches import (
    sweeper_settings,
)

SPACES = optuna_search_spaces.__name__  # the custom_search_space functions, as a user names a module


# -- the override grammar as distributions (upstream: test_create_optuna_distribution_from_override) --

def distribution_of(override: str) -> BaseDistribution:
    (distribution,) = SearchSpace.from_overrides([override]).distributions.values()
    return distribution


@pytest.mark.parametrize("override, expected", [
    ("key=choice(1,2)", CategoricalDistribution([1, 2])),
    ("key=choice(true, false)", CategoricalDistribution([True, False])),
    ("key=choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
    ("key=interval(1, 5)", FloatDistribution(1.0, 5.0)),
    ("key=int(interval(1, 5))", IntDistribution(1, 5)),
    ("key=tag(log, interval(1, 5))", FloatDistribution(1.0, 5.0, log=True)),
    ("key=tag(log, int(interval(1, 5)))", IntDistribution(1, 5, log=True)),
    # Upstream: IntDistribution(1, 3), the stop included. Ours leaves the stop out, as
    # Hydra's basic sweeper (a grid) and Python's range do.
    ("key=range(1,3)", IntDistribution(1, 2)),
    ("key=range(1,10,step=3)", IntDistribution(1, 7, step=3)),
    # Upstream: FloatDistribution(0.5, 5.5, step=1), the stop included. Ours: exactly
    # the values a grid runs, as a choice (and a warning, below).
    ("key=range(0.5, 5.5, step=1)", CategoricalDistribution([0.5, 1.5, 2.5, 3.5, 4.5])),
])
def test_the_override_grammar_gives_these_distributions(override, expected):
    assert distribution_of(override) == expected


def test_a_shuffled_range_is_a_choice_of_its_values():
    distribution = distribution_of("key=shuffle(range(1,4))")
    assert isinstance(distribution, CategoricalDistribution)
    assert sorted(distribution.choices) == [1, 2, 3]  # in the order shuffle() left them


def test_overrides_that_sweep_nothing_are_given_to_every_trial():
    space = SearchSpace.from_overrides(["key1=choice(1,2)", "key2=5", "key3=range(1,3)"])
    assert space.distributions == {"key1": CategoricalDistribution([1, 2]), "key3": IntDistribution(1, 2)}
    assert space.fixed == ["key2=5"]


def test_a_float_range_warns_in_one_line_naming_the_key_and_what_to_use_instead():
    space = SearchSpace.from_overrides(["model.dropout=range(0.0,0.5,step=0.25)", "model.units=range(8,33,step=8)"])
    (note,) = space.notes  # the integer range is no choice of values: no warning
    assert note.startswith("model.dropout=range(0.0,0.5,step=0.25): a float range is searched as a choice")
    assert "\n" not in note
    assert "interval(0.0,0.5)" in note
    assert "0.0..0.25 (as a grid runs it, the stop 0.5 left out)" in note


def test_a_float_range_whose_steps_land_on_the_stop_is_not_said_to_leave_it_out():
    # Hydra adds the steps as decimals of the floats typed: 0.1 + 0.1 comes out below 0.2.
    (note,) = SearchSpace.from_overrides(["model.dropout=range(0.0,0.2,step=0.1)"]).notes
    assert "its 3 values 0.0..0.2 (as a grid runs it)" in note


# -- hydra.sweeper.* settings: upstream's keys mean ours, or are refused ------------

@pytest.mark.parametrize("overrides, direction", [
    ([], "maximize"),
    (["hydra.sweeper.direction=maximize"], "maximize"),
    (["hydra.sweeper.objective.metric=best_val_loss"], "minimize"),
    (["hydra.sweeper.objective.metric=best_val_loss", "hydra.sweeper.direction=minimize"], "minimize"),
    # Upstream's list form, with one objective.
    (["hydra.sweeper.objective.metric=final_val_loss", "hydra.sweeper.direction=[minimize]"], "minimize"),
])
def test_hydra_sweeper_direction_is_the_objectives_direction(overrides, direction):
    assert sweeper_settings(*overrides).direction == direction


@pytest.mark.parametrize("overrides, message", [
    # Upstream minimizes by default: a config copied from it would search for the worst models.
    (["hydra.sweeper.direction=minimize"],
     "hydra.sweeper.direction = 'minimize' is not allowed with hydra.sweeper.objective.metric=best_val_accuracy, "
     "which a search must maximize: to minimize instead, search on best_val_loss, final_val_loss"),
    (["hydra.sweeper.objective.metric=best_val_loss", "hydra.sweeper.direction=maximize"],
     "to maximize instead, search on best_val_accuracy, final_val_accuracy"),
    (["hydra.sweeper.direction=minimize", "hydra.sweeper.objective.direction=maximize"], "disagree: give one"),
    (["hydra.sweeper.direction=[maximize,minimize]"],
     "hydra.sweeper.direction = ['maximize', 'minimize'] is not allowed: a search optimizes one objective, "
     "hydra.sweeper.objective.metric"),
    (["hydra.sweeper.direction=up"], "hydra.sweeper.direction = 'up' is not allowed: expected maximize, minimize"),
    (["hydra.sweeper.max_failure_rate=1.5"],
     "hydra.sweeper.max_failure_rate = 1.5 is not allowed: expected a number in [0, 1]"),
    (["hydra.sweeper.max_failure_rate=-0.1"], "hydra.sweeper.max_failure_rate = -0.1 is not allowed"),
    (["hydra.sweeper.max_failure_rate=half"], "hydra.sweeper.max_failure_rate = 'half' is not allowed"),
    ([f"hydra.sweeper.custom_search_space={SPACES}.no_such_function"],
     f"hydra.sweeper.custom_search_space = '{SPACES}.no_such_function' cannot be used"),
    (["hydra.sweeper.custom_search_space=no_such_module.configure"],
     "hydra.sweeper.custom_search_space = 'no_such_module.configure' cannot be used"),
    ([f"hydra.sweeper.custom_search_space={SPACES}"], "it is a module, not a function"),
    (["hydra/sweeper/imdb_sampler=grid", f"hydra.sweeper.custom_search_space={SPACES}.embedding_no_wider_than_units"],
     "cannot be used with the grid sampler"),
    # Upstream's deprecated name of params, and a misspelt key: neither is ignored.
    (["+hydra.sweeper.search_space={units: {type: int, low: 8, high: 32}}"],
     "hydra.sweeper.search_space is not a setting of the search sweeper: expected one of n_trials"),
    (["+hydra.sweeper.n_trails=3"], "hydra.sweeper.n_trails is not a setting of the search sweeper"),
    # A key the sampler class does not take, written by the user (not left over from the tpe preset).
    (["hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler", "hydra.sweeper.sampler.n_startup_trials=3"],
     "hydra.sweeper.sampler.n_startup_trials = 3 is not an argument of optuna.samplers.RandomSampler"),
], ids=["minimize-accuracy", "maximize-loss", "two-directions", "multi-objective", "direction-up", "rate-above-1",
        "rate-below-0", "rate-not-a-number", "no-such-function", "no-such-module", "not-a-function", "grid",
        "search_space", "misspelt", "sampler-argument"])
def test_settings_a_search_cannot_honour_are_refused_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as refused:
        sweeper_settings(*overrides)
    assert any(message in str(problem) for problem in refused.value.problems), refused.value.problems


def first_draws(sampler: optuna.samplers.BaseSampler) -> list[float]:
    study = optuna.create_study(sampler=sampler)
    return [study.ask({"x": FloatDistribution(0.0, 1.0)}).params["x"] for _ in range(3)]


@pytest.mark.parametrize("overrides", [
    ["hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler", "hydra.sweeper.sampler.seed=123"],
    ["~hydra.sweeper.sampler", "+hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler",
     "+hydra.sweeper.sampler.seed=123"],
    ["hydra.sweeper.sampler={_target_: optuna.samplers.RandomSampler, seed: 123}"],
], ids=["over-the-preset", "in-its-place", "as-one-value"])
def test_a_sampler_given_by_its_target_gets_only_its_own_arguments(overrides):
    settings = sweeper_settings(*overrides)
    # The tpe preset's keys (n_startup_trials, constant_liar) are not RandomSampler's: dropped.
    assert settings.sampler == {"_target_": "optuna.samplers.RandomSampler", "seed": 123}
    sampler = build_sampler(settings)
    assert type(sampler) is optuna.samplers.RandomSampler
    assert first_draws(sampler) == first_draws(optuna.samplers.RandomSampler(seed=123))

