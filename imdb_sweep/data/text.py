"""Review text to word ids, the one encoder of both training and the logged text model.

Training encodes the archive in steps (tokenize and `review_ids` once, cached;
`limit_vocabulary` and `pad_sequences` on every load); `encode_texts` runs the
same steps on raw reviews, so a review scored by the logged model gets the ids
it would have had as a test review. Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from imdb_sweep.data.arrays import limit_vocabulary, pad_sequences
from imdb_sweep.data.encoding import INDEX_FROM, OUT_OF_VOCABULARY_ID, START_ID, ragged

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-case words of a review, with the `<br />` line breaks removed."""
    return _WORD.findall(text.lower().replace("<br />", " "))


def ranked_words(tokenized_reviews: Iterable[list[str]]) -> list[str]:
    """Every word of the reviews, most frequent first; ties broken alphabetically
    so the ranks never depend on file order."""
    counts = Counter(word for review in tokenized_reviews for word in review)
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def word_ids(words_by_rank: Sequence[str], num_words: int | None = None) -> dict[str, int]:
    """{word: id} as keras.datasets.imdb numbers words: rank r (from 1) gets id r + 3.
    With `num_words`, only the words whose id is below it (the others are out of
    vocabulary for a model of that size anyway)."""
    count = len(words_by_rank) if num_words is None else max(0, min(len(words_by_rank), num_words - INDEX_FROM - 1))
    return {word: rank + INDEX_FROM for rank, word in enumerate(words_by_rank[:count], start=1)}


def review_ids(tokens: list[str], vocabulary: Mapping[str, int]) -> list[int]:
    """The start id, then each word's id (out-of-vocabulary id for unknown words)."""
    return [START_ID] + [vocabulary.get(word, OUT_OF_VOCABULARY_ID) for word in tokens]


def encode_texts(texts: Sequence[str], vocabulary: Mapping[str, int], num_words: int, maxlen: int) -> np.ndarray:
    """Raw reviews as the (len(texts), maxlen) int32 array a model trained on
    `num_words` and `maxlen` takes: the steps, and the functions, of training."""
    sequences = [review_ids(tokenize(text), vocabulary) for text in texts]
    encoded = ragged(sequences, np.zeros(len(sequences), dtype=np.int8))
    return pad_sequences(limit_vocabulary(encoded, num_words), maxlen)
