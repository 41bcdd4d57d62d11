"""A grid sweep's jobs, known before the first one runs, and all of them checked.

Hydra's basic sweeper expands the grid when it launches; expanding it here too,
in the multirun callback, lets a typo in the fifth job fail before the first
one trains.
"""

from __future__ import annotations

from omegaconf import DictConfig

from imdb_sweep.config.hydra_internals import BASIC_SWEEPER, basic_sweeper_jobs, running_config_loader
from imdb_sweep.config.identity import distinguishing_overrides
from imdb_sweep.config.validation import ConfigError, Problem
from imdb_sweep.job_inputs import check_job_inputs


def is_basic_sweeper(config: DictConfig) -> bool:
    return config.hydra.sweeper.get("_target_") == BASIC_SWEEPER


def expand_basic_sweep(config: DictConfig) -> tuple[list[list[str]], list[str]]:
    """Each job's overrides, as Hydra's basic sweeper will launch them, and the
    keys the sweep varies."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = running_config_loader()
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(sweep_arguments(config))
    swept_keys = [override.key_or_group for override in parsed if override.is_sweep_override()]
    jobs = basic_sweeper_jobs(parsed)
    return jobs, swept_keys


def sweep_arguments(config: DictConfig) -> list[str]:
    """The grid as the user gave it: hydra.sweeper.params, then the command line."""
    arguments = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    return arguments + list(config.hydra.overrides.task)


def job_problems(config: DictConfig, overrides: list[str]) -> list[Problem]:
    """What is wrong with the job `overrides` make of the sweep's `config`, as the job
    itself would find it (check_job_inputs): every bad value, or the data's problem."""
    job_config = running_config_loader().load_sweep_config(config, list(overrides))
    try:
        check_job_inputs(job_config)
    except ConfigError as error:
        return error.problems
    except ValueError as error:  # the data's own checks (DataError): a sentence of their own
        return [Problem.said(str(error))]
    return []


def validate_sweep(config: DictConfig, jobs: list[list[str]], swept_keys: list[str]) -> None:
    """Compose and check every job of the sweep; one error lists every bad job. A
    problem every job shares (no data, a bad fixed key) is said once."""
    # Each problem (by its text) with the jobs that have it, in order of first appearance.
    jobs_by_problem: dict[str, tuple[Problem, list[str]]] = {}
    for overrides in jobs:
        label = " ".join(distinguishing_overrides(overrides, swept_keys)) or "(defaults)"
        for problem in job_problems(config, overrides):
            jobs_by_problem.setdefault(str(problem), (problem, []))[1].append(label)
    problems = []
    for problem, labels in jobs_by_problem.values():
        if len(jobs) > 1 and len(labels) == len(jobs):
            problems.append(problem)
        else:
            problems += [problem.at(f"job {label}") for label in labels]
    if problems:
        raise ConfigError(problems)
