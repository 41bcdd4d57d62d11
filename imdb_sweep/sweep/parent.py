"""A sweep's parent MLflow run: opened with the sweep, ended with counts of its
jobs (the comparison table and the winner follow: publishing.py). The grid's
callback (callback.py) and the search sweeper (imdb_sweep/search/) both use it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.config.identity import short_key, short_value
from imdb_sweep.process.interrupts import was_interrupted
from imdb_sweep.tracking.runs import run_tags
from imdb_sweep.tracking.store import TrackingTarget
from imdb_sweep.tracking.sweep_state import SweepState

STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING")
# MLflow's SQL stores keep a run name in 250 characters; the sweep id (22) goes last.
TITLE_CHARACTERS = 200


def new_sweep_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def grid_title(overrides: list[str]) -> str:
    """What tells a grid apart, as the UI's runs table can show it in about 20
    characters: its swept keys, short, with their values as typed
    (`model.units=32,64 model.activation=relu,tanh` -> `units=32,64 activation=relu,tanh`)."""
    parts = []
    for override in overrides:
        key, _, values = override.lstrip("+~").partition("=")
        parts.append(f"{short_key(key)}={','.join(short_value(value) for value in values.split(','))}")
    return " ".join(parts) or "sweep"


def search_title(keys: list[str], study_name: str | None) -> str:
    """A search by its searched keys (`search: units, dropout`), after the study's name
    when the user gave one (`search wide: units, dropout`)."""
    named = f"search {study_name}" if study_name else "search"
    return f"{named}: {', '.join(short_key(key) for key in keys)}"


def parent_run_name(title: str, sweep_id: str) -> str:
    """`units=32,64 activation=relu,tanh · 20261202-193012-b2f047`: what tells the sweep
    apart first, the sweep id (also the tag imdb_sweep.sweep_id) last."""
    if len(title) > TITLE_CHARACTERS:
        title = title[:TITLE_CHARACTERS - 3] + "..."
    return f"{title} · {sweep_id}"


def create_parent_run(client: MlflowClient, target: TrackingTarget, sweep_id: str, arguments: str,
                      title: str, extra_tags: Mapping[str, str] | None = None) -> Run:
    return client.create_run(
        target.experiment_id, run_name=parent_run_name(title, sweep_id),
        tags={**run_tags("sweep", SWEEP_ID=sweep_id, OVERRIDES=arguments), **(extra_tags or {})},
    )


def count_jobs(children: list[Run], parent_tags: Mapping[str, str]) -> dict[str, int]:
    """The sweep's job runs by how they ended; pruned runs (FINISHED, stopped early
    by a search) apart from finished ones, reused runs as `skipped`."""
    counts = {status.lower(): 0 for status in STATUSES}
    counts["pruned"] = 0
    for child in children:
        if child.info.status == "FINISHED" and contract.PRUNED_AT_EPOCH in child.data.tags:
            counts["pruned"] += 1
        else:
            counts[child.info.status.lower()] = counts.get(child.info.status.lower(), 0) + 1
    counts["skipped"] = sum(1 for key in parent_tags if key.startswith(contract.REUSED_PREFIX))
    return counts


def end_parent_run(client: MlflowClient, state: SweepState, expected: int | None,
                   status: int | None = None, trials: str | None = None) -> int:
    """Log the jobs' counts on the parent run and end it: KILLED when interrupted or a
    job was killed, FINISHED when every expected job finished (or was pruned or
    skipped), FAILED otherwise; `status` decides instead where the caller knows
    better (a search counts its trials in its study, and says them in `trials`:
    a trial refused before its run existed has no run to count). Print the summary.
    Statuses are RunStatus values (ints), as MLflow's RunStatus spells them."""
    from imdb_sweep.report.runs import search_all_runs

    children = search_all_runs(client, state.experiment_id,
                               f"tags.`{contract.PARENT_RUN_ID}` = '{state.parent_run_id}'")
    counts = count_jobs(children, client.get_run(state.parent_run_id).data.tags)
    ended = counts["finished"] + counts["pruned"] + counts["skipped"]
    expected = expected if expected is not None else len(children) + counts["skipped"]
    not_run = max(expected - len(children) - counts["skipped"], 0)
    for name, count in counts.items():
        client.log_metric(state.parent_run_id, f"jobs_{name}", count)
    client.log_metric(state.parent_run_id, "jobs_not_started", not_run)
    if status is None:
        if was_interrupted() or counts["killed"]:
            status = RunStatus.KILLED
        else:
            status = RunStatus.FINISHED if ended == expected and not_run == 0 else RunStatus.FAILED
    client.set_terminated(state.parent_run_id, RunStatus.to_string(status))

    summary = [f"{counts['finished']} finished"]
    if counts["pruned"]:
        summary.append(f"{counts['pruned']} pruned")
    summary += [f"{counts['failed']} failed", f"{counts['skipped']} skipped"]
    summary += [f"{counts[name]} {name}" for name in ("killed", "running") if counts[name]]
    if not_run:
        summary.append(f"{not_run} not started")
    stream = sys.stdout if status == RunStatus.FINISHED else sys.stderr
    kind = "Search" if state.search is not None else "Sweep"
    trials_said = f"; trials in its study: {trials}" if trials else ""
    print(f"{kind} {state.sweep_id} ended {RunStatus.to_string(status)}: {', '.join(summary)}{trials_said}",
          file=stream, flush=True)
    for child in children:
        if child.info.status in ("FAILED", "KILLED"):
            error = child.data.tags.get(contract.ERROR, "").splitlines()[:1]
            print(f"  {child.info.status} {child.data.tags.get(contract.OVERRIDES) or child.info.run_name}: "
                  f"{error[0] if error else 'no error recorded'}", file=sys.stderr, flush=True)
    return status
