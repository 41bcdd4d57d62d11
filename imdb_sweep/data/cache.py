"""The on-disk cache of encoded reviews, keyed by the archive's digest and the
encoding version: a second job, or a second sweep, never re-tokenizes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from imdb_sweep import user_cache_dir
from imdb_sweep.data.encoding import SPLITS, EncodedSplit

# Bump when the tokenizer or the cached layout changes, so old caches are ignored.
# 2: reviews cached in Keras's shuffled order.
# 3: the train split's words by rank kept beside the ids (the logged text model's vocabulary).
ENCODING_VERSION = 3


def default_cache_dir(data_cfg: Any) -> Path:
    """data.cache_dir, else imdb_sweep's user cache ($IMDB_SWEEP_CACHE_DIR, ~/.cache/imdb_sweep)."""
    return Path(data_cfg.cache_dir).expanduser() if data_cfg.cache_dir else user_cache_dir()


def cache_file(cache_dir: Path, digest: str) -> Path:
    return cache_dir / f"aclimdb-{digest[:32]}-v{ENCODING_VERSION}.npz"


def save_cache(file: Path, encoded: dict[str, EncodedSplit], words_by_rank: list[str]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    # Words hold no whitespace, so one newline-joined byte string keeps them
    # compactly (a fixed-width string array would pad every word to the longest).
    # Any: numpy's stub types np.savez's **kwds against its allow_pickle: bool too.
    arrays: dict[str, Any] = {"words_by_rank": np.frombuffer("\n".join(words_by_rank).encode("utf-8"), dtype=np.uint8)}
    for split, data in encoded.items():
        arrays.update({f"{split}_ids": data.ids, f"{split}_offsets": data.offsets,
                       f"{split}_labels": data.labels})
    # Write then rename: jobs running side by side never see half a cache file.
    with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz.tmp", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, file)


def load_cache(file: Path) -> tuple[dict[str, EncodedSplit], list[str]] | None:
    """The encoded splits and the words by rank, or None for a missing or damaged file."""
    try:
        with np.load(file) as arrays:
            encoded = {
                split: EncodedSplit(arrays[f"{split}_ids"], arrays[f"{split}_offsets"],
                                    arrays[f"{split}_labels"])
                for split in SPLITS
            }
            words_by_rank = arrays["words_by_rank"].tobytes().decode("utf-8").split("\n")
            return encoded, words_by_rank
    except (OSError, KeyError, ValueError):
        return None  # A missing or damaged cache is rebuilt, never trusted.
