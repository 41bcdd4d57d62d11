"""The config's schema: one dataclass per option of each config group, the one source
of its keys, their defaults and the values each allows (fields.py: the rule and the
one-line help of every key sit in its field's metadata).

The yaml files in conf/ are the options users pick and edit, each key with its
comment; they do not extend these dataclasses. OmegaConf would check a yaml that
extends a schema as it composes, but it stops at the first bad value with Hydra's
own error (and a pointer to HYDRA_FULL_ERROR), before any sweep could list every
bad job, and it reads `yes` or `1` as true. So the composed config is checked by
config/validation.py against these dataclasses instead, every problem of every job
at once; tests/test_schema.py proves every yaml option agrees with its schema.

`register_schemas()` puts them in Hydra's ConfigStore under `schema/<group>`
(`schema/model/dense`, `schema/hydra/sweeper/optuna`), for anyone who wants
OmegaConf's own typed config: a yaml of one's own can extend one through its
defaults list (`defaults: [/schema/model/dense@_here_, _self_]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imdb_sweep.config.schema.data import DataConfig
from imdb_sweep.config.schema.fields import integer, text
from imdb_sweep.config.schema.models import MODEL_FAMILIES
from imdb_sweep.config.schema.runtime import RuntimeConfig
from imdb_sweep.config.schema.sweep import SweepConfig
from imdb_sweep.config.schema.sweeper import AdaptiveSeedsSweeperConfig, SearchSweeperConfig
from imdb_sweep.config.schema.tracking import TrackingConfig
from imdb_sweep.config.schema.train import TrainConfig


@dataclass
class TopLevelConfig:
    """The keys of config.yaml itself; each group's keys are in its own schema."""

    seed: int = integer(42, minimum=0, help="seeds Python, NumPy and TensorFlow")
    variant: str | None = text("baseline", optional=True, allowed="a name of conf/variant/",
                               help="the named ablation the run started from (`variant=NAME`, conf/variant/)")


# Each config group with one schema for all its options; `model` has one per family.
GROUPS: dict[str, type] = {
    "data": DataConfig, "train": TrainConfig, "runtime": RuntimeConfig, "tracking": TrackingConfig,
    "sweep": SweepConfig,
}
MODEL_GROUP = "model"
FAMILY_KEY = "family"
SCHEMA_GROUP = "schema"


def group_schema(group: str, values: Mapping[str, Any]) -> type | None:
    """The schema of `group` as composed with `values`: for `model`, its family's
    (None when `model.family` names none)."""
    if group == MODEL_GROUP:
        return MODEL_FAMILIES.get(values.get(FAMILY_KEY))  # type: ignore[arg-type]
    return GROUPS.get(group)


def register_schemas() -> None:
    """Every schema in Hydra's ConfigStore, under schema/ (see above)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="config", node=TopLevelConfig, group=SCHEMA_GROUP)
    for group, schema in GROUPS.items():
        store.store(name="default", node=schema, group=f"{SCHEMA_GROUP}/{group}")
    for family, schema in MODEL_FAMILIES.items():
        store.store(name=family, node=schema, group=f"{SCHEMA_GROUP}/{MODEL_GROUP}")
    store.store(name="optuna", node=SearchSweeperConfig, group=f"{SCHEMA_GROUP}/hydra/sweeper")
    store.store(name="adaptive_seeds", node=AdaptiveSeedsSweeperConfig, group=f"{SCHEMA_GROUP}/hydra/sweeper")
