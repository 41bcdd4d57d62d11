"""The example builder (examples/my_model.py) end to end: a search over its key, register, serve."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.cli import TINY, run_cli
from tests.helpers.searches import SEARCH, assert_complete_search


@pytest.mark.slow
def test_a_search_over_the_example_builders_key_registers_and_serves_its_winner(cli_env, tmp_path):
    searched = run_cli([*SEARCH, *TINY, "hydra.sweeper.n_trials=3", "hydra/sweeper/imdb_sampler=random",
                        "hydra.sweeper.sampler.seed=1",
                        "model=custom", "model.builder=examples.my_model:build", "+model.width=choice(4,8,16)",
                        "tracking.log_model=true", "tracking.register=my-model"], cwd=tmp_path, env=cli_env)
    assert searched.returncode == 0, searched.stderr[-3000:]
    parent, children, study = assert_complete_search(tmp_path, 3)  # a repeated width reuses its run
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert {run.data.params["model.family"] for run in children} == {"custom"}
    assert {trial.params["+model.width"] for trial in study.trials} <= {4, 8, 16}
    assert {run.data.params["model.width"] for run in children} <= {"4", "8", "16"}
    champion = client.get_model_version_by_alias("my-model", "champion")
    assert champion.run_id == parent.data.tags["best_run_id"]

    # Served where nothing of ours, nor the example, is importable: the model brings what it needs.
    loaded = subprocess.run(
        [sys.executable, "-c", "import mlflow, pandas as pd\n"
         "model = mlflow.pyfunc.load_model('models:/my-model@champion')\n"
         "print(model.predict(pd.DataFrame({'text': ['great wonderful superb', 'awful boring dull']}))"
         "['label'].tolist())"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": "", "MLFLOW_TRACKING_URI": ""},
        capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().splitlines()[-1] in ("[1, 0]", "[0, 1]", "[1, 1]", "[0, 0]")
