"""Our search sweeper (hydra/sweeper=imdb_optuna) against Hydra's own Optuna sweeper's tests
(facebookresearch/hydra, plugins/hydra_optuna_sweeper/tests/test_optuna_sweeper_plugin.py),
adapted: the override grammar's distributions, direction, a sampler given by _target_,
custom_search_space, max_failure_rate, optimization_results.yaml, a grid run to its end,
and the upstream settings we refuse; a config written for upstream (its hydra.sweeper
block, direction, study_name, storage, n_trials, n_jobs) run by ours, and upstream's
name (hydra/sweeper=optuna) refused naming ours. Where our meaning differs from
upstream's, a test asserts ours and says so beside it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.config.validation import ConfigError
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.settings import build_sampler
from imdb_sweep.search.space import SearchSpace
from tests.helpers.cli import TINY, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.searches import (
    SEARCH,
    assert_complete_search,
    assert_refused_before_any_run_or_study,
    read_search,
    sweeper_settings,
)

SPACES = "tests.optuna_search_spaces"  # the custom_search_space functions
ONE_EPOCH = [*TINY, "train.epochs=1"]


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
    assert any(message in problem for problem in refused.value.problems), refused.value.problems


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


# -- on the command line: refused before any run or study exists ----------------------

@pytest.mark.parametrize("arguments, message", [
    (["hydra.sweeper.direction=minimize"], "search on best_val_loss, final_val_loss"),
    (["hydra.sweeper.direction=[maximize,minimize]"], "a search optimizes one objective"),
    ([f"hydra.sweeper.custom_search_space={SPACES}.no_such_function"],
     f"hydra.sweeper.custom_search_space = '{SPACES}.no_such_function' cannot be used"),
    (["hydra.sweeper.max_failure_rate=1.5"], "hydra.sweeper.max_failure_rate = 1.5 is not allowed"),
    (["+hydra.sweeper.search_space={units: {type: int, low: 8, high: 32}}"],
     "hydra.sweeper.search_space is not a setting of the search sweeper"),
], ids=["direction", "multi-objective", "custom_search_space", "max_failure_rate", "search_space"])
def test_upstream_settings_we_cannot_honour_stop_the_search_before_it_starts(tmp_path, cli_env, arguments, message):
    assert_refused_before_any_run_or_study(tmp_path, cli_env, [*arguments, "model.units=choice(4,8)"], message)


# -- real searches (the tiny archive, one epoch a trial) -------------------------------

def optimization_results(sweep_dir: Path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("arguments", [
    [],  # n_trials: 20, the default, above the grid's size
    ["hydra.sweeper.n_trials=2", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2"],
], ids=["default-n_trials", "n_trials-2-parallel"])
def test_a_grid_run_to_its_end_finishes_and_says_it_was_exhausted(tmp_path, cli_env, arguments):
    sweep_dir = tmp_path / "sweep"
    result = run_cli([*SEARCH, *ONE_EPOCH, "hydra/sweeper/imdb_sampler=grid", f"hydra.sweep.dir={sweep_dir}",
                      "model.dropout=range(0.0,1.0,step=0.5)", *arguments], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: model.dropout=range(")]
    assert len(warnings) == 1 and "interval(0.0,1.0)" in warnings[0], result.stderr[-3000:]

    parent, children, study = assert_complete_search(tmp_path, 2)  # FINISHED, best named
    assert parent.data.tags[contract.SEARCH_EXHAUSTED] == "true"
    assert study.user_attrs[contract.STUDY_EXHAUSTED]
    assert parent.data.metrics["search_space_size"] == 2
    assert sorted(float(run.data.params["model.dropout"]) for run in children) == [0.0, 0.5]

    # Upstream's results file, in the sweep folder.
    results = optimization_results(sweep_dir)
    assert results["name"] == "optuna"
    assert results["best_params"] == study.best_trial.params
    assert results["best_value"] == study.best_value == parent.data.metrics["best_val_accuracy"]


# -- a config written for hydra-optuna-sweeper ------------------------------------------

# Upstream's example config, as a user has it, with our sweeper's name: every key of
# upstream's hydra.sweeper block that ours shares.
UPSTREAM_CONFIG = """\
# @package _global_
defaults:
  - override /hydra/sweeper: {sweeper}
hydra:
  sweeper:
    direction: maximize
    study_name: upstream_study
    storage: {storage}
    n_trials: 3
    n_jobs: 2
    sampler: {{_target_: optuna.samplers.TPESampler, seed: 123}}
    params:
      model.units: choice(4, 8)
      model.dropout: interval(0.0, 0.5)
"""


def write_search_config(folder: Path, sweeper: str, storage: str) -> Path:
    """conf/search/upstream.yaml under `folder`, for --config-dir or hydra.searchpath."""
    (folder / "conf" / "search").mkdir(parents=True)
    (folder / "conf" / "search" / "upstream.yaml").write_text(UPSTREAM_CONFIG.format(sweeper=sweeper, storage=storage))
    return folder / "conf"


def test_upstreams_hydra_sweeper_block_means_the_same_to_our_sweeper(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config_dir = write_search_config(tmp_path, "imdb_optuna", storage)
    settings = sweeper_settings("search=upstream", f"hydra.searchpath=[file://{config_dir}]")
    assert (settings.direction, settings.study_name, settings.storage, settings.n_trials, settings.n_jobs) == \
        ("maximize", "upstream_study", storage, 3, 2)
    assert settings.params == {"model.units": "choice(4, 8)", "model.dropout": "interval(0.0, 0.5)"}
    # Over the tpe preset (the same class): the preset's other arguments stay.
    assert (settings.sampler["_target_"], settings.sampler["seed"]) == ("optuna.samplers.TPESampler", 123)
    assert settings.study_name_for(settings.params_as_overrides()) == "upstream_study"


def test_upstreams_name_without_upstreams_plugin_is_refused_naming_ours(tmp_path, cli_env):
    config_dir = write_search_config(tmp_path, "optuna", f"sqlite:///{tmp_path / 'optuna.db'}")
    result = run_cli(["-m", "--config-dir", str(config_dir), "search=upstream", *ONE_EPOCH], cwd=tmp_path,
                     env=cli_env, timeout=180)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ("Error: hydra/sweeper=optuna is Hydra's own Optuna sweeper (pip install hydra-optuna-sweeper), "
            "which is not installed. imdb_sweep's Optuna search is hydra/sweeper=imdb_optuna") in result.stderr
    assert not (tmp_path / "optuna.db").exists()  # no study
    assert not (tmp_path / "mlflow.db").exists()  # no run: the sweeper stops before the store is opened


def test_our_plugin_and_config_are_named_apart_from_upstreams():
    """hydra-optuna-sweeper registers hydra/sweeper=optuna (samplers in hydra/sweeper/sampler)
    and the class hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper."""
    from hydra_plugins.imdb_sweep_optuna.optuna_sweeper import ImdbOptunaSweeper

    assert f"{ImdbOptunaSweeper.__module__}.{ImdbOptunaSweeper.__name__}" != \
        "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert ImdbOptunaSweeper.__name__ != "OptunaSweeper"  # Hydra's plugin list shows class names
    sweepers = PROJECT_ROOT / "conf" / "hydra" / "sweeper"
    assert not (sweepers / "optuna.yaml").exists() and not (sweepers / "sampler").exists()


@pytest.mark.slow
def test_a_config_written_for_upstream_runs_with_our_sweepers_name(tmp_path, cli_env):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config_dir = write_search_config(tmp_path, "imdb_optuna", storage)
    result = run_cli(["-m", "--config-dir", str(config_dir), "search=upstream", *ONE_EPOCH], cwd=tmp_path,
                     env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    _, parent, children, study = read_search(tmp_path, storage)
    assert study.study_name == parent.data.tags[contract.SEARCH_STUDY] == "upstream_study"
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.get_trials()
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * 3
    assert {int(run.data.params["model.units"]) for run in children} <= {4, 8}
    # n_jobs: 2 asks trials two at a time (the basic launcher then runs them one after
    # the other): trial 1 was asked before trial 0 ended, trial 2 only after both had.
    assert trials[1].datetime_start < trials[0].datetime_complete
    assert trials[2].datetime_start >= max(trials[0].datetime_complete, trials[1].datetime_complete)


SEARCH_CONFIG = """\
# @package _global_
defaults:
  - override /hydra/sweeper: imdb_optuna
hydra:
  sweeper:
    n_trials: 2
    direction: minimize
    objective: {metric: best_val_loss}
    sampler: {_target_: optuna.samplers.RandomSampler, seed: 123}
    params:
      model.dropout: interval(0.0,0.5)
"""


@pytest.mark.slow
def test_a_search_config_file_with_upstreams_direction_and_a_target_sampler(tmp_path, cli_env):
    (tmp_path / "conf" / "search").mkdir(parents=True)
    (tmp_path / "conf" / "search" / "minimize_loss.yaml").write_text(SEARCH_CONFIG)
    sweep_dir = tmp_path / "sweep"
    result = run_cli(["-m", "--config-dir", str(tmp_path / "conf"), "search=minimize_loss", *ONE_EPOCH,
                      f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    _, parent, children, study = read_search(tmp_path)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert parent.data.tags[contract.SEARCH_DIRECTION] == "minimize"
    assert parent.data.tags[contract.SEARCH_OBJECTIVE] == "best_val_loss"
    assert parent.data.tags[contract.SEARCH_SAMPLER] == "random"
    # The seed reached the sampler: the first trial drew what RandomSampler(seed=123) draws first.
    replay = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=123))
    first = replay.ask({"model.dropout": FloatDistribution(0.0, 0.5)}).params
    assert trial_records.find_trial(study, 0).params == first

    results = optimization_results(sweep_dir)
    assert results["best_value"] == min(run.data.metrics["best_val_loss"] for run in children)
    assert results["best_run_id"] == parent.data.tags["best_run_id"]


@pytest.mark.slow
def test_a_custom_search_space_function_suggests_keys_the_trials_train_with(tmp_path, cli_env):
    result = run_cli([*SEARCH, *ONE_EPOCH, "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=1",
                      "hydra.sweeper.n_trials=3", "model.units=choice(4,8)",
                      f"hydra.sweeper.custom_search_space={SPACES}.embedding_no_wider_than_units"],
                     cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    _, parent, children, study = read_search(tmp_path)
    runs = {int(run.data.tags[contract.TRIAL_NUMBER]): run for run in children}
    for trial in study.get_trials():
        assert trial.state == TrialState.COMPLETE
        # Left alone, every run would have conf/'s embedding_dim 32, wider than either units.
        assert 2 <= trial.params["model.embedding_dim"] <= trial.params["model.units"]
        if trial.number in runs:  # not answered by an earlier run of the same configuration
            params = runs[trial.number].data.params
            assert int(params["model.embedding_dim"]) == trial.params["model.embedding_dim"]
            assert int(params["model.units"]) == trial.params["model.units"]
    assert parent.info.status == "FINISHED"


# A trial's job fails when model.units=0 (the job's own config check, before training).
@pytest.mark.slow
@pytest.mark.parametrize("rate, space, n_trials, states, exit_code", [
    # Ours counts every trial this worker ran (upstream: each batch on its own): the second
    # trial's failure is 1 in 2, more than 0.0 ...
    ("0.0", "invalid_units_on_odd_trials", 4, ["COMPLETE", "FAIL"], 1),
    # ... and not more than 0.5, nor is 2 in 4.
    ("0.5", "invalid_units_on_odd_trials", 4, ["COMPLETE", "FAIL", "COMPLETE", "FAIL"], 0),
    ("0.5", "invalid_units_always", 3, ["FAIL"], 1),
    # 1.0 (our default) never stops: every trial is run.
    ("1.0", "invalid_units_always", 3, ["FAIL", "FAIL", "FAIL"], 0),
], ids=["0.0-odd", "0.5-odd", "0.5-always", "1.0-always"])
def test_max_failure_rate_stops_a_worker_once_more_of_its_trials_failed(tmp_path, cli_env, rate, space, n_trials,
                                                                       states, exit_code):
    result = run_cli([*SEARCH, *ONE_EPOCH, "hydra/sweeper/imdb_sampler=random", f"hydra.sweeper.n_trials={n_trials}",
                      f"hydra.sweeper.max_failure_rate={rate}", f"hydra.sweeper.custom_search_space={SPACES}.{space}"],
                     cwd=tmp_path, env=cli_env)
    assert result.returncode == exit_code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    _, parent, _, study = read_search(tmp_path)
    assert [trial.state.name for trial in study.get_trials()] == states
    # Each failed trial says why, at once.
    for number, state in enumerate(states):
        said = f"[trial {number}] model.units=0"
        assert (said in result.stderr) == (state == "FAIL"), result.stderr[-3000:]
    assert result.stderr.count("FAILED: ConfigError") == states.count("FAIL")
    assert "model.units = 0 is not allowed" in result.stderr
    stopped = f"more than hydra.sweeper.max_failure_rate={float(rate)} allows"
    assert (stopped in result.stderr) == (exit_code != 0)
    assert parent.info.status == "FAILED"  # trials failed, stopped or not
    # The end line counts the study's trials too: a refused trial has no run to count.
    trials = f"trials in its study: {states.count('COMPLETE')} complete, 0 pruned, {states.count('FAIL')} failed"
    assert trials in result.stdout + result.stderr


@pytest.mark.slow
def test_a_custom_search_space_function_that_raises_stops_the_search_naming_it(tmp_path, cli_env):
    result = run_cli([*SEARCH, *ONE_EPOCH, "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.n_trials=3",
                      f"hydra.sweeper.custom_search_space={SPACES}.broken"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (f"Error: hydra.sweeper.custom_search_space={SPACES}.broken failed on trial 0: KeyError: 'model.width'"
            in result.stderr)
    _, parent, children, study = read_search(tmp_path)
    assert [trial.state for trial in study.get_trials()] == [TrialState.FAIL]  # no later trial asked
    assert children == [] and parent.info.status == "FAILED"
