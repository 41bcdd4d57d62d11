"""Create the search's Optuna study and its one MLflow parent run, or join them.

The worker that creates the study creates the parent run and stores its id in the
study; a worker that joins (another machine, or the same command run again after a
kill) waits for that id and nests its trials under the same parent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from optuna.study import StudyDirection

from imdb_sweep import contract
from imdb_sweep.console import print_flushed
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.definition import SearchDefinition
from imdb_sweep.search.settings import SearchSettings, build_sampler
from imdb_sweep.search.space import SearchSpace
from imdb_sweep.search.storage import describe
from imdb_sweep.sweep.parent import create_parent_run, new_sweep_id, search_title
from imdb_sweep.tracking.liveness import process_tags
from imdb_sweep.tracking.store import TrackingTarget
from imdb_sweep.tracking.sweep_state import SweepState

# How long a worker that joins a new study waits for its creator's parent run.
PARENT_WAIT_SECONDS = 120.0


@dataclass(frozen=True)
class SearchPlan:
    """A search as the sweeper checked it, before any study or run exists."""

    config: DictConfig  # the composed config, hydra.* included
    settings: SearchSettings
    space: SearchSpace
    storage_url: str
    storage: Any  # an Optuna storage, opened
    target: TrackingTarget
    study_name: str
    study_arguments: list[str]  # what defines the search: the space and the fixed overrides
    custom_search_space: Callable[[Any, Any], None] | None  # hydra.sweeper.custom_search_space, located
    definition: SearchDefinition  # what the study keeps of the search, for workers that join by name


def create_or_join_study(plan: SearchPlan) -> tuple[optuna.Study, bool]:
    """The study, and whether this worker created it."""
    settings = plan.settings
    sampler = build_sampler(settings, plan.space.grid() if settings.is_grid else None)
    try:
        study = optuna.create_study(storage=plan.storage, study_name=plan.study_name, sampler=sampler,
                                    direction=StudyDirection[settings.direction.upper()])
        study.set_user_attr(contract.STUDY_DEFINITION, plan.definition.to_json())
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=plan.study_name, storage=plan.storage, sampler=sampler)
    if study.direction.name.lower() != settings.direction:
        raise SystemExit(f"Error: study {plan.study_name!r} in {describe(plan.storage_url)} "
                         f"{study.direction.name.lower()}s its objective, this command would "
                         f"{settings.direction} it; give another hydra.sweeper.study_name")
    fail_lost_trials(plan, study)
    return study, False


def fail_lost_trials(plan: SearchPlan, study: optuna.Study) -> None:
    """Trials whose worker died are failed, each said, and their configurations asked again."""
    for number, reason in trial_records.fail_lost_trials(study, plan.config.sweep.dead_after_seconds):
        print_flushed(f"Trial {number} failed: {reason}; its configuration will be tried again")


def parent_run_state(plan: SearchPlan, client: MlflowClient, study: optuna.Study, created: bool) -> SweepState:
    """The search's SweepState: its parent run made by the study's creator, or found
    (and reopened if it had ended) by a worker that joins."""
    settings = plan.settings
    if created:
        sweep_id = new_sweep_id()
        parent_run_id = create_search_parent_run(plan, client, study, sweep_id)
        print_flushed(f"Search {sweep_id}: study '{plan.study_name}' in {describe(plan.storage_url)}, "
            f"{settings.n_trials} trial(s), sampler {settings.sampler_name}, "
            f"pruner {settings.describe_pruner()}, {settings.direction} "
            f"{settings.objective.name}; parent run {parent_run_id} "
            f"in experiment '{plan.target.experiment_name}'")
    else:
        parent_run_id, sweep_id = wait_for_parent_run(plan)
        reopen_parent_run(client, study, parent_run_id)
        counts = trial_records.trial_summary(study)
        print_flushed(f"Joining search {sweep_id} (study '{plan.study_name}'): {counts['complete']} complete, "
            f"{counts['pruned']} pruned, {counts['failed']} failed, {counts['running']} running "
            f"of {settings.n_trials} trial(s); parent run {parent_run_id}")
    return SweepState(
        sweep_id=sweep_id, parent_run_id=parent_run_id, tracking_uri=plan.target.uri,
        experiment_id=plan.target.experiment_id, total_jobs=settings.n_trials,
        # A custom_search_space function's keys are known only once it runs: a run's
        # name then holds every override that changes what is trained.
        swept_keys=plan.space.keys if plan.custom_search_space is None else [],
        search={"storage": plan.storage_url, "study_name": plan.study_name,
                "objective": settings.objective.name, "direction": settings.direction,
                "pruner": settings.pruner_config},
    )


def create_search_parent_run(plan: SearchPlan, client: MlflowClient, study: optuna.Study, sweep_id: str) -> str:
    """The parent run, with the search's settings as tags and its space as an artifact;
    its id stored in the study for the workers that join."""
    settings = plan.settings
    parent = create_parent_run(client, plan.target, sweep_id, " ".join(plan.study_arguments),
                               search_title(plan.space.keys, settings.study_name),
                               extra_tags=search_record(plan).to_tags())
    parent_run_id = parent.info.run_id
    client.log_param(parent_run_id, "n_trials", settings.n_trials)
    client.log_dict(parent_run_id, plan.space.to_json(), contract.SEARCH_SPACE_ARTIFACT)
    study.set_user_attr(contract.STUDY_SWEEP_ID, sweep_id)
    study.set_user_attr(contract.STUDY_PARENT_RUN_ID, parent_run_id)
    return parent_run_id


def search_record(plan: SearchPlan) -> contract.SearchRecord:
    """What the parent run records of the search, for the report."""
    settings = plan.settings
    return contract.SearchRecord(objective=settings.objective.name, direction=settings.direction,
                                 sampler=settings.sampler_name, pruner=settings.describe_pruner(),
                                 study_name=plan.study_name, storage=describe(plan.storage_url))


def wait_for_parent_run(plan: SearchPlan) -> tuple[str, str]:
    """(parent run id, sweep id) of the parent run the study's creator made: it may still be making it."""
    deadline = time.monotonic() + PARENT_WAIT_SECONDS
    while True:
        attributes = optuna.load_study(study_name=plan.study_name, storage=plan.storage).user_attrs
        if contract.STUDY_PARENT_RUN_ID in attributes:
            return attributes[contract.STUDY_PARENT_RUN_ID], attributes[contract.STUDY_SWEEP_ID]
        if time.monotonic() > deadline:
            raise SystemExit(f"Error: study {plan.study_name!r} has no MLflow parent run after "
                             f"{PARENT_WAIT_SECONDS:.0f} s: was its creator killed before it made one? "
                             "Give another hydra.sweeper.study_name")
        time.sleep(0.5)


def reopen_parent_run(client: MlflowClient, study: optuna.Study, parent_run_id: str) -> None:
    """A parent ended earlier (killed with its last worker, or a search now given a
    larger n_trials) runs again, watched by this worker."""
    parent = client.get_run(parent_run_id)
    if parent.info.status != "RUNNING":
        study.set_user_attr(contract.STUDY_ENDED, "")
        client.update_run(parent_run_id, status="RUNNING")
        follow_worker(client, parent_run_id, process_tags())


def follow_worker(client: MlflowClient, parent_run_id: str, identity: dict[str, str]) -> None:
    """Make `identity` (a worker's host, pid, start) the process the parent run's liveness follows."""
    for key, value in identity.items():
        client.set_tag(parent_run_id, key, value)
