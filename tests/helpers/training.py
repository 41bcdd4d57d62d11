"""Training builders shared by the training and recovery tests: data with nothing to
learn, a loss-based epoch rule, comparing weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from imdb_sweep.data import load_imdb
from imdb_sweep.training.epoch_rule import EpochRule

MIN_VAL_LOSS = EpochRule("val_loss", best_of_epochs=True, maximize=False)


def overfitting_data(cfg):
    """The tiny reviews with their training labels shuffled: nothing to learn, so
    the validation curves peak early and the model overfits after."""
    data = load_imdb(cfg.data)
    return replace(data, y_train=np.random.default_rng(0).permutation(data.y_train))


def same_weights(first: list, second: list) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))
