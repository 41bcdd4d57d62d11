"""The comparison table: which params vary, how runs group into configurations, the ranking."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from imdb_sweep import contract
from imdb_sweep.config.identity import affects_training
from imdb_sweep.report.distinguishing import distinguishing_keys
from imdb_sweep.report.effects import FactorEffects, factor_effects
from imdb_sweep.report.runs import JobRun, Selection
from imdb_sweep.report.search import recorded_search
from imdb_sweep.report.stats import Comparison, Summary, summarize, welch_test
from imdb_sweep.tracking.records import param_from_text, param_text

SEED_KEY = "seed"
# Rows are ranked, and the best run chosen, on validation: choosing on the test
# set would make the test accuracy reported beside it optimistic.
DEFAULT_RANKING_METRIC = contract.BEST_VAL_ACCURACY
# What the table reports for the chosen run: seed statistics, baseline tests, plots.
# It is measured after the last epoch, as the seed's script measures it.
TEST_METRIC = contract.TEST_ACCURACY
# The results, in the order the table shows them. The logged model's (model_test_accuracy,
# model_epoch) are blank for runs logged before these existed.
RESULT_METRICS = (contract.BEST_VAL_ACCURACY, contract.TEST_ACCURACY, contract.MODEL_TEST_ACCURACY,
                  contract.MODEL_EPOCH, contract.TEST_LOSS, contract.BEST_EPOCH, contract.FINAL_VAL_ACCURACY,
                  contract.TRAIN_SECONDS)
# Column order: the named variant first, then the model, training and data
# groups, anything else, and the seed last.
_KEY_ORDER = ("variant", "model.", "train.", "data.")


def measured_on_test_set(metric: str) -> bool:
    """test_accuracy, test_loss, model_test_accuracy, ...: choosing on one is choosing on the test set."""
    return metric.startswith(("test_", "model_test_"))


def recorded_value(metric: str, value: float | None) -> float | int | None:
    """A metric as CSV and JSON carry it: None for NaN (not logged, or no spread from
    one run), a whole number of epochs as an integer (`best_epoch` 2, not 2.0)."""
    if value is None or math.isnan(value):
        return None
    if metric in contract.EPOCH_COUNT_METRICS and float(value).is_integer():
        return int(value)
    return value


def ranking_choice(selection: Selection, rank_by: str | None) -> tuple[str, bool]:
    """(the metric that ranks, whether lower is better): `rank_by` when given, else a
    search's objective, else best_val_accuracy. A search's objective goes the search's
    direction; any other metric in its own (contract.direction_of: higher is better
    for a metric not in contract.METRIC_DIRECTIONS)."""
    settings = recorded_search(selection)
    metric = rank_by or (settings.objective if settings else DEFAULT_RANKING_METRIC)
    if settings and metric == settings.objective:
        return metric, settings.minimize
    return metric, contract.direction_of(metric) == contract.MINIMIZE


def available_metrics(runs: Iterable[JobRun]) -> list[str]:
    """Every metric logged on at least one of `runs`, sorted."""
    return sorted({metric for run in runs for metric in run.metrics})


def check_ranking_metric(metric: str, runs: list[JobRun]) -> None:
    """A ValueError naming `metric` and the metrics there are, when no run logged it."""
    known = available_metrics(runs)
    if runs and metric not in known:
        raise ValueError(f"--rank-by '{metric}': no selected run logged that metric; "
                         f"metrics available: {', '.join(known) or 'none'}")


def _column_rank(key: str) -> tuple[int, str]:
    if key == SEED_KEY:
        return len(_KEY_ORDER) + 1, key
    for rank, prefix in enumerate(_KEY_ORDER):
        if key == prefix or key.startswith(prefix):
            return rank, key
    return len(_KEY_ORDER), key


def varying_params(runs: Iterable[JobRun]) -> list[str]:
    """Training params whose value differs across `runs` (a missing param counts as
    a value of its own), in column order."""
    runs = list(runs)
    keys = {key for run in runs for key in run.params if affects_training(key)}
    varying = [key for key in keys if len({run.params.get(key) for run in runs}) > 1]
    return sorted(varying, key=_column_rank)


def short_labels(keys: list[str]) -> dict[str, str]:
    """Readable headers: the last segment of each key (`model.units` -> `units`),
    lengthened only where two keys would otherwise share a header."""
    labels: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            label = ".".join(parts[-length:])
            clashes = [other for other in keys if other != key
                       and ".".join(other.split(".")[-length:]) == label]
            if not clashes:
                break
        labels[key] = label
    return labels


def group_runs(runs: list[JobRun], keys: list[str]) -> list[list[JobRun]]:
    """Runs with equal values for `keys`, in order of first appearance."""
    groups: dict[tuple[Any, ...], list[JobRun]] = {}
    for run in runs:
        groups.setdefault(tuple(run.params.get(key) for key in keys), []).append(run)
    return list(groups.values())


def parse_baseline(text: str | None) -> dict[str, str] | None:
    """`variant=baseline,model.units=32` -> {'variant': 'baseline', 'model.units': '32'}."""
    if not text:
        return None
    baseline: dict[str, str] = {}
    for part in text.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator or not key:
            raise ValueError(f"--baseline '{text}': expected KEY=VALUE[,KEY=VALUE...], "
                             "e.g. --baseline variant=baseline or --baseline model.units=32")
        baseline[key.strip()] = value.strip()
    return baseline


@dataclass
class Row:
    """One configuration (or one run, when no configuration repeats)."""

    params: dict[str, Any]  # the table's param columns, typed (None: null or not logged)
    runs: list[JobRun]
    summaries: dict[str, Summary]
    comparison: Comparison | None = None  # against the baseline, when one is given
    is_baseline: bool = False
    is_best: bool = False

    @property
    def n(self) -> int:
        return len(self.runs)

    def value(self, metric: str) -> float:
        return self.summaries[metric].mean


@dataclass
class ComparisonTable:
    selection: Selection
    param_keys: list[str]
    labels: dict[str, str]
    rows: list[Row]
    grouped_by_seed: bool  # rows are configurations with seed statistics
    baseline: dict[str, str] | None = None
    metrics: tuple[str, ...] = field(default=RESULT_METRICS)
    ranked_by: str = DEFAULT_RANKING_METRIC
    minimize: bool = False  # lower ranked_by is better
    # The fewest param keys that tell the rows apart: what plots name rows by.
    label_keys: list[str] = field(default_factory=list)

    def row_label(self, row: Row, separator: str = ", ") -> str:
        """`units=8, activation=relu`: the full configuration, as messages and tags name a row."""
        parts = [f"{self.labels[key]}={param_text(row.params.get(key))}" for key in self.param_keys]
        return separator.join(parts) or row.runs[0].run_name

    def short_label(self, row: Row) -> str:
        """The row named by `label_keys` only: `dropout` when the variant alone tells the
        rows apart (`label_title` names the key), else `units=64, activation=tanh`."""
        if len(self.label_keys) == 1:
            key = self.label_keys[0]
            return param_text(row.params[key]) if key in row.runs[0].params else row.runs[0].run_name
        parts = [f"{self.labels[key]}={param_text(row.params.get(key))}" for key in self.label_keys]
        return ", ".join(parts) or row.runs[0].run_name

    def label_title(self) -> str:
        """What the short labels are values of: `variant`, or empty for key=value labels."""
        return self.labels[self.label_keys[0]] if len(self.label_keys) == 1 else ""

    @cached_property
    def effects(self) -> FactorEffects:
        """Each swept key's levels against its reference level, with CIs (effects.py)."""
        runs = self.selection.finished
        config_keys = [key for key in varying_params(runs) if key != SEED_KEY]
        return factor_effects(runs, config_keys, self.baseline)

    def best_run(self) -> JobRun | None:
        """The single finished run best on `ranked_by` (validation by default, never
        the test set unless asked); a tie goes to the run of the higher-ranked row.
        Pruned runs are never chosen (JobRun.can_win)."""
        scored = [run for row in self.rows for run in row.runs
                  if run.can_win and not math.isnan(run.metrics.get(self.ranked_by, math.nan))]
        sign = -1.0 if self.minimize else 1.0
        return max(scored, key=lambda run: sign * run.metrics[self.ranked_by], default=None)


def _row(params: dict[str, Any], runs: list[JobRun], metrics: tuple[str, ...]) -> Row:
    summaries = {metric: summarize([run.metrics[metric] for run in runs if metric in run.metrics])
                 for metric in metrics}
    return Row(params=params, runs=runs, summaries=summaries)


def _values_equal(actual: Any, expected: str) -> bool:
    """A typed param against a value as typed (`--baseline units=32`): `0.5` and `0.50`,
    `32` and `32.0`, `true` and True name the same value."""
    return actual == expected or actual == param_from_text(expected)


def _resolve_key(key: str, runs: list[JobRun]) -> str:
    known = {name for run in runs for name in run.params}
    if key in known:
        return key
    matches = sorted(name for name in known if name.rsplit(".", 1)[-1] == key)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"--baseline key '{key}' is ambiguous: {', '.join(matches)}")
    raise ValueError(f"--baseline key '{key}' is not a param of the selected runs")


def find_baseline_row(table: ComparisonTable, baseline: dict[str, str]) -> Row:
    all_runs = [run for row in table.rows for run in row.runs]
    wanted = {_resolve_key(key, all_runs): value for key, value in baseline.items()}
    matching = [row for row in table.rows
                if all(_values_equal(run.params.get(key), value)
                       for run in row.runs for key, value in wanted.items())]
    shown = ",".join(f"{key}={value}" for key, value in wanted.items())
    if len(matching) == 1:
        return matching[0]
    choices = "; ".join(table.row_label(row) for row in table.rows)
    if not matching:
        raise ValueError(f"--baseline {shown} matches none of the configurations: {choices}")
    raise ValueError(f"--baseline {shown} matches {len(matching)} configurations; add keys "
                     f"to pick one of: {choices}")


def _ranking_key(row: Row, metric: str, minimize: bool) -> tuple[bool, float]:
    """Best first, rows without the metric last; the sort is stable, so ties keep start order."""
    value = row.value(metric)
    if math.isnan(value):
        return True, 0.0
    return False, value if minimize else -value


def build_table(selection: Selection, baseline: dict[str, str] | None = None,
                metrics: tuple[str, ...] = RESULT_METRICS,
                rank_by: str | None = None) -> ComparisonTable:
    """Rank the finished, complete runs (pruned ones stay apart): one row per configuration
    (varying params without the seed) with seed statistics when some configuration ran
    more than once, else one row per run. Best mean `rank_by` first: by default a search's
    objective in its direction, else validation accuracy (ranking_choice)."""
    rank_by, minimize = ranking_choice(selection, rank_by)
    runs = selection.finished
    check_ranking_metric(rank_by, runs)
    if rank_by not in metrics:  # the table shows what it is ranked by
        metrics = (rank_by, *metrics)
    keys = varying_params(runs)
    config_keys = [key for key in keys if key != SEED_KEY]
    groups = group_runs(runs, config_keys)
    grouped = any(len(group) > 1 for group in groups)
    param_keys = config_keys if grouped else keys
    rows = [_row({key: group[0].params.get(key) for key in param_keys}, group, metrics)
            for group in (groups if grouped else [[run] for run in runs])]
    rows.sort(key=lambda row: _ranking_key(row, rank_by, minimize))
    table = ComparisonTable(selection, param_keys, short_labels(param_keys), rows, grouped,
                            baseline, metrics, rank_by, minimize,
                            distinguishing_keys([row.params for row in rows], param_keys))

    if rows and not math.isnan(rows[0].value(rank_by)):
        for row in rows:
            row.is_best = row.value(rank_by) == rows[0].value(rank_by)

    if baseline:
        # The baseline comparison is about what the table reports: the test accuracy.
        reference = find_baseline_row(table, baseline)
        reference.is_baseline = True
        reference_values = [run.metrics[TEST_METRIC] for run in reference.runs
                            if TEST_METRIC in run.metrics]
        for row in rows:
            values = [run.metrics[TEST_METRIC] for run in row.runs if TEST_METRIC in run.metrics]
            row.comparison = welch_test(values, reference_values)
    return table
