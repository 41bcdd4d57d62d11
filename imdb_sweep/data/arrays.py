"""From encoded reviews to Keras-ready arrays: vocabulary cut, padding, Keras's
order, stratified subsets. Cheap steps, run on every load, so sweeping them
never re-tokenizes."""

from __future__ import annotations

import numpy as np

from imdb_sweep.data.encoding import OUT_OF_VOCABULARY_ID, SPLITS, EncodedSplit
from imdb_sweep.data.source import DataError

# keras.datasets.imdb shuffles both splits with this seed; so do we, which also
# matters for validation_split: Keras takes the *last* 20% of the train arrays.
KERAS_SHUFFLE_SEED = 113


def limit_vocabulary(split: EncodedSplit, num_words: int) -> EncodedSplit:
    """Map ids >= num_words to the out-of-vocabulary id, as keras.datasets.imdb does."""
    ids = np.where(split.ids < num_words, split.ids, OUT_OF_VOCABULARY_ID).astype(np.int32)
    return EncodedSplit(ids, split.offsets, split.labels)


def pad_sequences(split: EncodedSplit, maxlen: int) -> np.ndarray:
    """Same result as keras.utils.pad_sequences(seqs, maxlen) with its defaults:
    int32, zeros in front of short reviews, long ones keep their last `maxlen` ids.

    One slice copy per review: quicker than one fancy-indexed scatter of all the
    ids (benchmarks/README.md, data)."""
    padded = np.zeros((len(split), maxlen), dtype=np.int32)
    ends = split.offsets[1:].tolist()
    starts = split.offsets[:-1].tolist()
    for row, (start, end) in enumerate(zip(starts, ends)):
        kept = min(end - start, maxlen)
        if kept:
            padded[row, maxlen - kept:] = split.ids[end - kept:end]
    return padded


def in_keras_order(encoded: dict[str, EncodedSplit]) -> dict[str, EncodedSplit]:
    """Both splits shuffled as keras.datasets.imdb shuffles its download (seed 113,
    train first), so the aclImdb archive gives the same order as the Keras copy."""
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)
    return {split: encoded[split].take(keras_order(len(encoded[split]), rng)) for split in SPLITS}


def keras_order(count: int, rng: np.random.RandomState) -> np.ndarray:
    indices = np.arange(count)
    rng.shuffle(indices)
    return indices


def stratified_subset(labels: np.ndarray, limit: int, seed: int, key: str) -> np.ndarray:
    """Indices of `limit` reviews, half of each class, drawn with `seed`, in original order."""
    if limit > len(labels):
        raise DataError(f"{key} = {limit} is not allowed: the split has only {len(labels)} reviews")
    rng = np.random.default_rng(seed)
    negatives, positives = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    want_positive = limit // 2
    want_negative = limit - want_positive
    if want_positive > len(positives) or want_negative > len(negatives):
        raise DataError(
            f"{key} = {limit} is not allowed: a stratified subset needs {want_negative} negative "
            f"and {want_positive} positive reviews, the split has {len(negatives)} and {len(positives)}"
        )
    chosen = np.concatenate([
        rng.choice(negatives, want_negative, replace=False),
        rng.choice(positives, want_positive, replace=False),
    ])
    return np.sort(chosen)
