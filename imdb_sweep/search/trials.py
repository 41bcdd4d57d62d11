"""The trials of a study shared by several workers: the budget, who runs what,
and trials whose worker died.

Every trial this package asks for carries its worker's identity (host, pid,
process start, heartbeat: the same as an MLflow run's, tracking/liveness.py)
as user attributes. Optuna trial numbers are handed out by the storage, so
they are unique over all workers and order the trials consistently: a trial
is within the budget when fewer than n_trials counted trials come before it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from imdb_sweep import contract
from imdb_sweep.tracking.liveness import PeriodicBeat, process_death_reason, process_tags

# Optuna's message when a sampler calls Study.stop outside Study.optimize (optuna/study/study.py).
_STOP_OUTSIDE_OPTIMIZE = "`Study.stop` is supposed to be invoked inside"

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """n_trials counts the trials this search trains: not lost or surplus ones, nor
    those added from earlier runs (warm_start.py)."""
    return trial.state in COUNTED_STATES and not any(
        key in trial.user_attrs for key in (contract.TRIAL_LOST_WORKER, contract.TRIAL_SURPLUS,
                                            contract.TRIAL_WARM_START))


def budget_left(study: optuna.Study, n_trials: int) -> int:
    return n_trials - sum(counts_toward_budget(trial) for trial in study.get_trials(deepcopy=False))


def within_budget(study: optuna.Study, trial_number: int, n_trials: int) -> bool:
    before = sum(counts_toward_budget(trial) for trial in study.get_trials(deepcopy=False)
                 if trial.number < trial_number)
    return before < n_trials


def search_done(study: optuna.Study, n_trials: int) -> bool:
    """n_trials counted trials have ended and none is running (a configuration still
    waiting to be asked again no longer fits the budget then), or the sampler has
    tried every point of the space."""
    trials = study.get_trials(deepcopy=False)
    if any(trial.state == TrialState.RUNNING for trial in trials):
        return False
    if study.user_attrs.get(contract.STUDY_EXHAUSTED):
        return True
    return sum(counts_toward_budget(trial) for trial in trials) >= n_trials


def tell(study: optuna.Study, trial: optuna.Trial | int, value: float | None = None,
         state: TrialState | None = None, skip_if_finished: bool = False) -> None:
    """study.tell, for an ask-and-tell search. A sampler that has tried every point of
    its space (GridSampler, BruteForceSampler) asks the study to stop from its
    after_trial hook; Study.stop raises outside Study.optimize, after the trial's state
    is stored (optuna/study/_tell.py stores it in a `finally`). Here that request marks
    the study exhausted, unless a configuration still waits to be asked again (a lost
    trial's retry, which the sampler does not count)."""
    try:
        study.tell(trial, value, state=state, skip_if_finished=skip_if_finished)
    except RuntimeError as error:
        if _STOP_OUTSIDE_OPTIMIZE not in str(error):
            raise
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            study.set_user_attr(contract.STUDY_EXHAUSTED, True)


def exhausted(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get(contract.STUDY_EXHAUSTED))


def live_trial(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A handle on a trial of this study that another process may have asked.
    (Optuna's documented Trial(study, trial_id) constructor; the id is the
    storage's, which FrozenTrial keeps in _trial_id.)"""
    return optuna.Trial(study, frozen._trial_id)


def find_trial(study: optuna.Study, number: int) -> FrozenTrial:
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise LookupError(f"trial {number} is not in study {study.study_name!r}")


def claim(trial: optuna.Trial) -> None:
    """Mark `trial` as run by this process (host, pid, start, heartbeat)."""
    for key, value in process_tags().items():
        trial.set_user_attr(key, value)


class TrialHeartbeat(PeriodicBeat):
    """Refreshes the heartbeat of this worker's running trials, so workers on other
    hosts can tell a live trial from one whose machine was lost."""

    def __init__(self, interval_seconds: float):
        self._trials: list[optuna.Trial] = []
        super().__init__(self._beat_all, interval_seconds, name="trial-heartbeat")

    def watch(self, trials: Iterable[optuna.Trial]) -> None:
        self._trials = list(trials)

    def _beat_all(self) -> None:
        for trial in list(self._trials):
            trial.set_user_attr(contract.HEARTBEAT, f"{time.time():.0f}")


def fail_lost_trials(study: optuna.Study, dead_after_seconds: float) -> list[tuple[int, str]]:
    """FAIL every RUNNING trial whose worker is provably gone and ask its
    configuration again (enqueued); return (trial number, why) for each."""
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if contract.PID not in trial.user_attrs:
            continue  # Not asked by us: we cannot tell how its worker signals life.
        reason = process_death_reason(trial.user_attrs, dead_after_seconds)
        if reason is None:
            continue
        live_trial(study, trial).set_user_attr(contract.TRIAL_LOST_WORKER, reason)
        tell(study, trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(trial.params), user_attrs={contract.TRIAL_RETRY_OF: trial.number})
        lost.append((trial.number, reason))
    return lost


def trial_summary(study: optuna.Study) -> dict[str, Any]:
    """Counts of the study's trials by how they ended (lost and surplus apart)."""
    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "retried": 0, "warm_started": 0}
    for trial in study.get_trials(deepcopy=False):
        if contract.TRIAL_WARM_START in trial.user_attrs:
            counts["warm_started"] += 1
        elif contract.TRIAL_LOST_WORKER in trial.user_attrs:
            counts["retried"] += 1
        elif contract.TRIAL_SURPLUS in trial.user_attrs:
            continue
        elif trial.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif trial.state == TrialState.PRUNED:
            counts["pruned"] += 1
        elif trial.state == TrialState.FAIL:
            counts["failed"] += 1
        elif trial.state == TrialState.RUNNING:
            counts["running"] += 1
    return counts


def best_results(study: optuna.Study, objective: str) -> dict[str, Any] | None:
    """The best complete trial as Hydra's Optuna sweeper reports it (name, best_params,
    best_value), with the objective, trial number and MLflow run beside; None before
    any trial completed."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    assert best.value is not None, "a complete trial has its value"
    results = {"name": "optuna", "best_params": dict(best.params), "best_value": float(best.value),
               "objective": objective, contract.BEST_TRIAL_NUMBER: best.number}
    if contract.TRIAL_RUN_ID in best.user_attrs:
        results[contract.BEST_RUN_ID] = best.user_attrs[contract.TRIAL_RUN_ID]
    return results
