"""What one job records in MLflow, against a real local store."""

from __future__ import annotations

import csv
import io
import time

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.config import identity
from imdb_sweep.config.validation import ConfigError
from imdb_sweep.data import DataError
from imdb_sweep.job import JobContext, run_job
from imdb_sweep.sweep import parent
from imdb_sweep.tracking import records, store, uris
from imdb_sweep.tracking.sweep_state import SweepState


def store_client(cfg) -> tuple[MlflowClient, str]:
    uri, _ = store.resolve_tracking_uri(cfg.tracking)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    return client, experiment.experiment_id if experiment else ""


def test_config_hash_follows_what_is_trained(tiny_config):
    base = tiny_config()
    digest = "d" * 64
    reference = identity.config_hash(base, digest)
    assert identity.config_hash(tiny_config(), digest) == reference
    assert identity.config_hash(tiny_config("tracking.log_model=true", "runtime.verbose=2"), digest) == reference
    for change in ("model.units=33", "seed=1", "train.learning_rate=0.01", "data.maxlen=49"):
        assert identity.config_hash(tiny_config(change), digest) != reference, change
    assert identity.config_hash(base, "e" * 64) != reference


def test_run_names_use_the_last_key_segment():
    assert identity.run_name_from_overrides(["model.units=64", "model.activation=tanh"], "x") == \
        "units=64,activation=tanh"
    assert identity.run_name_from_overrides([], "baseline") == "baseline"


def test_job_overrides_keep_swept_keys_or_hyperparameters():
    overrides = ["model.units=64", "data.path=/d.tgz", "tracking.store_dir=/s", "seed=3"]
    assert identity.distinguishing_overrides(overrides, ["model.units"]) == ["model.units=64"]
    assert identity.distinguishing_overrides(overrides) == ["model.units=64", "seed=3"]


def test_a_sweep_of_one_job_is_named_by_its_overrides_not_as_defaults():
    # `-m model.units=16` sweeps no key: the job is still the one with units=16.
    overrides = ["model.units=16", "tracking.store_dir=/tmp/x"]
    assert identity.distinguishing_overrides(overrides, swept_keys=[]) == ["model.units=16"]


def test_a_parent_run_is_named_first_by_what_tells_its_sweep_apart():
    assert parent.grid_title(["model.units=32,64", "model.activation=relu,tanh"]) == \
        "units=32,64 activation=relu,tanh"
    assert parent.grid_title(["variant=glob(*)"]) == "variant=glob(*)"
    assert parent.grid_title(["train.learning_rate=0.000123456789,0.001"]) == "learning_rate=0.0001235,0.001"
    assert parent.grid_title([]) == "sweep"
    assert parent.search_title(["model.units", "model.hidden_layers", "model.dropout", "train.learning_rate"],
                               None) == "search: units, hidden_layers, dropout, learning_rate"
    assert parent.search_title(["model.units"], "wide") == "search wide: units"
    sweep_id = "20261202-193012-b2f047"
    grid = parent.parent_run_name("units=32,64 activation=relu,tanh", sweep_id)
    assert grid == f"units=32,64 activation=relu,tanh · {sweep_id}"
    # The ~20 characters the UI's runs table shows tell a units grid from a dropout one.
    assert grid[:20] != parent.parent_run_name("dropout=0.0,0.5", sweep_id)[:20]
    # MLflow's SQL stores keep 250 characters of a run name: the id still ends it.
    long = parent.parent_run_name(" ".join(f"key{index}=1,2,3" for index in range(40)), sweep_id)
    assert len(long) <= 250 and long.endswith(f"... · {sweep_id}")


@pytest.mark.parametrize("search", [None, {"study_name": "wide"}], ids=["grid", "search"])
def test_the_end_of_a_sweep_or_search_says_which_it_was(tmp_path, capsys, search):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    target = store.TrackingTarget(client.tracking_uri, experiment_id, "e")
    run = parent.create_parent_run(client, target, "s1", "model.units=8,16", "units=8,16")
    state = SweepState("s1", run.info.run_id, client.tracking_uri, experiment_id, search=search)
    parent.end_parent_run(client, state, expected=0)
    kind = "Sweep" if search is None else "Search"
    assert f"{kind} s1 ended FINISHED: 0 finished" in capsys.readouterr().out
    ended = client.get_run(run.info.run_id)
    assert ended.info.run_name == "units=8,16 · s1" and ended.data.tags[contract.SWEEP_ID] == "s1"


def test_the_experiment_opens_on_its_training_runs_in_the_mlflow_ui(tiny_config):
    cfg = tiny_config()
    target = store.connect(cfg.tracking)
    client = MlflowClient(target.uri)
    kind = client.get_experiment(target.experiment_id).tags.get(store.EXPERIMENT_KIND_TAG)
    assert kind == "custom_model_development"  # not MLflow 3's GenAI (traces) view
    # An experiment created elsewhere without the tag gets it when a job connects.
    client.create_experiment("made-by-hand")
    store.connect(tiny_config("tracking.experiment=made-by-hand").tracking)
    assert client.get_experiment_by_name("made-by-hand").tags[store.EXPERIMENT_KIND_TAG] == kind
    # A kind the user chose stays theirs.
    client.create_experiment("chosen", tags={store.EXPERIMENT_KIND_TAG: "genai_development"})
    store.connect(tiny_config("tracking.experiment=chosen").tracking)
    assert client.get_experiment_by_name("chosen").tags[store.EXPERIMENT_KIND_TAG] == "genai_development"


def test_the_printed_addresses_open_the_mlflow_ui_in_its_model_training_view(tmp_path):
    # MLflow 3.17's UI takes its view from the address, not from the experiment's tag.
    hint = uris.browse_hint(uris.local_store_uri(tmp_path), "3", "abc")
    assert hint.splitlines() == [
        f"Browse the runs: python -m imdb_sweep.server --store {tmp_path.resolve()}",
        "  runs:  http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning",
        "  sweep: http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning",
    ]
    assert uris.run_address("https://mlflow.example/", "3", "abc") == (
        "https://mlflow.example/#/experiments/3/runs/abc?workflowType=machine_learning")


def test_flatten_config_spells_out_every_key(tiny_config):
    flat = identity.flatten_config(tiny_config())
    assert flat["model.units"] == 32 and flat["train.loss"] == "binary_crossentropy"
    assert not any(key.startswith("hydra") for key in flat)


def test_a_single_run_logs_everything_without_a_parent(tiny_config):
    cfg = tiny_config("train.epochs=2", "tracking.log_model=true")
    metrics = run_job(cfg, JobContext(overrides=["model.units=32"]))
    client, experiment_id = store_client(cfg)
    (run,) = client.search_runs([experiment_id])

    assert run.info.status == "FINISHED"
    assert run.info.run_name == "units=32"
    assert contract.PARENT_RUN_ID not in run.data.tags
    assert run.data.tags[contract.ROLE] == "job"
    assert len(run.data.tags[contract.CONFIG_HASH]) == 16
    assert run.data.params["model.units"] == "32"
    assert run.data.params["variant"] == "baseline"
    assert run.data.params["data.num_words"] == "40"
    for name in ("test_accuracy", "test_loss", "best_val_accuracy", "best_epoch", "train_seconds"):
        assert run.data.metrics[name] == pytest.approx(metrics[name])
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        history = client.get_metric_history(run.info.run_id, name)
        assert sorted(point.step for point in history) == [1, 2], name

    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"config", "history.csv"} <= artifacts
    config_files = {item.path for item in client.list_artifacts(run.info.run_id, "config")}
    assert config_files == {"config/resolved_config.yaml", "config/overrides.yaml"}
    history_csv = client.download_artifacts(run.info.run_id, "history.csv")
    with open(history_csv, newline="") as history:
        rows = list(csv.DictReader(history))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[1]["val_accuracy"]) == pytest.approx(
        client.get_metric_history(run.info.run_id, "val_accuracy")[-1].value)

    logged_models = client.search_logged_models([experiment_id])
    assert [model.source_run_id for model in logged_models] == [run.info.run_id]
    inputs = run.inputs.dataset_inputs
    assert {i.tags[0].value for i in inputs} == {"training", "test"}
    assert all(i.dataset.digest for i in inputs)


def test_bad_values_fail_before_any_run_is_created(tiny_config):
    cfg = tiny_config("model.activation=sparkle")
    with pytest.raises(ConfigError, match="model.activation = 'sparkle'"):
        run_job(cfg)
    client, experiment_id = store_client(cfg)
    assert experiment_id == "" or client.search_runs([experiment_id]) == []


def test_a_data_error_found_while_loading_leaves_no_run(tiny_config):
    cfg = tiny_config("data.train_limit=5000")
    with pytest.raises(DataError, match="data.train_limit = 5000"):
        run_job(cfg)
    client, experiment_id = store_client(cfg)
    assert client.search_runs([experiment_id]) == []


def test_a_job_that_raises_during_training_ends_failed(tiny_config):
    cfg = tiny_config("train.learning_rate=1e38", "train.optimizer=sgd", "train.epochs=3")
    with pytest.raises(Exception, match="the training loss became"):
        run_job(cfg)
    client, experiment_id = store_client(cfg)
    (run,) = client.search_runs([experiment_id])
    assert run.info.status == "FAILED"
    assert "NonFiniteLossError" in run.data.tags[contract.ERROR]


def test_an_unreachable_server_is_named_within_seconds(tiny_config, monkeypatch):
    from tests.helpers.processes import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    with pytest.raises(store.TrackingError, match=f"MLFLOW_TRACKING_URI = '{uri}'.*not reachable"):
        run_job(tiny_config("sweep.connect_attempts=2"))
    assert time.monotonic() - started < 30


def test_history_csv_has_one_row_per_epoch():
    text = records.history_csv({"loss": [0.5, 0.4], "val_accuracy": [0.6, 0.7]})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["epoch", "loss", "val_accuracy"], ["1", "0.5", "0.6"], ["2", "0.4", "0.7"]]


def test_parallel_jobs_logging_the_same_dataset_all_get_it(tmp_path):
    """Two jobs logging the same data at the same moment race on MLflow's unique
    dataset key; every run must still end up with its input."""
    import threading

    import numpy as np

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("race", artifact_location=(tmp_path / "a").as_uri())
    x, y = np.zeros((4, 5), np.int32), np.zeros(4, np.float32)
    failures: list[str] = []
    runs: list[str] = []

    def log(run_id: str, digest: str, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            records.log_dataset(client, run_id, x, y, "/data/aclImdb.tar.gz", digest, "training")
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            failures.append(str(error))

    for round_number in range(60):
        pair = [client.create_run(experiment_id).info.run_id for _ in range(2)]
        runs += pair
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=log, args=(run_id, f"{round_number:064d}", barrier)) for run_id in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    for run_id in runs:
        (dataset_input,) = client.get_run(run_id).inputs.dataset_inputs
        assert dataset_input.tags[0].value == "training"


@pytest.mark.parametrize(("uri", "problem"), [
    ("htp:/localhost:5000", "unknown scheme 'htp'"),
    ("http:/localhost:5000", "a server address needs a host"),
    ("sqlite://mlflow.db", "a SQLite URI has three slashes"),
])
def test_a_malformed_tracking_uri_is_refused_naming_the_variable_and_the_forms(monkeypatch, uri, problem):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(store.TrackingError) as raised:
        store.resolve_tracking_uri(type("Cfg", (), {"uri": None, "store_dir": "."}))
    message = str(raised.value)
    assert message.startswith(f"MLFLOW_TRACKING_URI = '{uri}' is not a tracking URI ({problem}")
    assert "http(s)://host:port" in message and "sqlite:///path/to/mlflow.db" in message
    assert "\n" not in message


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example.org/", "sqlite:///mlflow.db",
                                 "sqlite:////abs/mlflow.db", "postgresql://u:p@h/db", "postgresql+psycopg://u@h/db",
                                 "file:///tmp/mlruns", "/tmp/mlruns", "mlruns", "databricks"])
def test_every_form_mlflow_opens_passes(uri):
    assert uris.uri_form_problem(uri) is None


def test_a_store_made_before_the_database_moved_up_keeps_opening(tiny_config, tmp_path, capsys):
    # The old layout: mlruns/mlflow.db with artifacts in mlruns/artifacts.
    old_database = tmp_path / "mlruns" / "mlflow.db"
    old_database.parent.mkdir()
    old_client = MlflowClient(f"sqlite:///{old_database}")
    experiment_id = old_client.create_experiment(
        "imdb-sweep", artifact_location=(tmp_path / "mlruns" / "artifacts").as_uri())
    old_run = old_client.create_run(experiment_id)
    old_client.log_text(old_run.info.run_id, "kept", "note.txt")
    old_client.set_terminated(old_run.info.run_id)

    target = store.connect(tiny_config(f"tracking.store_dir={tmp_path}").tracking)
    assert target.uri == f"sqlite:///{tmp_path / 'mlflow.db'}" and target.experiment_id == experiment_id
    assert not old_database.exists()
    assert f"Moved the local store's database {old_database} to {tmp_path / 'mlflow.db'}" in capsys.readouterr().err
    moved = MlflowClient(target.uri)
    assert moved.get_run(old_run.info.run_id).info.status == "FINISHED"
    assert moved.download_artifacts(old_run.info.run_id, "note.txt", str(tmp_path)).endswith("note.txt")
    assert (tmp_path / "note.txt").read_text() == "kept"
