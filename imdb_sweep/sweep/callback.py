"""The Hydra callback that owns a grid sweep's parent MLflow run (a search's
sweeper owns its own: imdb_sweep/search/).

on_multirun_start: expand the sweep, check every job's config and data path
(expansion.py), reach the tracking store, create the parent run and publish its
id for the jobs (imdb_sweep/tracking/sweep_state.py).
on_multirun_end (or process exit, when a job failed and Hydra raised): send what
the jobs spooled while the tracking server was away (waiting up to
`sweep.sync_wait_seconds`), end the parent run with a status and counts that
reflect its jobs, print the table and where to browse it; with
`tracking.register=<name>`, register the best run in the model registry (alias
champion). A server still away then: what is pending is said, with the command
that sends it later (sweep/pending.py), and the sweep exits with SPOOL_PENDING_EXIT.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from imdb_sweep.config.identity import distinguishing_overrides
from imdb_sweep.sweep.adaptive_seeds import check_adaptive_seeds, is_adaptive_seeds
from imdb_sweep.sweep.expansion import expand_basic_sweep, is_basic_sweeper, sweep_arguments, validate_sweep
from imdb_sweep.sweep.parent import create_parent_run, grid_title, new_sweep_id
from imdb_sweep.sweep.pending import end_sweep
from imdb_sweep.tracking.liveness import Heartbeat, reap_dead_runs
from imdb_sweep.tracking.spool import spool_root
from imdb_sweep.tracking.store import TrackingError, TrackingTarget, connect
from imdb_sweep.tracking.sweep_state import SweepState

# The exit status of a sweep whose runs are not all on the tracking server at its end.
SPOOL_PENDING_EXIT = 3


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self._state: SweepState | None = None
        self._target: TrackingTarget | None = None
        self._heartbeat: Heartbeat | None = None
        self._register: str | None = None
        self._promote = "when_better"
        self._spool_root: Path | None = None
        self._sync_wait_seconds = 0.0
        self._all_sent = True

    def __getstate__(self) -> dict[str, Any]:
        # Launchers such as Ray's pickle Hydra's callbacks along with each job;
        # the sweep's live state (client, heartbeat thread) stays in this
        # process, which alone ends the parent run.
        return {"_client": None, "_state": None, "_target": None, "_heartbeat": None, "_register": None,
                "_spool_root": None, "_sync_wait_seconds": 0.0, "_all_sent": True}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        adaptive = is_adaptive_seeds(config)
        if not (is_basic_sweeper(config) or adaptive):
            return  # A search sweeper (imdb_sweep/search/sweeper.py) owns its parent run: it knows its trials.
        # Hydra turns exceptions raised by callbacks into warnings and carries on
        # launching jobs; a sweep that cannot be tracked or holds a bad job must
        # stop here instead, so we exit with the message ourselves.
        try:
            jobs, swept_keys = expand_basic_sweep(config)
            # The adaptive seeds' settings first: a swept seed is said as such, not as a bad job.
            rule = check_adaptive_seeds(config, swept_keys)[0] if adaptive else None
            validate_sweep(config, jobs, swept_keys)
            self._target = connect(config.tracking, config.sweep.connect_attempts)
        except (ValueError, TrackingError) as error:
            print(f"Error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from error
        self._client = MlflowClient(self._target.uri)
        self._register = OmegaConf.select(config, "tracking.register", default=None)
        self._promote = OmegaConf.select(config, "tracking.promote", default="when_better")
        self._spool_root = spool_root(config.tracking)
        self._sync_wait_seconds = float(config.sweep.sync_wait_seconds)
        for run_id in reap_dead_runs(self._client, self._target.experiment_id,
                                     config.sweep.dead_after_seconds):
            print(f"Marked run {run_id} KILLED: its process is gone", flush=True)

        sweep_id = new_sweep_id()
        # Named by its swept keys (or, with none, the keys it changes) and their values.
        title = grid_title(distinguishing_overrides(sweep_arguments(config), swept_keys))
        parent = create_parent_run(self._client, self._target, sweep_id, " ".join(config.hydra.overrides.task),
                                   title)
        # With adaptive seeds, the first round's jobs; the sweeper republishes the count round by round.
        first_jobs = len(jobs) * rule.min_seeds if rule is not None else len(jobs)
        self._client.log_param(parent.info.run_id, "total_jobs", first_jobs)
        self._state = SweepState(
            sweep_id=sweep_id,
            parent_run_id=parent.info.run_id,
            tracking_uri=self._target.uri,
            experiment_id=self._target.experiment_id,
            total_jobs=first_jobs,
            swept_keys=swept_keys,
        )
        self._state.publish(Path(config.hydra.sweep.dir))
        self._heartbeat = Heartbeat(self._client, parent.info.run_id, config.sweep.heartbeat_seconds)
        self._heartbeat.start()
        # Hydra raises out of the sweep when a job failed and never calls
        # on_multirun_end then; ending the parent at exit covers that case.
        atexit.register(self._finish)
        more = (f" ({len(jobs)} configuration(s) x {rule.min_seeds} seeds; more seeds, up to {rule.max_seeds}, "
                "where an effect is unsettled)" if rule is not None else "")
        print(f"Sweep {sweep_id}: {self._state.total_jobs} job(s){more}, parent run "
              f"{parent.info.run_id} in experiment '{self._target.experiment_name}'", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._finish()
        if not self._all_sent:
            raise SystemExit(SPOOL_PENDING_EXIT)

    def _finish(self) -> None:
        if self._state is None or self._client is None:
            return
        state, client = self._state, self._client
        self._state = None  # Finish once, whether called by Hydra or at exit.
        published = SweepState.find(None)
        if published is not None and published.sweep_id == state.sweep_id:
            state = published  # the adaptive seeds' sweeper counts its rounds' jobs in it
        SweepState.withdraw()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        assert self._spool_root is not None  # set with the state
        try:
            self._all_sent = end_sweep(client, self._spool_root, state, self._register, self._sync_wait_seconds,
                                       self._promote)
        except Exception as error:  # noqa: BLE001 - an error of the store itself
            print(f"Could not end the sweep's parent run {state.parent_run_id} in "
                  f"{state.tracking_uri}: {type(error).__name__}: {str(error).splitlines()[0][:300]}\n"
                  "The next sweep or job marks it KILLED once its process is gone.",
                  file=sys.stderr, flush=True)
