"""PNG plots of a search: how the best objective improved with trials and with epochs
spent, which searched keys mattered, and every complete trial across the space.

Same sizes and styles as plots.py; each figure says in itself why it is empty
(too few trials, no space artifact) rather than failing the report.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from imdb_sweep import contract
from imdb_sweep.report.plots import (  # sets Agg first
    CURVE_FIGURE_SIZE,
    _title,
    render_plots,
    save_png,
    whole_number_ticks,
)
from imdb_sweep.report.search import (
    Importance,
    SearchSummary,
    Trial,
    best_so_far,
    space_value,
)
from imdb_sweep.report.table import ComparisonTable, short_labels

SEARCH_PLOT_FILES = {"trials": "search_best_by_trial.png", "epochs": "search_best_by_epochs.png",
                     "importance": "search_importance.png", "parallel": "search_parallel_coordinates.png"}
COMPLETE_COLOR, PRUNED_COLOR, BEST_COLOR = "tab:blue", "0.55", "tab:green"


def _say(axes: plt.Axes, message: str) -> None:
    """Why a figure has nothing to draw, in its middle."""
    axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center", wrap=True)
    axes.set_xticks([])
    axes.set_yticks([])


def _better(settings: contract.SearchRecord) -> str:
    return "lower is better" if settings.minimize else "higher is better"


def _counts(trials: list[Trial]) -> str:
    states = [trial.state for trial in trials]
    return ", ".join(f"{states.count(state)} {state}" for state in ("complete", "pruned", "failed"))


def progress_figure(table: ComparisonTable, settings: contract.SearchRecord, trials: list[Trial],
                    by: str) -> plt.Figure:
    """The best objective so far against trial number (`by="trials"`) or against the
    epochs spent so far (`by="epochs"`, pruned trials counting the epochs they ran).
    Dots: complete trials; grey crosses: pruned ones at the value they had when stopped."""
    figure, axes = plt.subplots(figsize=CURVE_FIGURE_SIZE)
    if by == "trials":
        numbered = [trial for trial in trials if trial.number is not None]
        positions = [float(trial.number) for trial in numbered if trial.number is not None]
        xlabel = "trial number"
    else:
        numbered = trials
        positions = list(np.cumsum([trial.epochs for trial in trials], dtype=float))
        xlabel = "epochs spent so far (pruned trials count the epochs they ran; reused trials none)"
    complete = [(x, trial.value) for x, trial in zip(positions, numbered)
                if trial.state == "complete" and not math.isnan(trial.value)]
    pruned = [(x, trial.value) for x, trial in zip(positions, numbered)
              if trial.state == "pruned" and not math.isnan(trial.value)]
    what = f"{settings.objective}: the best so far, by {'trial' if by == 'trials' else 'epochs spent'}"
    axes.set_title(_title(table, what, _counts(trials)), fontsize="medium")
    if not complete:
        _say(axes, f"no complete trial has logged {settings.objective} yet")
        return figure
    running = best_so_far([value for _, value in complete], settings.minimize)
    xs = [x for x, _ in complete]
    axes.step([*xs, max(positions)], [*running, running[-1]], where="post", color=BEST_COLOR,
              linewidth=2, label="best so far", zorder=4)
    axes.scatter(xs, [value for _, value in complete], s=22, color=COMPLETE_COLOR, label="complete trial", zorder=3)
    if pruned:
        axes.scatter([x for x, _ in pruned], [value for _, value in pruned], marker="x", s=30, color=PRUNED_COLOR,
                     label="pruned, when stopped", zorder=2)
    best_index = running.index(running[-1])
    best_trial = [trial for trial in numbered if trial.state == "complete" and not math.isnan(trial.value)][best_index]
    axes.annotate(f"trial {best_trial.number}: {running[-1]:.4f}", (xs[best_index], running[-1]),
                  xytext=(6, 6), textcoords="offset points", fontsize="small", fontweight="bold",
                  color=BEST_COLOR)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"{settings.objective} ({_better(settings)})")
    whole_number_ticks(axes.xaxis)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, fontsize="small")
    figure.subplots_adjust(left=0.09, right=0.97, top=0.88, bottom=0.12)
    return figure


def importance_figure(table: ComparisonTable, settings: contract.SearchRecord, importance: Importance) -> plt.Figure:
    """Each searched key's share of the objective's variance (fANOVA), largest at the top."""
    count = len(importance.values)
    figure, axes = plt.subplots(figsize=(8.0, 1.6 + 0.38 * max(count, 3)))
    axes.set_title(_title(table, f"Parameter importance for {settings.objective}",
                          f"fANOVA over {importance.trials} complete trial(s)"), fontsize="medium")
    if not importance.values:
        _say(axes, f"No importance: {importance.reason}.")
        return figure
    labels = short_labels(list(importance.values))
    positions = np.arange(count)[::-1]
    axes.barh(positions, list(importance.values.values()), color=COMPLETE_COLOR, height=0.6)
    for position, value in zip(positions, importance.values.values()):
        axes.annotate(f"{value:.0%}", (value, position), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize="small")
    axes.set_yticks(positions, [labels[key] for key in importance.values], fontsize="small")
    axes.set_xlim(0, 1.1)
    axes.set_xlabel(f"share of the variance of {settings.objective}")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _axis_position(value: Any, distribution: Any) -> float:
    """Where a param value sits on its axis, 0 (bottom) to 1 (top): choices evenly spaced,
    numbers linearly (log-scaled for a log distribution) between low and high."""
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return choices.index(value) / max(len(choices) - 1, 1)
    low, high, value = float(distribution.low), float(distribution.high), float(value)
    if distribution.log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    return 0.5 if high == low else (value - low) / (high - low)


# An integer axis names every value up to this many, else low, middle and high.
MOST_INTEGER_TICKS = 8


def _axis_ticks(distribution: Any) -> list[tuple[float, str]]:
    """Every choice; for numbers low, middle and high (the geometric middle on a log axis),
    and on an integer axis only values it can take (range(1,4): 1, 2, 3; never 2.5)."""
    from optuna.distributions import IntDistribution

    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return [(_axis_position(choice, distribution), str(choice)) for choice in choices]
    low, high = float(distribution.low), float(distribution.high)
    middle = math.sqrt(low * high) if distribution.log else (low + high) / 2
    if isinstance(distribution, IntDistribution):
        step = distribution.step
        values = list(range(distribution.low, distribution.high + 1, step))
        if len(values) > MOST_INTEGER_TICKS:  # the taken value nearest the middle
            values = [values[0], min(values, key=lambda value: abs(value - middle)), values[-1]]
        return [(_axis_position(value, distribution), str(value)) for value in dict.fromkeys(values)]
    return [(_axis_position(value, distribution), f"{value:.3g}") for value in (low, middle, high)]


def parallel_figure(table: ComparisonTable, settings: contract.SearchRecord, trials: list[Trial],
                    space: dict[str, Any]) -> plt.Figure:
    """One vertical axis per searched key and one for the objective; one line per complete
    trial, coloured by its objective (yellow is best either direction), the best one thick."""
    figure, axes = plt.subplots(figsize=CURVE_FIGURE_SIZE)
    axes.set_title(_title(table, f"Complete trials across the searched keys and {settings.objective}",
                          "colour by objective, yellow is best; the best trial in black"), fontsize="medium")
    lines = []
    for trial in trials:
        if trial.state != "complete" or math.isnan(trial.value):
            continue
        try:
            lines.append(([_axis_position(space_value(trial.run.params[key], distribution), distribution)
                           for key, distribution in space.items()], trial.value))
        except (KeyError, ValueError):
            continue  # a run without the key or outside the space: parameter_importance says which
    if not space or not lines:
        _say(axes, "no search/space.json on the parent run" if not space
             else f"no complete trial has logged {settings.objective} yet")
        return figure
    values = [value for _, value in lines]
    low, high = min(values), max(values)
    scale = (lambda value: 0.5) if high == low else (lambda value: (value - low) / (high - low))
    # Colour by quality, not by raw value, so that the best is yellow when minimizing too.
    quality = (lambda value: 1 - scale(value)) if settings.minimize else scale
    colormap = plt.get_cmap("viridis")
    best = (min if settings.minimize else max)(range(len(lines)), key=lambda index: values[index])
    columns = list(range(len(space) + 1))
    for positions, value in sorted(lines, key=lambda line: quality(line[1])):  # the best drawn last
        axes.plot(columns, [*positions, scale(value)], color=colormap(quality(value)), alpha=0.8,
                  linewidth=1.2, zorder=2)
    positions, value = lines[best]
    axes.plot(columns, [*positions, scale(value)], color="black", linewidth=2.5, zorder=3)
    ticks = [_axis_ticks(distribution) for distribution in space.values()]
    ticks.append([(scale(low), f"{low:.4f}"), (scale(high), f"{high:.4f}")])
    for column, column_ticks in zip(columns, ticks):
        axes.axvline(column, color="0.3", linewidth=0.8, zorder=1)
        for position, text in column_ticks:  # on a white box above the lines, so none hides them
            axes.annotate(text, (column, position), xytext=(-4, 0), textcoords="offset points", ha="right",
                          va="center", fontsize="x-small", color="0.15", zorder=5,
                          bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                "alpha": 0.85})
    labels = short_labels(list(space))
    objective_label = f"{settings.objective}\n({_better(settings)})"
    axes.set_xticks(columns, [*(labels[key] for key in space), objective_label], fontsize="small")
    axes.set_xlim(-0.35, len(space) + 0.1)
    axes.set_ylim(-0.05, 1.05)
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    figure.subplots_adjust(left=0.03, right=0.98, top=0.86, bottom=0.12)
    return figure


def search_figures(table: ComparisonTable, search: SearchSummary) -> dict[str, plt.Figure]:
    """File name -> figure of each of the search's own plots."""
    settings, trials = search.settings, search.trials
    return {
        SEARCH_PLOT_FILES["trials"]: progress_figure(table, settings, trials, by="trials"),
        SEARCH_PLOT_FILES["epochs"]: progress_figure(table, settings, trials, by="epochs"),
        SEARCH_PLOT_FILES["importance"]: importance_figure(table, settings, search.importance),
        SEARCH_PLOT_FILES["parallel"]: parallel_figure(table, settings, trials, search.space),
    }


def render_report_plots(table: ComparisonTable, search: SearchSummary | None) -> dict[str, bytes]:
    """Every plot of the table's report: the grid's (plots.py), then a search's own."""
    pngs = render_plots(table)
    if search is not None:
        pngs.update({name: save_png(figure) for name, figure in search_figures(table, search).items()})
    return pngs
