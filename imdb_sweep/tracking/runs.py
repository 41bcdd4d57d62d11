"""A job's MLflow run: its tags, its lifecycle, and finding an earlier run of the
same configuration.

Run layout:
- one run per job, named after the job's own overrides (`units=64,activation=tanh`);
- in a multirun, one parent run per sweep (imdb_sweep/sweep/callback.py), every
  job nested under it with `mlflow.parentRunId`;
- params: the flattened resolved config (`model.units`, ...);
- metrics per epoch with step = epoch (1-based): `loss`, `accuracy`, `val_loss`,
  `val_accuracy`, `epoch_seconds`; at the end `test_loss`, `test_accuracy`,
  `best_val_accuracy`, `best_epoch`, timings;
- tags: contract.py; artifacts: records.py.
"""

from __future__ import annotations

import subprocess
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags

from imdb_sweep import contract
from imdb_sweep.tracking.liveness import process_tags
from imdb_sweep.tracking.spool import RunSpool


def run_tags(role: str, **named: str | None) -> dict[str, str]:
    """The tags every run of ours carries (role, process identity, heartbeat,
    git commit), plus `named` ones given by their contract.py names; None values
    are left out. `run_tags("job", CONFIG_HASH=...)`."""
    values = {contract.ROLE: role, **process_tags()}
    commit = git_commit()
    if commit:
        values[contract.GIT_COMMIT] = commit
    for name, value in named.items():
        if value is not None:
            values[getattr(contract, name)] = value
    return values


def git_commit(directory: Path | None = None) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory or Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


@contextmanager
def job_run(
    spool: RunSpool,
    run_name: str,
    parent_run_id: str | None,
    run_tags: Mapping[str, str],
    resume_run_id: str | None = None,
) -> Iterator[RunSpool]:
    """A job's run written through its spool (tracking/spool.py), so that the server
    may go away and come back: a new run, or `resume_run_id` reopened and moved under
    the sweep that completes it. FINISHED when the block ends, FAILED when it raises
    (error as a tag, traceback as an artifact), KILLED on Ctrl-C/SIGTERM."""
    tags = {**run_tags, **({contract.PARENT_RUN_ID: parent_run_id} if parent_run_id else {})}
    if resume_run_id is not None:
        spool.reopen_run(resume_run_id)
        spool.set_tags(tags)
    else:
        # The tags MLflow's own start_run adds (user, source, run name), resolved here,
        # in the job's process, even when the run is created later.
        spool.create_run(run_name, resolve_tags(tags))
    status = RunStatus.FINISHED
    try:
        yield spool
    except KeyboardInterrupt as interrupt:
        status = RunStatus.KILLED
        said = {contract.ERROR: f"interrupted: {interrupt or 'KeyboardInterrupt'}"}
        _try_write(lambda: spool.set_tags(said))
        raise
    except BaseException as error:
        status = RunStatus.FAILED
        said = {contract.ERROR: f"{type(error).__name__}: {error}"[:5000]}
        trace = traceback.format_exc()
        _try_write(lambda: spool.set_tags(said))
        _try_write(lambda: spool.log_text(trace, "error/traceback.txt"))
        raise
    finally:
        if status == RunStatus.FINISHED:
            spool.end(status)
        else:
            _try_write(lambda: spool.end(status))
        spool.remove_if_sent()  # a folder made only for the model's files, sent at once


def _try_write(write: Callable[[], None]) -> None:
    try:
        write()
    except Exception:  # noqa: BLE001 - the error that ends the job matters more
        pass


def find_finished_run(client: MlflowClient, experiment_id: str, config_hash_value: str) -> Run | None:
    """The most recent FINISHED job run with this exact configuration, if any. A run
    a search pruned ended early: it answers nothing."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.`{contract.CONFIG_HASH}` = '{config_hash_value}' "
                       "and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=100,
    )
    return next((run for run in runs if contract.PRUNED_AT_EPOCH not in run.data.tags), None)
