"""The model each job logs for use: raw review text in, probability and label out;
loaded where no training code is imported, reproducing its model_test_accuracy (the
weights of the best validation epoch, not the last);
registered and served by `mlflow models serve`, bad requests answered 4xx."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep.data.aclimdb import read_aclimdb
from imdb_sweep.data.arrays import KERAS_SHUFFLE_SEED, keras_order
from imdb_sweep.job import run_job
from tests.helpers.archives import NEGATIVE_WORDS, POSITIVE_WORDS, write_aclimdb
from tests.helpers.cli import TINY, cli_environment, run_cli
from tests.helpers.processes import free_port, wait_for_http

POSITIVE_REVIEW = "A " + " and ".join(POSITIVE_WORDS) + " film. " + " ".join(POSITIVE_WORDS) + "!"
NEGATIVE_REVIEW = "An " + " and ".join(NEGATIVE_WORDS) + " film. " + " ".join(NEGATIVE_WORDS) + "!"


def keras_ordered_test_reviews(archive: Path) -> tuple[list[str], list[int]]:
    """The test reviews in the order load_imdb gives them (Keras's shuffle: train, then test)."""
    reviews = read_aclimdb(archive)
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)
    keras_order(len(reviews["train"]), rng)
    order = keras_order(len(reviews["test"]), rng)
    return [reviews["test"][i][1] for i in order], [reviews["test"][i][0] for i in order]


# Loads the logged model in a fresh process, scores the test reviews and reports
# what it imported. Nothing of imdb_sweep is imported before loading: the model
# brings its own copy of the package code it needs.
LOAD_AND_SCORE = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
reviews = json.load(open(sys.argv[3]))
scores = model.predict(pd.DataFrame({"text": reviews["texts"]}))
print(json.dumps({
    "labels": scores["label"].tolist(), "probabilities": scores["probability"].tolist(),
    "columns": list(scores.columns),
    "imported": sorted(name for name in sys.modules if name.startswith("imdb_sweep")),
    "package_file": sys.modules["imdb_sweep"].__file__,
    "inputs": model.metadata.get_input_schema().to_dict(),
    "outputs": model.metadata.get_output_schema().to_dict(),
}))
"""


def test_the_logged_text_model_loads_without_training_code_and_reproduces_model_test_accuracy(
        tiny_config, tiny_archive, tmp_path):
    # At this rate the tiny task is learnt in epoch 1: the best validation epoch (the
    # first of equals) is not the last, whose weights test_accuracy measures.
    cfg = tiny_config("tracking.log_model=true", "train.epochs=4", "train.learning_rate=0.01")
    metrics = run_job(cfg)
    assert metrics["model_epoch"] == metrics["best_epoch"] < 4
    client = MlflowClient(f"sqlite:///{cfg.tracking.store_dir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert 0 < run.data.metrics["model_logging_seconds"] < run.data.metrics["job_seconds"]
    texts, labels = keras_ordered_test_reviews(tiny_archive)
    (tmp_path / "reviews.json").write_text(json.dumps({"texts": texts}))

    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SCORE, client.tracking_uri, f"runs:/{run.info.run_id}/model",
         str(tmp_path / "reviews.json")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},  # imdb_sweep comes from the model, nowhere else
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stderr.strip() == "", loaded.stderr  # a quiet load: no TensorFlow notices, no warnings
    result = json.loads(loaded.stdout.splitlines()[-1])
    assert result["columns"] == ["probability", "label"]
    assert not [name for name in result["imported"]
                if name.split(".")[1:2] and name.split(".")[1] not in ("process", "data", "serving")]
    assert "imdb_sweep.training" not in result["imported"] and "imdb_sweep.serving.text_model" in result["imported"]
    assert f"{os.sep}code{os.sep}imdb_sweep{os.sep}" in result["package_file"]
    assert result["inputs"] == [{"type": "string", "name": "text", "required": True}]
    assert [column["name"] for column in result["outputs"]] == ["probability", "label"]

    # Keras's accuracy is a float32 mean of 0/1 over the reviews: exact to its rounding.
    accuracy = float(np.mean(np.array(result["labels"]) == np.array(labels)))
    assert accuracy == pytest.approx(metrics["model_test_accuracy"], abs=float(np.finfo(np.float32).eps))
    assert run.data.metrics["model_test_accuracy"] == metrics["model_test_accuracy"]
    # The last epoch's model scored otherwise: the logged one is the best epoch's.
    assert metrics["model_test_accuracy"] != metrics["test_accuracy"]
    probabilities = np.array(result["probabilities"])
    assert ((probabilities > 0) & (probabilities < 1)).all()

    (logged,) = client.search_logged_models([run.info.experiment_id])
    assert logged.name == "model" and logged.source_run_id == run.info.run_id
    files = set(os.listdir(logged.artifact_location.removeprefix("file://")))
    assert {"MLmodel", "input_example.json", "serving_input_example.json", "code", "artifacts"} <= files

    # The same configuration again is answered by this run, with its model's numbers.
    again = run_job(cfg)
    assert {key: again[key] for key in ("model_epoch", "model_test_accuracy")} == {
        key: metrics[key] for key in ("model_epoch", "model_test_accuracy")}


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_a_sweep_registers_its_winner_and_mlflow_models_serve_scores_raw_text(tmp_path):
    archive = write_aclimdb(tmp_path / "data" / "aclImdb.tar.gz", reviews_per_class=60)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the default store of the folder the sweep ran in
    swept = run_cli(["-m", "model.units=8,16", "train.epochs=8", *TINY, "tracking.log_model=true",
                     "tracking.register=imdb-tiny"], cwd=tmp_path, env=cli_environment(archive, tmp_path / "cache"))
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "as version 1 of model 'imdb-tiny', alias champion: models:/imdb-tiny@champion" in swept.stdout
    client = MlflowClient(uri)
    champion = client.get_model_version_by_alias("imdb-tiny", "champion")
    parent = client.get_run(client.get_run(champion.run_id).data.tags["mlflow.parentRunId"])
    assert parent.data.tags["best_run_id"] == champion.run_id  # the report's choice, on validation
    assert champion.tags["sweep_id"] == parent.data.tags["imdb_sweep.sweep_id"]
    # The version names the served model's own numbers: its epoch and its test accuracy.
    winner = client.get_run(champion.run_id).data.metrics
    assert champion.tags["model_epoch"] == f"{winner['model_epoch']:.0f}" == f"{winner['best_epoch']:.0f}"
    assert champion.tags["model_test_accuracy"] == f"{winner['model_test_accuracy']:.6f}"
    assert f"model_test_accuracy={champion.tags['model_test_accuracy']}" in swept.stdout

    # As the README types them, in the folder the sweep ran in, with no tracking URI set:
    # MLflow's own default store is the sweep's.
    bin_folder = str(Path(sys.executable).parent)  # `mlflow models serve` starts uvicorn through the shell
    user_env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    user_env.update(PATH=bin_folder + os.pathsep + os.environ["PATH"], PYTHONPATH="")
    loaded = subprocess.run(
        [sys.executable, "-c", "import mlflow, pandas as pd\n"
         "model = mlflow.pyfunc.load_model('models:/imdb-tiny@champion')\n"
         f"print(model.predict(pd.DataFrame({{'text': [{POSITIVE_REVIEW!r}]}}))['label'].tolist())"],
        cwd=tmp_path, env=user_env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip().splitlines()[-1] == "[1]"
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:  # the server writes to its own copy
        server = subprocess.Popen(
            [str(Path(bin_folder) / "mlflow"), "models", "serve", "-m", "models:/imdb-tiny@champion",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            cwd=tmp_path, env=user_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, timeout=180)
        invocations = f"http://127.0.0.1:{port}/invocations"
        status, answer = post(invocations, json.dumps(
            {"dataframe_records": [{"text": POSITIVE_REVIEW}, {"text": NEGATIVE_REVIEW}]}).encode())
        assert status == 200, answer
        positive, negative = answer["predictions"]
        assert positive["label"] == 1 and positive["probability"] > 0.5, answer
        assert negative["label"] == 0 and negative["probability"] < 0.5, answer
        status, answer = post(invocations, json.dumps({"inputs": {"text": [POSITIVE_REVIEW]}}).encode())
        assert status == 200 and answer["predictions"][0]["label"] == 1, answer

        bad_requests = {
            "no text": ({"dataframe_records": [{"review": POSITIVE_REVIEW}]}, "missing inputs ['text']"),
            "a number": ({"dataframe_records": [{"text": 5}]}, "'text' of row 0 is 5 (int), not a string"),
            "empty records": ({"dataframe_records": []}, "missing inputs ['text']"),
            "empty inputs": ({"inputs": []}, "no reviews to score"),
            "empty split": ({"dataframe_split": {"columns": ["text"], "data": []}}, "no reviews to score"),
            "null": ({"dataframe_records": [{"text": None}]}, "'text' of row 0 is missing"),
        }
        for case, (body, message) in bad_requests.items():
            status, answer = post(invocations, json.dumps(body).encode())
            assert 400 <= status < 500, (case, status, answer)
            assert message in answer["message"], (case, answer)
        status, answer = post(invocations, b"not json")
        assert status == 400, answer
        assert server.poll() is None, "a bad request stopped the server"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
