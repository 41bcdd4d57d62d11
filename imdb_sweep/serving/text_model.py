"""The model each job logs: raw review text in, positive-class probability and label out.

An MLflow pyfunc around the trained Keras model. Its artifacts are the Keras
model, the vocabulary (`vocabulary.json`: {word: id} for the ids below
`num_words`) and the encoding settings (`encoding.json`); the text is encoded
by `imdb_sweep.data.text.encode_texts`, the functions that encoded the training
data. The package code it needs (the package root, process/, data/ and this
folder, none of which imports TensorFlow at import time or any training code) travels with the model as
its code path, so any process with MLflow, Keras and TensorFlow loads it:

    model = mlflow.pyfunc.load_model("models:/imdb-sentiment@champion")
    model.predict(pd.DataFrame({"text": ["A wonderful film.", "Dull and far too long."]}))
    #    probability  label
    # 0     0.93...       1
    # 1     0.08...       0
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from imdb_sweep.data.encoding import INDEX_FROM, OUT_OF_VOCABULARY_ID, START_ID
from imdb_sweep.data.text import encode_texts

TEXT_COLUMN = "text"
PROBABILITY_COLUMN = "probability"
LABEL_COLUMN = "label"
# Keras's binary accuracy counts a review positive when its score is above 0.5;
# the label uses the same threshold, so label accuracy equals the logged test_accuracy.
POSITIVE_THRESHOLD = 0.5
# Artifact keys (and file names) of the logged model.
KERAS_MODEL_ARTIFACT = "keras_model"
VOCABULARY_ARTIFACT = "vocabulary"
ENCODING_ARTIFACT = "encoding"
# encoding.json's list of the modules to import before loading the Keras model: those
# that define its layers beyond Keras's own (imdb_sweep.models.layers, a custom model's).
LAYER_MODULES_SETTING = "layer_modules"
# Reviews scored per Keras call: bounds the memory a large request takes
# (the embedding output of one review is maxlen x embedding_dim floats).
SCORING_BATCH = 512


class ReviewInputError(MlflowException, ValueError):
    """The input holds no reviews to score. A ValueError for Python callers; for
    MLflow's scoring server an invalid-parameter error, which it answers with
    HTTP 400 and this message (a plain exception's message would only appear
    inside the stack trace of a generic one)."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def encoding_settings(num_words: int, maxlen: int, **extra: Any) -> dict[str, Any]:
    """What encoding.json holds: the numbers `encode_texts` needs, the reserved
    ids it assumes, and anything else worth keeping beside them (data source)."""
    return {"num_words": num_words, "maxlen": maxlen, "padding_id": 0, "start_id": START_ID,
            "out_of_vocabulary_id": OUT_OF_VOCABULARY_ID, "index_from": INDEX_FROM, **extra}


def review_texts(model_input: Any) -> list[str]:
    """The reviews of a request: a DataFrame with a `text` column (what MLflow
    passes after checking the signature), or in Python also a list of strings,
    a list of {"text": ...} records, or {"text": [...]}. Anything else, an empty
    input or a value that is not a string raises ReviewInputError."""
    if isinstance(model_input, Mapping):
        model_input = pd.DataFrame({key: [value] if isinstance(value, str) or np.isscalar(value) else value
                                    for key, value in model_input.items()})
    elif isinstance(model_input, Sequence) and not isinstance(model_input, str):
        items = list(model_input)
        if items and all(isinstance(item, Mapping) for item in items):
            model_input = pd.DataFrame(items)
        else:  # strings, one per review; anything else is reported row by row below
            model_input = pd.DataFrame({TEXT_COLUMN: pd.Series(items, dtype=object)})
    if isinstance(model_input, pd.Series):
        model_input = model_input.to_frame(TEXT_COLUMN if model_input.name is None else model_input.name)
    if not isinstance(model_input, pd.DataFrame):
        raise ReviewInputError(f"expected reviews as a table with a '{TEXT_COLUMN}' column of strings, "
                               f"got {type(model_input).__name__}")
    if TEXT_COLUMN not in model_input.columns:
        columns = ", ".join(map(str, model_input.columns)) or "none"
        raise ReviewInputError(f"the input has no '{TEXT_COLUMN}' column (columns: {columns}); "
                               f"send each review as {{\"{TEXT_COLUMN}\": \"...\"}}")
    texts = model_input[TEXT_COLUMN].tolist()
    if not texts:
        raise ReviewInputError(f"no reviews to score: send at least one row with a '{TEXT_COLUMN}' string")
    for row, text in enumerate(texts):
        if text is None or (isinstance(text, float) and np.isnan(text)):
            raise ReviewInputError(f"'{TEXT_COLUMN}' of row {row} is missing: every row needs a review")
        if not isinstance(text, str):
            raise ReviewInputError(f"'{TEXT_COLUMN}' of row {row} is {text!r} ({type(text).__name__}), "
                                   "not a string: every review must be text")
    return texts


class TextModel(PythonModel):
    """Scores raw reviews with a trained Keras model and its vocabulary."""

    def load_context(self, context: Any) -> None:
        # TensorFlow only now, and quietly: importing this module stays light.
        from imdb_sweep.process.quiet_tensorflow import start_tensorflow

        start_tensorflow()
        import keras

        artifacts = context.artifacts
        settings = json.loads(Path(artifacts[ENCODING_ARTIFACT]).read_text(encoding="utf-8"))
        for module in settings.get(LAYER_MODULES_SETTING, []):
            importlib.import_module(module)  # registers its layers with Keras
        self.keras_model = keras.models.load_model(artifacts[KERAS_MODEL_ARTIFACT], compile=False)
        self.vocabulary = json.loads(Path(artifacts[VOCABULARY_ARTIFACT]).read_text(encoding="utf-8"))
        expected = encoding_settings(settings["num_words"], settings["maxlen"])
        different = {key: settings.get(key) for key in expected if settings.get(key) != expected[key]}
        if different:
            raise MlflowException(f"encoding.json {different} does not match this encoder's "
                                  f"{ {key: expected[key] for key in different} }")
        self.num_words, self.maxlen = int(settings["num_words"]), int(settings["maxlen"])

    # MLflow reads predict's hints: a DataFrame hint leaves the input schema to the
    # logged signature (a `text` string column), which MLflow checks before this runs.
    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        texts = review_texts(model_input)
        probabilities = self.score(encode_texts(texts, self.vocabulary, self.num_words, self.maxlen))
        return pd.DataFrame({
            PROBABILITY_COLUMN: probabilities.astype(np.float64),
            LABEL_COLUMN: (probabilities > POSITIVE_THRESHOLD).astype(np.int64),
        })

    def score(self, ids: np.ndarray) -> np.ndarray:
        """Positive-class probabilities of padded id rows, in batches."""
        scores = [np.asarray(self.keras_model(ids[start:start + SCORING_BATCH], training=False)).reshape(-1)
                  for start in range(0, len(ids), SCORING_BATCH)]
        return np.concatenate(scores)
