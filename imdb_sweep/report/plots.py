"""PNG plots of a comparison table (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # Before pyplot: reports run on servers and in CI, without a display.
# A new machine builds matplotlib's font cache once and says so at INFO, which a
# sweep's Hydra logging would print between its summary and its table.
logging.getLogger("matplotlib").setLevel(logging.WARNING)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from imdb_sweep import contract  # noqa: E402
from imdb_sweep.report.conclusions import expected_best_of  # noqa: E402
from imdb_sweep.report.table import TEST_METRIC, ComparisonTable, Row  # noqa: E402

CURVE_TITLES = {contract.VAL_ACCURACY: "Validation accuracy", contract.VAL_LOSS: "Validation loss"}
# Each plot's artifact is named for what it draws.
PLOT_FILES = {metric: f"{metric}.png" for metric in (contract.VAL_ACCURACY, contract.VAL_LOSS, TEST_METRIC)}
EXPECTED_BEST_FILE = "expected_best.png"


# Legend entries longer than this, or more of them than this, go below the plot,
# where they can spread over several columns instead of narrowing the axes.
LEGEND_BESIDE_MAX_CHARACTERS = 28
LEGEND_BESIDE_MAX_ENTRIES = 12
CURVE_FIGURE_SIZE = (9.0, 5.0)  # inches
PNG_DPI = 110


def _colors(count: int) -> list:
    palette = plt.get_cmap("tab10" if count <= 10 else "tab20" if count <= 20 else "viridis")
    if count > 20:
        return [palette(index / max(count - 1, 1)) for index in range(count)]
    return [palette(index) for index in range(count)]


def _row_label(table: ComparisonTable, row: Row) -> str:
    """The short label (the fewest keys that tell rows apart), with n where seeds repeat."""
    label = table.short_label(row)
    return f"{label} (n={row.n})" if table.grouped_by_seed else label


def _title(table: ComparisonTable, what: str, how: str = "") -> str:
    """What is drawn on the first line; which runs and how they are summarized below it."""
    return f"{what}\n{table.selection.describe()}" + (f" · {how}" if how else "")


def whole_number_ticks(axis: Any) -> None:
    """Ticks on whole numbers only (epochs, trials): the axis's default locator, a
    MaxNLocator (AutoLocator), told so."""
    from matplotlib.ticker import MaxNLocator

    locator = axis.get_major_locator()
    if isinstance(locator, MaxNLocator):
        locator.set_params(integer=True)


def _place_legend(axes: plt.Axes, labels: list[str], title: str) -> None:
    """Beside the axes when the entries are few and short, else below in columns:
    outside the axes either way, so no curve is hidden behind it."""
    longest = max(len(label) for label in labels)
    if longest <= LEGEND_BESIDE_MAX_CHARACTERS and len(labels) <= LEGEND_BESIDE_MAX_ENTRIES:
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
                    fontsize="small", title=title or None, title_fontsize="small")
        return
    # About 95 characters of small text fit the width of a 9-inch figure.
    columns = max(1, min(len(labels), 95 // (longest + 6)))
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), borderaxespad=0.0, frameon=False,
                fontsize="small", ncol=columns, title=title or None, title_fontsize="small")


def _row_curve(table: ComparisonTable, row: Row, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean and standard deviation across the row's runs (std 0 for one run)."""
    per_epoch: dict[int, list[float]] = {}
    for run in row.runs:
        for step, value in table.selection.curves.get(run.run_id, {}).get(metric, []):
            per_epoch.setdefault(step, []).append(value)
    epochs = np.array(sorted(per_epoch))
    means = np.array([np.mean(per_epoch[epoch]) for epoch in epochs])
    stds = np.array([np.std(per_epoch[epoch], ddof=1) if len(per_epoch[epoch]) > 1 else 0.0
                     for epoch in epochs])
    return epochs, means, stds


def curve_figure(table: ComparisonTable, metric: str) -> plt.Figure:
    """`metric` per epoch, one line per row; a +-1 std band where seeds repeat."""
    figure, axes = plt.subplots(figsize=CURVE_FIGURE_SIZE)
    colors = _colors(len(table.rows))
    labels = []
    for row, color in zip(table.rows, colors):
        epochs, means, stds = _row_curve(table, row, metric)
        if epochs.size == 0:
            continue
        labels.append(_row_label(table, row))
        axes.plot(epochs, means, marker="o", markersize=3, color=color, label=labels[-1])
        if row.n > 1:
            axes.fill_between(epochs, means - stds, means + stds, color=color, alpha=0.15, linewidth=0)
    how = "mean over seeds, band ± 1 std" if table.grouped_by_seed else ""
    axes.set_title(_title(table, f"{CURVE_TITLES.get(metric, metric)} per epoch", how), fontsize="medium")
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    whole_number_ticks(axes.xaxis)
    axes.grid(alpha=0.3)
    if labels:  # runs without per-epoch history draw nothing
        _place_legend(axes, labels, table.label_title())
    else:
        axes.text(0.5, 0.5, f"no {metric} history logged", transform=axes.transAxes, ha="center")
    # Lay out the axes alone; savefig(bbox_inches="tight") then adds the legend
    # around them instead of shrinking the axes to make room for it.
    figure.subplots_adjust(left=0.09, right=0.97, top=0.88, bottom=0.12)
    return figure


def _test_values(row: Row) -> list[float]:
    return [run.metrics[TEST_METRIC] for run in row.runs
            if TEST_METRIC in run.metrics and not math.isnan(run.metrics[TEST_METRIC])]


def _zoomed_limits(table: ComparisonTable) -> tuple[float, float]:
    """The value axis around the means, intervals and seeds, with room for the value labels:
    differences of a point stay visible, which a 0..1 axis flattens."""
    values = [value for row in table.rows for value in _test_values(row)]
    for row in table.rows:
        summary = row.summaries[TEST_METRIC]
        values += [value for value in (summary.ci_low, summary.ci_high) if not math.isnan(value)]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    span = max(high - low, 0.01)
    return low - 0.08 * span, high + 0.25 * span


def accuracy_dots_figure(table: ComparisonTable) -> plt.Figure:
    """Test accuracy per row as a dot plot in ranking order (best at the top): the mean,
    its 95% CI as a bar and each seed as a small dot where seeds repeat, on a value
    axis zoomed to the data. Row labels are the short labels, written horizontally."""
    count = len(table.rows)
    figure, axes = plt.subplots(figsize=(8.0, 1.6 + 0.38 * max(count, 1)))
    positions = np.arange(count)[::-1]  # the first (best) row at the top
    best_color, other_color = "tab:green", "tab:blue"
    for position, row in zip(positions, table.rows):
        summary = row.summaries[TEST_METRIC]
        if math.isnan(summary.mean):
            continue
        color = best_color if row.is_best else other_color
        if table.grouped_by_seed:
            axes.scatter(_test_values(row), [position] * len(_test_values(row)), s=12, color="0.45",
                         alpha=0.7, zorder=2, linewidths=0)
        error = None
        if not math.isnan(summary.ci_low):
            error = [[summary.mean - summary.ci_low], [summary.ci_high - summary.mean]]
        axes.errorbar([summary.mean], [position], xerr=error, fmt="o", markersize=7, color=color,
                      capsize=4, elinewidth=1.5, zorder=3)
        right = max([summary.mean, *([summary.ci_high] if error else []), *_test_values(row)])
        axes.annotate(f"{summary.mean:.4f}", (right, position), xytext=(6, 0), textcoords="offset points",
                      va="center", fontsize="small", fontweight="bold" if row.is_best else "normal")
    axes.set_yticks(positions, [_row_label(table, row) for row in table.rows], fontsize="small")
    for tick, row in zip(axes.get_yticklabels(), table.rows):
        tick.set_fontweight("bold" if row.is_best else "normal")
    axes.set_ylim(-0.7, count - 0.3)
    axes.set_xlim(*_zoomed_limits(table))
    how = " (mean, bar: 95% CI, grey dots: single seeds)" if table.grouped_by_seed else ""
    axes.set_xlabel(TEST_METRIC + how)
    axes.set_ylabel(table.label_title())
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(_title(table, f"Test accuracy per configuration, ranked by {table.ranked_by}",
                          "best at the top, in green"), fontsize="medium")
    figure.tight_layout()
    return figure


def expected_best_figure(table: ComparisonTable) -> plt.Figure:
    """The expected best ranking score of n trials against n, band ± 1 std (expected_best.py)."""
    curve = expected_best_of(table)
    trials = np.array([point.trials for point in curve])
    means = np.array([point.mean for point in curve])
    stds = np.array([point.std for point in curve])
    figure, axes = plt.subplots(figsize=CURVE_FIGURE_SIZE)
    axes.plot(trials, means, marker="o", markersize=3, color="tab:blue", label="expected best")
    axes.fill_between(trials, means - stds, means + stds, color="tab:blue", alpha=0.15, linewidth=0,
                      label="± 1 std")
    axes.set_title(_title(table, f"Expected best {table.ranked_by} against trials",
                          f"{len(curve)} runs drawn with replacement (Dodge et al. 2019)"), fontsize="medium")
    axes.set_xlabel("trials")
    axes.set_ylabel(f"expected best {table.ranked_by}")
    whole_number_ticks(axes.xaxis)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", frameon=False, fontsize="small")
    figure.tight_layout()
    return figure


def save_png(figure: plt.Figure) -> bytes:
    """The figure as the report embeds it, then closed (pyplot keeps figures until then)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def render_plots(table: ComparisonTable) -> dict[str, bytes]:
    """File name -> PNG bytes. The curves need `runs.load_curves` to have run."""
    figures = {PLOT_FILES[metric]: curve_figure(table, metric) for metric in CURVE_TITLES}
    figures[PLOT_FILES[TEST_METRIC]] = accuracy_dots_figure(table)
    if len(expected_best_of(table)) > 1:
        figures[EXPECTED_BEST_FILE] = expected_best_figure(table)
    return {name: save_png(figure) for name, figure in figures.items()}


def write_plots(pngs: dict[str, bytes], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in pngs.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths
