"""Everything MLflow: where runs go, how a job's run is named, tagged and filled.

Run layout:
- one run per job, named after the job's own overrides (`units=64,activation=tanh`);
- in a multirun, one parent run per sweep (owned by `sweep_callback`), every job
  nested under it with `mlflow.parentRunId`;
- params: the flattened resolved config (`model.units`, ...);
- metrics per epoch with step = epoch (1-based): `loss`, `accuracy`, `val_loss`,
  `val_accuracy`, `epoch_seconds`; at the end `test_loss`, `test_accuracy`,
  `best_val_accuracy`, `best_epoch`, timings;
- tags: sweep id, overrides, `config_hash`, git commit;
- artifacts: resolved config and overrides, history CSV, the Keras model, and the
  dataset as an MLflow input.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import subprocess
import time
import traceback
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import DatasetInput, InputTag, Metric, Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from omegaconf import DictConfig, OmegaConf

from imdb_sweep import tags
from imdb_sweep.liveness import process_tags

# Re-exported under the names the rest of the package uses.
TAG_SWEEP_ID = tags.SWEEP_ID
TAG_ROLE = tags.ROLE
TAG_OVERRIDES = tags.OVERRIDES
TAG_CONFIG_HASH = tags.CONFIG_HASH
TAG_DATA_DIGEST = tags.DATA_DIGEST
TAG_HOST = tags.HOST
TAG_PID = tags.PID
TAG_ERROR = tags.ERROR
TAG_GIT_COMMIT = tags.GIT_COMMIT
TAG_PARENT_RUN_ID = tags.PARENT_RUN_ID

# A new SQLite store announces its schema set-up at INFO level on every job.
for _logger in ("mlflow.store.db.utils", "alembic.runtime.migration"):
    logging.getLogger(_logger).setLevel(logging.WARNING)

STORE_DATABASE = "mlflow.db"
STORE_ARTIFACTS = "artifacts"

# Config keys that do not change what is trained, left out of `config_hash`.
_NOT_HASHED = ("tracking", "sweep", "train.verbose", "train.threads", "data.path", "data.cache_dir", "data.source")


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or used."""


@dataclass(frozen=True)
class TrackingTarget:
    uri: str
    experiment_id: str
    experiment_name: str


# ---------------------------------------------------------------------------
# Where runs go
# ---------------------------------------------------------------------------


def resolve_tracking_uri(tracking_cfg: Any) -> tuple[str, str]:
    """The tracking URI and the setting it came from (for error messages)."""
    from_environment = os.environ.get("MLFLOW_TRACKING_URI")
    if from_environment:
        return from_environment, "MLFLOW_TRACKING_URI"
    if tracking_cfg.uri:
        return str(tracking_cfg.uri), "tracking.uri"
    store = Path(tracking_cfg.store_dir).expanduser().resolve()
    return f"sqlite:///{store / STORE_DATABASE}", "tracking.store_dir"


def default_artifact_location(uri: str) -> str | None:
    """Artifacts beside a SQLite store (mlruns/artifacts), so the store is one folder."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / STORE_ARTIFACTS).as_uri()
    return None


# MLflow's HTTP client retries a failed request 7 times with exponential backoff
# and waits up to 120 s for each answer: a job whose server died would hang for
# minutes before failing. These bounds make it fail within seconds (a refused
# connection: about 6 s of backoff), naming the server. setdefault: a user who
# sets one of these variables keeps their value.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def bound_http_retries() -> None:
    """Bound MLflow's HTTP retries (see HTTP_RETRY_DEFAULTS) unless the user set them.

    Set in os.environ, so jobs that a launcher starts in other processes inherit them."""
    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def server_is_up(uri: str, timeout: float = 3) -> bool:
    """One quick /health probe: True when the server answers (401/403 count as up)."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        return error.code in (401, 403)
    except (urllib.error.URLError, OSError):
        return False


def explain_tracking_failure(error: BaseException, uri: str | None = None) -> TrackingError | None:
    """A TrackingError naming the server when `error` came from a tracking server that is
    gone; None for any other error (which then speaks for itself)."""
    uri = uri or mlflow.get_tracking_uri()
    if not isinstance(error, MlflowException) or not uri.startswith(("http://", "https://")):
        return None
    if server_is_up(uri):
        return None
    return TrackingError(
        f"the MLflow tracking server {uri} stopped answering during the job ({error}). "
        "What the run logged before is kept in the store; restart the server and rerun the job."
    )


def check_tracking_store(uri: str, setting: str, attempts: int) -> None:
    """Fail fast, naming the URI, when the store cannot be reached or written."""
    if uri.startswith(("http://", "https://")):
        bound_http_retries()
        _wait_for_server(uri, setting, attempts)
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrackingError(f"{setting} = '{uri}': cannot create the store folder: {error}") from error
        if not os.access(folder, os.W_OK):
            raise TrackingError(f"{setting} = '{uri}': the store folder {folder} is not writable")


def _wait_for_server(uri: str, setting: str, attempts: int) -> None:
    health_url = uri.rstrip("/") + "/health"
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(health_url, timeout=5) as response:
                if response.status == 200:
                    return
                last_error = TrackingError(f"HTTP {response.status}")
        except urllib.error.HTTPError as error:
            # An auth-protected server answers 401 on /health: it is up.
            if error.code in (401, 403):
                return
            last_error = error
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        if attempt + 1 < attempts:
            time.sleep(min(2 ** attempt, 8))
    raise TrackingError(
        f"{setting} = '{uri}': the MLflow tracking server is not reachable after "
        f"{attempts} attempt(s) ({last_error}). Start it (python -m imdb_sweep.server) or "
        "point MLFLOW_TRACKING_URI at a running server."
    )


def connect(tracking_cfg: Any, attempts: int = 3, sweep_uri: str | None = None) -> TrackingTarget:
    """Check the store, point MLflow at it and make sure the experiment exists.

    A job of a sweep passes `sweep_uri`, the store its parent run lives in: a
    launcher may run it on another machine or in another folder, where the
    default store would resolve elsewhere.
    """
    if sweep_uri:
        uri, setting = sweep_uri, "the sweep's tracking URI"
    else:
        uri, setting = resolve_tracking_uri(tracking_cfg)
    check_tracking_store(uri, setting, attempts)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    name = tracking_cfg.experiment
    try:
        experiment = client.get_experiment_by_name(name)
    except MlflowException as error:
        # The server is up (it answered /health) but cannot serve the store,
        # e.g. its database is down or refuses it.
        raise TrackingError(
            f"{setting} = '{uri}': the tracking store answered with an error: {error}"
        ) from error
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                name, artifact_location=default_artifact_location(uri)
            )
        except MlflowException:
            # Another job created it a moment ago.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            experiment_id = experiment.experiment_id
    else:
        if experiment.lifecycle_stage == "deleted":
            raise TrackingError(
                f"tracking.experiment = '{name}' is a deleted experiment in {uri}: restore it "
                "(mlflow experiments restore) or choose another name"
            )
        experiment_id = experiment.experiment_id
    return TrackingTarget(uri=uri, experiment_id=experiment_id, experiment_name=name)


# ---------------------------------------------------------------------------
# What a run records
# ---------------------------------------------------------------------------


def flatten_config(cfg: DictConfig | Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model.units': 32, ...} from the resolved config, `hydra` left out."""
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    flat: dict[str, Any] = {}
    for key, value in container.items():
        if key == "hydra":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def config_hash(cfg: DictConfig, data_digest: str) -> str:
    """Identity of what a job trains: resolved hyperparameters plus the data's digest."""
    flat = flatten_config(cfg)
    hashed = {
        key: value for key, value in flat.items()
        if not any(key == skip or key.startswith(skip + ".") for skip in _NOT_HASHED)
    }
    payload = json.dumps({"config": hashed, "data": data_digest}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def job_overrides(overrides: list[str], swept_keys: list[str] | None = None) -> list[str]:
    """The overrides that tell this job apart: the swept keys in a sweep, else every
    override that changes what is trained (not where data or runs are kept)."""
    selected = []
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if swept_keys is not None:
            keep = key in swept_keys
        else:
            keep = not any(key == skip or key.startswith(skip + ".") for skip in _NOT_HASHED)
        if keep:
            selected.append(override)
    return selected


def run_name_from_overrides(overrides: list[str], fallback: str) -> str:
    """`model.units=64`, `model.activation=tanh` -> `units=64,activation=tanh`."""
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return ",".join(parts) if parts else fallback


def git_commit(directory: Path | None = None) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory or Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def host_tags() -> dict[str, str]:
    """Host, pid, process start and a first heartbeat: what proves a run dead later."""
    return process_tags()


def history_csv(history: Mapping[str, list[float]]) -> str:
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *names])
    for epoch, values in enumerate(zip(*(history[name] for name in names)), start=1):
        writer.writerow([epoch, *values])
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


@contextmanager
def job_run(
    target: TrackingTarget,
    run_name: str,
    parent_run_id: str | None,
    run_tags: Mapping[str, str],
    resume_run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """A job's run (a new one, or `resume_run_id` reopened): FINISHED when the block
    ends, FAILED when it raises (error as a tag, traceback as an artifact), KILLED
    on Ctrl-C/SIGTERM."""
    if resume_run_id is not None:
        run = mlflow.start_run(run_id=resume_run_id)
        # The run moves under the sweep that completes it.
        mlflow.set_tags({**run_tags, **({TAG_PARENT_RUN_ID: parent_run_id} if parent_run_id else {})})
    else:
        run = mlflow.start_run(
            experiment_id=target.experiment_id, run_name=run_name,
            parent_run_id=parent_run_id, tags=dict(run_tags),
        )
    status = RunStatus.FINISHED
    try:
        yield run
    except KeyboardInterrupt as interrupt:
        status = RunStatus.KILLED
        _try_set_tag(TAG_ERROR, f"interrupted: {interrupt or 'KeyboardInterrupt'}")
        raise
    except BaseException as error:
        status = RunStatus.FAILED
        lost_server = explain_tracking_failure(error, target.uri)
        if lost_server is not None:
            # Nothing more can be written; the run stays RUNNING in the store
            # with everything logged before the server went away.
            _end_run_quietly(status)
            raise lost_server from error
        _try_set_tag(TAG_ERROR, f"{type(error).__name__}: {error}"[:5000])
        try:
            mlflow.log_text(traceback.format_exc(), "error/traceback.txt")
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run(RunStatus.to_string(status))


def _end_run_quietly(status: RunStatus) -> None:
    """Leave the active run (so the process can start another one) without
    masking the error that ends it when the store cannot take the status."""
    try:
        mlflow.end_run(RunStatus.to_string(status))
    except Exception:  # noqa: BLE001 - the caller raises the error that matters
        pass


def _try_set_tag(key: str, value: str) -> None:
    try:
        mlflow.set_tag(key, value)
    except Exception:  # noqa: BLE001 - the original error matters more than this tag
        pass


def log_params(flat_config: Mapping[str, Any]) -> None:
    mlflow.log_params({key: "null" if value is None else value for key, value in flat_config.items()})


def epoch_metrics_callback(run_id: str) -> Any:
    """A Keras callback that logs every epoch's metrics to the run, step = epoch (1-based)."""
    import keras  # Here, not at the top: report and server code import this module too.

    client = MlflowClient()

    class EpochMetricsLogger(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._epoch_started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._epoch_started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            timestamp = int(time.time() * 1000)
            step = epoch + 1
            metrics = [Metric(name, float(value), timestamp, step) for name, value in (logs or {}).items()]
            metrics.append(Metric("epoch_seconds", time.perf_counter() - self._epoch_started, timestamp, step))
            client.log_batch(run_id, metrics=metrics, synchronous=True)

    return EpochMetricsLogger()


def log_dataset(
    client: MlflowClient, run_id: str, x: Any, y: Any, location: str, digest: str, context: str,
    attempts: int = 4,
) -> None:
    """Record the arrays as an MLflow dataset input of the run.

    MLflow's stores look the dataset up and insert it when missing, in two
    steps: two jobs of a parallel sweep logging the same data at the same moment
    can both insert, and one fails on the unique key. The row exists by then, so
    trying again links it.
    """
    with warnings.catch_warnings():
        # MLflow 3 registers its local-file source twice and warns about the tie.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        dataset = mlflow.data.from_numpy(
            x, targets=y, source=location, name=f"imdb-{context}", digest=digest[:36]
        )
    dataset_input = DatasetInput(dataset._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, context)])
    for attempt in range(1, attempts + 1):
        try:
            client.log_inputs(run_id, [dataset_input])
            return
        except MlflowException as error:
            if attempt == attempts or not _is_duplicate_key(error):
                raise
            time.sleep(0.1 * attempt)


def _is_duplicate_key(error: Exception) -> bool:
    text = str(error)
    return "UNIQUE constraint failed" in text or "duplicate key value" in text


def log_text_artifacts(files: Mapping[str, str]) -> None:
    for artifact_file, text in files.items():
        mlflow.log_text(text, artifact_file)


def log_keras_model(model: Any) -> None:
    # Explicit requirements: inferring them would reload the model in a subprocess.
    import keras
    import tensorflow as tf

    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    # Written out rather than inferred from a model.predict: that would compile a
    # prediction program just for this (about half a second of every job).
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("int32"), (-1, *model.input_shape[1:]))]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, *model.output_shape[1:]))]),
    )
    mlflow.keras.log_model(
        model, name="model", signature=signature,
        pip_requirements=[f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"],
    )


def browse_hint(uri: str) -> str:
    """One line telling the user where to look at the runs."""
    if uri.startswith(("http://", "https://")):
        return f"Browse the runs at {uri}"
    if uri.startswith("sqlite:///"):
        store = Path(uri.removeprefix("sqlite:///")).parent
        return (f"Browse the runs: python -m imdb_sweep.server --store {store}  "
                "(then open http://127.0.0.1:5000)")
    return f"Browse the runs: mlflow ui --backend-store-uri {uri}"


def find_finished_run(client: MlflowClient, experiment_id: str, config_hash_value: str) -> Run | None:
    """The most recent FINISHED job run with this exact configuration, if any."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`{TAG_CONFIG_HASH}` = '{config_hash_value}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=1,
    )
    return runs[0] if runs else None


def backfill_epochs(
    client: MlflowClient, run_id: str, history: Mapping[str, list[float]], epoch_seconds: list[float]
) -> int:
    """Log the checkpoint's epochs that the run lacks (a kill can land between the
    checkpoint and the MLflow write); return how many points were added."""
    series = {**history, "epoch_seconds": epoch_seconds}
    timestamp = int(time.time() * 1000)
    missing = []
    for name, values in series.items():
        logged = {point.step for point in client.get_metric_history(run_id, name)}
        missing += [Metric(name, float(value), timestamp, step)
                    for step, value in enumerate(values, start=1) if step not in logged]
    if missing:
        client.log_batch(run_id, metrics=missing, synchronous=True)
    return len(missing)
