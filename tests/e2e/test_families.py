"""Every model family end to end on tiny data: raw text reproduces model_test_accuracy, and a
grid over families is one sweep whose table shows each family's keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep.data.aclimdb import read_aclimdb
from imdb_sweep.job import run_job
from tests.helpers.cli import TINY, run_cli
from tests.helpers.families import FAMILIES, SMALL

LOAD_AND_SCORE_EACH = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
texts = json.load(open(sys.argv[3]))
labels = {model_uri: mlflow.pyfunc.load_model(model_uri).predict(pd.DataFrame({"text": texts}))["label"].tolist()
          for model_uri in sys.argv[2].split(",")}
print(json.dumps(labels))
"""


@pytest.mark.slow
def test_the_logged_model_of_every_family_reproduces_its_model_test_accuracy_on_raw_reviews(
        tiny_config, tiny_archive, tmp_path):
    families = {family: [f"model={family}", *SMALL[family]] for family in FAMILIES}
    families["bag_of_ngrams"].append("model.mode=tf_idf")  # its learnt weights travel with the model
    families["custom"] = ["model=custom", "model.builder=examples.my_model:build", "+model.width=6"]
    runs = {}
    for family, overrides in families.items():
        cfg = tiny_config("tracking.log_model=true", "train.epochs=2", *overrides)
        metrics = run_job(cfg)
        client = MlflowClient(f"sqlite:///{cfg.tracking.store_dir}/mlflow.db")
        (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id],
                                    filter_string=f"params.`model.family` = '{family}'")
        runs[f"runs:/{run.info.run_id}/model"] = metrics["model_test_accuracy"]
    reviews = read_aclimdb(tiny_archive)["test"]
    (tmp_path / "texts.json").write_text(json.dumps([text for _, text in reviews]))
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SCORE_EACH, client.tracking_uri, ",".join(runs), str(tmp_path / "texts.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},  # imdb_sweep comes from each model, nowhere else
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    labels = np.array([label for label, _ in reviews])
    scored = json.loads(loaded.stdout.splitlines()[-1])
    # Keras's accuracy is a float32 mean of 0/1 over the reviews: exact to its rounding.
    accuracies = {uri: float(np.mean(np.array(scored[uri]) == labels)) for uri in runs}
    assert accuracies == pytest.approx(runs, abs=float(np.finfo(np.float32).eps))


@pytest.mark.slow
def test_a_grid_over_families_is_one_sweep_whose_table_shows_each_familys_keys(cli_env, tmp_path):
    from imdb_sweep.report import build_table, render, select_runs

    swept = run_cli(["-m", "model=dense,conv1d,rnn", *TINY, "train.epochs=1"], cwd=tmp_path, env=cli_env)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "3 job(s)" in swept.stdout
    selection = select_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "imdb-sweep")
    assert len(selection.finished) == 3 and selection.parent_run_id is not None
    table = build_table(selection)
    # Each family's own keys are columns, blank (None) on the other families' rows.
    assert {"model.family", "model.hidden_layers", "model.l2", "model.filters", "model.kernel_size",
            "model.cell", "model.bidirectional"} <= set(table.param_keys)
    by_family = {row.params["model.family"]: row.params for row in table.rows}
    assert by_family["dense"]["model.hidden_layers"] == 1 and by_family["dense"]["model.cell"] is None
    assert by_family["conv1d"]["model.filters"] == 32 and by_family["conv1d"]["model.hidden_layers"] is None
    assert by_family["rnn"]["model.cell"] == "lstm" and by_family["rnn"]["model.filters"] is None
    # Ranked across families on validation, the best first.
    values = [row.value("best_val_accuracy") for row in table.rows]
    assert values == sorted(values, reverse=True) and table.rows[0].is_best
    markdown = render(table, "markdown")
    assert all(family in markdown for family in ("dense", "conv1d", "rnn"))
