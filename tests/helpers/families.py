"""Each model family's small settings for tests on tiny data (unit and end-to-end)."""

from __future__ import annotations

SMALL = {
    "conv1d": ["model.embedding_dim=8", "model.filters=8", "model.units=8"],
    "rnn": ["model.embedding_dim=8", "model.units=8"],
    "bag_of_ngrams": ["model.bigram_buckets=64", "model.units=8"],
    "transformer": ["model.embedding_dim=8", "model.feed_forward_units=8"],
}
FAMILIES = sorted(SMALL)
