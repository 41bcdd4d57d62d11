"""Our search sweeper (hydra/sweeper=imdb_optuna) on the command line, against Hydra's own Optuna sweeper's tests
(facebookresearch/hydra, plugins/hydra_optuna_sweeper/tests/test_optuna_sweeper_plugin.py), adapted:
the upstream settings we refuse before any run or study exists, a grid run to its end and
optimization_results.yaml, a search config file with upstream's direction and a sampler given by
_target_, custom_search_space, max_failure_rate. Where our meaning differs from upstream's, a test
asserts ours and says so beside it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.search import trials as trial_records
from tests.helpers import optuna_search_spaces
from tests.helpers.cli import TINY, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.searches import (
    SEARCH,
    assert_complete_search,
    assert_refused_before_any_run_or_study,
    read_search,
    sweeper_settings,
)

SPACES = optuna_search_spaces.__name__  # the custom_search_space functions, as a user names a module
ONE_EPOCH = [*TINY, "train.epochs=1"]


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
