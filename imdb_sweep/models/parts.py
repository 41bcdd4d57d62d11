"""The input and output every family shares, so that every model takes the same
padded word ids and the raw-text serving works unchanged for all of them."""

from __future__ import annotations

from typing import Any

import keras


def word_ids(maxlen: int) -> Any:
    return keras.Input(shape=(maxlen,), dtype="int32", name="word_ids")


def dropout_then_output(features: Any, dropout: float) -> Any:
    """[Dropout(rate)] -> Dense(1, sigmoid); float32 output even under mixed
    precision: a float16 sigmoid saturates."""
    if dropout > 0:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    return keras.layers.Dense(1, activation="sigmoid", name="output", dtype="float32")(features)
