"""The on-disk cache of encoded reviews, keyed by the archive's digest and the
encoding version: a second job, or a second sweep, never re-tokenizes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from imdb_sweep.data.encoding import SPLITS, EncodedSplit

# Bump when the tokenizer or the cached layout changes, so old caches are ignored.
# 2: reviews cached in Keras's shuffled order.
ENCODING_VERSION = 2
CACHE_ENV_VAR = "IMDB_SWEEP_CACHE_DIR"


def default_cache_dir(data_cfg: Any) -> Path:
    configured = data_cfg.cache_dir or os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "imdb_sweep"


def cache_file(cache_dir: Path, digest: str) -> Path:
    return cache_dir / f"aclimdb-{digest[:32]}-v{ENCODING_VERSION}.npz"


def save_cache(file: Path, encoded: dict[str, EncodedSplit]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, data in encoded.items():
        arrays.update({f"{split}_ids": data.ids, f"{split}_offsets": data.offsets,
                       f"{split}_labels": data.labels})
    # Write then rename: jobs running side by side never see half a cache file.
    with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz.tmp", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, file)


def load_cache(file: Path) -> dict[str, EncodedSplit] | None:
    try:
        with np.load(file) as arrays:
            return {
                split: EncodedSplit(arrays[f"{split}_ids"], arrays[f"{split}_offsets"],
                                    arrays[f"{split}_labels"])
                for split in SPLITS
            }
    except (OSError, KeyError, ValueError):
        return None  # A missing or damaged cache is rebuilt, never trusted.
