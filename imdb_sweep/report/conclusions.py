"""The report's conclusions as plain tables of text that every human format renders the
same way (formats.py: Markdown, HTML, LaTeX): the factor effects (effects.py) and the
expected best score against trials (expected_best.py), and, for a grid with adaptive seeds,
the seeds each configuration took under the stopping rule (seed_rule.py). CSV and JSON take
the records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from imdb_sweep import contract
from imdb_sweep.report.effects import INTERACTION_JOIN, Effect, FactorEffects
from imdb_sweep.report.expected_best import ExpectedBest, expected_best_curve, shown_trials
from imdb_sweep.report.seed_rule import plan_seeds, rule_from_tags, rule_text
from imdb_sweep.report.table import SEED_KEY, ComparisonTable, varying_params

EFFECTS_TITLE = "Factor effects"
EXPECTED_BEST_TITLE = "Expected best against trials"
SEEDS_TITLE = "Seeds until the answer is clear"
EFFECT_HEADERS = ("key", "level", "reference", "metric", "difference", "95% CI", "p", "p (Holm)", "resolved")


@dataclass(frozen=True)
class Section:
    """A titled table with a note under it; `name` identifies it (an HTML id, a file name)."""

    name: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str
    # Columns of words (keys, levels, reasons), set left as text reads; the others are numbers.
    text_columns: tuple[int, ...] = ()


def _p_text(value: float) -> str:
    if math.isnan(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _label(table: ComparisonTable, key: str) -> str:
    """`units`, or `units x activation` for an interaction: the table's short headers."""
    return INTERACTION_JOIN.join(table.labels.get(part, part) for part in key.split(INTERACTION_JOIN))


def _signed(value: float) -> str:
    """`+0.0063`, `-0.0040`; a difference that rounds to nothing is `+0.0000`, never `-0.0000`."""
    text = f"{value:+.4f}"
    return "+0.0000" if text == "-0.0000" else text


def effect_cells(table: ComparisonTable, effect: Effect) -> list[str]:
    interval = "" if math.isnan(effect.ci_low) else f"[{_signed(effect.ci_low)}, {_signed(effect.ci_high)}]"
    return [_label(table, effect.key), effect.level, effect.reference, effect.metric,
            _signed(effect.difference), interval, _p_text(effect.p_value), _p_text(effect.p_adjusted),
            "yes" if effect.resolved else "no"]


def effects_note(found: FactorEffects) -> str:
    resolved = len(found.resolved())
    method = ("Each level against its key's reference level: difference of the mean, averaged over the other "
              "keys (least squares, one indicator per level; two-way interactions where every combination ran, "
              "as a difference of differences).")
    if found.tests:
        certainty = (f"95% CI and p from the t distribution; p (Holm): adjusted over the {found.tests} tests "
                     f"of this report. Resolved: the CI excludes 0 and p (Holm) < 0.05 ({resolved} of "
                     f"{len(found.effects)}); an unresolved effect may be noise: run more seeds.")
    else:
        certainty = ("No CI or p: with one run per configuration there is no seed-to-seed spread to measure, "
                     "so no effect is resolved; run seeds (seed=0,1,2 or hydra/sweeper=adaptive_seeds).")
    # The effects' own notes are phrases (keys left out, models without CI): one sentence each.
    return " ".join([method, certainty, *(note.rstrip(".") + "." for note in found.notes)])


def effects_section(table: ComparisonTable) -> Section | None:
    found = table.effects
    if not found.effects:
        return None
    return Section("effects", EFFECTS_TITLE, list(EFFECT_HEADERS),
                   [effect_cells(table, effect) for effect in found.effects], effects_note(found),
                   text_columns=(0, 1, 2, 3, 8))


def expected_best_values(table: ComparisonTable) -> list[float]:
    """One score per finished run (pruned trials stopped early, so their score is no draw)."""
    return [run.metrics[table.ranked_by] for run in table.selection.finished
            if not math.isnan(run.metrics.get(table.ranked_by, math.nan))]


def expected_best_of(table: ComparisonTable) -> list[ExpectedBest]:
    """The curve of the table's ranking metric (validation by default), n = 1 .. runs."""
    return expected_best_curve(expected_best_values(table), minimize=table.minimize)


def expected_best_section(table: ComparisonTable) -> Section | None:
    curve = expected_best_of(table)
    if len(curve) < 2:
        return None
    shown = set(shown_trials(len(curve)))
    rows = [[str(point.trials), f"{point.mean:.4f}", f"{point.std:.4f}"] for point in curve if point.trials in shown]
    note = (f"Expected best {table.ranked_by} of n trials drawn with replacement from the {len(curve)} finished "
            "runs, and its standard deviation (Dodge et al., Show Your Work, EMNLP 2019): where it flattens, "
            "more trials of this space stop paying.")
    return Section("expected-best", f"{EXPECTED_BEST_TITLE} ({table.ranked_by})",
                   ["trials", f"expected best {table.ranked_by}", "std"], rows, note)


def seeds_plans(table: ComparisonTable) -> list[dict[str, Any]]:
    """For a sweep with adaptive seeds (its parent run carries the rule): each configuration,
    its seeds and the rule's verdict on it, judged again on the runs the report reads."""
    recorded = rule_from_tags(table.selection.parent_tags)
    runs = table.selection.finished
    if recorded is None or not runs:
        return []
    rule, metric = recorded
    config_keys = [key for key in varying_params(runs) if key != SEED_KEY]
    plans = plan_seeds(runs, config_keys, rule, table.baseline, metric=metric)
    # Named as the table's rows are: by the keys that tell them apart (`variant=mse`, not its every key).
    shown = table.label_keys or config_keys
    return [{"configuration": " ".join(f"{table.labels.get(key, key)}={plan.configuration[key]}"
                                       for key in shown if key in plan.configuration),
             "seeds": plan.seeds, "more": plan.more, "reason": plan.reason} for plan in plans]


def seeds_section(table: ComparisonTable) -> Section | None:
    plans = seeds_plans(table)
    if not plans:
        return None
    recorded = rule_from_tags(table.selection.parent_tags)
    assert recorded is not None  # plans come only with a rule
    tags = table.selection.parent_tags
    rounds = tags.get(contract.SEED_RULE_ROUNDS, "?")
    outcome = tags.get(contract.SEED_RULE_OUTCOME, "")
    ended = (f"The sweep stopped after {rounds} round(s): "
             + ("every effect settled." if outcome == "settled" else
                "at the cap, with effects still unsettled (their CIs cover 0 and are wider than the bound)."))
    rows = [[plan["configuration"], str(plan["seeds"]), plan["reason"]] for plan in plans]
    return Section("seeds", SEEDS_TITLE, ["configuration", "seeds", "why it stopped"], rows,
                   f"{rule_text(*recorded)} {ended}", text_columns=(0, 2))


def conclusion_sections(table: ComparisonTable) -> list[Section]:
    """The sections a report shows under its table (those with something to say)."""
    sections = (effects_section(table), seeds_section(table), expected_best_section(table))
    return [section for section in sections if section is not None]


def effects_records(table: ComparisonTable) -> list[dict[str, Any]]:
    return [effect.record() for effect in table.effects.effects]


def expected_best_records(table: ComparisonTable) -> list[dict[str, Any]]:
    return [{"trials": point.trials, "mean": point.mean, "std": point.std} for point in expected_best_of(table)]


def seeds_record(table: ComparisonTable) -> dict[str, Any] | None:
    """The JSON entry of a sweep with adaptive seeds: its rule, how it ended, each configuration's seeds."""
    recorded = rule_from_tags(table.selection.parent_tags)
    if recorded is None:
        return None
    rule, metric = recorded
    tags = table.selection.parent_tags
    return {"min_seeds": rule.min_seeds, "max_seeds": rule.max_seeds, "half_width": rule.half_width,
            "metric": metric, "confidence": rule.confidence, "look_confidence": rule.look_confidence,
            "rounds": int(tags.get(contract.SEED_RULE_ROUNDS, "0")), "outcome": tags.get(contract.SEED_RULE_OUTCOME),
            "configurations": seeds_plans(table)}
