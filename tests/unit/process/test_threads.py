"""TensorFlow's thread count per job: the parallel launcher preset asks one thread of each job,
runtime.threads follows it and is validated, and both of TensorFlow's pools get the count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from imdb_sweep.config.validation import ConfigError, validate_config
from tests.helpers.paths import CONF_DIR, PROJECT_ROOT


def test_the_parallel_preset_runs_two_joblib_jobs_with_one_thread_each(isolated_env):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=parallel"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("joblib_launcher.JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.job.env_set.IMDB_SWEEP_THREADS == "1"


def test_train_threads_follows_the_launcher_environment_and_is_validated(tiny_config, monkeypatch):
    assert tiny_config().runtime.threads is None
    monkeypatch.setenv("IMDB_SWEEP_THREADS", "3")
    assert tiny_config().runtime.threads == 3
    assert tiny_config("runtime.threads=2").runtime.threads == 2
    with pytest.raises(ConfigError, match=r"runtime.threads = 0 is not allowed: expected null or an integer >= 1"):
        validate_config(tiny_config("runtime.threads=0"))


@pytest.mark.slow
def test_set_tensorflow_threads_sizes_both_pools():
    code = ("from imdb_sweep.process.quiet_tensorflow import set_tensorflow_threads as s; s(1); s(1); "
            "import tensorflow as tf; "
            "t = tf.config.threading; print(t.get_intra_op_parallelism_threads(), "
            "t.get_inter_op_parallelism_threads()); tf.constant(1) + 1; s(2)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.stdout.split() == ["1", "1"]
    assert "runtime.threads = 2 cannot be applied: TensorFlow already runs in this process" in result.stderr
