"""Which config keys change what is trained, and what follows from that one rule:
a job's `config_hash`, the overrides that name its run, and the report's columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

# Keys (and whole groups) that do not change what is trained: where things are
# kept, how a sweep treats reruns, how fast, how chatty or how parallel a job is,
# and where the data is read from (its digest, not its path, identifies the data).
# Not here, so still telling trained configurations apart, are the runtime
# switches that change the numbers: runtime.fuse_steps (its own shuffle),
# runtime.jit_compile (XLA's arithmetic, and whether the fused loop runs) and
# runtime.mixed_precision (float16).
NOT_TRAINING_KEYS = (
    "tracking", "sweep", "data.path", "data.cache_dir", "data.source",
    "runtime.steps_per_execution", "runtime.evaluation_batch_size", "runtime.keep_freed_memory", "runtime.threads",
    "runtime.deterministic", "runtime.verbose",
)

def affects_training(key: str) -> bool:
    """True for a flattened key (`model.units`) that changes what a job trains."""
    return not any(key == skip or key.startswith(skip + ".") for skip in NOT_TRAINING_KEYS)


def flatten_config(cfg: DictConfig | Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model.units': 32, ...} from the resolved config, `hydra` left out."""
    # A DictConfig's container is a dict with str keys (OmegaConf types it as any container).
    container: Mapping[str, Any] = (
        cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)) if isinstance(cfg, DictConfig) else cfg)
    flat: dict[str, Any] = {}
    for key, value in container.items():
        if key == "hydra":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def config_hash(cfg: DictConfig, data_digest: str) -> str:
    """Identity of what a job trains: its training keys plus the data's digest."""
    hashed = {key: value for key, value in flatten_config(cfg).items() if affects_training(key)}
    payload = json.dumps({"config": hashed, "data": data_digest}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def override_key(override: str) -> str:
    """`+model.units=64` -> `model.units`."""
    return override.lstrip("+~").partition("=")[0]


def distinguishing_overrides(overrides: list[str], swept_keys: list[str] | None = None) -> list[str]:
    """The overrides that tell a job apart: the swept keys in a sweep, else (a single
    run, or a sweep of one job) every override that changes what is trained."""
    if swept_keys:
        return [override for override in overrides if override_key(override) in swept_keys]
    return [override for override in overrides if affects_training(override_key(override))]


def run_name_from_overrides(overrides: list[str], fallback: str) -> str:
    """`model.units=64`, `model.activation=tanh` -> `units=64,activation=tanh`; a
    search's sampled floats shortened to 4 significant digits (the params keep them whole)."""
    parts = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        parts.append(f"{short_key(key)}={short_value(value)}")
    return ",".join(parts) if parts else fallback


def short_key(key: str) -> str:
    """`model.units` -> `units`: how run names show a key."""
    return key.rsplit(".", 1)[-1]


def short_value(value: str) -> str:
    """`0.30012345678` -> `0.3001`; anything that is not a long float stays as it is."""
    if "." not in value or len(value) <= 7:
        return value
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value
