"""A search on a real multi-node Ray cluster on this machine: a head and a second node in one
loopback-only network namespace (as tests/e2e/test_ray.py does for its head), two slots, trials
on both nodes; the second node is killed mid-trial, Ray retries the trial's task on the head,
where the job resumes the killed run from its checkpoint, and the search completes with every
trial answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.search import trials as trial_records
from tests.helpers.cli import TINY
from tests.helpers.namespaces import can_make_network_namespace
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.searches import SEARCH

pytest.importorskip("hydra_plugins.hydra_ray_launcher",
                    reason="the Ray launcher is not installed (pip install -e '.[ray]')")


@pytest.mark.slow
@pytest.mark.skipif(not can_make_network_namespace(), reason="needs `unshare -n` (root) and iproute2's `ip`")
def test_a_search_survives_losing_a_ray_node_mid_trial(tiny_archive, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "IMDB_SWEEP_ACLIMDB": str(tiny_archive),
           "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("IMDB_SWEEP_STATE", None)
    journal = store / "search.journal"
    result_file = tmp_path / "result.json"
    # 30 epochs: a trial runs long enough to be caught after its first epoch.
    search = [*SEARCH, *TINY, "tracking.experiment=on-ray", f"hydra.sweeper.storage={journal}",
              "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "train.epochs=30",
              "model.units=choice(4,8)", "model.dropout=interval(0.0,0.5)"]
    completed = subprocess.run(["unshare", "-n", sys.executable, str(PROJECT_ROOT / "tests/helpers/ray_two_nodes.py"),
                                str(store), str(result_file), "--", *search],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    result = json.loads(result_file.read_text())
    assert result["returncode"] == 0, result["output"][-4000:]
    assert set(result["nodes"].values()) == {"head", "second"}  # trials placed on both nodes
    killed = result["killed"]
    assert killed is not None, result["nodes"]

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("on-ray")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    (parent,) = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    assert parent.info.status == "FINISHED"
    # Ray ran the killed trial's task again (on the head): the job found its run's process
    # gone, marked the run KILLED and resumed it from its checkpoint, to the end.
    output = result["output"]
    assert f"Marked run {killed} KILLED: its process is gone" in output
    assert f"resuming run {killed} after epoch" in output
    killed_run = client.get_run(killed)
    assert killed_run.info.status == "FINISHED"
    steps = [metric.step for metric in client.get_metric_history(killed, "val_accuracy")]
    assert max(steps) > 1 and sorted(set(steps)) == list(range(1, max(steps) + 1))  # its curve has no gap
    trial_number = killed_run.data.tags[contract.TRIAL_NUMBER]
    assert [run.info.run_id for run in jobs if run.data.tags[contract.TRIAL_NUMBER] == trial_number] == [killed]
    # Nothing lost: every counted trial is complete, each answered by a FINISHED run of its number.
    import optuna

    from imdb_sweep.search.storage import open_storage

    study = optuna.load_study(study_name=parent.data.tags[contract.SEARCH_STUDY], storage=open_storage(str(journal)))
    counted = [trial for trial in study.trials if trial_records.counts_toward_budget(trial)]
    assert len(counted) == 4 and all(trial.state == TrialState.COMPLETE for trial in counted)
    finished = {run.data.tags[contract.TRIAL_NUMBER] for run in jobs if run.info.status == "FINISHED"}
    reused = {str(contract.job_index(int(key.removeprefix(contract.REUSED_PREFIX)))) for key in parent.data.tags
              if key.startswith(contract.REUSED_PREFIX)}
    assert {str(trial.number) for trial in counted} == finished | reused
