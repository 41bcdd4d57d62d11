"""How reviews are encoded, the way keras.datasets.imdb encodes them, and the
ragged array that holds encoded reviews before padding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

START_ID = 1
OUT_OF_VOCABULARY_ID = 2
# Ids 0-3 are reserved, as in keras.datasets.imdb; word of rank r gets id r + 3.
INDEX_FROM = 3
SPLITS = ("train", "test")


@dataclass(frozen=True)
class EncodedSplit:
    """Reviews of one split as a flat id array with per-review offsets (ragged)."""

    ids: np.ndarray  # int32, every review's ids back to back
    offsets: np.ndarray  # int64, review i is ids[offsets[i]:offsets[i + 1]]
    labels: np.ndarray  # int8, 0 = negative, 1 = positive

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> EncodedSplit:
        starts, ends = self.offsets[indices], self.offsets[indices + 1]
        lengths = ends - starts
        new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        positions = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        return EncodedSplit(self.ids[positions], new_offsets, self.labels[indices])


def ragged(sequences: list[list[int]], labels: np.ndarray) -> EncodedSplit:
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum([len(sequence) for sequence in sequences], out=offsets[1:])
    ids = np.fromiter(
        (word_id for sequence in sequences for word_id in sequence), dtype=np.int32,
        count=int(offsets[-1]),
    )
    return EncodedSplit(ids, offsets, labels)
