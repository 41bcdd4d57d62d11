"""A worker leaving its search: the worker that finds the study done ends the parent
run, writes optimization_results.yaml and publishes the report; a worker that leaves
earlier hands the parent run to one still working, so it is never reaped while
trials run, or, the last one, ends it KILLED or FAILED.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.console import print_flushed
from imdb_sweep.process.interrupts import was_interrupted
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.study import SearchPlan, follow_worker
from imdb_sweep.sweep.pending import end_search_parent, keep_sweep_end, say_pending
from imdb_sweep.sweep.publishing import publish_results
from imdb_sweep.tracking.liveness import process_tags
from imdb_sweep.tracking.spool import is_server_away, pending_spools, send_spools, spool_root
from imdb_sweep.tracking.sweep_state import SweepState

# The best trial, in the sweep folder, named and shaped as Hydra's Optuna sweeper writes it.
RESULTS_FILE = "optimization_results.yaml"
# What the end line counts always, and what only when there are any.
TRIALS_ALWAYS_SAID = ("complete", "pruned", "failed")
TRIALS_SAID_WHEN_ANY = ("running", "retried", "warm_started")


class SearchStopped(Exception):
    """Why this worker stops asking for trials before the search is done."""


def leave_search(plan: SearchPlan, client: MlflowClient, study: optuna.Study, state: SweepState,
                 stopped: SearchStopped | None = None) -> None:
    """End the parent run if this worker is the last one (FAILED when `stopped`
    says why this worker gave up, KILLED when interrupted), or hand it to one
    still working."""
    n_trials = plan.settings.n_trials
    if stopped is not None:
        print(f"Error: {stopped}", file=sys.stderr, flush=True)
    if trial_records.search_done(study, n_trials):
        write_results(plan, study)
        if study.user_attrs.get(contract.STUDY_ENDED) == state.parent_run_id:
            return  # Another worker ends it.
        study.set_user_attr(contract.STUDY_ENDED, state.parent_run_id)
        end_search(plan, client, study, state, RunStatus.KILLED if was_interrupted() else None)
        return
    other = another_live_worker(study)
    if other is not None:
        follow_worker(client, state.parent_run_id, other)
        print_flushed(f"Leaving search {state.sweep_id}: trials still run in other workers, which end it")
    else:
        end_search(plan, client, study, state, RunStatus.FAILED if stopped is not None else RunStatus.KILLED)
        print_flushed(f"Search {state.sweep_id} stopped before its {n_trials} trials: run the same "
            "command again to continue it", stream=sys.stderr)


def write_results(plan: SearchPlan, study: optuna.Study) -> None:
    """optimization_results.yaml in this worker's sweep folder, as Hydra's Optuna
    sweeper writes it (name, best_params, best_value), for scripts built on it."""
    objective = plan.settings.objective.name
    results = trial_records.best_results(study, objective)
    if results is None:
        return
    path = Path(plan.config.hydra.sweep.dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(results), path)
    print_flushed(f"Best trial {results[contract.BEST_TRIAL_NUMBER]}: {objective}="
        f"{results['best_value']:.4f} with {results['best_params']} (in {path})")


def another_live_worker(study: optuna.Study) -> dict[str, str] | None:
    """The identity (host, pid, start) of another worker with a trial running, if any."""
    me = process_tags()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        identity = {key: trial.user_attrs[key] for key in (contract.HOST, contract.PID, contract.PROCESS_START)
                    if key in trial.user_attrs}
        if identity.get(contract.PID) and (identity.get(contract.PID), identity.get(contract.HOST)) != \
                (me[contract.PID], me[contract.HOST]):
            return identity
    return None


def end_search(plan: SearchPlan, client: MlflowClient, study: optuna.Study, state: SweepState,
               status: int | None) -> None:
    """Count the study's trials on the parent run, end it with `status` (a RunStatus
    value; None: FINISHED unless a trial failed) and publish the report. With the
    tracking server still away, the end is kept for `python -m imdb_sweep.sync`."""
    end = search_end(plan, study, status)
    register = OmegaConf.select(plan.config, "tracking.register", default=None)
    promote = OmegaConf.select(plan.config, "tracking.promote", default="when_better")
    # The trials' runs first: what their jobs spooled while the server was away.
    root = spool_root(plan.config.tracking)
    left = send_spools(list(pending_spools(root, state.sweep_id)), float(plan.config.sweep.sync_wait_seconds),
                       print_flushed)
    if not left:
        if end["exhausted"]:
            print_flushed(f"Search {state.sweep_id}: every configuration of its space has been tried")
        try:
            end_search_parent(client, state, end)
        except Exception as error:  # noqa: BLE001 - e.g. the server died during the search
            if not is_server_away(error, state.tracking_uri):
                print(f"Could not end the search's parent run {state.parent_run_id}: {type(error).__name__}: "
                      f"{str(error).splitlines()[0][:300]}", file=sys.stderr, flush=True)
                return
        else:
            publish_results(state, register, promote)
            return
    keep_sweep_end(root, state, register, promote, search_end=end)
    say_pending(root, state, left)


def search_end(plan: SearchPlan, study: optuna.Study, status: int | None) -> dict[str, Any]:
    """The parent's end as the study says it (end_search_parent's `end`), decided now:
    the study's storage may answer while the tracking server does not."""
    counts = trial_records.trial_summary(study)
    metrics = {f"trials_{name}": count for name, count in counts.items()}
    size = plan.space.size() if plan.custom_search_space is None else None
    if size is not None:
        metrics["search_space_size"] = size
    if status is None:
        status = RunStatus.FINISHED if counts["failed"] == 0 else RunStatus.FAILED
    said = [*TRIALS_ALWAYS_SAID, *(name for name in TRIALS_SAID_WHEN_ANY if counts[name])]
    return {"status": status, "trials": ", ".join(f"{counts[name]} {name}" for name in said),
            "metrics": metrics, "exhausted": trial_records.exhausted(study)}
