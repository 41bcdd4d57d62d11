"""PNG plots of a comparison table (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Before pyplot: reports run on servers and in CI, without a display.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from imdb_sweep.report.table import TEST_METRIC, ComparisonTable, Row  # noqa: E402

CURVE_TITLES = {"val_accuracy": "Validation accuracy", "val_loss": "Validation loss"}
PLOT_FILES = {"val_accuracy": "val_accuracy.png", "val_loss": "val_loss.png",
              TEST_METRIC: "test_accuracy.png"}


def _colors(count: int) -> list:
    palette = plt.get_cmap("tab10" if count <= 10 else "tab20" if count <= 20 else "viridis")
    if count > 20:
        return [palette(index / max(count - 1, 1)) for index in range(count)]
    return [palette(index) for index in range(count)]


def _row_label(table: ComparisonTable, row: Row) -> str:
    label = table.row_label(row)
    return f"{label} (n={row.n})" if table.grouped_by_seed else label


def _title(table: ComparisonTable, what: str, how: str = "") -> str:
    """What is drawn on the first line; which runs and how they are summarized below it."""
    return f"{what}\n{table.selection.describe()}" + (f" · {how}" if how else "")


def _place_legend(axes: plt.Axes, count: int) -> None:
    # Outside the axes, so no curve is ever hidden behind it.
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
                fontsize="small", ncol=1 if count <= 20 else 2)


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
    figure, axes = plt.subplots(figsize=(9, 5))
    colors = _colors(len(table.rows))
    for row, color in zip(table.rows, colors):
        epochs, means, stds = _row_curve(table, row, metric)
        if epochs.size == 0:
            continue
        axes.plot(epochs, means, marker="o", markersize=3, color=color, label=_row_label(table, row))
        if row.n > 1:
            axes.fill_between(epochs, means - stds, means + stds, color=color, alpha=0.15, linewidth=0)
    how = "mean over seeds, band ± 1 std" if table.grouped_by_seed else ""
    axes.set_title(_title(table, f"{CURVE_TITLES.get(metric, metric)} per epoch", how), fontsize="medium")
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    if axes.get_lines():  # runs without per-epoch history draw nothing
        _place_legend(axes, len(table.rows))
    else:
        axes.text(0.5, 0.5, f"no {metric} history logged", transform=axes.transAxes, ha="center")
    figure.tight_layout()
    return figure


def accuracy_bars_figure(table: ComparisonTable) -> plt.Figure:
    """Test accuracy per row as bars, ranked; 95% CI error bars and the single
    seeds as dots where seeds repeat."""
    figure, axes = plt.subplots(figsize=(max(6.0, 0.7 * len(table.rows) + 3), 5))
    positions = np.arange(len(table.rows))
    means = [row.value(TEST_METRIC) for row in table.rows]
    colors = _colors(len(table.rows))
    errors = None
    if table.grouped_by_seed:
        errors = np.array([[0.0 if math.isnan(s.ci_low) else s.mean - s.ci_low,
                            0.0 if math.isnan(s.ci_high) else s.ci_high - s.mean]
                           for s in (row.summaries[TEST_METRIC] for row in table.rows)]).T
    bars = axes.bar(positions, np.nan_to_num(means), color=colors, yerr=errors, capsize=4,
                    edgecolor=["black" if row.is_best else "none" for row in table.rows])
    if table.grouped_by_seed:
        for position, row in zip(positions, table.rows):
            values = [run.metrics[TEST_METRIC] for run in row.runs if TEST_METRIC in run.metrics]
            axes.scatter([position] * len(values), values, color="black", s=10, zorder=3)
    for bar, value in zip(bars, means):
        if not math.isnan(value):
            axes.annotate(f"{value:.3f}", (bar.get_x() + bar.get_width() / 2, 0), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom", fontsize="small",
                          color="white" if value > 0.15 else "black")
    axes.set_xticks(positions, [_row_label(table, row) for row in table.rows], rotation=30, ha="right",
                    fontsize="small")
    how = "mean, error bars 95% CI, dots: single seeds" if table.grouped_by_seed else ""
    axes.set_title(_title(table, "Test accuracy per configuration", how), fontsize="medium")
    axes.set_ylabel(TEST_METRIC)
    # A t interval of a few seeds can reach past 1: show it whole rather than clip it.
    highest = max([row.summaries[TEST_METRIC].ci_high for row in table.rows
                   if not math.isnan(row.summaries[TEST_METRIC].ci_high)], default=1.0)
    axes.set_ylim(0, max(1.05, highest + 0.05))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def render_plots(table: ComparisonTable) -> dict[str, bytes]:
    """File name -> PNG bytes. The curves need `runs.load_curves` to have run."""
    figures = {PLOT_FILES[metric]: curve_figure(table, metric) for metric in CURVE_TITLES}
    figures[PLOT_FILES[TEST_METRIC]] = accuracy_bars_figure(table)
    pngs: dict[str, bytes] = {}
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(figure)
        pngs[name] = buffer.getvalue()
    return pngs


def write_plots(pngs: dict[str, bytes], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in pngs.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths
