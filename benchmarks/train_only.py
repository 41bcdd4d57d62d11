"""A job's training alone, without MLflow or Hydra, on any Keras backend.

Builds the config from conf/, loads the archive with imdb_sweep.data and
trains with imdb_sweep.train, so the model, the fit loop and the speed knobs
are the ones a job uses. Used by benchmarks/levers.py, and on machines that
have Keras and a GPU but not our whole stack (our lent GPU machines carry JAX,
not TensorFlow):

    python benchmarks/train_only.py ARCHIVE [train.key=value ...]
    KERAS_BACKEND=jax python benchmarks/train_only.py ARCHIVE train.verbose=0
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def namespace(mapping: dict) -> SimpleNamespace:
    return SimpleNamespace(**{k: namespace(v) if isinstance(v, dict) else v for k, v in mapping.items()})


def main() -> None:
    archive, overrides = sys.argv[1], sys.argv[2:]
    config = {
        "seed": 42,
        "model": yaml.safe_load((ROOT / "conf/model/dense.yaml").read_text()),
        "train": yaml.safe_load((ROOT / "conf/train/rmsprop.yaml").read_text()),
        "data": {"source": "aclimdb", "path": archive, "num_words": 10000, "maxlen": 500,
                 "train_limit": None, "test_limit": None, "subset_seed": 0, "cache_dir": "/tmp/imdb_cache"},
    }
    # Hydra interpolations (e.g. train.threads from an environment variable) mean "default" here.
    for group in ("model", "train"):
        config[group] = {k: None if isinstance(v, str) and v.startswith("${") else v
                         for k, v in config[group].items()}
    for override in overrides:
        key, value = override.split("=", 1)
        group, name = key.split(".")
        config[group][name] = yaml.safe_load(value)
    cfg = namespace(config)

    import keras

    from imdb_sweep.data import load_imdb
    from imdb_sweep.train import train

    started = time.perf_counter()
    data = load_imdb(cfg.data)
    data_seconds = time.perf_counter() - started
    result = train(cfg, data)
    print("TRAIN_ONLY " + json.dumps({
        "backend": keras.backend.backend(),
        "overrides": overrides,
        "data_seconds": data_seconds,
        "epoch_seconds": result.epoch_seconds,
        "train_seconds": result.train_seconds,
        "test_accuracy": result.test_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "best_epoch": result.best_epoch,
    }), flush=True)


if __name__ == "__main__":
    main()
