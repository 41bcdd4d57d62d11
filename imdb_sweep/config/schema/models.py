"""`model`: one schema per architecture family, chosen by `model.family` (conf/model/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from imdb_sweep.config import choices
from imdb_sweep.config.schema.families import FAMILIES
from imdb_sweep.config.schema.fields import integer, number, one_of, text


@dataclass
class DenseModelConfig:
    """Embedding -> Flatten -> [Dropout] -> Dense x hidden_layers -> Dense(1, sigmoid)."""

    TITLE: ClassVar[str] = "model.family = 'dense'"
    family: str = text("dense", help="the architecture family (`model=NAME` selects one with its keys)")
    embedding_dim: int = integer(32, minimum=1, help="size of each word's embedding")
    hidden_layers: int = integer(1, minimum=1, help="hidden Dense layers")
    units: int = integer(32, minimum=1, help="units of each hidden Dense layer")
    activation: str = one_of("relu", choices.ACTIVATIONS, help="activation of the hidden Dense layers")
    dropout: float = number(0.0, minimum=0, below=1, help="Dropout rate after Flatten (0 leaves the layer out)")
    l2: float = number(0.0, minimum=0, help="L2 penalty on the hidden Dense kernels (0 leaves it out)")


# `model.family` -> the schema of that family's keys.
MODEL_FAMILIES: dict[str, type] = {"dense": DenseModelConfig, **FAMILIES}
