"""The layers Keras lacks, registered with Keras so that a saved model that uses them
loads wherever this module is imported (the logged text model imports it first)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

PADDING_ID = 0
# Knuth's multiplicative hash constant (2^32 / golden ratio): spreads neighbouring
# bigram numbers over the buckets instead of folding them in stripes.
BIGRAM_HASH_MULTIPLIER = 2654435761
# Rows of word ids counted at once when learning the TF-IDF weights.
ADAPT_BATCH = 1024


@keras.saving.register_keras_serializable(package="imdb_sweep")
class NgramVector(keras.layers.Layer):
    """(batch, maxlen) word ids -> (batch, num_words + bigram_buckets) n-gram vector.

    Slot `id` holds the unigram `id`; a bigram of two words (neither padding) is
    hashed into one of `bigram_buckets` slots after them. `mode`: "multi_hot", 1
    where the n-gram occurs; "tf_idf", its count in the review times its inverse
    document frequency log(1 + documents / (1 + documents with it)), as Keras's
    TextVectorization computes it, learnt from the training split
    (`adapt_to_word_ids`) and kept as a non-trainable weight of the model.
    The padding slot is always 0."""

    def __init__(self, num_words: int, bigram_buckets: int, ngrams: int = 2, mode: str = "multi_hot",
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.num_words, self.bigram_buckets, self.ngrams, self.mode = num_words, bigram_buckets, ngrams, mode
        self.size = num_words + (bigram_buckets if ngrams == 2 else 0)

    def build(self, input_shape: Any) -> None:
        self.not_padding = ops.convert_to_tensor(
            np.arange(self.size) != PADDING_ID, dtype=self.compute_dtype)
        self.idf = (self.add_weight(shape=(self.size,), initializer="ones", trainable=False, name="idf")
                    if self.mode == "tf_idf" else None)

    def slots(self, word_ids: Any) -> Any:
        """(batch, maxlen [+ maxlen - 1]) slot of each unigram and bigram; the
        padding and any bigram that touches it in slot 0."""
        word_ids = ops.cast(word_ids, "int64")
        if self.ngrams == 1:
            return word_ids
        first, second = word_ids[:, :-1], word_ids[:, 1:]
        bigram = (first * self.num_words + second) * BIGRAM_HASH_MULTIPLIER
        bigram_slots = self.num_words + ops.mod(bigram, self.bigram_buckets)
        both_words = ops.logical_and(ops.not_equal(first, PADDING_ID), ops.not_equal(second, PADDING_ID))
        return ops.concatenate([word_ids, ops.where(both_words, bigram_slots, PADDING_ID)], axis=1)

    def call(self, word_ids: Any) -> Any:
        counts = ops.cast(ops.bincount(self.slots(word_ids), minlength=self.size), self.compute_dtype)
        counts = counts * self.not_padding
        if self.mode == "multi_hot":
            return ops.minimum(counts, 1)
        return counts * ops.cast(self.idf, self.compute_dtype)

    def adapt_to_word_ids(self, word_ids: np.ndarray) -> None:
        """Learn the TF-IDF weights from the training split's word ids (multi_hot learns nothing)."""
        if self.mode != "tf_idf":
            return
        if not self.built:
            self.build(word_ids.shape)
        assert self.idf is not None, "build() makes the idf weight in tf_idf mode"
        documents_with = np.zeros(self.size, dtype=np.int64)
        for start in range(0, len(word_ids), ADAPT_BATCH):
            slots = np.asarray(ops.convert_to_numpy(self.slots(word_ids[start:start + ADAPT_BATCH])))
            rows = np.arange(len(slots))[:, None]
            documents_with += np.bincount(np.unique(rows * self.size + slots) % self.size, minlength=self.size)
        self.idf.assign(np.log1p(len(word_ids) / (1 + documents_with)).astype("float32"))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return (input_shape[0], self.size)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_words": self.num_words, "bigram_buckets": self.bigram_buckets,
                "ngrams": self.ngrams, "mode": self.mode}


@keras.saving.register_keras_serializable(package="imdb_sweep")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """(batch, maxlen) word ids -> (batch, maxlen, embedding_dim): each word's embedding
    plus its position's, both learnt; the padding (id 0) masked for the layers after."""

    def __init__(self, num_words: int, maxlen: int, embedding_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_words, self.maxlen, self.embedding_dim = num_words, maxlen, embedding_dim
        self.token_embedding = keras.layers.Embedding(num_words, embedding_dim, name="token_embedding")
        self.position_embedding = keras.layers.Embedding(maxlen, embedding_dim, name="position_embedding")

    def build(self, input_shape: Any) -> None:
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.maxlen,))

    def call(self, word_ids: Any) -> Any:
        positions = ops.arange(ops.shape(word_ids)[-1])
        return self.token_embedding(word_ids) + self.position_embedding(positions)

    def compute_mask(self, word_ids: Any, mask: Any = None) -> Any:
        return ops.not_equal(word_ids, PADDING_ID)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*input_shape, self.embedding_dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_words": self.num_words, "maxlen": self.maxlen,
                "embedding_dim": self.embedding_dim}
