"""model=rnn: Embedding(mask_zero) -> [Bidirectional](LSTM | GRU) -> [Dropout] -> Dense(1, sigmoid).
The padding is masked, so the recurrent layer reads each review's words only."""

from __future__ import annotations

from typing import Any

import keras

from imdb_sweep.models.parts import dropout_then_output, word_ids

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build(model_config: Any, *, num_words: int, maxlen: int) -> keras.Model:
    inputs = word_ids(maxlen)
    features = keras.layers.Embedding(num_words, model_config.embedding_dim, mask_zero=True,
                                      name="embedding")(inputs)
    recurrent = CELLS[model_config.cell](model_config.units, name=model_config.cell)
    if model_config.bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name="bidirectional")
    features = recurrent(features)
    return keras.Model(inputs, dropout_then_output(features, model_config.dropout), name="imdb_rnn")
