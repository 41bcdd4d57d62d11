"""One worker's part in a search: ask the study for trials, launch them as jobs, tell
the study how each ended; until the study has its trials, or this worker stops.

The worker has as many slots as the launcher runs side by side (hydra.sweeper.n_jobs,
else hydra.launcher.n_jobs). Each slot is a thread that asks one trial, launches it
as a batch of one and tells its outcome, then asks the next at once: a slot whose
trial is pruned after an epoch never waits for the slowest trial of a batch
(Hydra's launchers return per batch). Hydra's basic launcher runs its jobs in this
process, one after the other: with it the worker asks and launches batches of
n_jobs, as before slots. Asking is one slot at a time, while fewer
than n_trials counted trials exist (over all workers); trials of dead workers are
failed and their configurations asked again. Each job learns its trial from
`++hydra.sweeper.trial=N` among its overrides, and its job number is this worker's
next. A trial this worker leaves unfinished (Ctrl-C, an error) is failed and asked
again, as if the worker had died.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.config.hydra_internals import runs_jobs_in_this_process
from imdb_sweep.console import print_flushed
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.leaving import SearchStopped, leave_search
from imdb_sweep.search.settings import one_line
from imdb_sweep.search.study import SearchPlan, fail_lost_trials
from imdb_sweep.tracking.liveness import Heartbeat
from imdb_sweep.tracking.sweep_state import SweepState

# Launches that raise in a row before the worker stops: the launcher, not a trial, is broken.
LAUNCHER_ERRORS_IN_A_ROW = 3


class SearchWorker:
    """Asks, launches and tells trials of a study this worker has joined."""

    def __init__(self, plan: SearchPlan, client: MlflowClient, study: optuna.Study, state: SweepState):
        self.plan = plan
        self.settings = plan.settings
        self.client = client
        self.study = study
        self.state = state
        self.job_index = 0
        self.trials_run = 0  # by this worker, in this command: what max_failure_rate is a share of
        self.trials_failed = 0
        self._lock = threading.Lock()  # asking, job numbers, the counts and the running trials
        self._running: list[optuna.Trial] = []  # this worker's trials, launched and not yet told
        self._stop = threading.Event()
        self._stopped: list[BaseException] = []  # why a slot stopped the others
        self.launcher_errors_in_a_row = 0

    def run(self, launcher: Any) -> None:
        """Work until the search is done or this worker stops, then leave the search
        (leaving.py); exit 1 when it stopped early."""
        self.state.publish(Path(self.plan.config.hydra.sweep.dir))
        heartbeat_seconds = self.plan.config.sweep.heartbeat_seconds
        parent_heartbeat = Heartbeat(self.client, self.state.parent_run_id, heartbeat_seconds)
        trial_heartbeat = trial_records.TrialHeartbeat(heartbeat_seconds)
        parent_heartbeat.start()
        trial_heartbeat.start()
        self._trial_heartbeat = trial_heartbeat
        stopped: SearchStopped | None = None
        try:
            self._run_slots(launcher)
        except SearchStopped as stop:
            stopped = stop
        finally:
            self._stop.set()
            trial_heartbeat.stop()
            parent_heartbeat.stop()
            with self._lock:
                unfinished = list(self._running)
            self._fail_and_requeue(unfinished)
            SweepState.withdraw()
            leave_search(self.plan, self.client, self.study, self.state, stopped)
        if stopped is not None:
            raise SystemExit(1)

    # -- slots ----------------------------------------------------------------------

    def _run_slots(self, launcher: Any) -> None:
        """Run the slots until none has a trial left to ask; raise what stopped one."""
        slots = self._batch_size()
        if slots == 1 or runs_jobs_in_this_process(launcher):
            # Hydra's basic launcher runs each job in this process, one after the other,
            # and its jobs share Hydra's process-wide state: batches, in this thread.
            self._slot(launcher, batch_size=slots)
        else:
            # An empty batch starts what the launcher shares between launches (joblib's
            # process pool, Ray) in this thread: joblib's first launches from several
            # threads at once race to make the pool (joblib 1.4: an executor without
            # its _temp_folder_manager), and Ray's launcher checks, then starts, Ray.
            launcher.launch([], initial_job_idx=0)
            threads = [threading.Thread(target=self._slot_thread, args=(launcher,), name=f"search-slot-{number}",
                                        daemon=True)  # Ctrl-C: the worker leaves without them
                       for number in range(slots)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.5)  # in short waits, so that Ctrl-C reaches this thread
        if self._stopped:
            raise self._stopped[0]

    def _slot_thread(self, launcher: Any) -> None:
        try:
            self._slot(launcher)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            with self._lock:
                self._stopped.append(error)
            self._stop.set()

    def _slot(self, launcher: Any, batch_size: int = 1) -> None:
        """Ask trials (one, or a batch for a launcher that runs jobs in this process),
        launch them, tell them; again until none is left or a slot stopped."""
        while not self._stop.is_set():
            with self._lock:
                batch = self._ask_batch(batch_size)
                if not batch:
                    return
                job_index = self.job_index
                self.job_index += len(batch)
                self._running.extend(batch)
                self._trial_heartbeat.watch(self._running)
            try:
                self._launch_and_tell(launcher, batch, job_index)
            except Exception as error:  # noqa: BLE001 - the launcher's: e.g. Ray gave up on a dead node's task
                self._launcher_failed(batch, error)
            with self._lock:
                for trial in batch:
                    self._running.remove(trial)
                self._trial_heartbeat.watch(self._running)
                self._check_failure_rate()

    # -- asking -------------------------------------------------------------------

    def _batch_size(self) -> int:
        if self.settings.n_jobs is not None:
            return self.settings.n_jobs
        return int(OmegaConf.select(self.plan.config, "hydra.launcher.n_jobs", default=1) or 1)

    def _ask_batch(self, size: int) -> list[optuna.Trial]:
        """The next trials to launch, at most `size` and within the study's budget;
        none once the study has its trials or its space is exhausted."""
        study, n_trials = self.study, self.settings.n_trials
        fail_lost_trials(self.plan, study)
        if trial_records.exhausted(study):
            return []
        wanted = min(size, trial_records.budget_left(study, n_trials))
        batch: list[optuna.Trial] = []
        for _ in range(max(wanted, 0)):
            trial = study.ask(fixed_distributions=self.plan.space.distributions)
            self.plan.space.suggest_conditional(trial)
            trial_records.claim(trial)
            # Another worker may have asked at the same moment: the trial numbers,
            # given out by the storage, decide who is within the budget.
            if not trial_records.within_budget(study, trial.number, n_trials):
                trial.set_user_attr(contract.TRIAL_SURPLUS, True)
                trial_records.tell(study, trial, state=TrialState.FAIL)
                self._requeue_surplus_retry(trial)
                break
            try:
                self._suggest_custom_keys(trial)
            except SearchStopped:
                self._fail_and_requeue(batch)
                raise
            batch.append(trial)
        return batch

    def _suggest_custom_keys(self, trial: optuna.Trial) -> None:
        """hydra.sweeper.custom_search_space: the user's function suggests more keys on
        the trial (their values become overrides, space.overrides). If it raises, the
        trial fails and the search stops: every later trial would meet the same error."""
        function = self.plan.custom_search_space
        if function is None:
            return
        try:
            function(self.plan.config, trial)
            self.plan.space.overrides(trial.params)
        except Exception as error:  # the user's code: said, and the trial failed
            trial_records.tell(self.study, trial, state=TrialState.FAIL)
            raise SearchStopped(f"hydra.sweeper.custom_search_space={self.settings.custom_search_space} failed on "
                                f"trial {trial.number}: {type(error).__name__}: {one_line(error)}") from error

    def _requeue_surplus_retry(self, trial: optuna.Trial) -> None:
        """A retry of a lost trial that came out surplus must not be lost itself."""
        retry_of = trial.user_attrs.get(contract.TRIAL_RETRY_OF)
        if retry_of is not None:
            self.study.enqueue_trial(dict(trial.params), user_attrs={contract.TRIAL_RETRY_OF: retry_of})

    # -- launching and telling ------------------------------------------------------

    def _launch_and_tell(self, launcher: Any, batch: list[optuna.Trial], job_index: int) -> None:
        overrides = [[*self.plan.space.overrides(trial.params), f"++{contract.JOB_TRIAL_KEY}={trial.number}"]
                     for trial in batch]
        returns = launcher.launch(overrides, initial_job_idx=job_index)
        with self._lock:
            self.launcher_errors_in_a_row = 0
            for trial, job_return in zip(batch, returns):
                self._tell(trial, job_return)

    def _tell(self, trial: optuna.Trial, job_return: Any) -> None:
        """COMPLETE with the objective the job returned, PRUNED, or FAIL."""
        from hydra.core.utils import JobStatus

        objective = self.settings.objective.name
        self.trials_run += 1
        if job_return.status != JobStatus.COMPLETED:
            # The job said why itself (job.py); the study only needs the outcome.
            self.trials_failed += 1
            trial_records.tell(self.study, trial, state=TrialState.FAIL)
            return
        metrics = job_return.return_value or {}
        if contract.RETURNED_PRUNED_AT_EPOCH in metrics:
            trial_records.tell(self.study, trial, state=TrialState.PRUNED)
            return
        value = metrics.get(objective)
        if value is None or value != value:  # missing or NaN
            print_flushed(f"Trial {trial.number} failed: its job returned no {objective}", stream=sys.stderr)
            self.trials_failed += 1
            trial_records.tell(self.study, trial, state=TrialState.FAIL)
            return
        trial_records.tell(self.study, trial, float(value))

    def _launcher_failed(self, batch: list[optuna.Trial], error: Exception) -> None:
        """The launcher raised instead of returning the trials' jobs: the trials are lost,
        as if their worker had died, and asked again; after LAUNCHER_ERRORS_IN_A_ROW such
        errors the worker stops (the launcher itself is broken: no trial could run)."""
        numbers = ", ".join(str(trial.number) for trial in batch)
        print_flushed(f"Trial(s) {numbers}: the launcher failed ({type(error).__name__}: {one_line(error)}); "
                      "their configurations will be tried again", stream=sys.stderr)
        with self._lock:
            self.launcher_errors_in_a_row += 1
            self._fail_and_requeue(batch, reason="its launcher failed")
            if self.launcher_errors_in_a_row >= LAUNCHER_ERRORS_IN_A_ROW:
                raise SearchStopped(f"the launcher failed {self.launcher_errors_in_a_row} times in a row; last: "
                                    f"{type(error).__name__}: {one_line(error)}") from error

    def _check_failure_rate(self) -> None:
        """hydra.sweeper.max_failure_rate, over the trials this worker has run so far
        (a rerun, once the cause is fixed, starts counting afresh)."""
        rate = self.settings.max_failure_rate
        if self.trials_run and self.trials_failed / self.trials_run > rate:
            raise SearchStopped(f"{self.trials_failed} of the {self.trials_run} trial(s) this worker ran failed, "
                                f"more than hydra.sweeper.max_failure_rate={rate} allows")

    def _fail_and_requeue(self, unfinished: list[optuna.Trial], reason: str = "its worker was interrupted") -> None:
        """Trials this worker leaves unfinished (Ctrl-C, an error) are failed as lost
        and asked again, exactly as if the worker had died."""
        for trial in unfinished:
            frozen = trial_records.find_trial(self.study, trial.number)
            if frozen.state != TrialState.RUNNING:
                continue
            trial.set_user_attr(contract.TRIAL_LOST_WORKER, reason)
            trial_records.tell(self.study, trial.number, state=TrialState.FAIL, skip_if_finished=True)
            self.study.enqueue_trial(dict(frozen.params), user_attrs={contract.TRIAL_RETRY_OF: trial.number})
