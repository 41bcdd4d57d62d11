"""Tiny integer arrays the fused-step tests train on."""

from __future__ import annotations

import numpy as np

VOCABULARY, LENGTH = 50, 12


def tiny_arrays(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCABULARY, size=(count, LENGTH)).astype("int32")
    y = (x[:, -1] % 2).astype("float32")  # learnable: the parity of the last word
    return x, y
