"""What a job's run records besides its tags: params, the dataset as an MLflow
input, text artifacts, the text model, and epochs restored from a checkpoint."""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import DatasetInput, InputTag, Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from imdb_sweep import contract
from imdb_sweep.tracking.mlflow_internals import dataset_entity

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


def log_params(flat_config: Mapping[str, Any]) -> None:
    mlflow.log_params({key: param_text(value) for key, value in flat_config.items()})


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
        # mlflow.data defines its from_* constructors at import time, out of the type checker's sight.
        dataset = mlflow.data.from_numpy(  # type: ignore[attr-defined]
            x, targets=y, source=location, name=f"imdb-{context}", digest=digest[:36]
        )
    dataset_input = DatasetInput(dataset_entity(dataset), [InputTag(MLFLOW_DATASET_CONTEXT, context)])
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


def history_csv(history: Mapping[str, list[float]]) -> str:
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *names])
    for epoch, values in enumerate(zip(*(history[name] for name in names)), start=1):
        writer.writerow([epoch, *values])
    return buffer.getvalue()


def log_text_model(keras_model: Any, vocabulary: Mapping[str, int], num_words: int, maxlen: int,
                   **encoding_notes: Any) -> Any:
    """Log the model that scores raw review text (imdb_sweep/serving) as the run's
    `model`: the Keras model, its vocabulary and encoding settings as artifacts,
    the package code it runs, signature and input example. Returns MLflow's ModelInfo."""
    # MLflow announces its input-example check at INFO on every job; a job's output
    # keeps to its own lines (warnings still show).
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    level = pyfunc_logger.level
    pyfunc_logger.setLevel(max(level, logging.WARNING))
    try:
        return _log_text_model(keras_model, vocabulary, num_words, maxlen, encoding_notes)
    finally:
        pyfunc_logger.setLevel(level)


def _log_text_model(keras_model: Any, vocabulary: Mapping[str, int], num_words: int, maxlen: int,
                    encoding_notes: dict[str, Any]) -> Any:
    import mlflow.pyfunc

    from imdb_sweep.serving import bundle

    with tempfile.TemporaryDirectory(prefix="imdb_sweep_model_") as folder:
        root = Path(folder)
        artifacts = bundle.write_artifacts(root / "artifacts", keras_model, vocabulary, num_words, maxlen,
                                           **encoding_notes)
        return mlflow.pyfunc.log_model(
            name=contract.LOGGED_MODEL_NAME, python_model=str(bundle.MODEL_CODE), artifacts=artifacts,
            code_paths=[str(bundle.bundle_package_code(root / "code")),
                        *bundle.user_code_paths(bundle.layer_modules(keras_model))],
            signature=bundle.SIGNATURE, input_example=bundle.INPUT_EXAMPLE,
            pip_requirements=bundle.pip_requirements(),
        )


def backfill_epochs(
    client: MlflowClient, run_id: str, history: Mapping[str, list[float]], epoch_seconds: list[float]
) -> int:
    """Log the checkpoint's epochs that the run lacks (a kill can land between the
    checkpoint and the MLflow write); return how many points were added."""
    series = {**history, contract.EPOCH_SECONDS: epoch_seconds}
    timestamp = int(time.time() * 1000)
    missing = []
    for name, values in series.items():
        logged = {point.step for point in client.get_metric_history(run_id, name)}
        missing += [Metric(name, float(value), timestamp, step)
                    for step, value in enumerate(values, start=1) if step not in logged]
    if missing:
        client.log_batch(run_id, metrics=missing, synchronous=True)
    return len(missing)
