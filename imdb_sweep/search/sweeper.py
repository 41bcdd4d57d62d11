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
from imdb_sweep.config.schema.sweeper import WARM_START_EXPERIMENT
from imdb_sweep.config.validation import ConfigError, Problem
from imdb_sweep.console import print_flushed
from imdb_sweep.search.definition import (
    DEFINITION_WAIT_SECONDS,
    SearchDefinition,
    placement_arguments,
    study_definition,
    training_arguments,
)
from imdb_sweep.search.objective import OBJECTIVES
from imdb_sweep.search.settings import SAMPLER_GROUP, SearchSettings, is_grid_sampler, params_as_overrides
from imdb_sweep.search.space import SearchSpace, SearchSpaceError
from imdb_sweep.search.storage import default_storage, describe, open_storage
from imdb_sweep.search.study import SearchPlan, create_or_join_study, parent_run_state
from imdb_sweep.search.warm_start import warm_start
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
        warm_started = 0
        if created and plan.settings.warm_start == WARM_START_EXPERIMENT:
            # Before the parent run exists: workers that join wait for it, so none asks first.
            warm_started = warm_start(self.config, plan.settings, plan.space, client, plan.target.experiment_id,
                                      study)
        state = parent_run_state(plan, client, study, created)
        if created and plan.settings.warm_start == WARM_START_EXPERIMENT:
            client.log_metric(state.parent_run_id, "trials_warm_started", warm_started)
            print_flushed(f"Warm start: {warm_started} earlier run(s) of this search's configurations added to "
                          "the study (not trained again, not counted in n_trials)")
        SearchWorker(plan, client, study, state).run(self.launcher)


def check_search(config: DictConfig, hydra_context: HydraContext, arguments: list[str]) -> SearchPlan:
    """Every problem of the sweeper's settings, of the space and of every value it can
    produce, in one error; then the storage and the tracking store. A command that
    names a study and gives no search of its own joins it by name: the space,
    objective, sampler and pruner are the study's (definition.py)."""
    # hydra.sweeper is a mapping: its container a dict (OmegaConf types it as any container).
    sweeper = cast(dict[str, Any], OmegaConf.to_container(config.hydra.sweeper, resolve=True))
    problems: list[Problem | str] = []
    try:
        settings = SearchSettings.from_sweeper_config(sweeper, sampler_preset(config))
    except ConfigError as error:
        settings, problems = None, list(error.problems)
    joined = None
    if settings is not None and settings.study_name and not gives_a_search(sweeper, arguments):
        settings, joined = join_by_name(config, settings)
        sweeper = {**sweeper, "params": None, "conditional_params": joined.conditional_params or None}
        arguments = [*joined.arguments, *placement_arguments(arguments)]
    space, space_problems = SearchSpace.parse(
        [*params_as_overrides(sweeper.get("params")), *arguments], hydra_context.config_loader,
        allow_empty=sweeper.get("custom_search_space") is not None or (
            joined is not None and joined.custom_search_space is not None),
        conditional=sweeper.get("conditional_params"))
    problems += space_problems
    if is_grid_sampler(settings.sampler if settings is not None else sweeper.get("sampler") or {}):
        problems += space.grid_problems()
    problems += search_space_problems(config, space)
    if problems:
        raise ConfigError(problems)
    assert settings is not None  # made, since nothing was wrong
    if settings.is_grid and joined is None:
        settings = _grid_budget(settings, space)
    for note in space.notes:
        print_flushed(f"Warning: {note}", stream=sys.stderr)
    storage_url = settings.storage or default_storage(config.tracking.store_dir)
    storage = open_storage(storage_url)
    definition = search_definition(settings, space, [*params_as_overrides(sweeper.get("params")), *arguments],
                                   sweeper.get("conditional_params"))
    study_arguments = [*settings.params_as_overrides(), *arguments,
                       *conditional_as_overrides(sweeper.get("conditional_params"))]
    study_name = settings.study_name_for(study_arguments)
    if joined is None:
        refuse_another_search(storage, storage_url, study_name, definition)
    target = connect(config.tracking, config.sweep.connect_attempts)
    return SearchPlan(config=config, settings=settings, space=space, storage_url=storage_url, storage=storage,
                      target=target, study_name=study_name, study_arguments=study_arguments,
                      custom_search_space=settings.custom_search_space_function(), definition=definition)


def gives_a_search(sweeper: dict[str, Any], arguments: list[str]) -> bool:
    """Whether the command gives a search of its own: a space, a fixed override that
    changes what is trained, or a custom_search_space function."""
    return bool(sweeper.get("params") or sweeper.get("conditional_params") or sweeper.get("custom_search_space")
                or training_arguments(arguments))


def join_by_name(config: DictConfig, settings: SearchSettings) -> tuple[SearchSettings, SearchDefinition]:
    """This command's settings with the search the named study keeps; n_trials the
    study's unless this command gives hydra.sweeper.n_trials."""
    assert settings.study_name is not None
    storage_url = settings.storage or default_storage(config.tracking.store_dir)
    exists, definition = study_definition(open_storage(storage_url), settings.study_name, DEFINITION_WAIT_SECONDS)
    where = f"study {settings.study_name!r} in {describe(storage_url)}"
    if definition is None:
        raise ConfigError([
            f"{where} " + ("keeps no search definition (it was made before studies kept one)" if exists
                           else "does not exist") + ": give the search space to create or join it"])
    given = [str(override) for override in OmegaConf.select(config, "hydra.overrides.hydra", default=[]) or []]
    n_trials = settings.n_trials if any(override.startswith("hydra.sweeper.n_trials=") for override in given) \
        else definition.n_trials
    print_flushed(f"Joining {where} by name: its space, fixed overrides, objective, sampler and pruner "
                  f"are the study's ({' '.join(definition.arguments) or 'a custom search space'})")
    return dataclasses.replace(
        settings, n_trials=n_trials, sampler=definition.sampler, pruner=definition.pruner,
        pruner_config=definition.pruner_config, objective=OBJECTIVES[definition.objective],
        direction=definition.direction, custom_search_space=definition.custom_search_space, params={}), definition


def search_definition(settings: SearchSettings, space: SearchSpace, arguments: list[str],
                      conditional: dict[str, dict[str, str]] | None) -> SearchDefinition:
    """What this command's search is, as the study keeps it."""
    from optuna.distributions import distribution_to_json

    return SearchDefinition(
        arguments=training_arguments(arguments),
        conditional_params={str(label): {str(key): str(value) for key, value in params.items()}
                            for label, params in (conditional or {}).items()},
        objective=settings.objective.name, direction=settings.direction, sampler=settings.sampler,
        pruner=settings.pruner, pruner_config=settings.pruner_config,
        custom_search_space=settings.custom_search_space, n_trials=settings.n_trials,
        distributions={key: distribution_to_json(distribution) for key, distribution in space.distributions.items()})


def refuse_another_search(storage: Any, storage_url: str, study_name: str, definition: SearchDefinition) -> None:
    """A study that exists keeps its search: a command giving another one is refused,
    every difference shown."""
    _, stored = study_definition(storage, study_name)
    differences = stored.differences(definition) if stored is not None else []
    if differences:
        raise ConfigError([f"study {study_name!r} in {describe(storage_url)} searches something else than this "
                           "command: " + "; ".join(differences) + ". Join it with hydra.sweeper.storage and "
                           "hydra.sweeper.study_name alone, or give another hydra.sweeper.study_name"])


def conditional_as_overrides(conditional: dict[str, Any] | None) -> list[str]:
    """hydra.sweeper.conditional_params, `model=rnn:model.cell=choice(lstm,gru)`: part of
    what names the study, as the other params are."""
    return [f"{label}:{key}={value}" for label, params in (conditional or {}).items()
            for key, value in params.items()]


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
