"""The comparison table as Markdown, CSV, HTML, JSON and LaTeX.

Machine formats (CSV, JSON) carry full param keys (`model.units`) and every
statistic; the human formats (Markdown, HTML, LaTeX) use short headers (`units`),
show the metric that ranks (validation accuracy) first and the test accuracy
beside it, with mean +- std, the 95% CI and n of the test accuracy. The HTML
page is templates/report.html.j2: this module prepares its texts, the template lays
them out.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from imdb_sweep import contract
from imdb_sweep.report.columns import ParamColumn, param_columns
from imdb_sweep.report.conclusions import (
    conclusion_sections,
    effects_records,
    expected_best_records,
    seeds_record,
)
from imdb_sweep.report.search import recorded_search
from imdb_sweep.report.table import TEST_METRIC, ComparisonTable, Row, measured_on_test_set, recorded_value
from imdb_sweep.report.unranked import (
    NOT_FINISHED_TITLE,
    PRUNED_TITLE,
    not_finished_record,
    pruned_cells,
    pruned_columns,
    pruned_headers,
    pruned_record,
    pruned_runs,
)
from imdb_sweep.tracking.uris import is_server, run_address

FORMATS = ("markdown", "csv", "html", "json", "latex")
# What users type: the file suffixes of the formats.
FORMAT_ALIASES = {"md": "markdown", "htm": "html", "tex": "latex"}
FORMAT_CHOICES = tuple(sorted((*FORMATS, *FORMAT_ALIASES)))
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".html": "html",
            ".htm": "html", ".json": "json", ".tex": "latex", ".latex": "latex"}


def canonical_format(name: str) -> str:
    """`md` -> `markdown`, `htm` -> `html`, `tex` -> `latex`; a format name stays itself."""
    lowered = name.strip().lower()
    if lowered in FORMATS:
        return lowered
    if lowered in FORMAT_ALIASES:
        return FORMAT_ALIASES[lowered]
    raise ValueError(f"unknown format '{name}': expected one of {format_help()}")


def format_help() -> str:
    """`markdown (md), csv, html (htm), json, latex (tex)`."""
    aliases = {canonical: alias for alias, canonical in FORMAT_ALIASES.items()}
    return ", ".join(f"{name} ({aliases[name]})" if name in aliases else name for name in FORMATS)


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


# ---------------------------------------------------------------------------
# Records: the machine-readable table (CSV, JSON)
# ---------------------------------------------------------------------------


def row_record(table: ComparisonTable, row: Row) -> dict[str, Any]:
    """One row with full keys and typed values (params as the config had them, epochs
    as integers); NaN (no spread from a single run) becomes None."""
    record: dict[str, Any] = {key: row.params.get(key) for key in table.param_keys}
    if table.grouped_by_seed:
        record["n"] = row.n
        for metric in table.metrics:
            summary = row.summaries[metric]
            record[metric] = recorded_value(metric, summary.mean)
            record[f"{metric}_std"] = _clean(summary.std)
            record[f"{metric}_ci95_low"] = _clean(summary.ci_low)
            record[f"{metric}_ci95_high"] = _clean(summary.ci_high)
    else:
        for metric in table.metrics:
            record[metric] = recorded_value(metric, row.summaries[metric].mean)
    if table.baseline:
        comparison = row.comparison
        assert comparison is not None, "a table with a baseline compares every row with it"
        record[f"{TEST_METRIC}_difference_to_baseline"] = _clean(comparison.difference)
        record["welch_p_value"] = None if row.is_baseline else _clean(comparison.p_value)
        record["is_baseline"] = row.is_baseline
    record["is_best"] = row.is_best
    if table.grouped_by_seed:
        record["run_names"] = [run.run_name for run in row.runs]
        record["run_ids"] = [run.run_id for run in row.runs]
    else:
        record["run_name"] = row.runs[0].run_name
        record["run_id"] = row.runs[0].run_id
    return record


def to_csv(table: ComparisonTable) -> str:
    """The ranked rows, then any pruned trials (column pruned_at_epoch set, never is_best)."""
    records = [row_record(table, row) for row in table.rows]
    records += [{**pruned_record(table, run), "is_best": False} for run in pruned_runs(table)]
    buffer = io.StringIO()
    if not records:
        return ""
    columns = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: " ".join(value) if isinstance(value, list) else
                         "" if value is None else value for key, value in record.items()})
    return buffer.getvalue()


def to_effects_csv(table: ComparisonTable) -> str:
    """The factor effects as their own CSV (one row per level and metric): the comparison's
    CSV is one table, so the effects go beside it (`<name>.effects.csv`, report/effects.csv)."""
    records = effects_records(table)
    if not records:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: "" if value is None else value for key, value in record.items()})
    return buffer.getvalue()


def to_json(table: ComparisonTable) -> str:
    selection = table.selection
    document = {
        "tracking_uri": selection.tracking_uri,
        "experiment": {"id": selection.experiment_id, "name": selection.experiment_name},
        "sweep_id": selection.sweep_id,
        "parent_run_id": selection.parent_run_id,
        "grouped_by_seed": table.grouped_by_seed,
        "baseline": table.baseline,
        "ranked_by": table.ranked_by,
        "columns": [{"key": key, "label": table.labels[key]} for key in table.param_keys],
        "search": asdict(settings) if (settings := recorded_search(selection)) else None,
        "rows": [row_record(table, row) for row in table.rows],
        "pruned": [pruned_record(table, run) for run in pruned_runs(table)],
        "not_finished": [not_finished_record(run) for run in selection.not_finished],
        "effects": effects_records(table),
        "effect_references": table.effects.references,
        "effect_notes": table.effects.notes,
        "expected_best": expected_best_records(table),
        "seed_rule": seeds_record(table),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------
# Cells: the human-readable table (Markdown, HTML, LaTeX)
# ---------------------------------------------------------------------------


def _number(metric: str, value: float, single: bool) -> str:
    if value is None or math.isnan(value):
        return ""
    if metric in contract.EPOCH_COUNT_METRICS:
        return f"{value:.0f}" if single else f"{value:.1f}"
    if metric.endswith("seconds"):
        return f"{value:.1f}"
    return f"{value:.4f}"


def _p_value(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def leading_metrics(table: ComparisonTable) -> list[str]:
    """The metric that ranks, then the test accuracy beside it (once when they are one)."""
    return [table.ranked_by] + ([TEST_METRIC] if table.ranked_by != TEST_METRIC else [])


def display_columns(table: ComparisonTable) -> list[ParamColumn]:
    """The param columns shown: one per key, a cross-family table's model keys in one (columns.py)."""
    return param_columns(table.param_keys, table.labels)


def display_headers(table: ComparisonTable) -> list[str]:
    headers = [column.header for column in display_columns(table)]
    for metric in leading_metrics(table):
        if not table.grouped_by_seed:
            headers.append(metric)
            continue
        headers.append(f"{metric} (mean ± std)")
        if metric == TEST_METRIC:
            headers += ["95% CI", "n"]
    if table.baseline:
        headers.append("Δ vs baseline")
        if table.grouped_by_seed:
            headers.append("p (Welch)")
    headers += [metric for metric in table.metrics if metric not in leading_metrics(table)]
    headers += ["runs"] if table.grouped_by_seed else ["run", "run_id"]
    return headers


def _mean_and_std(metric: str, row: Row) -> str:
    summary = row.summaries[metric]
    text = _number(metric, summary.mean, row.n == 1)
    if text and not math.isnan(summary.std):
        text += f" ± {summary.std:.4f}"
    return text


def display_cells(table: ComparisonTable, row: Row, short_ids: bool) -> list[str]:
    """Cell texts of one row; the cell of the ranking metric is the one marked as best."""
    single = row.n == 1
    # A param the run did not log stays empty.
    cells = [column.text(table.labels, row.params, row.runs[0].params) for column in display_columns(table)]
    for metric in leading_metrics(table):
        if not table.grouped_by_seed:
            cells.append(_number(metric, row.summaries[metric].mean, single))
            continue
        cells.append(_mean_and_std(metric, row))
        if metric == TEST_METRIC:
            accuracy = row.summaries[TEST_METRIC]
            interval = "" if math.isnan(accuracy.ci_low) else f"[{accuracy.ci_low:.4f}, {accuracy.ci_high:.4f}]"
            cells += [interval, str(row.n)]
    if table.baseline:
        comparison = row.comparison
        assert comparison is not None, "a table with a baseline compares every row with it"
        if row.is_baseline:
            cells.append("baseline")
        else:
            difference = comparison.difference
            cells.append("" if math.isnan(difference) else f"{difference:+.4f}")
        if table.grouped_by_seed:
            cells.append("" if row.is_baseline else _p_value(comparison.p_value))
    cells += [_number(metric, row.summaries[metric].mean, single)
              for metric in table.metrics if metric not in leading_metrics(table)]
    identify = (lambda run_id: run_id[:8]) if short_ids else (lambda run_id: run_id)
    if table.grouped_by_seed:
        cells.append(" ".join(identify(run.run_id) for run in row.runs))
    else:
        cells += [row.runs[0].run_name, identify(row.runs[0].run_id)]
    return cells


def ranking_column(table: ComparisonTable) -> int:
    return len(display_columns(table))


def ranking_note(table: ComparisonTable) -> str:
    """Which metric ranks and chooses the best, and what that means for the test accuracy."""
    direction = "lower" if table.minimize else "higher"
    note = (f"Ranked by {table.ranked_by} ({direction} is better), best first; the best is in bold.")
    if measured_on_test_set(table.ranked_by):
        return note + (f" Chosen on the test set (--rank-by {table.ranked_by}): the best row's "
                       f"{table.ranked_by} is an optimistic estimate.")
    return note + f" {TEST_METRIC} is reported beside it and plays no part in the choice."


def footnote(table: ComparisonTable) -> str:
    notes = [ranking_note(table)]
    if contract.MODEL_TEST_ACCURACY in table.metrics:
        notes.append(f"{TEST_METRIC} is measured after the last epoch; {contract.MODEL_TEST_ACCURACY} on the "
                     f"logged model, which holds the weights of epoch {contract.MODEL_EPOCH} (the epoch the "
                     "ranking metric stands for; blank for runs logged before these were).")
    if table.grouped_by_seed:
        notes.append("Runs differing only in seed are grouped: mean ± sample std; for "
                     f"{TEST_METRIC} also the 95% confidence interval of the mean (Student t, "
                     "n-1 degrees of freedom) and n runs.")
    if table.baseline:
        shown = ",".join(f"{key}={value}" for key, value in table.baseline.items())
        notes.append(f"Δ: difference of mean {TEST_METRIC} to the baseline ({shown})"
                     + ("; p: two-sided Welch t-test." if table.grouped_by_seed else "."))
    return " ".join(notes)


def heading(table: ComparisonTable) -> str:
    selection = table.selection
    configurations = (f", {len(table.rows)} configuration(s)" if table.grouped_by_seed else "")
    settings = recorded_search(selection)
    # A search says how many trials it pruned, even none; a grid only when some were.
    pruned = f", {len(selection.pruned)} pruned" if selection.pruned or settings else ""
    kind = f" (search: {settings.describe()})" if settings else ""
    return (f"{selection.describe().capitalize()}{kind}: {len(selection.finished)} finished run(s)"
            f"{configurations}{pruned}, {len(selection.not_finished)} not finished; ranked by {table.ranked_by}")


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: ComparisonTable) -> str:
    lines = [f"## {_markdown_escape(heading(table))}", ""]
    if table.rows:
        headers = display_headers(table)
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---:" if header in ("n",) else "---" for header in headers) + "|")
        marked = ranking_column(table)
        for row in table.rows:
            cells = [_markdown_escape(cell) for cell in display_cells(table, row, short_ids=True)]
            if row.is_best:
                cells[marked] = f"**{cells[marked]}**"
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", footnote(table)]
        for section in conclusion_sections(table):
            lines += ["", f"### {section.title}", "", "| " + " | ".join(section.headers) + " |",
                      "|" + "---|" * len(section.headers)]
            lines += ["| " + " | ".join(_markdown_escape(cell) for cell in cells) + " |" for cells in section.rows]
            lines += ["", section.note]
    else:
        lines.append("No finished runs to rank.")
    if table.selection.pruned:
        headers = pruned_headers(table)
        lines += ["", f"{PRUNED_TITLE}:", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for run in pruned_runs(table):
            cells = pruned_cells(table, run)
            cells[-1] = cells[-1][:8]
            lines.append("| " + " | ".join(_markdown_escape(cell) for cell in cells) + " |")
    if table.selection.not_finished:
        lines += ["", f"{NOT_FINISHED_TITLE}:", "", "| run | status | run_id | error |", "|---|---|---|---|"]
        for run in table.selection.not_finished:
            lines.append(f"| {_markdown_escape(run.run_name)} | {run.status} | {run.run_id[:8]} | "
                         f"{_markdown_escape((run.error or '')[:120])} |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$", "<": r"$<$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(character, character) for character in text)


def to_latex(table: ComparisonTable) -> str:
    headers = display_headers(table)
    marked = ranking_column(table)
    lines = [
        "% Needs \\usepackage{booktabs}.",
        "\\begin{table}[ht]",
        "\\centering",
        "\\small",
        f"\\begin{{tabular}}{{{'l' * ranking_column(table)}{'r' * (len(headers) - ranking_column(table))}}}",
        "\\toprule",
        " & ".join(latex_escape(header) for header in headers) + " \\\\",
        "\\midrule",
    ]
    for row in table.rows:
        cells = [latex_escape(cell) for cell in display_cells(table, row, short_ids=True)]
        if row.is_best:
            cells[marked] = f"\\textbf{{{cells[marked]}}}"
        lines.append(" & ".join(cells) + " \\\\")
    lines += [
        "\\bottomrule",
        "\\end{tabular}",
        f"\\caption{{{latex_escape(heading(table))}. {latex_escape(footnote(table))}}}",
        "\\end{table}",
    ]
    for section in conclusion_sections(table):
        lines += [
            "\\begin{table}[ht]",
            "\\centering",
            "\\small",
            f"\\begin{{tabular}}{{{'l' * (len(section.headers) - 1)}r}}",
            "\\toprule",
            " & ".join(latex_escape(header) for header in section.headers) + " \\\\",
            "\\midrule",
            *(" & ".join(latex_escape(cell) for cell in cells) + " \\\\" for cells in section.rows),
            "\\bottomrule",
            "\\end{tabular}",
            f"\\caption{{{latex_escape(section.title)}. {latex_escape(section.note)}}}",
            "\\end{table}",
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# HTML: one self-contained page, plots embedded
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RunLink:
    """A run as the page names it: a link to the MLflow UI when the store is a server
    (`address`), else plain text; `title` holds the full id when `text` is a short one."""

    text: str
    title: str | None
    address: str | None


@dataclass(frozen=True)
class Cell:
    text: str
    css: str


@dataclass(frozen=True)
class PageRow:
    classes: str
    cells: list[Cell]
    runs: list[RunLink]


@dataclass(frozen=True)
class PrunedRow:
    cells: list[Cell]
    run: RunLink


@dataclass(frozen=True)
class NotFinishedRow:
    name: str
    status: str
    error: str
    run: RunLink


def run_link(table: ComparisonTable, run_id: str, short: bool) -> RunLink:
    uri = table.selection.tracking_uri
    address = run_address(uri, table.selection.experiment_id, run_id) if is_server(uri) else None
    if short:
        return RunLink(text=run_id[:8], title=run_id, address=address)
    return RunLink(text=run_id, title=None, address=address)


def breakable(text: str) -> Markup:
    """Escaped, with a line-break opportunity after each `_` (`best_val_accuracy`)."""
    return Markup("_<wbr>").join(text.split("_"))


def cell_breakable(text: str, css: str) -> Markup | str:
    """A run name (`units=64,hidden_layers=2,dropout=0.5`) breaks after its commas only, so
    a narrow column never splits a value (`0.` / `5`); other cells as they are."""
    return Markup(",<wbr>").join(text.split(",")) if css == "run-name" else text


def page_headers(table: ComparisonTable) -> list[Cell]:
    """Headers aligned as their cells: text columns (params, run names and ids) left."""
    headers = display_headers(table)
    first_run_column = len(headers) - (1 if table.grouped_by_seed else 2)
    return [Cell(header, "param" if index < ranking_column(table) or index >= first_run_column else "result")
            for index, header in enumerate(headers)]


def page_row(table: ComparisonTable, row: Row) -> PageRow:
    """The row's cells but the last, which becomes the run id(s), short and linked."""
    texts = display_cells(table, row, short_ids=False)[:-1]
    columns = display_columns(table)
    cells = [Cell(text, ("param settings" if columns[index].is_settings else "param") if index < len(columns) else
                  "ranking" if index == len(columns) else "result")
             for index, text in enumerate(texts)]
    if not table.grouped_by_seed:
        cells[-1] = Cell(cells[-1].text, "run-name")
    classes = " ".join(name for name, on in (("best", row.is_best), ("baseline", row.is_baseline)) if on)
    return PageRow(classes, cells, [run_link(table, run.run_id, short=True) for run in row.runs])


def pruned_column_classes(table: ComparisonTable) -> list[str]:
    """As pruned_headers: the trial number, the searched params (left, as text), the
    epoch and the metric, then the run's name (the id cell is the run link)."""
    params = ["param settings" if column.is_settings else "param" for column in pruned_columns(table)]
    return ["result", *params, "result", "result", "run-name", "param"]


def pruned_page_headers(table: ComparisonTable) -> list[Cell]:
    return [Cell(header, css) for header, css in zip(pruned_headers(table), pruned_column_classes(table))]


def pruned_rows(table: ComparisonTable) -> list[PrunedRow]:
    """Pruned trials: their cells but the last, the run id, which becomes a short link."""
    classes = pruned_column_classes(table)
    return [PrunedRow([Cell(text, css) for text, css in zip(pruned_cells(table, run)[:-1], classes)],
                      run_link(table, run.run_id, short=True))
            for run in pruned_runs(table)]


def not_finished_rows(table: ComparisonTable) -> list[NotFinishedRow]:
    return [NotFinishedRow(run.run_name, run.status, run.error or "", run_link(table, run.run_id, short=False))
            for run in table.selection.not_finished]


@functools.cache
def page_template() -> jinja2.Template:
    """templates/report.html.j2, shipped in the package; autoescape escapes every value."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    environment.filters["breakable"] = breakable
    environment.filters["cell_breakable"] = cell_breakable
    return environment.get_template("report.html.j2")


def to_html(table: ComparisonTable, plots: dict[str, bytes] | None = None) -> str:
    return page_template().render(
        title=heading(table),
        selection=table.selection,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        headers=page_headers(table),
        rows=[page_row(table, row) for row in table.rows],
        footnote=footnote(table),
        pruned_title=PRUNED_TITLE,
        pruned_headers=pruned_page_headers(table),
        pruned_rows=pruned_rows(table),
        not_finished_title=NOT_FINISHED_TITLE,
        not_finished_rows=not_finished_rows(table),
        sections=conclusion_sections(table),
        plots={name: base64.b64encode(data).decode("ascii") for name, data in (plots or {}).items()},
    )


def render(table: ComparisonTable, output_format: str, plots: dict[str, bytes] | None = None) -> str:
    output_format = canonical_format(output_format)
    if output_format == "markdown":
        return to_markdown(table)
    if output_format == "csv":
        return to_csv(table)
    if output_format == "json":
        return to_json(table)
    if output_format == "latex":
        return to_latex(table)
    if output_format == "html":
        return to_html(table, plots)
    raise ValueError(f"unknown format '{output_format}': expected one of {format_help()}")
