"""Why model=conv1d sat at the class balance (val_accuracy 0.50) in a 2-epoch sweep on
2,000 reviews: the family's default model against one change at a time.

    python benchmarks/investigations/conv1d_start.py [--train-limit 2000] [--epochs 8]

Each variant is the conv1d builder's model with one key changed (or the reviews padded
at the end instead of the front), compiled as the job compiles it (RMSprop at
train.learning_rate unless the variant changes it, binary cross-entropy) and fitted with
Keras's `fit` (batch 32, validation_split 0.2, seed 42) on a stratified subset. Prints
each variant's validation accuracy and training loss per epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for baseline.py
from baseline import baseline_config, load_full_data, start_training_here

# name -> (learning rate or None for train.learning_rate, pad at the end?, model keys changed)
VARIANTS: dict[str, tuple[float | None, bool, dict[str, Any]]] = {
    "defaults": (None, False, {}),
    "learning_rate 1e-4 (Chollet, 1st ed.)": (1e-4, False, {}),
    "learning_rate 3e-4": (3e-4, False, {}),
    "padding at the end": (None, True, {}),
    "embedding_dim 128 (Chollet)": (None, False, {"embedding_dim": 128}),
    "embedding_dim 128, learning_rate 1e-4": (1e-4, False, {"embedding_dim": 128}),
    "blocks 1": (None, False, {"blocks": 1}),
    "activation tanh": (None, False, {"activation": "tanh"}),
    "filters 64": (None, False, {"filters": 64}),
    "kernel_size 3": (None, False, {"kernel_size": 3}),
    "pool_size 2": (None, False, {"pool_size": 2}),
}


def padded_at_the_end(word_ids: np.ndarray) -> np.ndarray:
    """The same reviews with their padding (id 0) moved behind the words."""
    moved = np.zeros_like(word_ids)
    for index, row in enumerate(word_ids):
        words = row[row != 0]
        moved[index, : len(words)] = words
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names from VARIANTS")
    arguments = parser.parse_args()
    start_training_here()
    import keras
    from omegaconf import OmegaConf

    from imdb_sweep import models

    cfg = baseline_config("model=conv1d", f"data.train_limit={arguments.train_limit}", "data.test_limit=1000")
    data = load_full_data(cfg)
    for name in arguments.variants.split(","):
        learning_rate, at_the_end, changes = VARIANTS[name]
        keras.utils.set_random_seed(cfg.seed)
        model = models.build(OmegaConf.merge(cfg.model, changes), num_words=cfg.data.num_words,
                             maxlen=cfg.data.maxlen)
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate or cfg.train.learning_rate),
                      loss=cfg.train.loss, metrics=["accuracy"])
        x = padded_at_the_end(data.x_train) if at_the_end else data.x_train
        started = time.perf_counter()
        history = model.fit(x, data.y_train, epochs=arguments.epochs, batch_size=cfg.train.batch_size,
                            validation_split=cfg.train.validation_split, verbose=0).history
        print(f"{name:>40}: val_accuracy {' '.join(f'{v:.3f}' for v in history['val_accuracy'])}; "
              f"loss {' '.join(f'{v:.3f}' for v in history['loss'])} ({time.perf_counter() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
