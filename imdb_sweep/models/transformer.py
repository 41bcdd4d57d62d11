"""model=transformer: token + position embedding -> encoder block x blocks -> global
average pooling -> [Dropout] -> Dense(1, sigmoid). The padding is masked: attention
never looks at it and the pooling leaves it out.

An encoder block (post-norm, as in "Attention is all you need" and Chollet's
Deep Learning with Python, chapter 11): x = LayerNorm(x + MultiHeadAttention(x, x));
x = LayerNorm(x + Dense(embedding_dim)(Dense(feed_forward_units, relu)(x)))."""

from __future__ import annotations

from typing import Any

import keras

from imdb_sweep.models.layers import TokenAndPositionEmbedding
from imdb_sweep.models.parts import dropout_then_output, word_ids


def build(model_config: Any, *, num_words: int, maxlen: int) -> keras.Model:
    inputs = word_ids(maxlen)
    width = model_config.embedding_dim
    features = TokenAndPositionEmbedding(num_words, maxlen, width, name="embedding")(inputs)
    for block in range(1, model_config.blocks + 1):
        attended = keras.layers.MultiHeadAttention(model_config.heads, key_dim=width,
                                                   name=f"attention_{block}")(features, features)
        features = keras.layers.LayerNormalization(name=f"attention_norm_{block}")(
            keras.layers.Add(name=f"attention_residual_{block}")([features, attended]))
        fed = keras.layers.Dense(model_config.feed_forward_units, activation="relu",
                                 name=f"feed_forward_{block}")(features)
        fed = keras.layers.Dense(width, name=f"feed_forward_out_{block}")(fed)
        features = keras.layers.LayerNormalization(name=f"feed_forward_norm_{block}")(
            keras.layers.Add(name=f"feed_forward_residual_{block}")([features, fed]))
    features = keras.layers.GlobalAveragePooling1D(name="global_pool")(features)
    return keras.Model(inputs, dropout_then_output(features, model_config.dropout), name="imdb_transformer")
