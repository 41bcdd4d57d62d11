"""The search sweeper: Hydra multirun jobs proposed by Optuna, one study shared by
every worker that runs the same command.

    python -m imdb_sweep -m hydra/sweeper=imdb_optuna hydra.sweeper.n_trials=30 \\
        hydra.sweeper.pruner=asha 'model.units=choice(16,32,64,128)' 'model.dropout=interval(0.0,0.6)'

A worker (one such command) goes through these steps:
1. here: check everything before a run exists: hydra.sweeper.* (settings.py), the
   space (space.py), every value the space can produce (the job's own checks),
   the study storage and the tracking store;
2. study.py: create the study and its one MLflow parent run, or join them;
3. worker.py: ask the study for trials, launch them as jobs, tell the study how
   each ended;
4. leaving.py: the worker that finds the study done ends the parent run and
   publishes the report; one that leaves earlier hands the parent run over.

The Hydra plugin class lives in hydra_plugins/imdb_sweep_optuna (Hydra builds
sweepers only from there); this module is its implementation.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, cast

import optuna
from hydra.types import HydraContext, TaskFunction
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from imdb_sweep.config.location import config_dir
from imdb_sweep.config.validation import ConfigError, Problem
from imdb_sweep.console import print_flushed
from imdb_sweep.search.settings import SAMPLER_GROUP, SearchSettings, is_grid_sampler, params_as_overrides
from imdb_sweep.search.space import SearchSpace, SearchSpaceError
from imdb_sweep.search.storage import default_storage, open_storage
from imdb_sweep.search.study import SearchPlan, create_or_join_study, parent_run_state
from imdb_sweep.search.worker import SearchWorker
from imdb_sweep.sweep.expansion import job_problems
from imdb_sweep.tracking.liveness import reap_dead_runs
from imdb_sweep.tracking.store import TrackingError, connect


class SearchSweeper:
    """What the Hydra plugin class does: setup, then sweep."""

    def __init__(self, **sweeper_config: Any) -> None:
        self._sweeper_config = sweeper_config
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # Our lines say what happens, once.
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.hydra_context is not None
        try:
            plan = check_search(self.config, self.hydra_context, arguments)
        except (ConfigError, SearchSpaceError, TrackingError) as error:
            # Before any run or study exists: said plainly, no traceback.
            print(f"Error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from error
        client = MlflowClient(plan.target.uri)
        for run_id in reap_dead_runs(client, plan.target.experiment_id, self.config.sweep.dead_after_seconds):
            print_flushed(f"Marked run {run_id} KILLED: its process is gone")
        study, created = create_or_join_study(plan)
        state = parent_run_state(plan, client, study, created)
        SearchWorker(plan, client, study, state).run(self.launcher)


def check_search(config: DictConfig, hydra_context: HydraContext, arguments: list[str]) -> SearchPlan:
    """Every problem of the sweeper's settings, of the space and of every value it can
    produce, in one error; then the storage and the tracking store."""
    # hydra.sweeper is a mapping: its container a dict (OmegaConf types it as any container).
    sweeper = cast(dict[str, Any], OmegaConf.to_container(config.hydra.sweeper, resolve=True))
    problems: list[Problem | str] = []
    try:
        settings = SearchSettings.from_sweeper_config(sweeper, sampler_preset(config))
    except ConfigError as error:
        settings, problems = None, list(error.problems)
    space, space_problems = SearchSpace.parse(
        [*params_as_overrides(sweeper.get("params")), *arguments], hydra_context.config_loader,
        allow_empty=sweeper.get("custom_search_space") is not None,
        conditional=sweeper.get("conditional_params"))
    problems += space_problems
    if is_grid_sampler(sweeper.get("sampler") or {}):
        problems += space.grid_problems()
    problems += search_space_problems(config, space)
    if problems:
        raise ConfigError(problems)
    assert settings is not None  # made, since nothing was wrong
    if settings.is_grid:
        settings = _grid_budget(settings, space)
    for note in space.notes:
        print_flushed(f"Warning: {note}", stream=sys.stderr)
    storage_url = settings.storage or default_storage(config.tracking.store_dir)
    storage = open_storage(storage_url)
    target = connect(config.tracking, config.sweep.connect_attempts)
    study_arguments = [*settings.params_as_overrides(), *arguments, *conditional_as_overrides(config)]
    return SearchPlan(config=config, settings=settings, space=space, storage_url=storage_url, storage=storage,
                      target=target, study_name=settings.study_name_for(study_arguments),
                      study_arguments=study_arguments, custom_search_space=settings.custom_search_space_function())


def conditional_as_overrides(config: DictConfig) -> list[str]:
    """hydra.sweeper.conditional_params, `model=rnn:model.cell=choice(lstm,gru)`: part of
    what names the study, as the other params are."""
    conditional = config.hydra.sweeper.get("conditional_params") or {}
    return [f"{label}:{key}={value}" for label, params in conditional.items() for key, value in params.items()]


def sampler_preset(config: DictConfig) -> dict[str, Any] | None:
    """The preset hydra.sweeper.sampler was composed from (hydra/sweeper/imdb_sampler=NAME,
    tpe by default), as conf/ holds it."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    name = choices.get(SAMPLER_GROUP)
    path = config_dir() / SAMPLER_GROUP / f"{name}.yaml"
    # A preset file is a mapping: its container a dict.
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(path))) if name and path.is_file() else None


def search_space_problems(config: DictConfig, space: SearchSpace) -> list[Problem]:
    """Check every value a search space can produce (every choice, each bound of a
    range or interval) as a job would get it; each problem names its key's search
    expression, the value and what is allowed, each once."""
    problems: dict[str, Problem] = {}  # by text, in order, each once (many combinations share a bad value)
    for overrides in space.candidate_jobs():
        for problem in job_problems(config, overrides):
            problems.setdefault(str(problem), problem)
    return [problem.at(space.expressions[problem.key]) if problem.key in space.expressions else problem
            for problem in problems.values()]


def _grid_budget(settings: SearchSettings, space: SearchSpace) -> SearchSettings:
    """A grid search runs each configuration once: n_trials above the grid's size is
    cut to it (as Hydra's Optuna sweeper does), so the search ends FINISHED once every
    point is tried."""
    size = space.size()
    if size is None or settings.n_trials <= size:  # None: not a grid (the grid's checks said why)
        return settings
    print_flushed(f"The grid holds {size} configuration(s): {size} trial(s), "
                  f"not hydra.sweeper.n_trials={settings.n_trials}")
    return dataclasses.replace(settings, n_trials=size)
