"""`hydra.sweeper.*` of a search, checked, and the Optuna parts built from it.

conf/hydra/sweeper/imdb_optuna.yaml documents every key. The sampler and the pruners
are `_target_` configs, as in Hydra's own Optuna sweeper: a preset
(`hydra/sweeper/imdb_sampler=random`, `hydra.sweeper.pruner=asha`) or any Optuna class
(`hydra.sweeper.sampler._target_=optuna.samplers.NSGAIISampler`); every sampler
and pruner is built here, by `instantiate_optuna`.

Hydra's Optuna sweeper's own keys mean the same here where they can
(`direction`, `max_failure_rate`, `custom_search_space`); a key the sweeper does
not know is refused, never ignored.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imdb_sweep import contract
from imdb_sweep.config import hydra_internals
from imdb_sweep.config.schema.fields import integer, rule_of
from imdb_sweep.config.schema.sweeper import NO_PRUNER, SAMPLER_PRESETS, WARM_START_OFF, SearchSweeperConfig
from imdb_sweep.config.validation import ConfigError, Problem, schema_problems
from imdb_sweep.search.objective import OBJECTIVES, ObjectiveMetric, direction_problems

# Samplers that need a package imdb_sweep does not install (Optuna imports it only when sampling).
SAMPLER_PACKAGES = {"cmaes": "cmaes", "gp": "torch"}
# The config group of the sampler presets (conf/hydra/sweeper/imdb_sampler/): named apart from
# hydra-optuna-sweeper's hydra/sweeper/sampler, so both can be installed.
SAMPLER_GROUP = "hydra/sweeper/imdb_sampler"
# instantiate()'s own keys, allowed beside a class's arguments.
INSTANTIATE_KEYS = ("_target_", "_partial_", "_convert_", "_recursive_", "_args_")


@dataclass(frozen=True)
class SearchSettings:
    n_trials: int
    sampler: dict[str, Any]  # _target_ and the sampler's arguments (the grid's search_space is added later)
    pruner: str  # its name in hydra.sweeper.pruners, `none`, or the label of a _target_ pruner
    pruner_config: dict[str, Any] | None  # _target_ and the pruner's arguments; None: no pruning
    objective: ObjectiveMetric
    direction: str
    storage: str | None
    study_name: str | None
    n_jobs: int | None
    params: dict[str, str] = field(default_factory=dict)
    max_failure_rate: float = 1.0
    custom_search_space: str | None = None
    warm_start: str = WARM_START_OFF

    @staticmethod
    def from_sweeper_config(config: Mapping[str, Any], sampler_preset: Mapping[str, Any] | None = None
                            ) -> SearchSettings:
        """Raise ConfigError listing every value of hydra.sweeper that is not allowed.
        `sampler_preset`: the preset hydra.sweeper.sampler was composed from (see
        `without_preset_leftovers`)."""
        # Each key's own rule (n_trials, n_jobs, max_failure_rate, objective.metric, unknown
        # keys) from the schema; then what depends on other keys or on the classes named.
        problems: list[Problem | str] = [*schema_problems(config, SearchSweeperConfig, "hydra.sweeper.")]
        sampler = without_preset_leftovers(dict(config.get("sampler") or {}), sampler_preset)
        problems += sampler_problems(sampler)
        pruner, pruner_config, pruner_problems = _pruner_choice(config.get("pruner"), config.get("pruners"))
        problems += pruner_problems
        objective = dict(config.get("objective") or {})
        metric = objective.get("metric", contract.DEFAULT_OBJECTIVE)
        direction, more = direction_problems(metric, objective.get("direction"), config.get("direction"))
        problems += more
        max_failure_rate = config.get("max_failure_rate", 1.0)
        custom = config.get("custom_search_space")
        if custom is not None:
            problems += custom_search_space_problems(custom, sampler)
        if problems:
            raise ConfigError(problems)
        return SearchSettings(
            n_trials=config["n_trials"], sampler=sampler, pruner=pruner, pruner_config=pruner_config,
            objective=OBJECTIVES[metric], direction=direction, storage=config.get("storage"),
            study_name=config.get("study_name"), n_jobs=config.get("n_jobs"),
            params={str(key): str(value) for key, value in (config.get("params") or {}).items()},
            max_failure_rate=float(max_failure_rate), custom_search_space=custom,
            warm_start=config.get("warm_start", WARM_START_OFF),
        )

    def params_as_overrides(self) -> list[str]:
        return params_as_overrides(self.params)

    def study_name_for(self, search_arguments: list[str]) -> str:
        """hydra.sweeper.study_name, or one made from what defines the search (its
        space and fixed overrides, objective, sampler and pruner), so that the
        same command joins the same study; n_trials and the launcher are left
        out: a worker may ask for more trials or run them side by side."""
        if self.study_name:
            return self.study_name
        identity = {
            "arguments": sorted(search_arguments), "objective": self.objective.name, "direction": self.direction,
            "sampler": self.sampler, "pruner": self.pruner, "pruner_config": self.pruner_config,
            "custom_search_space": self.custom_search_space,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"search-{digest}"

    @property
    def sampler_name(self) -> str:
        return class_label(self.sampler["_target_"], "Sampler")

    @property
    def is_grid(self) -> bool:
        return is_grid_sampler(self.sampler)

    @property
    def pruner_arguments(self) -> dict[str, Any]:
        return {key: value for key, value in (self.pruner_config or {}).items() if key not in INSTANTIATE_KEYS}

    def describe_pruner(self) -> str:
        arguments = ", ".join(f"{key}={value}" for key, value in self.pruner_arguments.items())
        return f"{self.pruner}({arguments})" if arguments else self.pruner

    def custom_search_space_function(self) -> Callable[[Any, Any], None] | None:
        return locate(self.custom_search_space) if self.custom_search_space else None


def params_as_overrides(params: Mapping[str, Any] | None) -> list[str]:
    """hydra.sweeper.params (a search/ config's space) as command-line overrides."""
    return [f"{key}={value}" for key, value in (params or {}).items()]


# -- samplers and pruners from their configs --------------------------------------

def instantiate_optuna(config: Mapping[str, Any], **arguments: Any) -> Any:
    """An Optuna sampler or pruner from its `_target_` config (Hydra's instantiate, plain
    Python values for Optuna); `arguments` are the ones the search fills in itself.
    A `_partial_` config (Hydra's Optuna sweeper's grid preset) is called at once."""
    from hydra.utils import instantiate

    made = instantiate({"_convert_": "all", **config}, **arguments)
    return made() if isinstance(made, functools.partial) else made


def build_sampler(settings: SearchSettings, grid: dict[str, list[Any]] | None = None) -> Any:
    """The search's sampler; a GridSampler gets the grid of the search space."""
    return instantiate_optuna(settings.sampler, **({"search_space": grid} if settings.is_grid else {}))


def build_pruner(config: Mapping[str, Any] | None) -> Any:
    """The pruner a search's jobs consult after every epoch (step = epoch)."""
    import optuna

    return optuna.pruners.NopPruner() if config is None else instantiate_optuna(config)


def class_label(target: str, suffix: str) -> str:
    """`optuna.samplers.TPESampler` -> `tpe`, `optuna.pruners.MedianPruner` -> `median`."""
    name = target.rsplit(".", 1)[-1]
    return (name.removesuffix(suffix) or name).lower()


def without_preset_leftovers(sampler: dict[str, Any], preset: Mapping[str, Any] | None) -> dict[str, Any]:
    """hydra.sweeper.sampler with another `_target_` than its preset (a user's
    `sampler: {_target_: optuna.samplers.RandomSampler, seed: 123}` over the default tpe
    preset) is merged with the preset's keys: those the new class does not take, still
    at the preset's value, are the preset's and are dropped. Anything else stays and
    is checked."""
    if not preset or preset.get("_target_") == sampler.get("_target_") or "_target_" not in sampler:
        return sampler
    try:
        accepted = _arguments_of(_locate_class(sampler["_target_"]))
    except (ImportError, AttributeError, ValueError):
        return sampler
    return {key: value for key, value in sampler.items()
            if accepted is None or key in accepted or key in INSTANTIATE_KEYS
            or not (key in preset and preset[key] == value)}


# Every Optuna sampler with a seed takes null or a non-negative integer.
SAMPLER_SEED = rule_of(integer(None, minimum=0, optional=True, help="the sampler's seed"))


def sampler_problems(sampler: Mapping[str, Any]) -> list[str]:
    import optuna

    problems = _optuna_class_problems("hydra.sweeper.sampler", sampler, optuna.samplers.BaseSampler,
                                      f"{SAMPLER_GROUP}={SAMPLER_PRESETS.replace(', ', '|')} selects a preset",
                                      filled_in=("search_space",))
    if problems:
        return problems
    package = SAMPLER_PACKAGES.get(class_label(sampler["_target_"], "Sampler"))
    if package is not None and importlib.util.find_spec(package) is None:
        problems.append(f"hydra.sweeper.sampler._target_ = {sampler['_target_']} needs the {package} package, which "
                        f"is not installed (pip install {package}); or use {SAMPLER_GROUP}=tpe, random, "
                        "grid or qmc")
    seed = sampler.get("seed")
    if not SAMPLER_SEED.accepts(seed):
        problems.append(str(Problem("hydra.sweeper.sampler.seed", seed, SAMPLER_SEED.allowed)))
    return problems


def _pruner_choice(pruner: Any, pruners: Any) -> tuple[str, dict[str, Any] | None, list[str]]:
    """hydra.sweeper.pruner: `none`, a name of hydra.sweeper.pruners, or a `_target_`
    config of its own; (its label, its config, problems)."""
    import optuna

    presets = dict(pruners or {})
    if pruner is None or pruner == NO_PRUNER:
        return NO_PRUNER, None, []
    if isinstance(pruner, Mapping):
        key, config = "hydra.sweeper.pruner", dict(pruner)
    elif isinstance(pruner, str) and pruner in presets:
        key, config = f"hydra.sweeper.pruners.{pruner}", dict(presets[pruner] or {})
    else:
        return str(pruner), None, [
            f"hydra.sweeper.pruner = {pruner!r} is not allowed: expected one of {', '.join([NO_PRUNER, *presets])} "
            "(their arguments under hydra.sweeper.pruners.<name>), or an Optuna pruner as a _target_ config"]
    problems = _optuna_class_problems(key, config, optuna.pruners.BasePruner,
                                      "e.g. _target_: optuna.pruners.MedianPruner")
    label = pruner if isinstance(pruner, str) else (
        class_label(config["_target_"], "Pruner") if not problems else "custom")
    return label, config, problems


def is_grid_sampler(sampler: Mapping[str, Any]) -> bool:
    """Whether hydra.sweeper.sampler is Optuna's GridSampler (or a subclass), which
    needs a discrete space; False when its _target_ cannot be found (said elsewhere)."""
    import optuna

    try:
        cls = _locate_class(sampler["_target_"])
    except (ImportError, AttributeError, ValueError, KeyError, TypeError):
        return False
    return isinstance(cls, type) and issubclass(cls, optuna.samplers.GridSampler)


def _optuna_class_problems(key: str, config: Mapping[str, Any], base: type, hint: str,
                           filled_in: tuple[str, ...] = ()) -> list[str]:
    """Why `config` cannot build a `base` (an Optuna sampler or pruner): no or a wrong
    `_target_`, or arguments the class does not take."""
    target = config.get("_target_")
    kind = base.__name__.removeprefix("Base").lower()
    if not isinstance(target, str) or not target:
        return [f"{key} has no _target_: expected an Optuna {kind} class, e.g. "
                f"{key}._target_=optuna.{kind}s.{'RandomSampler' if kind == 'sampler' else 'MedianPruner'} "
                f"({hint})"]
    try:
        cls = _locate_class(target)
    except (ImportError, AttributeError, ValueError) as error:
        return [f"{key}._target_ = {target!r} cannot be imported ({one_line(error)}): expected an Optuna {kind} "
                f"class ({hint})"]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return [f"{key}._target_ = {target!r} is not an Optuna {kind}: expected a subclass of "
                f"{base.__module__.split('.')[0]}.{kind}s.{base.__name__} ({hint})"]
    accepted = _arguments_of(cls)
    if accepted is None:
        return []
    problems = []
    for name, value in config.items():
        if name in INSTANTIATE_KEYS:
            continue
        if name in filled_in:
            problems.append(f"{key}.{name} is filled in by the search (from its space): leave it out")
        elif name not in accepted:
            offered = ", ".join(sorted(accepted - set(filled_in))) or "none"
            problems.append(f"{key}.{name} = {value!r} is not an argument of {target} (its arguments: {offered})"
                            + (f"; {hint}" if name == "name" else ""))
    return problems


def custom_search_space_problems(path: Any, sampler: Mapping[str, Any]) -> list[str]:
    """hydra.sweeper.custom_search_space must name a function (config, trial) -> None,
    as in Hydra's Optuna sweeper; the grid sampler has no place for its keys."""
    key = "hydra.sweeper.custom_search_space"
    if not isinstance(path, str) or not path:
        return [f"{key} = {path!r} is not allowed: expected null or the dotted path of a function "
                "(config, trial) -> None, e.g. my_space.configure (a module in the folder you run from)"]
    try:
        function = locate(path)
        if not callable(function):
            raise ValueError(f"it is a {type(function).__name__}, not a function")
    except Exception as error:  # noqa: BLE001 - whatever importing the user's module raised
        reason = one_line(error)
        return [f"{key} = {path!r} cannot be used ({reason}): expected the dotted path of a function "
                "(config, trial) -> None, e.g. my_space.configure (a module in the folder you run from)"]
    if is_grid_sampler(sampler):
        return [f"{key} = {path!r} cannot be used with the grid sampler, whose grid holds only the keys of "
                f"the search space: use another sampler ({SAMPLER_GROUP}=tpe or random)"]
    return []


def locate(path: str) -> Any:
    """What a dotted path names (Hydra's own lookup for `_target_`; hydra.utils.get_class
    would also log every failure as an error of its own)."""
    return hydra_internals.locate(path)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] if text else type(error).__name__


def _locate_class(target: str) -> Any:
    return locate(target)


def _arguments_of(cls: type[Any]) -> set[str] | None:
    """The keyword arguments `cls` takes; None when it takes any (**kwargs)."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {parameter.name for parameter in parameters
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)}
