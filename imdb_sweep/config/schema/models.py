"""STAND-IN for issue 20's model schema: MODEL_FAMILIES maps `model.family` to its
dataclass. The merge keeps issue 20's version (its DenseModelConfig, its validator);
the families of issue 21 come from families.py, as here."""

from __future__ import annotations

from dataclasses import dataclass

from imdb_sweep.config.schema.families import FAMILIES


@dataclass
class DenseModelConfig:
    # Checked by validation.RULES until issue 20's validator walks the dataclasses.
    family: str = "dense"


MODEL_FAMILIES: dict[str, type] = {"dense": DenseModelConfig, **FAMILIES}
