"""The baseline job's data and configuration, for benchmarks that train in their own process.

Both read conf/ as a job does, so a benchmark measures the job's own settings:
the full real archive (no subset, the default cache) and the baseline model
with train.threads left to TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_full_data(archive: str) -> Any:
    """The whole aclImdb archive as a job loads it by default (ImdbData)."""
    from omegaconf import OmegaConf

    from imdb_sweep.data import load_imdb

    return load_imdb(OmegaConf.create({
        "source": "aclimdb", "path": archive, "num_words": 10000, "maxlen": 500,
        "train_limit": None, "test_limit": None, "subset_seed": 0, "cache_dir": None,
    }))


def baseline_config(**train_settings: Any) -> Any:
    """seed, model and train as conf/ gives them (DictConfig), with `train_settings` on top."""
    from omegaconf import OmegaConf

    train = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "train" / "rmsprop.yaml"))
    return OmegaConf.create({
        "seed": 42,
        "model": OmegaConf.load(ROOT / "conf" / "model" / "dense.yaml"),
        "train": {**train, "threads": None, **train_settings},
    })
