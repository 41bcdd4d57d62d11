"""What a job's run records besides its tags: params, the dataset as an MLflow
input, text artifacts, the text model, and epochs restored from a checkpoint."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import DatasetInput, InputTag, LoggedModelStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from imdb_sweep import contract
from imdb_sweep.tracking.mlflow_internals import dataset_entity
from imdb_sweep.tracking.spool import RunSpool, log_inputs

# How a null config value is logged; MLflow keeps every param as text.
NULL_PARAM = "null"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|nan)")
_BOOLEANS = {"True": True, "true": True, "False": False, "false": False}


def param_text(value: Any) -> str:
    """A config value as its param logs it: `str(value)` (MLflow's own rule), `null` for None."""
    return NULL_PARAM if value is None else str(value)


def param_from_text(text: str) -> Any:
    """A logged param as the config value it was (the inverse of param_text for the
    config's scalars): `64` -> 64, `0.001` -> 0.001, `True` -> True, `null` -> None;
    anything else stays text. The one place a param gets its type back."""
    if text in (NULL_PARAM, "None"):
        return None
    if text in _BOOLEANS:
        return _BOOLEANS[text]
    if _INTEGER.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def param_texts(flat_config: Mapping[str, Any]) -> dict[str, str]:
    """The flattened config as the run's params (MLflow keeps every param as text)."""
    return {key: param_text(value) for key, value in flat_config.items()}


def dataset_input(x: Any, y: Any, location: str, digest: str, context: str) -> DatasetInput:
    """The arrays as an MLflow dataset input of a run (`context`: training or test)."""
    with warnings.catch_warnings():
        # MLflow 3 registers its local-file source twice and warns about the tie.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        # mlflow.data defines its from_* constructors at import time, out of the type checker's sight.
        dataset = mlflow.data.from_numpy(  # type: ignore[attr-defined]
            x, targets=y, source=location, name=f"imdb-{context}", digest=digest[:36]
        )
    return DatasetInput(dataset_entity(dataset), [InputTag(MLFLOW_DATASET_CONTEXT, context)])


def log_dataset(
    client: MlflowClient, run_id: str, x: Any, y: Any, location: str, digest: str, context: str,
) -> None:
    """Record the arrays as an MLflow dataset input of the run."""
    log_inputs(client, run_id, [dataset_input(x, y, location, digest, context)])


def history_csv(history: Mapping[str, list[float]]) -> str:
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *names])
    for epoch, values in enumerate(zip(*(history[name] for name in names)), start=1):
        writer.writerow([epoch, *values])
    return buffer.getvalue()


_MODEL_ARTIFACTS = "artifacts.json"  # in the bundle folder: {artifact key: path inside it}


def write_text_model(folder: Path, keras_model: Any, vocabulary: Mapping[str, int], num_words: int, maxlen: int,
                     **encoding_notes: Any) -> None:
    """The model that scores raw review text (imdb_sweep/serving), as files in `folder`:
    the Keras model, its vocabulary and encoding settings, the package code it runs.
    send_text_model logs them as the run's `model`, now or once the server answers."""
    from imdb_sweep.serving import bundle

    artifacts = bundle.write_artifacts(folder / "artifacts", keras_model, vocabulary, num_words, maxlen,
                                       **encoding_notes)
    bundle.bundle_package_code(folder / "code")
    # A custom model's own layers: their package (or module) travels with the model too.
    for path in map(Path, bundle.user_code_paths(bundle.layer_modules(keras_model))):
        if path.is_dir():
            shutil.copytree(path, folder / "code" / path.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, folder / "code" / path.name)
    relative = {key: str(Path(path).relative_to(folder)) for key, path in artifacts.items()}
    (folder / _MODEL_ARTIFACTS).write_text(json.dumps(relative))


def send_text_model(client: MlflowClient, run_id: str, folder: Path, replay: bool) -> None:
    """Log the bundle in `folder` (write_text_model) as the run's pyfunc `model`, with
    signature and input example; a replay first looks for the model the first try logged."""
    if replay and _has_logged_model(client, run_id):
        return
    import mlflow.pyfunc

    from imdb_sweep.serving import bundle

    artifacts = {key: str(folder / path) for key, path in json.loads((folder / _MODEL_ARTIFACTS).read_text()).items()}
    code = [str(path) for path in sorted((folder / "code").iterdir())]
    # MLflow announces its input-example check at INFO on every job; a job's output
    # keeps to its own lines (warnings still show).
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(max(level, logging.WARNING))
    # pyfunc.log_model logs into the active run: this one, made active without a new
    # status or end (the spool's last record ends it).
    mlflow.set_tracking_uri(client.tracking_uri)
    mlflow.start_run(run_id=run_id)
    try:
        mlflow.pyfunc.log_model(
            name=contract.LOGGED_MODEL_NAME, python_model=str(bundle.MODEL_CODE), artifacts=artifacts,
            code_paths=code, signature=bundle.SIGNATURE, input_example=bundle.INPUT_EXAMPLE,
            pip_requirements=bundle.pip_requirements(),
        )
    finally:
        pyfunc_logger.setLevel(level)
        _leave_active_run()


def _leave_active_run() -> None:
    """The run stops being this process's active run, its status left RUNNING."""
    try:
        mlflow.end_run("RUNNING")  # leaves the active run before it writes the status
    except Exception:  # noqa: BLE001 - the server went away after the model: the next record says so
        pass


def _has_logged_model(client: MlflowClient, run_id: str) -> bool:
    """Whether the run has its model, READY. A model the first try left half-uploaded
    (PENDING: the server went away meanwhile) is marked FAILED, to be logged anew."""
    experiment_id = client.get_run(run_id).info.experiment_id
    models = client.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{contract.LOGGED_MODEL_NAME}'")
    for model in models:
        if model.status == LoggedModelStatus.READY:
            return True
        if model.status == LoggedModelStatus.PENDING:
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    return False


def backfill_epochs(
    client: MlflowClient, spool: RunSpool, history: Mapping[str, list[float]], epoch_seconds: list[float]
) -> int:
    """Log the checkpoint's epochs that the spool's run lacks (a kill can land between
    the checkpoint and the MLflow write); return how many points were added."""
    series = {**history, contract.EPOCH_SECONDS: epoch_seconds}
    missing: dict[int, dict[str, float]] = {}
    for name, values in series.items():
        logged = {point.step for point in client.get_metric_history(str(spool.run_id), name)}
        for step, value in enumerate(values, start=1):
            if step not in logged:
                missing.setdefault(step, {})[name] = float(value)
    for step in sorted(missing):
        spool.log_metrics(missing[step], step=step)
    return sum(len(points) for points in missing.values())
