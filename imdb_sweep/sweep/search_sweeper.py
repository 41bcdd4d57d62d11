"""The search sweeper: Hydra multirun jobs proposed by Optuna, one study shared by
every worker that runs the same command.

    python -m imdb_sweep -m hydra/sweeper=optuna hydra.sweeper.n_trials=30 \\
        hydra.sweeper.pruner=asha 'model.units=choice(16,32,64,128)' 'model.dropout=interval(0.0,0.6)'

A worker (one such command) goes through these steps:
1. check everything before a run exists: hydra.sweeper.* (settings.py), the
   space (space.py), every value the space can produce (the job's own checks),
   the study storage and the tracking store;
2. create the study, or join it when another worker (or an earlier, killed
   run of the command) created it. The worker that creates the study creates
   its one MLflow parent run and stores its id in the study; the others wait
   for it and nest their trials under it too;
3. ask the study for trials, as many at a time as the launcher runs side by
   side, while fewer than n_trials counted trials exist (over all workers);
   trials of dead workers are failed and their configurations asked again;
4. launch the trials as jobs (`sweep.trial=N` tells each its trial) and tell
   the study how each ended: COMPLETE with the objective, PRUNED, or FAIL;
5. the worker that finds the study done ends the parent run and publishes
   the report; a worker that leaves earlier hands the parent to one still
   working, so it is never reaped while trials run.

The Hydra plugin class lives in hydra_plugins/imdb_sweep_optuna (Hydra builds
sweepers only from there); this module is its implementation.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, cast

import optuna
from hydra.types import HydraContext, TaskFunction
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from optuna.study import StudyDirection
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.config.location import config_dir
from imdb_sweep.config.validation import ConfigError
from imdb_sweep.console import say
from imdb_sweep.process.interrupts import was_interrupted
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.settings import (
    SearchSettings,
    build_sampler,
    is_grid_sampler,
    one_line,
    params_as_overrides,
)
from imdb_sweep.search.space import SearchSpace, SearchSpaceError
from imdb_sweep.search.storage import default_storage, describe, open_storage
from imdb_sweep.sweep.expansion import search_space_problems
from imdb_sweep.sweep.parent import create_parent_run, end_parent_run, new_sweep_id, publish_results, search_title
from imdb_sweep.sweep.pending import say_pending
from imdb_sweep.tracking.liveness import Heartbeat, process_tags, reap_dead_runs
from imdb_sweep.tracking.spool import pending_spools, send_spools, spool_root
from imdb_sweep.tracking.store import TrackingError, TrackingTarget, connect
from imdb_sweep.tracking.sweep_state import SweepState

# How long a worker that joins a new study waits for its creator's parent run.
PARENT_WAIT_SECONDS = 120.0
# The best trial, in the sweep folder, named and shaped as Hydra's Optuna sweeper writes it.
RESULTS_FILE = "optimization_results.yaml"


class SearchStopped(Exception):
    """Why this worker stops asking for trials before the search is done."""


class SearchSweeper:
    """What OptunaSweeper (the Hydra plugin) does: setup, then sweep."""

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
            settings, space, storage_url, storage, target = self._check_everything(arguments)
        except (ConfigError, SearchSpaceError, TrackingError) as error:
            # Before any run or study exists: said plainly, no traceback.
            print(f"Error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from error
        search = _Search(self.config, settings, space, storage_url, storage, target,
                         study_arguments=[*settings.params_as_overrides(), *arguments])
        search.run(self.launcher)

    def _check_everything(self, arguments: list[str]) -> tuple[SearchSettings, SearchSpace, str, Any, TrackingTarget]:
        """Every problem of the sweeper's settings, of the space and of every value it can
        produce, in one error; then the storage and the tracking store."""
        config, hydra_context = self.config, self.hydra_context
        assert config is not None and hydra_context is not None
        # hydra.sweeper is a mapping: its container a dict (OmegaConf types it as any container).
        sweeper = cast(dict[str, Any], OmegaConf.to_container(config.hydra.sweeper, resolve=True))
        problems: list[str] = []
        try:
            settings = SearchSettings.from_sweeper_config(sweeper, sampler_preset(config))
        except ConfigError as error:
            settings, problems = None, list(error.problems)
        space, space_problems = SearchSpace.parse(
            [*params_as_overrides(sweeper.get("params")), *arguments], hydra_context.config_loader,
            allow_empty=sweeper.get("custom_search_space") is not None)
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
            say(f"Warning: {note}", stream=sys.stderr)
        storage_url = settings.storage or default_storage(config.tracking.store_dir)
        storage = open_storage(storage_url)
        target = connect(config.tracking, config.sweep.connect_attempts)
        return settings, space, storage_url, storage, target


def sampler_preset(config: DictConfig) -> dict[str, Any] | None:
    """The preset hydra.sweeper.sampler was composed from (hydra/sweeper/sampler=NAME,
    tpe by default), as conf/ holds it."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    name = choices.get("hydra/sweeper/sampler")
    path = config_dir() / "hydra" / "sweeper" / "sampler" / f"{name}.yaml"
    # A preset file is a mapping: its container a dict.
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(path))) if name and path.is_file() else None


def _grid_budget(settings: SearchSettings, space: SearchSpace) -> SearchSettings:
    """A grid search runs each configuration once: n_trials above the grid's size is
    cut to it (as Hydra's Optuna sweeper does), so the search ends FINISHED once every
    point is tried."""
    size = space.size()
    if size is None or settings.n_trials <= size:  # None: not a grid (the grid's checks said why)
        return settings
    say(f"The grid holds {size} configuration(s): {size} trial(s), not hydra.sweeper.n_trials={settings.n_trials}")
    return dataclasses.replace(settings, n_trials=size)


class _Search:
    """One worker's part in a search, from joining the study to leaving it."""

    def __init__(self, config: DictConfig, settings: SearchSettings, space: SearchSpace, storage_url: str,
                 storage: Any, target: TrackingTarget, study_arguments: list[str]):
        self.config = config
        self.settings = settings
        self.space = space
        self.storage_url = storage_url
        self.storage = storage
        self.target = target
        self.client = MlflowClient(target.uri)
        self.study_name = settings.study_name_for(study_arguments)
        self.study_arguments = study_arguments
        # The study joined and the search's SweepState: set as run() starts (see study, state).
        self._study: optuna.Study | None = None
        self._state: SweepState | None = None
        self.job_index = 0
        self.custom_search_space = settings.custom_search_space_function()
        self.trials_run = 0  # by this worker, in this command: what max_failure_rate is a share of
        self.trials_failed = 0

    @property
    def study(self) -> optuna.Study:
        assert self._study is not None, "run() joins the study first"
        return self._study

    @property
    def state(self) -> SweepState:
        assert self._state is not None, "run() makes the search's state first"
        return self._state

    def run(self, launcher: Any) -> None:
        for run_id in reap_dead_runs(self.client, self.target.experiment_id, self.config.sweep.dead_after_seconds):
            say(f"Marked run {run_id} KILLED: its process is gone")
        self._study, created = self._create_or_join_study()
        self._state = self._parent_state(created)
        self.state.publish(Path(self.config.hydra.sweep.dir))
        mine: list[optuna.Trial] = []
        parent_heartbeat = Heartbeat(self.client, self.state.parent_run_id, self.config.sweep.heartbeat_seconds)
        trial_heartbeat = trial_records.TrialHeartbeat(self.config.sweep.heartbeat_seconds)
        parent_heartbeat.start()
        trial_heartbeat.start()
        stopped: SearchStopped | None = None
        try:
            while True:
                mine = self._ask_batch()
                if not mine:
                    break
                trial_heartbeat.watch(mine)
                self._launch_and_tell(launcher, mine)
                mine = []
                self._check_failure_rate()
        except SearchStopped as stop:
            stopped = stop
        finally:
            trial_heartbeat.stop()
            parent_heartbeat.stop()
            self._give_back(mine)
            SweepState.withdraw()
            self._leave(stopped)
        if stopped is not None:
            raise SystemExit(1)

    # -- joining --------------------------------------------------------------

    def _create_or_join_study(self) -> tuple[optuna.Study, bool]:
        sampler = build_sampler(self.settings, self.space.grid() if self.settings.is_grid else None)
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.study_name, sampler=sampler,
                                        direction=StudyDirection[self.settings.direction.upper()])
            return study, True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage, sampler=sampler)
        if study.direction.name.lower() != self.settings.direction:
            raise SystemExit(f"Error: study {self.study_name!r} in {describe(self.storage_url)} "
                             f"{study.direction.name.lower()}s its objective, this command would "
                             f"{self.settings.direction} it; give another hydra.sweeper.study_name")
        for number, reason in trial_records.fail_lost_trials(study, self.config.sweep.dead_after_seconds):
            say(f"Trial {number} failed: {reason}; its configuration will be tried again")
        return study, False

    def _parent_state(self, created: bool) -> SweepState:
        study = self.study
        if created:
            sweep_id = new_sweep_id()
            parent = create_parent_run(self.client, self.target, sweep_id, " ".join(self.study_arguments),
                                       search_title(self.space.keys, self.settings.study_name),
                                       extra_tags=self._search_tags())
            self.client.log_param(parent.info.run_id, "n_trials", self.settings.n_trials)
            self.client.log_dict(parent.info.run_id, self.space.to_json(), contract.SEARCH_SPACE_ARTIFACT)
            study.set_user_attr(contract.STUDY_SWEEP_ID, sweep_id)
            study.set_user_attr(contract.STUDY_PARENT_RUN_ID, parent.info.run_id)
            parent_run_id = parent.info.run_id
            say(f"Search {sweep_id}: study '{self.study_name}' in {describe(self.storage_url)}, "
                f"{self.settings.n_trials} trial(s), sampler {self.settings.sampler_name}, "
                f"pruner {self.settings.describe_pruner()}, {self.settings.direction} "
                f"{self.settings.objective.name}; parent run {parent_run_id} "
                f"in experiment '{self.target.experiment_name}'")
        else:
            parent_run_id, sweep_id = self._wait_for_parent()
            self._reopen_parent(parent_run_id)
            counts = trial_records.trial_summary(study)
            say(f"Joining search {sweep_id} (study '{self.study_name}'): {counts['complete']} complete, "
                f"{counts['pruned']} pruned, {counts['failed']} failed, {counts['running']} running "
                f"of {self.settings.n_trials} trial(s); parent run {parent_run_id}")
        return SweepState(
            sweep_id=sweep_id, parent_run_id=parent_run_id, tracking_uri=self.target.uri,
            experiment_id=self.target.experiment_id, total_jobs=self.settings.n_trials,
            # A custom_search_space function's keys are known only once it runs: a run's
            # name then holds every override that changes what is trained.
            swept_keys=self.space.keys if self.custom_search_space is None else [],
            search={"storage": self.storage_url, "study_name": self.study_name,
                    "objective": self.settings.objective.name, "direction": self.settings.direction,
                    "pruner": self.settings.pruner_config},
        )

    def _search_tags(self) -> dict[str, str]:
        settings = self.settings
        return {contract.SEARCH_OBJECTIVE: settings.objective.name, contract.SEARCH_DIRECTION: settings.direction,
                contract.SEARCH_SAMPLER: settings.sampler_name, contract.SEARCH_PRUNER: settings.describe_pruner(),
                contract.SEARCH_STUDY: self.study_name, contract.SEARCH_STORAGE: describe(self.storage_url)}

    def _wait_for_parent(self) -> tuple[str, str]:
        """The parent run the study's creator made: it may still be making it."""
        deadline = time.monotonic() + PARENT_WAIT_SECONDS
        while True:
            attributes = optuna.load_study(study_name=self.study_name, storage=self.storage).user_attrs
            if contract.STUDY_PARENT_RUN_ID in attributes:
                return attributes[contract.STUDY_PARENT_RUN_ID], attributes[contract.STUDY_SWEEP_ID]
            if time.monotonic() > deadline:
                raise SystemExit(f"Error: study {self.study_name!r} has no MLflow parent run after "
                                 f"{PARENT_WAIT_SECONDS:.0f} s: was its creator killed before it made one? "
                                 "Give another hydra.sweeper.study_name")
            time.sleep(0.5)

    def _reopen_parent(self, parent_run_id: str) -> None:
        """A parent ended earlier (killed with its last worker, or a search now given a
        larger n_trials) runs again, watched by this worker."""
        parent = self.client.get_run(parent_run_id)
        if parent.info.status != "RUNNING":
            self.study.set_user_attr(contract.STUDY_ENDED, "")
            self.client.update_run(parent_run_id, status="RUNNING")
            self._watch_parent(parent_run_id, process_tags())

    def _watch_parent(self, parent_run_id: str, identity: dict[str, str]) -> None:
        """Make `identity` (a worker's host, pid, start) the process the parent's liveness follows."""
        for key, value in identity.items():
            self.client.set_tag(parent_run_id, key, value)

    # -- asking, launching, telling ---------------------------------------------

    def _batch_size(self) -> int:
        if self.settings.n_jobs is not None:
            return self.settings.n_jobs
        return int(OmegaConf.select(self.config, "hydra.launcher.n_jobs", default=1) or 1)

    def _ask_batch(self) -> list[optuna.Trial]:
        study, n_trials = self.study, self.settings.n_trials
        for number, reason in trial_records.fail_lost_trials(study, self.config.sweep.dead_after_seconds):
            say(f"Trial {number} failed: {reason}; its configuration will be tried again")
        if trial_records.exhausted(study):
            return []
        wanted = min(self._batch_size(), trial_records.budget_left(study, n_trials))
        batch: list[optuna.Trial] = []
        for _ in range(max(wanted, 0)):
            trial = study.ask(fixed_distributions=self.space.distributions)
            trial_records.claim(trial)
            # Another worker may have asked at the same moment: the trial numbers,
            # given out by the storage, decide who is within the budget.
            if not trial_records.within_budget(study, trial.number, n_trials):
                trial.set_user_attr(contract.TRIAL_SURPLUS, True)
                trial_records.tell(study, trial, state=TrialState.FAIL)
                self._requeue_if_retry(trial)
                break
            try:
                self._configure(trial)
            except SearchStopped:
                self._give_back(batch)
                raise
            batch.append(trial)
        return batch

    def _configure(self, trial: optuna.Trial) -> None:
        """hydra.sweeper.custom_search_space: the user's function suggests more keys on
        the trial (their values become overrides, space.overrides). If it raises, the
        trial fails and the search stops: every later trial would meet the same error."""
        if self.custom_search_space is None:
            return
        try:
            self.custom_search_space(self.config, trial)
            self.space.overrides(trial.params)
        except Exception as error:  # the user's code: said, and the trial failed
            trial_records.tell(self.study, trial, state=TrialState.FAIL)
            raise SearchStopped(f"hydra.sweeper.custom_search_space={self.settings.custom_search_space} failed on "
                                f"trial {trial.number}: {type(error).__name__}: {one_line(error)}") from error

    def _requeue_if_retry(self, trial: optuna.Trial) -> None:
        """A retry of a lost trial that came out surplus must not be lost itself."""
        retry_of = trial.user_attrs.get(contract.TRIAL_RETRY_OF)
        if retry_of is not None:
            self.study.enqueue_trial(dict(trial.params), user_attrs={contract.TRIAL_RETRY_OF: retry_of})

    def _launch_and_tell(self, launcher: Any, batch: list[optuna.Trial]) -> None:
        overrides = [[*self.space.overrides(trial.params), f"sweep.trial={trial.number}"] for trial in batch]
        returns = launcher.launch(overrides, initial_job_idx=self.job_index)
        self.job_index += len(returns)
        for trial, job_return in zip(batch, returns):
            self._tell(trial, job_return)

    def _tell(self, trial: optuna.Trial, job_return: Any) -> None:
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
            say(f"Trial {trial.number} failed: its job returned no {objective}", stream=sys.stderr)
            self.trials_failed += 1
            trial_records.tell(self.study, trial, state=TrialState.FAIL)
            return
        trial_records.tell(self.study, trial, float(value))

    def _check_failure_rate(self) -> None:
        """hydra.sweeper.max_failure_rate, over the trials this worker has run so far
        (a rerun, once the cause is fixed, starts counting afresh)."""
        rate = self.settings.max_failure_rate
        if self.trials_run and self.trials_failed / self.trials_run > rate:
            raise SearchStopped(f"{self.trials_failed} of the {self.trials_run} trial(s) this worker ran failed, "
                                f"more than hydra.sweeper.max_failure_rate={rate} allows")

    def _give_back(self, unfinished: list[optuna.Trial]) -> None:
        """Trials this worker leaves unfinished (Ctrl-C, an error) are failed as lost
        and asked again, exactly as if the worker had died."""
        for trial in unfinished:
            frozen = trial_records.find_trial(self.study, trial.number)
            if frozen.state != TrialState.RUNNING:
                continue
            trial.set_user_attr(contract.TRIAL_LOST_WORKER, "its worker was interrupted")
            trial_records.tell(self.study, trial.number, state=TrialState.FAIL, skip_if_finished=True)
            self.study.enqueue_trial(dict(frozen.params), user_attrs={contract.TRIAL_RETRY_OF: trial.number})

    # -- leaving ------------------------------------------------------------------

    def _leave(self, stopped: SearchStopped | None = None) -> None:
        """End the parent run if this worker is the last one (FAILED when `stopped`
        says why this worker gave up, KILLED when interrupted), or hand it to one
        still working."""
        study, state = self._study, self._state
        if state is None or study is None:
            return
        if stopped is not None:
            print(f"Error: {stopped}", file=sys.stderr, flush=True)
        if trial_records.search_done(study, self.settings.n_trials):
            self._write_results()
            if study.user_attrs.get(contract.STUDY_ENDED) == state.parent_run_id:
                return  # Another worker ends it.
            study.set_user_attr(contract.STUDY_ENDED, state.parent_run_id)
            self._end(RunStatus.KILLED if was_interrupted() else None)
            return
        other = self._live_worker()
        if other is not None:
            self._watch_parent(state.parent_run_id, other)
            say(f"Leaving search {state.sweep_id}: trials still run in other workers, which end it")
        else:
            self._end(RunStatus.FAILED if stopped is not None else RunStatus.KILLED)
            say(f"Search {state.sweep_id} stopped before its {self.settings.n_trials} trials: run the same "
                "command again to continue it", stream=sys.stderr)

    def _write_results(self) -> None:
        """optimization_results.yaml in this worker's sweep folder, as Hydra's Optuna
        sweeper writes it (name, best_params, best_value), for scripts built on it."""
        results = trial_records.best_results(self.study, self.settings.objective.name)
        if results is None:
            return
        path = Path(self.config.hydra.sweep.dir) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), path)
        say(f"Best trial {results[contract.BEST_TRIAL_NUMBER]}: {self.settings.objective.name}="
            f"{results['best_value']:.4f} with {results['best_params']} (in {path})")

    def _live_worker(self) -> dict[str, str] | None:
        """The identity of another worker with a trial running, if any."""
        me = process_tags()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            identity = {key: trial.user_attrs[key] for key in (contract.HOST, contract.PID, contract.PROCESS_START)
                        if key in trial.user_attrs}
            if identity.get(contract.PID) and (identity.get(contract.PID), identity.get(contract.HOST)) != \
                    (me[contract.PID], me[contract.HOST]):
                return identity
        return None

    def _end(self, status: int | None) -> None:  # a RunStatus value
        state = self.state
        # The trials' runs first: what their jobs spooled while the server was away.
        root = spool_root(self.config.tracking)
        left = send_spools(list(pending_spools(root, state.sweep_id)), float(self.config.sweep.sync_wait_seconds), say)
        if left:
            say_pending(root, state, left)  # the parent stays RUNNING; a later sweep marks it KILLED
            return
        counts = trial_records.trial_summary(self.study)
        for name, count in counts.items():
            self.client.log_metric(state.parent_run_id, f"trials_{name}", count)
        size = self.space.size() if self.custom_search_space is None else None
        if size is not None:
            self.client.log_metric(state.parent_run_id, "search_space_size", size)
        if trial_records.exhausted(self.study):
            self.client.set_tag(state.parent_run_id, contract.SEARCH_EXHAUSTED, "true")
            say(f"Search {state.sweep_id}: every configuration of its space has been tried")
        if status is None:
            status = RunStatus.FINISHED if counts["failed"] == 0 else RunStatus.FAILED
        try:
            said = ["complete", "pruned", "failed"] + [name for name in ("running", "retried") if counts[name]]
            trials = ", ".join(f"{counts[name]} {name}" for name in said)
            end_parent_run(self.client, state, expected=None, status=status, trials=trials)
        except Exception as error:  # noqa: BLE001 - e.g. the server died during the search
            print(f"Could not end the search's parent run {state.parent_run_id}: {type(error).__name__}: "
                  f"{str(error).splitlines()[0][:300]}", file=sys.stderr, flush=True)
            return
        publish_results(state, OmegaConf.select(self.config, "tracking.register", default=None))
