"""Comparison tables, seed statistics and plots of sweep runs, read back from MLflow only.

    selection = select_runs(uri, "imdb-sweep", sweep="latest")   # runs.py
    table = build_table(selection, baseline={"variant": "baseline"})  # table.py, stats.py
    text = render(table, "markdown")                              # formats.py
    pngs = render_plots(table)  # after load_curves(selection)    # plots.py
    search = summarize_search(selection)  # a search's trials, space, importance: search.py
    pngs = render_report_plots(table, search)  # plots.py's and a search's: search_plots.py

Nothing here writes to MLflow (publishing the report on a sweep's parent run is
imdb_sweep/sweep/publishing.py) or imports Keras or TensorFlow: reports read, never train.
"""

from __future__ import annotations

from imdb_sweep.report.formats import FORMATS, canonical_format, render
from imdb_sweep.report.runs import LATEST, Selection, load_curves, select_parent_run, select_runs
from imdb_sweep.report.search import summarize_search
from imdb_sweep.report.table import (
    DEFAULT_RANKING_METRIC,
    TEST_METRIC,
    ComparisonTable,
    build_table,
    parse_baseline,
    varying_params,
)

__all__ = [
    "DEFAULT_RANKING_METRIC", "FORMATS", "LATEST", "TEST_METRIC", "ComparisonTable", "Selection",
    "build_table", "canonical_format", "load_curves", "parse_baseline", "render",
    "select_parent_run", "select_runs", "summarize_search", "varying_params",
]
