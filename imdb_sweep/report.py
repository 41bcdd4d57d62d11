"""Comparison tables of sweep runs, read back from MLflow only."""

from __future__ import annotations

from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from imdb_sweep.tracking import TAG_PARENT_RUN_ID

RESULT_COLUMNS = ("test_accuracy", "best_val_accuracy", "best_epoch")


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Run]:
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{parent_run_id}'",
        max_results=10000,
    )


def varying_params(runs: list[Run]) -> list[str]:
    """Param keys whose values differ across runs, in a stable order."""
    keys = sorted({key for run in runs for key in run.data.params})
    return [key for key in keys if len({run.data.params.get(key) for run in runs}) > 1]


def short_name(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4f}"
    return "" if value is None else str(value)


def sweep_summary_markdown(tracking_uri: str, experiment_id: str, parent_run_id: str) -> str:
    """A Markdown table of a sweep's jobs, best test accuracy first."""
    client = MlflowClient(tracking_uri)
    runs = child_runs(client, experiment_id, parent_run_id)
    params = varying_params(runs)
    ranked = sorted(runs, key=lambda r: r.data.metrics.get("test_accuracy", float("-inf")), reverse=True)
    header = [short_name(key) for key in params] + list(RESULT_COLUMNS) + ["status", "run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in ranked:
        cells = [run.data.params.get(key, "") for key in params]
        cells += [_format(run.data.metrics.get(name)) for name in RESULT_COLUMNS]
        cells += [run.info.status, run.info.run_name or run.info.run_id]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
