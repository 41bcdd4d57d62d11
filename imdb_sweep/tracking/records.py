"""What a job's run records besides its tags: params, the dataset as an MLflow
input, text artifacts, the Keras model, and epochs restored from a checkpoint."""

from __future__ import annotations

import csv
import io
import time
import warnings
from collections.abc import Mapping
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import DatasetInput, InputTag, Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT


def log_params(flat_config: Mapping[str, Any]) -> None:
    mlflow.log_params({key: "null" if value is None else value for key, value in flat_config.items()})


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


def history_csv(history: Mapping[str, list[float]]) -> str:
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *names])
    for epoch, values in enumerate(zip(*(history[name] for name in names)), start=1):
        writer.writerow([epoch, *values])
    return buffer.getvalue()


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
