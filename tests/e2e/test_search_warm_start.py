"""hydra.sweeper.warm_start=experiment: a new study starts with the experiment's FINISHED runs
of its own configurations (values in its space, the same fixed keys and data), their
per-epoch objective kept for the pruner; they are not trained again nor counted in n_trials."""

from __future__ import annotations

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.storage import open_storage
from tests.helpers.cli import TINY, run_cli
from tests.helpers.searches import SEARCH


@pytest.mark.slow
def test_a_search_starts_from_the_runs_of_its_configurations(tmp_path, cli_env):
    # The record: units 4 and 8 belong to the search below; 32 lies outside its space,
    # and 3 epochs is another fixed key.
    grid = run_cli(["-m", *TINY, "train.epochs=2", "model.units=4,8,32"], cwd=tmp_path, env=cli_env)
    assert grid.returncode == 0, grid.stderr[-3000:]
    longer = run_cli([*TINY, "train.epochs=3", "model.units=4"], cwd=tmp_path, env=cli_env)
    assert longer.returncode == 0, longer.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.get_experiment_by_name("imdb-sweep").experiment_id
    earlier = {(run.data.params["model.units"], run.data.params["train.epochs"]): run
               for run in client.search_runs([experiment_id]) if run.data.tags.get(contract.ROLE) == "job"}
    assert len(earlier) == 4

    search = run_cli([*SEARCH, *TINY, "train.epochs=2", "hydra.sweeper.warm_start=experiment",
                      "hydra.sweeper.n_trials=1", "hydra.sweeper.pruner=asha", "model.units=choice(4,8,16)"],
                     cwd=tmp_path, env=cli_env)
    assert search.returncode == 0, search.stderr[-3000:]
    assert "Warm start: 2 earlier run(s)" in search.stdout
    (parent,) = [run for run in client.search_runs([experiment_id]) if contract.SEARCH_STUDY in run.data.tags]
    study = optuna.load_study(study_name=parent.data.tags[contract.SEARCH_STUDY],
                              storage=open_storage(parent.data.tags[contract.SEARCH_STORAGE]))
    warm = {trial.user_attrs[contract.TRIAL_WARM_START]: trial for trial in study.trials
            if contract.TRIAL_WARM_START in trial.user_attrs}
    assert set(warm) == {earlier[("4", "2")].info.run_id, earlier[("8", "2")].info.run_id}
    for run_id, trial in warm.items():
        history = [metric.value for metric in sorted(client.get_metric_history(run_id, "val_accuracy"),
                                                     key=lambda metric: metric.step)]
        assert trial.state == TrialState.COMPLETE
        assert trial.value == client.get_run(run_id).data.metrics["best_val_accuracy"]
        assert trial.intermediate_values == {1: history[0], 2: max(history)}  # best so far, per epoch
        assert trial.system_attrs["completed_rung_0"] == history[0]  # ASHA's first rung: epoch 1
        assert trial.params == {"model.units": int(client.get_run(run_id).data.params["model.units"])}
    # n_trials counts what this search trains: one trial besides the two from the record.
    counted = [trial for trial in study.trials if trial_records.counts_toward_budget(trial)]
    assert len(counted) == 1 and len(study.trials) == 3
    assert parent.data.metrics["trials_warm_started"] == 2
    assert parent.info.status == "FINISHED"
