"""Checks every configured value before any data is read or any run starts.

All problems are collected and reported together, each naming the key, the
value given and what is allowed, so a bad sweep fails once with the full list
instead of one mistake at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

ALLOWED_ACTIVATIONS = (
    "relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "softplus", "linear",
)
ALLOWED_LOSSES = ("binary_crossentropy", "mse")
ALLOWED_OPTIMIZERS = ("rmsprop", "adam", "sgd", "adagrad", "nadam")
# How RMSprop's accumulator sees a word repeated in a batch (imdb_sweep/fused_steps.py).
ALLOWED_EMBEDDING_GRADIENTS = ("per_occurrence", "summed")
ALLOWED_DATA_SOURCES = ("auto", "keras", "aclimdb")
ALLOWED_RERUN = ("missing", "all")


class ConfigError(ValueError):
    """One or more configuration values are not allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    return repr(value)


class _Checker:
    """Collects `key = value: expected ...` problems for one config."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.problems: list[str] = []

    def value(self, key: str) -> Any:
        return OmegaConf.select(self.cfg, key, default=None, throw_on_missing=False)

    def require(self, key: str, ok: Callable[[Any], bool], allowed: str) -> None:
        value = self.value(key)
        try:
            passed = ok(value)
        except TypeError:
            passed = False
        if not passed:
            self.problems.append(f"{key} = {_describe(value)} is not allowed: expected {allowed}")

    def integer_at_least(self, key: str, minimum: int) -> None:
        self.require(key, lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")

    def optional_integer_at_least(self, key: str, minimum: int) -> None:
        self.require(
            key, lambda v: v is None or (_is_int(v) and v >= minimum),
            f"null or an integer >= {minimum}",
        )

    def one_of(self, key: str, choices: tuple[str, ...]) -> None:
        self.require(key, lambda v: v in choices, "one of " + ", ".join(choices))


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every value of `cfg` that is not allowed."""
    check = _Checker(cfg)

    check.integer_at_least("seed", 0)

    check.integer_at_least("model.embedding_dim", 1)
    check.integer_at_least("model.hidden_layers", 1)
    check.integer_at_least("model.units", 1)
    check.one_of("model.activation", ALLOWED_ACTIVATIONS)
    check.require("model.dropout", lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")
    check.require("model.l2", lambda v: _is_number(v) and v >= 0, "a number >= 0")

    check.one_of("train.optimizer", ALLOWED_OPTIMIZERS)
    check.one_of("train.loss", ALLOWED_LOSSES)
    check.require("train.learning_rate", lambda v: _is_number(v) and v > 0, "a number > 0")
    check.integer_at_least("train.epochs", 1)
    check.integer_at_least("train.batch_size", 1)
    check.require(
        "train.validation_split", lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)"
    )
    check.require("train.verbose", lambda v: v in (0, 1, 2), "0, 1 or 2")
    check.optional_integer_at_least("train.threads", 1)

    check.one_of("data.source", ALLOWED_DATA_SOURCES)
    # Ids 0-3 are reserved (padding, start, out-of-vocabulary, unused).
    check.integer_at_least("data.num_words", 4)
    check.integer_at_least("data.maxlen", 1)
    check.optional_integer_at_least("data.train_limit", 2)
    check.optional_integer_at_least("data.test_limit", 2)
    check.integer_at_least("data.subset_seed", 0)
    # An empty path counts as unset: ${oc.env:...} yields "" for a variable set empty.
    check.require(
        "data.path", lambda v: v is None or isinstance(v, str),
        "null or a path to the aclImdb folder or its .tar.gz",
    )
    if check.value("data.source") == "aclimdb" and not check.value("data.path"):
        check.problems.append(
            "data.path = None is not allowed with data.source = 'aclimdb': expected the path "
            "of the aclImdb folder or its .tar.gz (or set IMDB_SWEEP_ACLIMDB)"
        )

    check.require(
        "tracking.experiment", lambda v: isinstance(v, str) and v.strip() != "",
        "a non-empty experiment name",
    )
    check.require("train.deterministic", lambda v: isinstance(v, bool), "true or false")
    check.integer_at_least("train.steps_per_execution", 1)
    check.require("train.fuse_steps", lambda v: isinstance(v, bool), "true or false")
    check.one_of("train.embedding_gradients", ALLOWED_EMBEDDING_GRADIENTS)
    check.require("train.keep_freed_memory", lambda v: isinstance(v, bool), "true or false")
    check.integer_at_least("train.evaluation_batch_size", 1)
    check.require("train.jit_compile", lambda v: v in ("auto", True, False), "auto, true or false")
    check.require("train.mixed_precision", lambda v: isinstance(v, bool), "true or false")
    check.integer_at_least("sweep.connect_attempts", 1)
    check.one_of("sweep.rerun", ALLOWED_RERUN)
    check.require("sweep.checkpoints", lambda v: isinstance(v, bool), "true or false")
    check.require("sweep.heartbeat_seconds", lambda v: _is_number(v) and v > 0, "a number > 0")
    check.require(
        "sweep.dead_after_seconds",
        lambda v: _is_number(v) and v > check.value("sweep.heartbeat_seconds"),
        "a number > sweep.heartbeat_seconds",
    )

    if check.problems:
        raise ConfigError(check.problems)
