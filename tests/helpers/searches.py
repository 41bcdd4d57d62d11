"""Searches (hydra/sweeper=imdb_optuna) for tests: the settings a command composes, and what a
search left in its store and study."""

from __future__ import annotations

from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.settings import SearchSettings
from imdb_sweep.search.storage import open_storage
from tests.helpers.cli import TINY, run_cli
from tests.helpers.paths import PROJECT_ROOT

SEARCH = ["-m", "hydra/sweeper=imdb_optuna"]


def sweeper_settings(*overrides: str) -> SearchSettings:
    """hydra.sweeper.* of `hydra/sweeper=imdb_optuna` composed from the real conf/ with
    `overrides`, checked as a search checks it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from imdb_sweep.search.sweeper import sampler_preset

    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        config = compose("config", overrides=["hydra/sweeper=imdb_optuna", *overrides], return_hydra_config=True)
    return SearchSettings.from_sweeper_config(OmegaConf.to_container(config.hydra.sweeper, resolve=True),
                                              sampler_preset(config))


def assert_refused_before_any_run_or_study(cwd: Path, env: dict[str, str], arguments: list[str], message: str) -> None:
    """A search with `arguments` stops with `message`, no traceback, no study and no run."""
    result = run_cli([*SEARCH, *TINY, *arguments], cwd=cwd, env=env, timeout=180)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    journal = cwd / "mlruns" / "optuna.journal"
    assert not journal.exists() or journal.stat().st_size == 0
    if (cwd / "mlflow.db").exists():
        assert MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}").search_runs(["0", "1"]) == []


def read_search(cwd: Path, storage: str | None = None) -> tuple[MlflowClient, object, list, optuna.Study]:
    """The parent run, its trial runs and the study (in `storage`, by default the one
    the parent names) of the one search in cwd's store."""
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sweep")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    assert len(parents) == 1, [run.info.run_name for run in parents]
    parent = parents[0]
    children = [run for run in runs if run.data.tags.get(contract.PARENT_RUN_ID) == parent.info.run_id]
    storage = storage or parent.data.tags[contract.SEARCH_STORAGE]  # the tag hides a password
    study = optuna.load_study(study_name=parent.data.tags[contract.SEARCH_STUDY], storage=open_storage(storage))
    return client, parent, children, study


def assert_complete_search(cwd: Path, n_trials: int, storage: str | None = None) -> tuple[object, list, optuna.Study]:
    client, parent, children, study = read_search(cwd, storage)
    counted = [trial for trial in study.get_trials() if trial_records.counts_toward_budget(trial)]
    assert len(counted) == n_trials
    assert all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in counted)
    numbers = [int(run.data.tags[contract.TRIAL_NUMBER]) for run in children]
    assert len(numbers) == len(set(numbers))  # no trial number used twice
    # A trial whose configuration already had a FINISHED run is answered by it (no run of its own).
    reused = {contract.job_index(int(key.removeprefix(contract.REUSED_PREFIX))) for key in parent.data.tags
              if key.startswith(contract.REUSED_PREFIX)}
    assert {trial.number for trial in counted} == set(numbers) | reused
    assert parent.info.status == "FINISHED"
    assert all(run.info.status == "FINISHED" for run in children)
    complete = {run.info.run_id: run for run in children if contract.PRUNED_AT_EPOCH not in run.data.tags}
    best_value = max(run.data.metrics["best_val_accuracy"] for run in complete.values())
    # The parent names a complete trial with the best value (tiny data may tie several).
    assert parent.data.tags["best_run_id"] in complete
    assert complete[parent.data.tags["best_run_id"]].data.metrics["best_val_accuracy"] == best_value
    assert parent.data.metrics["best_val_accuracy"] == best_value
    return parent, children, study
