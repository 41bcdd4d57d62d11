"""Jobs side by side: the `parallel` (joblib) launcher preset against the default local store,
and the per-job TensorFlow thread count. The PostgreSQL-backed server case is in test_postgres.py."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from imdb_sweep.config.validation import ConfigError, validate_config
from tests.helpers.cli import TINY, run_cli
from tests.helpers.paths import CONF_DIR, PROJECT_ROOT


def test_the_parallel_preset_runs_two_joblib_jobs_with_one_thread_each(isolated_env):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=parallel"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.job.env_set.IMDB_SWEEP_THREADS == "1"


def test_train_threads_follows_the_launcher_environment_and_is_validated(tiny_config, monkeypatch):
    assert tiny_config().train.threads is None
    monkeypatch.setenv("IMDB_SWEEP_THREADS", "3")
    assert tiny_config().train.threads == 3
    assert tiny_config("train.threads=2").train.threads == 2
    with pytest.raises(ConfigError, match=r"train.threads = 0 is not allowed: expected null or an integer >= 1"):
        validate_config(tiny_config("train.threads=0"))


@pytest.mark.slow
def test_set_tensorflow_threads_sizes_both_pools():
    code = ("from imdb_sweep.process.quiet_tensorflow import set_tensorflow_threads as s; s(1); s(1); "
            "import tensorflow as tf; "
            "t = tf.config.threading; print(t.get_intra_op_parallelism_threads(), "
            "t.get_inter_op_parallelism_threads()); tf.constant(1) + 1; s(2)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.stdout.split() == ["1", "1"]
    assert "train.threads = 2 cannot be applied: TensorFlow already runs in this process" in result.stderr


@pytest.mark.slow
def test_a_parallel_sweep_on_the_local_store_nests_every_job_once(tmp_path, tiny_archive):
    env = {"IMDB_SWEEP_ACLIMDB": str(tiny_archive), "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": ""}
    result = run_cli(["-m", "hydra/launcher=parallel", *TINY, "train.epochs=2", "model.units=8,16,24",
                      "train.verbose=2"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ended FINISHED: 3 finished" in result.stdout
    # Two jobs print side by side: every Keras line names its job, and each job
    # is announced once (ours, not also the launcher's "#0 : model.units=8").
    keras_lines = [line for line in result.stdout.splitlines() if "Epoch " in line or " - loss: " in line]
    assert len(keras_lines) >= 3 * 2 * 2, result.stdout[-3000:]
    assert all(re.match(r"\[[123]/3\] ", line) for line in keras_lines), keras_lines
    assert {line[:5] for line in keras_lines} == {"[1/3]", "[2/3]", "[3/3]"}
    assert "#0 : " not in result.stdout + result.stderr

    database = sqlite3.connect(tmp_path / "mlflow.db")
    runs = database.execute(
        "SELECT r.run_uuid, r.status, p.value, pid.value FROM runs r "
        "LEFT JOIN tags p ON p.run_uuid = r.run_uuid AND p.key = 'mlflow.parentRunId' "
        "LEFT JOIN tags pid ON pid.run_uuid = r.run_uuid AND pid.key = 'imdb_sweep.pid'").fetchall()
    parents = [run for run in runs if run[2] is None]
    jobs = [run for run in runs if run[2] is not None]
    assert len(parents) == 1 and len(jobs) == 3
    assert {run[2] for run in jobs} == {parents[0][0]}
    assert all(status == "FINISHED" for _, status, _, _ in runs)
    # The jobs ran in joblib's worker processes, not in the launching one.
    assert parents[0][3] not in {run[3] for run in jobs}
    points = database.execute(
        "SELECT run_uuid, step, count(*) FROM metrics WHERE key = 'val_accuracy' GROUP BY run_uuid, step"
    ).fetchall()
    assert sorted(step for _, step, _ in points) == [1, 1, 1, 2, 2, 2]
    assert all(count == 1 for *_, count in points)
    threads = database.execute("SELECT DISTINCT value FROM params WHERE key = 'train.threads'").fetchall()
    assert threads == [("1",)]
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
