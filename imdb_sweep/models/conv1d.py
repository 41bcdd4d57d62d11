"""model=conv1d: Embedding -> (Conv1D [-> MaxPooling1D]) x blocks -> GlobalMaxPooling1D
-> Dense -> [Dropout] -> Dense(1, sigmoid)."""

from __future__ import annotations

from typing import Any

import keras

from imdb_sweep.models.parts import dropout_then_output, word_ids


def build(model_config: Any, *, num_words: int, maxlen: int) -> keras.Model:
    inputs = word_ids(maxlen)
    features = keras.layers.Embedding(num_words, model_config.embedding_dim, name="embedding")(inputs)
    for block in range(1, model_config.blocks + 1):
        if block > 1:
            # "same" padding: short reviews (a small data.maxlen) never pool down to nothing.
            features = keras.layers.MaxPooling1D(model_config.pool_size, padding="same",
                                                 name=f"pool_{block - 1}")(features)
        features = keras.layers.Conv1D(model_config.filters, model_config.kernel_size, padding="same",
                                       activation=model_config.activation, name=f"conv_{block}")(features)
    features = keras.layers.GlobalMaxPooling1D(name="global_pool")(features)
    features = keras.layers.Dense(model_config.units, activation=model_config.activation, name="hidden")(features)
    return keras.Model(inputs, dropout_then_output(features, model_config.dropout), name="imdb_conv1d")
