"""Reading a sweep's runs back from MLflow: which experiment, which sweep, which runs.

Only the tracking store is read; Hydra's output folders are never needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.tracking.records import param_from_text

LATEST = "latest"
# Per-epoch curves the plots draw.
CURVE_METRICS = (contract.VAL_ACCURACY, contract.VAL_LOSS)


@dataclass(frozen=True)
class JobRun:
    """What the report needs of one job's MLflow run."""

    run_id: str
    run_name: str
    status: str  # FINISHED, FAILED, KILLED, RUNNING, SCHEDULED
    start_time: int  # milliseconds since the epoch
    params: dict[str, Any]  # typed back from MLflow's text: 64, 0.001, True, None, 'relu'
    metrics: dict[str, float]
    error: str | None = None
    pruned_at_epoch: str | None = None  # set when a search stopped the run early
    trial_number: int | None = None  # the Optuna trial a search's job ran

    @staticmethod
    def from_mlflow(run: Run) -> JobRun:
        return JobRun(
            run_id=run.info.run_id,
            run_name=run.info.run_name or run.info.run_id,
            status=run.info.status,
            start_time=run.info.start_time or 0,
            params={key: param_from_text(text) for key, text in run.data.params.items()},
            metrics=dict(run.data.metrics),
            error=run.data.tags.get(contract.ERROR),
            pruned_at_epoch=run.data.tags.get(contract.PRUNED_AT_EPOCH),
            trial_number=_integer_or_none(run.data.tags.get(contract.TRIAL_NUMBER)),
        )

    @property
    def can_win(self) -> bool:
        """Whether the run may be chosen as best (and registered): it FINISHED and
        was not pruned. A failed, killed or pruned run never is."""
        return self.status == "FINISHED" and self.pruned_at_epoch is None


def _integer_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


@dataclass
class Selection:
    """The runs a report covers: finished ones are ranked; pruned ones (finished, but
    stopped early by a search) and not finished ones (failed, killed) are listed apart."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    sweep_id: str | None  # None with --all
    parent_run_id: str | None
    finished: list[JobRun]  # FINISHED and complete: the runs that are ranked
    not_finished: list[JobRun]
    pruned: list[JobRun] = field(default_factory=list)
    # The parent run's tags (a search's settings among them); empty with --all.
    parent_tags: dict[str, str] = field(default_factory=dict)
    # run_id -> metric -> [(step, value)], filled by load_curves for the plots.
    curves: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)

    def describe(self) -> str:
        scope = f"sweep {self.sweep_id}" if self.sweep_id else "all runs"
        return f"{scope} of experiment '{self.experiment_name}'"

    def every_run(self) -> list[JobRun]:
        return [*self.finished, *self.pruned, *self.not_finished]


def search_all_runs(client: MlflowClient, experiment_id: str, filter_string: str = "",
                    order_by: list[str] | None = None) -> list[Run]:
    """Every matching run, page by page (a server caps one answer's size)."""
    runs: list[Run] = []
    page_token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string,
                                  order_by=order_by, max_results=1000, page_token=page_token)
        runs.extend(page)
        page_token = page.token
        if not page_token:
            return runs


def find_experiment(client: MlflowClient, tracking_uri: str, name: str) -> tuple[str, str]:
    """(experiment id, name) of an active experiment, or a ValueError naming the store."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage == "deleted":
        known = sorted(e.name for e in client.search_experiments())
        listing = ", ".join(f"'{known_name}'" for known_name in known) or "none"
        raise ValueError(
            f"experiment '{name}' not found in the tracking store {tracking_uri} "
            f"(experiments there: {listing}). Pass --experiment NAME, or set "
            "MLFLOW_TRACKING_URI / --store-dir to the store the sweep wrote."
        )
    return experiment.experiment_id, experiment.name


def sweep_parents(client: MlflowClient, experiment_id: str) -> list[Run]:
    """The experiment's sweep (parent) runs, most recently started first."""
    return search_all_runs(client, experiment_id, f"tags.`{contract.ROLE}` = 'sweep'",
                           order_by=["attributes.start_time DESC"])


def find_sweep_parent(client: MlflowClient, tracking_uri: str, experiment_id: str,
                      experiment_name: str, sweep: str) -> Run:
    """The parent run of `sweep`: a sweep id, a parent run id, or `latest`."""
    parents = sweep_parents(client, experiment_id)
    if not parents:
        raise ValueError(
            f"no sweep found in experiment '{experiment_name}' of the tracking store "
            f"{tracking_uri} (no run tagged {contract.ROLE}=sweep). Run one with "
            "`python -m imdb_sweep -m ...`, or report every run with --all."
        )
    if sweep == LATEST:
        return parents[0]
    for parent in parents:
        if sweep in (parent.data.tags.get(contract.SWEEP_ID), parent.info.run_id):
            return parent
    recent = ", ".join(parent.data.tags.get(contract.SWEEP_ID, parent.info.run_id) for parent in parents[:5])
    raise ValueError(
        f"no sweep '{sweep}' in experiment '{experiment_name}' of the tracking store "
        f"{tracking_uri}; the most recent sweeps there: {recent}"
    )


def split_by_status(runs: list[Run]) -> tuple[list[JobRun], list[JobRun], list[JobRun]]:
    """(finished and complete, not finished, pruned) job runs, each in start order."""
    jobs = sorted((JobRun.from_mlflow(run) for run in runs), key=lambda job: job.start_time)
    return ([job for job in jobs if job.can_win],
            [job for job in jobs if job.status != "FINISHED"],
            [job for job in jobs if job.status == "FINISHED" and not job.can_win])


def select_sweep(client: MlflowClient, tracking_uri: str, experiment_id: str, experiment_name: str,
                 parent: Run) -> Selection:
    """The jobs nested under one sweep's parent run, plus the earlier FINISHED runs
    the sweep reused instead of training again (tags `imdb_sweep.reused.<job>`)."""
    children = search_all_runs(client, experiment_id,
                               f"tags.`{contract.PARENT_RUN_ID}` = '{parent.info.run_id}'")
    nested = {run.info.run_id for run in children}
    for key, run_id in sorted(parent.data.tags.items()):
        if key.startswith(contract.REUSED_PREFIX) and run_id not in nested:
            try:
                children.append(client.get_run(run_id))
            except MlflowException:
                continue  # Deleted since: the table shows what is still there.
            nested.add(run_id)
    finished, not_finished, pruned = split_by_status(children)
    return Selection(tracking_uri, experiment_id, experiment_name,
                     sweep_id=parent.data.tags.get(contract.SWEEP_ID), parent_run_id=parent.info.run_id,
                     finished=finished, not_finished=not_finished, pruned=pruned,
                     parent_tags=dict(parent.data.tags))


def select_runs(tracking_uri: str, experiment_name: str, sweep: str = LATEST,
                every_run: bool = False) -> Selection:
    """The runs to report: one sweep (`latest`, a sweep id or a parent run id), or
    with `every_run` every job of the experiment, single runs and sweeps alike."""
    client = MlflowClient(tracking_uri)
    experiment_id, name = find_experiment(client, tracking_uri, experiment_name)
    if every_run:
        jobs = [run for run in search_all_runs(client, experiment_id)
                if run.data.tags.get(contract.ROLE) != "sweep"]
        finished, not_finished, pruned = split_by_status(jobs)
        return Selection(tracking_uri, experiment_id, name, sweep_id=None, parent_run_id=None,
                         finished=finished, not_finished=not_finished, pruned=pruned)
    parent = find_sweep_parent(client, tracking_uri, experiment_id, name, sweep)
    return select_sweep(client, tracking_uri, experiment_id, name, parent)


def select_parent_run(tracking_uri: str, experiment_id: str, parent_run_id: str) -> Selection:
    """The jobs of the sweep whose parent run is `parent_run_id` (used at the end of a sweep)."""
    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    experiment = client.get_experiment(experiment_id)
    return select_sweep(client, tracking_uri, experiment_id, experiment.name, parent)


def load_curves(selection: Selection, metrics: tuple[str, ...] = CURVE_METRICS) -> None:
    """Fetch the per-epoch history of `metrics` for every run (for the plots; a search's
    plots count the epochs that pruned and failed trials ran too)."""
    client = MlflowClient(selection.tracking_uri)
    for job in selection.every_run():
        per_metric: dict[str, list[tuple[int, float]]] = {}
        for metric in metrics:
            history = client.get_metric_history(job.run_id, metric)
            per_metric[metric] = sorted((point.step, point.value) for point in history)
        selection.curves[job.run_id] = per_metric

