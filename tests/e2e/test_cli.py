"""`python -m imdb_sweep` as a user runs it: real processes, real MLflow stores and server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from tests.helpers.cli import TINY, cli_environment, run_cli
from tests.helpers.paths import CONF_DIR


def local_store(cwd: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sweep")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    return client, runs


def test_single_run_goes_to_the_default_store_quietly(tmp_path, cli_env):
    result = run_cli([*TINY, "train.epochs=2", "runtime.verbose=2"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr
    client, runs = local_store(tmp_path)
    (run,) = runs
    assert run.info.status == "FINISHED" and contract.PARENT_RUN_ID not in run.data.tags
    assert "test_accuracy" in run.data.metrics
    # Keras's per-epoch line is shown; TensorFlow's start-up notices are not.
    assert "Epoch 2/2" in result.stdout and "val_accuracy" in result.stdout
    for noise in ("oneDNN", "cuInit", "cuda drivers", "absl::InitializeLog", "Warning", "WARNING"):
        assert noise not in result.stderr + result.stdout, noise


def test_a_bad_value_fails_before_any_store_or_run_exists(tmp_path, cli_env):
    result = run_cli([*TINY, "model.activation=sparkle"], cwd=tmp_path, env=cli_env)
    assert result.returncode != 0
    assert "model.activation = 'sparkle' is not allowed: expected one of relu, tanh" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_bad_job_in_a_sweep_fails_the_sweep_before_training(tmp_path, cli_env):
    result = run_cli(["-m", *TINY, "model.units=32,-1", "model.dropout=0.2,1.5"], cwd=tmp_path, env=cli_env)
    assert result.returncode != 0
    assert "job model.units=-1 model.dropout=0.2: model.units = -1 is not allowed" in result.stderr
    assert "job model.units=32 model.dropout=1.5: model.dropout = 1.5 is not allowed" in result.stderr
    assert "Epoch" not in result.stdout
    assert local_store(tmp_path)[1] == []


def test_a_missing_dataset_fails_before_any_run(tmp_path, cli_env):
    missing = tmp_path / "gone.tar.gz"
    result = run_cli([*TINY, f"data.path={missing}"], cwd=tmp_path, env=cli_env)
    assert result.returncode != 0
    assert f"data.path = '{missing}' does not exist" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_grid_without_any_data_stops_before_any_run_with_one_short_message(tmp_path, cli_env):
    # No archive configured, and keras.datasets.imdb neither cached nor downloadable
    # (HTTPS to a closed local port: the same here and on a machine with internet).
    env = {**cli_env, "IMDB_SWEEP_ACLIMDB": "", "KERAS_HOME": str(tmp_path / "keras"),
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    result = run_cli(["-m", "model.units=32,64", "model.activation=relu,tanh"], cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Downloading" not in result.stdout + result.stderr
    assert result.stderr.count("no IMDB reviews to train on") == 1  # once, not once per job
    assert "IMDB_SWEEP_ACLIMDB" in result.stderr and "data.path" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 8, result.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("model.units=abc", "model.units = 'abc' is not allowed: expected an integer >= 1"),
    ("train.epochs=2.5", "train.epochs = 2.5 is not allowed: expected an integer >= 1"),
    ("data.path=/nope", "data.path = '/nope' does not exist"),
])
def test_a_single_job_with_bad_input_says_so_without_a_traceback(tmp_path, cli_env, override, message):
    result = run_cli([override], cwd=tmp_path, env=cli_env)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_malformed_tracking_uri_gets_one_line(tmp_path, cli_env):
    env = {**cli_env, "MLFLOW_TRACKING_URI": "htp:/localhost:5000"}
    for command in ([*TINY], ["-m", *TINY, "model.units=8,16"]):
        result = run_cli(command, cwd=tmp_path, env=env)
        assert result.returncode == 1
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("Error: MLFLOW_TRACKING_URI = 'htp:/localhost:5000' is not a tracking URI"), line
    assert not (tmp_path / "mlflow.db").exists()


def test_a_failing_job_does_not_stop_the_sweep_and_fails_its_parent(tmp_path, cli_env):
    result = run_cli(
        ["-m", *TINY, "train.epochs=2", "train.optimizer=sgd", "train.learning_rate=1e38,0.01"],
        cwd=tmp_path, env=cli_env,
    )
    assert result.returncode != 0
    assert "[1/2] train.learning_rate=1e+38 FAILED: NonFiniteLossError" in result.stderr
    assert "[2/2] train.learning_rate=0.01 done" in result.stdout
    client, runs = local_store(tmp_path)
    parents = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = {run.info.run_name: run for run in runs if run.data.tags.get(contract.ROLE) == "job"}
    (parent,) = parents
    assert parent.info.status == "FAILED"
    assert parent.data.metrics["jobs_failed"] == 1 and parent.data.metrics["jobs_finished"] == 1
    assert jobs["learning_rate=1e+38"].info.status == "FAILED"
    assert jobs["learning_rate=0.01"].info.status == "FINISHED"
    assert all(job.data.tags[contract.PARENT_RUN_ID] == parent.info.run_id for job in jobs.values())


def test_every_variant_runs_in_one_sweep(tmp_path, cli_env):
    result = run_cli(["-m", *TINY, "train.epochs=1", "variant=glob(*)"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    _, runs = local_store(tmp_path)
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    assert sorted(run.data.params["variant"] for run in jobs) == sorted(
        path.stem for path in (CONF_DIR / "variant").glob("*.yaml"))
    assert all(run.info.status == "FINISHED" for run in jobs)
    assert "[8/8] variant=" in result.stdout
    assert "| variant |" in result.stdout and "Browse the runs" in result.stdout
    # The direct addresses of the sweep's training runs and of its parent run:
    # MLflow 3's UI otherwise opens the experiment in its GenAI view.
    (parent,) = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    # Named first by what it sweeps (the UI's runs table shows about 20 characters).
    assert parent.info.run_name == f"variant=glob(*) · {parent.data.tags[contract.SWEEP_ID]}"
    assert f"Sweep {parent.data.tags[contract.SWEEP_ID]} ended FINISHED" in result.stdout
    experiment = f"http://127.0.0.1:5000/#/experiments/{parent.info.experiment_id}/runs"
    view = "?workflowType=machine_learning"  # MLflow 3.17's Model training view, not GenAI
    assert f"runs:  {experiment}{view}\n" in result.stdout
    assert f"sweep: {experiment}/{parent.info.run_id}{view}\n" in result.stdout
    assert "#0 : " not in result.stdout + result.stderr  # one announcement per job


@pytest.mark.slow
def test_grid_sweep_on_the_real_archive_against_a_real_server(real_archive, mlflow_server, tmp_path):
    env = cli_environment(real_archive, Path.home() / ".cache" / "imdb_sweep", mlflow_server)
    result = run_cli(
        ["-m", "model.units=32,64", "model.activation=relu,tanh", "train.epochs=2",
         "data.train_limit=2000", "data.test_limit=1000", "tracking.experiment=e2e-grid"],
        cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("e2e-grid")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs_finished"] == 4
    assert parent.info.run_name == f"units=32,64 activation=relu,tanh · {parent.data.tags[contract.SWEEP_ID]}"
    assert len(jobs) == 4
    assert all(job.info.status == "FINISHED" for job in jobs)
    assert all(job.data.tags[contract.PARENT_RUN_ID] == parent.info.run_id for job in jobs)
    assert {job.data.tags[contract.SWEEP_ID] for job in jobs} == {parent.data.tags[contract.SWEEP_ID]}
    grid = {(job.data.params["model.units"], job.data.params["model.activation"]) for job in jobs}
    assert grid == {("32", "relu"), ("32", "tanh"), ("64", "relu"), ("64", "tanh")}
    assert {job.info.run_name for job in jobs} == {
        "units=32,activation=relu", "units=32,activation=tanh",
        "units=64,activation=relu", "units=64,activation=tanh"}
    for job in jobs:
        points = client.get_metric_history(job.info.run_id, "val_accuracy")
        assert [point.step for point in sorted(points, key=lambda p: p.step)] == [1, 2]
        assert 0.5 < job.data.metrics["test_accuracy"] <= 1.0
        assert len({job.data.tags[contract.CONFIG_HASH] for job in jobs}) == 4


def test_the_logged_model_scores_text_and_carries_a_plain_keras_model(tmp_path, cli_env):
    # tracking.log_model=true is the default. The logged model is the text model
    # (tests/e2e/test_serving.py); the Keras model inside it is the fused training model
    # saved as a stock keras.Sequential, loadable with neither imdb_sweep nor custom objects.
    result = run_cli([*TINY, "train.epochs=1", "tracking.log_model=true"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr
    client, (run,) = local_store(tmp_path)
    script = (
        "import sys, mlflow, keras, numpy as np\n"
        f"mlflow.set_tracking_uri('sqlite:///{tmp_path / 'mlflow.db'}')\n"
        f"info = mlflow.models.get_model_info('runs:/{run.info.run_id}/model')\n"
        "folder = mlflow.artifacts.download_artifacts(info.model_uri)\n"
        "model = keras.models.load_model(folder + '/artifacts/model.keras')\n"
        "assert 'imdb_sweep' not in sys.modules, 'loading the Keras model imported imdb_sweep'\n"
        "assert type(model).__name__ == 'Sequential', type(model)\n"
        "scores = model.predict(np.ones((3, 50), dtype='int32'), verbose=0)\n"
        "assert scores.shape == (3, 1) and ((scores > 0) & (scores < 1)).all(), scores\n"
        "print('SIGNATURE', info.signature.inputs.to_json(), info.signature.outputs.to_json())\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, **cli_env, "PYTHONPATH": ""}, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert '"name": "text", "type": "string"' in loaded.stdout or '"type": "string", "name": "text"' in loaded.stdout
    assert '"name": "probability"' in loaded.stdout and '"name": "label"' in loaded.stdout
