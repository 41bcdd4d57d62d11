"""The runs listed apart from the ranking: trials a search pruned, and runs that did not finish.

A pruned trial FINISHED, but after fewer epochs than the others: its numbers are not
comparable, so it is never ranked nor chosen. Failed and killed runs have no numbers.
Every format lists the two kinds under their own headings.
"""

from __future__ import annotations

import math
from typing import Any

from imdb_sweep.report.columns import ParamColumn, param_columns
from imdb_sweep.report.runs import JobRun
from imdb_sweep.report.table import ComparisonTable, recorded_value, short_labels, varying_params

PRUNED_TITLE = "Pruned by the search (stopped early; never ranked nor chosen)"
NOT_FINISHED_TITLE = "Not ranked (did not finish)"


def pruned_runs(table: ComparisonTable) -> list[JobRun]:
    """The pruned trials by trial number (then start time)."""
    return sorted(table.selection.pruned,
                  key=lambda run: (run.trial_number is None, run.trial_number or 0, run.start_time))


def pruned_keys(table: ComparisonTable) -> list[str]:
    """The params to show for pruned trials: those that vary among all the search's
    finished trials, pruned or not, as the searched keys do."""
    return varying_params([*table.selection.finished, *table.selection.pruned])


def pruned_record(table: ComparisonTable, run: JobRun) -> dict[str, Any]:
    """A pruned trial with full keys and typed values, for CSV and JSON."""
    record: dict[str, Any] = {key: run.params.get(key) for key in pruned_keys(table)}
    record["trial_number"] = run.trial_number
    pruned_at_epoch = run.pruned_at_epoch
    record["pruned_at_epoch"] = (int(pruned_at_epoch) if pruned_at_epoch is not None and pruned_at_epoch.isdigit()
                                 else pruned_at_epoch)
    for metric in table.metrics:
        record[metric] = recorded_value(metric, run.metrics.get(metric))
    record["run_name"], record["run_id"] = run.run_name, run.run_id
    return record


def not_finished_record(run: JobRun) -> dict[str, Any]:
    return {"run_name": run.run_name, "run_id": run.run_id, "status": run.status, "error": run.error}


def pruned_columns(table: ComparisonTable) -> list[ParamColumn]:
    """The pruned trials' param columns as the ranked table shows them (columns.py)."""
    keys = pruned_keys(table)
    return param_columns(keys, short_labels(keys))


def pruned_headers(table: ComparisonTable) -> list[str]:
    columns = [column.header for column in pruned_columns(table)]
    return ["trial", *columns, "pruned after epoch", f"{table.ranked_by} when stopped", "run", "run_id"]


def pruned_cells(table: ComparisonTable, run: JobRun) -> list[str]:
    """Cell texts of one pruned trial; the run id last, in full (formats shorten it)."""
    value = run.metrics.get(table.ranked_by, math.nan)
    labels = short_labels(pruned_keys(table))
    return ["" if run.trial_number is None else str(run.trial_number),
            *(column.text(labels, run.params, run.params) for column in pruned_columns(table)),
            run.pruned_at_epoch or "", "" if math.isnan(value) else f"{value:.4f}", run.run_name, run.run_id]
