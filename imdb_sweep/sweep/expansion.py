"""A grid sweep's jobs, known before the first one runs, and all of them checked.

Hydra's basic sweeper expands the grid when it launches; expanding it here too,
in the multirun callback, lets a typo in the fifth job fail before the first
one trains.
"""

from __future__ import annotations

from omegaconf import DictConfig

from imdb_sweep.config.identity import distinguishing_overrides
from imdb_sweep.config.validation import ConfigError
from imdb_sweep.job_inputs import check_job_inputs

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def is_basic_sweeper(config: DictConfig) -> bool:
    return config.hydra.sweeper.get("_target_") == BASIC_SWEEPER


def expand_basic_sweep(config: DictConfig) -> tuple[list[list[str]], list[str]]:
    """Each job's overrides, as Hydra's basic sweeper will launch them, and the
    keys the sweep varies."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(sweep_arguments(config))
    swept_keys = [override.key_or_group for override in parsed if override.is_sweep_override()]
    jobs = [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    return jobs, swept_keys


def sweep_arguments(config: DictConfig) -> list[str]:
    """The grid as the user gave it: hydra.sweeper.params, then the command line."""
    arguments = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    return arguments + list(config.hydra.overrides.task)


def job_problems(config: DictConfig, overrides: list[str]) -> list[str]:
    """What is wrong with the job `overrides` make of the sweep's `config`, as the job
    itself would find it (check_job_inputs): every bad value, or the data's problem."""
    from hydra.core.global_hydra import GlobalHydra

    job_config = GlobalHydra.instance().config_loader().load_sweep_config(config, list(overrides))
    try:
        check_job_inputs(job_config)
    except ConfigError as error:
        return list(error.problems)
    except ValueError as error:
        return [str(error)]
    return []


def validate_sweep(config: DictConfig, jobs: list[list[str]], swept_keys: list[str]) -> None:
    """Compose and check every job of the sweep; one error lists every bad job. A
    problem every job shares (no data, a bad fixed key) is said once."""
    jobs_by_problem: dict[str, list[str]] = {}  # in order of first appearance
    for overrides in jobs:
        label = " ".join(distinguishing_overrides(overrides, swept_keys)) or "(defaults)"
        for problem in job_problems(config, overrides):
            jobs_by_problem.setdefault(problem, []).append(label)
    problems = []
    for problem, labels in jobs_by_problem.items():
        if len(jobs) > 1 and len(labels) == len(jobs):
            problems.append(problem)
        else:
            problems += [f"job {label}: {problem}" for label in labels]
    if problems:
        raise ConfigError(problems)
