"""The Hydra callback that owns a multirun's parent MLflow run.

on_multirun_start: expand the sweep, check every job's config and data path
(expansion.py), reach the tracking store, create the parent run and publish its
id for the jobs (imdb_sweep/tracking/sweep_state.py).
on_multirun_end (or process exit, when a job failed and Hydra raised): end the
parent run with a status and counts that reflect its jobs, print the table and
where to browse it; with `tracking.register=<name>`, register the best run in
the model registry (alias champion).
"""

from __future__ import annotations

import atexit
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from imdb_sweep.console import say
from imdb_sweep.process.interrupts import was_interrupted
from imdb_sweep.sweep.expansion import expand_basic_sweep, validate_sweep
from imdb_sweep.tracking.sweep_state import SweepState
from imdb_sweep.tracking import tags
from imdb_sweep.tracking.liveness import Heartbeat, reap_dead_runs
from imdb_sweep.tracking.runs import run_tags
from imdb_sweep.tracking.store import TrackingError, TrackingTarget, connect
from imdb_sweep.tracking.uris import browse_hint


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self._state: SweepState | None = None
        self._target: TrackingTarget | None = None
        self._heartbeat: Heartbeat | None = None
        self._register: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Launchers such as Ray's pickle Hydra's callbacks along with each job;
        # the sweep's live state (client, heartbeat thread) stays in this
        # process, which alone ends the parent run.
        return {"_client": None, "_state": None, "_target": None, "_heartbeat": None, "_register": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns exceptions raised by callbacks into warnings and carries on
        # launching jobs; a sweep that cannot be tracked or holds a bad job must
        # stop here instead, so we exit with the message ourselves.
        try:
            jobs, swept_keys = expand_basic_sweep(config)
            if jobs is not None:
                validate_sweep(config, jobs, swept_keys)
            self._target = connect(config.tracking, config.sweep.connect_attempts)
        except (ValueError, TrackingError) as error:
            print(f"Error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from error
        self._client = MlflowClient(self._target.uri)
        self._register = OmegaConf.select(config, "tracking.register", default=None)
        for run_id in reap_dead_runs(self._client, self._target.experiment_id,
                                     config.sweep.dead_after_seconds):
            print(f"Marked run {run_id} KILLED: its process is gone", flush=True)

        sweep_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        sweep_arguments = " ".join(config.hydra.overrides.task)
        parent = self._client.create_run(
            self._target.experiment_id, run_name=f"sweep {sweep_id}",
            tags=run_tags("sweep", SWEEP_ID=sweep_id, OVERRIDES=sweep_arguments),
        )
        if jobs is not None:
            self._client.log_param(parent.info.run_id, "total_jobs", len(jobs))
        self._state = SweepState(
            sweep_id=sweep_id,
            parent_run_id=parent.info.run_id,
            tracking_uri=self._target.uri,
            experiment_id=self._target.experiment_id,
            total_jobs=len(jobs) if jobs is not None else None,
            swept_keys=swept_keys,
        )
        self._state.publish(Path(config.hydra.sweep.dir))
        self._heartbeat = Heartbeat(self._client, parent.info.run_id, config.sweep.heartbeat_seconds)
        self._heartbeat.start()
        # Hydra raises out of the sweep when a job failed and never calls
        # on_multirun_end then; ending the parent at exit covers that case.
        atexit.register(self._finish)
        print(f"Sweep {sweep_id}: {self._state.total_jobs or '?'} job(s), parent run "
              f"{parent.info.run_id} in experiment '{self._target.experiment_name}'", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._state is None or self._client is None:
            return
        state, client = self._state, self._client
        self._state = None  # Finish once, whether called by Hydra or at exit.
        SweepState.withdraw()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            self._end_parent_run(state, client)
        except Exception as error:  # noqa: BLE001 - e.g. the server died during the sweep
            print(f"Could not end the sweep's parent run {state.parent_run_id} in "
                  f"{state.tracking_uri}: {type(error).__name__}: {str(error).splitlines()[0][:300]}\n"
                  "The next sweep or job marks it KILLED once its process is gone.",
                  file=sys.stderr, flush=True)

    def _end_parent_run(self, state: SweepState, client: MlflowClient) -> None:

        from imdb_sweep.report.runs import search_all_runs

        children = search_all_runs(client, state.experiment_id,
                                   f"tags.`{tags.PARENT_RUN_ID}` = '{state.parent_run_id}'")
        parent_tags = client.get_run(state.parent_run_id).data.tags
        skipped = sum(1 for key in parent_tags if key.startswith(tags.REUSED_PREFIX))
        counts = {status: 0 for status in ("FINISHED", "FAILED", "KILLED", "RUNNING")}
        for child in children:
            counts[child.info.status] = counts.get(child.info.status, 0) + 1
        expected = state.total_jobs if state.total_jobs is not None else len(children) + skipped
        not_run = max(expected - len(children) - skipped, 0)
        for status, count in counts.items():
            client.log_metric(state.parent_run_id, f"jobs_{status.lower()}", count)
        client.log_metric(state.parent_run_id, "jobs_skipped", skipped)
        client.log_metric(state.parent_run_id, "jobs_not_started", not_run)

        all_done = counts["FINISHED"] + skipped == expected and not_run == 0
        if was_interrupted() or counts["KILLED"]:
            status = RunStatus.KILLED
        else:
            status = RunStatus.FINISHED if all_done else RunStatus.FAILED
        client.set_terminated(state.parent_run_id, RunStatus.to_string(status))

        summary = [f"{counts['FINISHED']} finished", f"{counts['FAILED']} failed", f"{skipped} skipped"]
        summary += [f"{counts[s]} {s.lower()}" for s in ("KILLED", "RUNNING") if counts[s]]
        if not_run:
            summary.append(f"{not_run} not started")
        stream = sys.stdout if status == RunStatus.FINISHED else sys.stderr
        print(f"Sweep {state.sweep_id} ended {RunStatus.to_string(status)}: {', '.join(summary)}",
              file=stream, flush=True)
        for child in children:
            if child.info.status in ("FAILED", "KILLED"):
                error = child.data.tags.get(tags.ERROR, "").splitlines()[:1]
                print(f"  {child.info.status} {child.data.tags.get(tags.OVERRIDES) or child.info.run_name}: "
                      f"{error[0] if error else 'no error recorded'}", file=sys.stderr, flush=True)
        self._print_table(state)

    def _print_table(self, state: SweepState) -> None:
        from imdb_sweep.report import publish_sweep_report

        try:
            # Attaches table, plots, best_run_id, ranked_by, best_val_accuracy and
            # best_test_accuracy to the parent run.
            print(publish_sweep_report(state.tracking_uri, state.experiment_id, state.parent_run_id), flush=True)
        except Exception as error:  # noqa: BLE001 - a table is no reason to fail the sweep
            print(f"(could not build the comparison table: {error})", file=sys.stderr)
        if self._register:
            self._register_winner(state, self._register)
        say(browse_hint(state.tracking_uri, state.experiment_id, state.parent_run_id))

    def _register_winner(self, state: SweepState, model_name: str) -> None:
        """tracking.register: the best finished run into the model registry, alias champion."""
        from imdb_sweep.report.registry import register_sweep_winner

        if was_interrupted():
            print(f"Not registering a winner as '{model_name}': the sweep was interrupted "
                  f"(python -m imdb_sweep.report --sweep {state.sweep_id} --register {model_name} "
                  "registers its best finished run)", file=sys.stderr, flush=True)
            return
        try:
            say(register_sweep_winner(state.tracking_uri, state.experiment_id, state.parent_run_id,
                                      model_name).describe())
        except Exception as error:  # noqa: BLE001 - said plainly; the sweep's runs are all recorded
            print(f"Could not register the sweep's best run as '{model_name}': {error}",
                  file=sys.stderr, flush=True)
