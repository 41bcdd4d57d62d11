"""Checks every configured value before any data is read or any run starts.

Each key has one rule (RULES); the few checks that involve two keys follow in
`validate_config`. All problems are collected and reported together, each
naming the key, the value given and what is allowed, so a bad sweep fails once
with the full list instead of one mistake at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imdb_sweep.config import choices


class ConfigError(ValueError):
    """One or more configuration values are not allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Rule:
    """What one key accepts: a test and its description for the error message."""

    accepts: Callable[[Any], bool]
    allowed: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer_at_least(minimum: int) -> Rule:
    return Rule(lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")


def optional_integer_at_least(minimum: int) -> Rule:
    return Rule(lambda v: v is None or (_is_int(v) and v >= minimum), f"null or an integer >= {minimum}")


def one_of(allowed: tuple[Any, ...], description: str | None = None) -> Rule:
    return Rule(lambda v: v in allowed, description or "one of " + ", ".join(map(str, allowed)))


BOOLEAN = Rule(lambda v: isinstance(v, bool), "true or false")
# Registered model names: MLflow forbids '/' and ':'; '@' would break the
# `models:/<name>@champion` URI and spaces every shell command that names it.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
MODEL_NAME_ALLOWED = "a model name of letters, digits, '.', '_' and '-' (up to 256, starting with a letter or digit)"


def is_model_name(value: Any) -> bool:
    return isinstance(value, str) and MODEL_NAME_PATTERN.fullmatch(value) is not None

POSITIVE_NUMBER = Rule(lambda v: _is_number(v) and v > 0, "a number > 0")

RULES: dict[str, Rule] = {
    "seed": integer_at_least(0),
    "model.embedding_dim": integer_at_least(1),
    "model.hidden_layers": integer_at_least(1),
    "model.units": integer_at_least(1),
    "model.activation": one_of(choices.ACTIVATIONS),
    "model.dropout": Rule(lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "model.l2": Rule(lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "train.optimizer": one_of(choices.OPTIMIZERS),
    "train.loss": one_of(choices.LOSSES),
    "train.learning_rate": POSITIVE_NUMBER,
    "train.epochs": integer_at_least(1),
    "train.batch_size": integer_at_least(1),
    "train.validation_split": Rule(lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "train.embedding_gradients": one_of(choices.EMBEDDING_GRADIENTS),
    "train.early_stopping_patience": optional_integer_at_least(1),
    "train.dropout_masks": one_of(choices.DROPOUT_MASKS),
    "train.verbose": one_of(choices.VERBOSITY, "0, 1 or 2"),
    "train.threads": optional_integer_at_least(1),
    "train.deterministic": BOOLEAN,
    "train.steps_per_execution": integer_at_least(1),
    "train.fuse_steps": BOOLEAN,
    "train.keep_freed_memory": BOOLEAN,
    "train.evaluation_batch_size": integer_at_least(1),
    "train.jit_compile": one_of(choices.JIT_COMPILE, "auto, true or false"),
    "train.mixed_precision": BOOLEAN,
    "data.source": one_of(choices.DATA_SOURCES),
    # Ids 0-3 are reserved (padding, start, out-of-vocabulary, unused).
    "data.num_words": integer_at_least(4),
    "data.maxlen": integer_at_least(1),
    "data.train_limit": optional_integer_at_least(2),
    "data.test_limit": optional_integer_at_least(2),
    "data.subset_seed": integer_at_least(0),
    "data.path": Rule(lambda v: v is None or isinstance(v, str),
                      "null or a path to the aclImdb folder or its .tar.gz"),
    "tracking.experiment": Rule(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty experiment name"),
    "tracking.log_model": BOOLEAN,
    "tracking.register": Rule(lambda v: v is None or is_model_name(v), "null or " + MODEL_NAME_ALLOWED),
    "tracking.spool_dir": Rule(lambda v: v is None or (isinstance(v, str) and v.strip() != ""),
                               "null or a folder path"),
    "tracking.spool_max_megabytes": POSITIVE_NUMBER,
    "sweep.connect_attempts": integer_at_least(1),
    "sweep.rerun": one_of(choices.RERUN),
    "sweep.checkpoints": BOOLEAN,
    "sweep.heartbeat_seconds": POSITIVE_NUMBER,
    "sweep.sync_wait_seconds": Rule(lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "sweep.trial": optional_integer_at_least(0),
}


def _problem(key: str, value: Any, allowed: str) -> str:
    return f"{key} = {value!r} is not allowed: expected {allowed}"


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every value of `cfg` that is not allowed."""

    def value(key: str) -> Any:
        return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)

    problems = []
    for key, rule in RULES.items():
        try:
            accepted = rule.accepts(value(key))
        except TypeError:
            accepted = False
        if not accepted:
            problems.append(_problem(key, value(key), rule.allowed))

    # Checks that involve two keys.
    # An empty path counts as unset: ${oc.env:...} yields "" for a variable set empty.
    if value("data.source") == "aclimdb" and not value("data.path"):
        problems.append(
            "data.path = None is not allowed with data.source = 'aclimdb': expected the path "
            "of the aclImdb folder or its .tar.gz (or set IMDB_SWEEP_ACLIMDB)"
        )
    if value("tracking.register") is not None and value("tracking.log_model") is False:
        problems.append("tracking.register = {!r} is not allowed with tracking.log_model = false: "
                        "registering needs the run's logged model".format(value("tracking.register")))
    heartbeat, dead_after = value("sweep.heartbeat_seconds"), value("sweep.dead_after_seconds")
    if not (_is_number(dead_after) and _is_number(heartbeat) and dead_after > heartbeat):
        problems.append(_problem("sweep.dead_after_seconds", dead_after, "a number > sweep.heartbeat_seconds"))

    if problems:
        raise ConfigError(problems)
