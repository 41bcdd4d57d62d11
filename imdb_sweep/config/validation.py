"""Checks every configured value before any data is read or any run starts.

One walker checks values against the schema (config/schema/): every key of every
group against its field's rule, and every key the schema does not know. The few
checks that involve two keys follow in `cross_key_problems`. All problems are
collected and reported together, each naming the key, the value given and what
is allowed, so a bad sweep fails once with the full list instead of one mistake
at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from imdb_sweep.config.schema import GROUPS, MODEL_FAMILIES, MODEL_GROUP, TopLevelConfig, group_schema
from imdb_sweep.config.schema.fields import is_number, rule_of


@dataclass(frozen=True)
class Problem:
    """One value that is not allowed: its key, the value, and what the key allows.

    `condition` names another key's value that rules this one out; `sentence` is the
    whole message where a check says more than "expected ..."; `where` is the job or
    the search expression the value came from."""

    key: str
    value: Any
    allowed: str
    condition: str = ""
    sentence: str = ""
    where: str = ""

    def __str__(self) -> str:
        with_ = f" with {self.condition}" if self.condition else ""
        text = self.sentence or f"{self.key} = {self.value!r} is not allowed{with_}: expected {self.allowed}"
        return f"{self.where}: {text}" if self.where else text

    def at(self, where: str) -> Problem:
        return dataclasses.replace(self, where=where)

    @staticmethod
    def said(sentence: str, key: str = "", value: Any = None) -> Problem:
        """A problem a check wrote as a sentence of its own."""
        return Problem(key, value, "", sentence=sentence)


class ConfigError(ValueError):
    """One or more configuration values are not allowed."""

    def __init__(self, problems: Sequence[Problem | str]):
        self.problems = [problem if isinstance(problem, Problem) else Problem.said(problem) for problem in problems]
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


def schema_problems(values: Mapping[str, Any], schema: type, prefix: str = "") -> list[Problem]:
    """Every value of `values` (one group's, or a nested part) that `schema` does not
    allow, and every key it does not have; `prefix` spells the group (`model.`)."""
    problems: list[Problem] = []
    fields = {field.name: field for field in dataclasses.fields(schema)}
    for name, field in fields.items():
        value = values.get(name)
        key = f"{prefix}{name}"
        nested = _nested_schema(field)
        if nested is not None:
            if isinstance(value, Mapping):
                problems += schema_problems(value, nested, f"{key}.")
            else:
                problems.append(Problem(key, value, f"a mapping of {', '.join(_setting_names(nested))}"))
            continue
        rule = rule_of(field)
        if not rule.accepts(value):
            problems.append(Problem(key, value, rule.allowed))
    # A schema may take keys of the user's own (the custom model family's builder arguments).
    if getattr(schema, "ACCEPTS_OTHER_KEYS", False):
        return problems
    for name, value in values.items():
        if name not in fields and not _is_instantiate_key(name):
            title = getattr(schema, "TITLE", prefix.rstrip(".") or "the config")
            problems.append(Problem(f"{prefix}{name}", value, "", sentence=(
                f"{prefix}{name} is not a setting of {title}: expected one of {', '.join(_setting_names(schema))}")))
    return problems


def config_problems(cfg: DictConfig) -> list[Problem]:
    """Every problem of a composed job config: each group against its schema, then
    the checks that involve two keys."""
    values = _plain_values(cfg)
    top_level = {key: value for key, value in values.items() if not isinstance(value, Mapping)}
    problems = schema_problems(top_level, TopLevelConfig)
    for group, group_values in values.items():
        if not isinstance(group_values, Mapping):
            continue
        schema = group_schema(group, group_values)
        if schema is not None:
            problems += schema_problems(group_values, schema, f"{group}.")
        elif group == MODEL_GROUP:
            family = group_values.get("family")
            problems.append(Problem(f"{group}.family", family, "one of " + ", ".join(MODEL_FAMILIES)))
        else:
            problems.append(Problem.said(f"{group} is not a config group: expected one of "
                                         f"{', '.join([*GROUPS, MODEL_GROUP])}", key=group))
    return problems + cross_key_problems(values)


def cross_key_problems(values: Mapping[str, Any]) -> list[Problem]:
    """The checks that involve two keys (one key's own rule is in the schema)."""

    def value(key: str) -> Any:
        group, _, name = key.partition(".")
        return (values.get(group) or {}).get(name)

    problems = []
    # An empty path counts as unset: ${oc.env:...} yields "" for a variable set empty.
    if value("data.source") == "aclimdb" and not value("data.path"):
        problems.append(Problem("data.path", value("data.path"), condition="data.source = 'aclimdb'",
                                allowed="the path of the aclImdb folder or its .tar.gz (or set IMDB_SWEEP_ACLIMDB)"))
    if value("tracking.register") is not None and value("tracking.log_model") is False:
        problems.append(Problem("tracking.register", value("tracking.register"), condition="tracking.log_model = false",
                                allowed="null (registering needs the run's logged model)"))
    heartbeat, dead_after = value("sweep.heartbeat_seconds"), value("sweep.dead_after_seconds")
    if is_number(dead_after) and is_number(heartbeat) and dead_after <= heartbeat:
        problems.append(Problem("sweep.dead_after_seconds", dead_after, "a number > sweep.heartbeat_seconds"))
    return problems


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every value of `cfg` that is not allowed."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(problems)


def _plain_values(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain Python values, resolved; Hydra's own node left out (a
    job's config composed for a sweep has it, and it is not ours to check)."""
    return {str(key): (cast(Any, OmegaConf.to_container(cfg[key], resolve=True))
                       if isinstance(cfg[key], DictConfig) else cfg[key])
            for key in cfg if key != "hydra"}


def _nested_schema(field: dataclasses.Field[Any]) -> type | None:
    """The dataclass a field holds (hydra.sweeper.objective), if any."""
    if field.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(field.default_factory):
        return cast(type, field.default_factory)
    return None


def _setting_names(schema: type) -> list[str]:
    return [field.name for field in dataclasses.fields(schema)]


def _is_instantiate_key(name: str) -> bool:
    """`_target_`, `_recursive_`, ...: Hydra's own keys for instantiate(), not settings."""
    return name.startswith("_") and name.endswith("_")

