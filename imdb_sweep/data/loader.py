"""Loads the IMDB reviews as padded word-id arrays, the way keras.datasets.imdb does.

Two sources give the same encoding:

- `keras`: `keras.datasets.imdb.load_data`, which downloads once (needs internet).
- `aclimdb`: the official aclImdb folder or its .tar.gz (aclimdb.py), with the
  encoded reviews cached on disk (cache.py).

The cheap steps (vocabulary cut at `num_words`, padding to `maxlen`, subsets;
arrays.py) run on every load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from imdb_sweep.data.aclimdb import encode_aclimdb, read_aclimdb
from imdb_sweep.data.arrays import in_keras_order, limit_vocabulary, pad_sequences, stratified_subset
from imdb_sweep.data.cache import cache_file, default_cache_dir, load_cache, save_cache
from imdb_sweep.data.encoding import EncodedSplit, ragged
from imdb_sweep.data.source import check_data_source, keras_digest, resolve_source, source_digest
from imdb_sweep.data.text import word_ids


@dataclass(frozen=True)
class ImdbData:
    """Padded arrays ready for Keras, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "aclimdb" or "keras"
    location: str  # archive/folder path, or the Keras dataset name
    source_digest: str  # sha256 of the archive (or folder listing, or Keras file)
    from_cache: bool
    # {word: id} of the words with an id below num_words: what a text model of this
    # data needs to encode raw reviews as these arrays were (data/text.py).
    vocabulary: dict[str, int]

    @cached_property  # hashing 100 MB of arrays takes a noticeable fraction of a second
    def digest(self) -> str:
        """Digest of the arrays actually trained on: source plus every encoding choice."""
        hasher = hashlib.sha256(self.source_digest.encode())
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            hasher.update(str(array.shape).encode())
            hasher.update(np.ascontiguousarray(array).tobytes())
        return hasher.hexdigest()


def load_encoded_aclimdb(path: Path, cache_dir: Path) -> tuple[dict[str, EncodedSplit], list[str], str, bool]:
    """Encoded splits of an aclImdb archive/folder, its words by rank, its digest,
    and whether the cache served it."""
    digest = source_digest(path)
    file = cache_file(cache_dir, digest)
    cached = load_cache(file) if file.exists() else None
    if cached is not None:
        return *cached, digest, True
    encoded, words_by_rank = encode_aclimdb(read_aclimdb(path))
    encoded = in_keras_order(encoded)
    try:
        save_cache(file, encoded, words_by_rank)
    except OSError:
        pass  # A read-only cache folder only costs speed next time.
    return encoded, words_by_rank, digest, False


def load_encoded_keras() -> tuple[dict[str, EncodedSplit], list[str], str]:
    import keras  # Imported here: only this source needs it, and it is slow to import.

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data()
    # {word: rank from 1}, downloaded once beside the reviews; id = rank + 3.
    ranks = keras.datasets.imdb.get_word_index()
    words_by_rank = sorted(ranks, key=ranks.__getitem__)
    digest = keras_digest()
    encoded = {
        "train": ragged([list(review) for review in x_train], np.asarray(y_train, np.int8)),
        "test": ragged([list(review) for review in x_test], np.asarray(y_test, np.int8)),
    }
    return encoded, words_by_rank, digest


def load_imdb(data_cfg: Any) -> ImdbData:
    """Load, encode (or read from cache), cut, pad and subset the IMDB reviews."""
    check_data_source(data_cfg)
    source, path = resolve_source(data_cfg)
    if source == "aclimdb":
        assert path is not None
        encoded, words_by_rank, digest, from_cache = load_encoded_aclimdb(path, default_cache_dir(data_cfg))
        location = str(path.resolve())
    else:
        encoded, words_by_rank, digest = load_encoded_keras()
        from_cache, location = False, "keras.datasets.imdb"

    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, limit_key in (("train", "train_limit"), ("test", "test_limit")):
        data = encoded[split]
        limit = getattr(data_cfg, limit_key)
        if limit is not None:
            data = data.take(stratified_subset(data.labels, limit, data_cfg.subset_seed,
                                               f"data.{limit_key}"))
        data = limit_vocabulary(data, data_cfg.num_words)
        arrays[split] = (pad_sequences(data, data_cfg.maxlen), data.labels.astype(np.float32))

    return ImdbData(
        x_train=arrays["train"][0], y_train=arrays["train"][1],
        x_test=arrays["test"][0], y_test=arrays["test"][1],
        source=source, location=location, source_digest=digest, from_cache=from_cache,
        vocabulary=word_ids(words_by_rank, data_cfg.num_words),
    )


class PreviousLoad:
    """load_imdb, reusing the arrays of the previous call when it loaded the same
    data. Most jobs of a multirun run in one process (basic launcher, joblib
    workers) and load the same data; each would otherwise hash the archive and
    read the cache again (benchmarks/README.md, data). Keyed by the data
    settings and the archive's size and modification time, so a changed archive
    is read afresh. Holds one data set at a time: the arrays are about 100 MB."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._data: ImdbData | None = None

    def load(self, data_cfg: Any) -> ImdbData:
        _, path = resolve_source(data_cfg)
        stamp = None
        if path is not None and path.is_file():
            stat = path.stat()
            stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        key = repr((OmegaConf.to_container(data_cfg, resolve=True), stamp))
        if key != self._key or self._data is None:
            self._data = None  # Free the old arrays before loading the new ones.
            self._data, self._key = load_imdb(data_cfg), key
        return self._data
