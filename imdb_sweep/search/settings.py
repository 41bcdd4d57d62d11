"""`hydra.sweeper.*` of a search, checked, and the Optuna parts built from it.

conf/hydra/sweeper/optuna.yaml documents every key; the sampler is a config
group (`hydra/sweeper/sampler=random`), as in Hydra's own Optuna sweeper.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imdb_sweep.config.validation import ConfigError
from imdb_sweep.search.objective import DEFAULT_OBJECTIVE, OBJECTIVES, ObjectiveMetric, objective_problems

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc")
# Samplers that need a package imdb_sweep does not install (Optuna imports it only when sampling).
SAMPLER_PACKAGES = {"cmaes": "cmaes", "gp": "torch"}
PRUNERS = ("none", "median", "asha", "hyperband")


@dataclass(frozen=True)
class SearchSettings:
    n_trials: int
    sampler: dict[str, Any]  # name, seed, and the sampler's own arguments
    pruner: str
    pruner_arguments: dict[str, Any]
    objective: ObjectiveMetric
    direction: str
    storage: str | None
    study_name: str | None
    n_jobs: int | None
    params: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def from_sweeper_config(config: Mapping[str, Any]) -> SearchSettings:
        """Raise ConfigError listing every value of hydra.sweeper that is not allowed."""
        problems: list[str] = []
        n_trials = config.get("n_trials")
        if not (isinstance(n_trials, int) and not isinstance(n_trials, bool) and n_trials >= 1):
            problems.append(f"hydra.sweeper.n_trials = {n_trials!r} is not allowed: expected an integer >= 1 "
                            "(the study's total number of trials, over all its workers)")
        n_jobs = config.get("n_jobs")
        if n_jobs is not None and not (isinstance(n_jobs, int) and n_jobs >= 1):
            problems.append(f"hydra.sweeper.n_jobs = {n_jobs!r} is not allowed: expected null (the launcher's "
                            "n_jobs) or an integer >= 1")
        sampler = dict(config.get("sampler") or {})
        if sampler.get("name") not in SAMPLERS:
            problems.append(f"hydra.sweeper.sampler.name = {sampler.get('name')!r} is not allowed: expected one of "
                            f"{', '.join(SAMPLERS)} (hydra/sweeper/sampler=random selects one)")
        package = SAMPLER_PACKAGES.get(sampler.get("name"))
        if package is not None and importlib.util.find_spec(package) is None:
            problems.append(f"hydra/sweeper/sampler={sampler['name']} needs the {package} package, which is not "
                            f"installed (pip install {package}); or use tpe, random, grid or qmc")
        seed = sampler.get("seed")
        if seed is not None and not (isinstance(seed, int) and seed >= 0):
            problems.append(f"hydra.sweeper.sampler.seed = {seed!r} is not allowed: expected null or an integer >= 0")
        pruner = config.get("pruner")
        pruner = "none" if pruner is None else pruner
        if pruner not in PRUNERS:
            problems.append(f"hydra.sweeper.pruner = {pruner!r} is not allowed: expected one of {', '.join(PRUNERS)}")
        objective = dict(config.get("objective") or {})
        metric = objective.get("metric", DEFAULT_OBJECTIVE)
        direction = objective.get("direction")
        problems += objective_problems(metric, direction)
        if problems:
            raise ConfigError(problems)
        pruners = dict(config.get("pruners") or {})
        return SearchSettings(
            n_trials=n_trials, sampler=sampler, pruner=pruner,
            pruner_arguments=dict(pruners.get(pruner) or {}),
            objective=OBJECTIVES[metric], direction=direction or OBJECTIVES[metric].direction,
            storage=config.get("storage"), study_name=config.get("study_name"), n_jobs=n_jobs,
            params={str(key): str(value) for key, value in (config.get("params") or {}).items()},
        )

    def params_as_overrides(self) -> list[str]:
        """hydra.sweeper.params (a search/ config's space) as command-line overrides."""
        return [f"{key}={value}" for key, value in self.params.items()]

    def study_name_for(self, search_arguments: list[str]) -> str:
        """hydra.sweeper.study_name, or one made from what defines the search (its
        space and fixed overrides, objective, sampler and pruner), so that the
        same command joins the same study; n_trials and the launcher are left
        out: a worker may ask for more trials or run them side by side."""
        if self.study_name:
            return self.study_name
        identity = {
            "arguments": sorted(search_arguments), "objective": self.objective.name, "direction": self.direction,
            "sampler": self.sampler, "pruner": self.pruner, "pruner_arguments": self.pruner_arguments,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"search-{digest}"

    def describe_pruner(self) -> str:
        arguments = ", ".join(f"{key}={value}" for key, value in self.pruner_arguments.items())
        return f"{self.pruner}({arguments})" if arguments and self.pruner != "none" else self.pruner


def build_sampler(settings: SearchSettings, grid: dict[str, list[Any]] | None = None) -> Any:
    import optuna

    arguments = {key: value for key, value in settings.sampler.items() if key != "name"}
    name = settings.sampler["name"]
    if name == "tpe":
        # Constant liar: a trial still running counts as a poor result, so workers
        # asking at the same time are steered apart instead of onto one point.
        return optuna.samplers.TPESampler(**{"constant_liar": True, **arguments})
    if name == "random":
        return optuna.samplers.RandomSampler(**arguments)
    if name == "grid":
        return optuna.samplers.GridSampler(grid or {}, **arguments)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(**arguments)
    if name == "gp":
        return optuna.samplers.GPSampler(**arguments)
    return optuna.samplers.QMCSampler(**arguments)


def build_pruner(name: str, arguments: Mapping[str, Any]) -> Any:
    """The pruner a search's jobs consult after every epoch (step = epoch)."""
    import optuna

    arguments = dict(arguments)
    if name == "median":
        return optuna.pruners.MedianPruner(**arguments)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(**arguments)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(**arguments)
    return optuna.pruners.NopPruner()
