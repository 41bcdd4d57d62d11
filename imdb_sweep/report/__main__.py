"""`python -m imdb_sweep.report`: compare a sweep's runs, read back from MLflow.

    python -m imdb_sweep.report                          # latest sweep, Markdown to stdout
    python -m imdb_sweep.report --format csv --output table.csv
    python -m imdb_sweep.report --format md              # md, htm, tex: the suffixes work too
    python -m imdb_sweep.report --format html --output report.html --plots plots/
    python -m imdb_sweep.report --sweep <id> --experiment <name> --format json
    python -m imdb_sweep.report --baseline variant=baseline   # difference + Welch p-value
    python -m imdb_sweep.report --rank-by test_loss      # default: best_val_accuracy
    python -m imdb_sweep.report --register imdb-sentiment  # best run -> model registry, alias champion
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

from imdb_sweep.config.choices import PROMOTE
from imdb_sweep.registry import check_model_name, register_best_run
from imdb_sweep.report.formats import (
    FORMAT_CHOICES,
    SUFFIXES,
    canonical_format,
    format_help,
    render,
    to_effects_csv,
)
from imdb_sweep.report.runs import LATEST, load_curves, select_runs
from imdb_sweep.report.search import summarize_search
from imdb_sweep.report.table import DEFAULT_RANKING_METRIC, build_table, parse_baseline
from imdb_sweep.tracking.store import TrackingError, resolve_tracking_uri
from imdb_sweep.tracking.uris import STORE_DATABASE, local_store_folder, move_legacy_database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imdb_sweep.report",
        description="Compare the runs of a sweep (or of a whole experiment) logged to MLflow: "
                    "a ranked table of the params that vary and the results, seed statistics, plots.",
    )
    parser.add_argument("--experiment", default="imdb-sweep", help="MLflow experiment name (default: %(default)s)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sweep", default=LATEST,
                       help="sweep id (as printed when the sweep starts), its parent run id, or "
                            "'latest' (default): the most recently started sweep")
    which.add_argument("--all", action="store_true", dest="every_run",
                       help="every run of the experiment, all sweeps and single runs together")
    parser.add_argument("--format", type=str.lower, choices=FORMAT_CHOICES, default=None,
                        metavar="FORMAT",
                        help=f"output format: {format_help()} (default: from the --output "
                             "suffix, else markdown)")
    parser.add_argument("--output", type=Path, default=None, help="write here instead of stdout")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="also write the plots as PNG files into DIR")
    parser.add_argument("--baseline", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
                        help="configuration to compare every row with (e.g. variant=baseline or "
                             "units=32): difference of mean test accuracy and Welch t-test p-value; "
                             "also the reference level of its keys' factor effects (default: the "
                             "default config's value)")
    parser.add_argument("--rank-by", default=None, metavar="METRIC",
                        help="metric that ranks the rows and chooses the best (default: a search's "
                             f"objective in its direction, else {DEFAULT_RANKING_METRIC}, validation; "
                             "lower is better for *loss and *seconds). "
                             "test_accuracy is always shown beside it; ranking by it chooses on "
                             "the test set and makes it optimistic")
    parser.add_argument("--register", default=None, metavar="MODEL_NAME",
                        help="also register the best run (by --rank-by; finished, unpruned runs only) "
                             "as a new version of this registered model and move its alias 'champion' "
                             "to it when it beats the current champion (see --promote), else alias "
                             "'challenger': then `mlflow models serve -m models:/MODEL_NAME@champion`")
    parser.add_argument("--promote", choices=PROMOTE, default=PROMOTE[0],
                        help="with --register: when_better (default) moves 'champion' only to a version "
                             "that beats it on --rank-by, significantly (one-sided Welch, 0.05) when both "
                             "have seeds; always moves it every time")
    parser.add_argument("--store-dir", default=".",
                        help="the local store's folder (mlflow.db and mlruns/), used when MLFLOW_TRACKING_URI "
                             "is unset (default: the current folder, where `python -m imdb_sweep` writes)")
    return parser


def choose_format(requested: str | None, output: Path | None) -> str:
    if requested:
        return canonical_format(requested)
    if output is not None and output.suffix.lower() in SUFFIXES:
        return SUFFIXES[output.suffix.lower()]
    return "markdown"


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    output_format = choose_format(arguments.format, arguments.output)
    try:
        tracking_uri, _ = resolve_tracking_uri(SimpleNamespace(uri=None, store_dir=arguments.store_dir))
        store_folder = local_store_folder(tracking_uri)
        if store_folder is not None:
            move_legacy_database(store_folder)
        if store_folder is not None and not (store_folder / STORE_DATABASE).is_file():
            # MLflow would create an empty store here; say where we looked instead.
            raise ValueError(f"no tracking store at {tracking_uri}: run from the folder the sweep ran "
                             "in, pass --store-dir, or set MLFLOW_TRACKING_URI")
        if arguments.register is not None:
            check_model_name(arguments.register)
        baseline = parse_baseline(arguments.baseline)
        selection = select_runs(tracking_uri, arguments.experiment, arguments.sweep, arguments.every_run)
        needs_plots = output_format == "html" or arguments.plots is not None
        if needs_plots:
            load_curves(selection)
        table = build_table(selection, baseline, rank_by=arguments.rank_by)
        if arguments.register is not None:
            print(register_best_run(table, arguments.register, arguments.promote).describe(), file=sys.stderr)
    except (ValueError, TrackingError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2

    plots = None
    if needs_plots:
        from imdb_sweep.report.plots import write_plots
        from imdb_sweep.report.search_plots import render_report_plots

        plots = render_report_plots(table, summarize_search(table.selection))
        if arguments.plots is not None:
            for path in write_plots(plots, arguments.plots):
                print(f"Wrote {path}", file=sys.stderr)
    text = render(table, output_format, plots)
    if arguments.output is None:
        sys.stdout.write(text)
    else:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(text, encoding="utf-8")
        print(f"Wrote {arguments.output} ({output_format}, {len(table.rows)} row(s), "
              f"{table.selection.describe()})", file=sys.stderr)
        if output_format == "csv" and table.effects.effects:
            # One CSV holds one table: the factor effects go beside it.
            effects_path = arguments.output.with_suffix(".effects.csv")
            effects_path.write_text(to_effects_csv(table), encoding="utf-8")
            print(f"Wrote {effects_path} (factor effects, {len(table.effects.effects)} row(s))", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
