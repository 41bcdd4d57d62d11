"""model=bag_of_ngrams: NgramVector (multi-hot or TF-IDF of unigrams and hashed bigrams,
computed in the model from the word ids) -> Dense -> [Dropout] -> Dense(1, sigmoid)."""

from __future__ import annotations

from typing import Any

import keras

from imdb_sweep.models.layers import NgramVector
from imdb_sweep.models.parts import dropout_then_output, word_ids


def build(model_config: Any, *, num_words: int, maxlen: int) -> keras.Model:
    inputs = word_ids(maxlen)
    vector = NgramVector(num_words, model_config.bigram_buckets, ngrams=model_config.ngrams,
                         mode=model_config.mode, name="ngram_vector")(inputs)
    features = keras.layers.Dense(model_config.units, activation=model_config.activation, name="hidden")(vector)
    return keras.Model(inputs, dropout_then_output(features, model_config.dropout), name="imdb_bag_of_ngrams")
