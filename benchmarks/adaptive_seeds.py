"""Adaptive seeds against a fixed 5-seed sweep, on the seed's six variants, full data.

    python benchmarks/adaptive_seeds.py [--min-seeds 3] [--max-seeds 5] [--epochs 10] [--store DIR] [-- key=value ...]

1. The adaptive sweep, as a user runs it: `python -m imdb_sweep -m hydra/sweeper=adaptive_seeds
   variant=<the six> seed=0 hydra.sweeper.min_seeds=3 hydra.sweeper.max_seeds=5` into a
   fresh local store (seeds 0, 1, 2, then more where an effect on best_val_accuracy is unsettled).
2. The top-up: every variant's seeds the adaptive sweep did not take (up to max-1), as plain
   grid sweeps into the same store. With (1) every variant then has seeds 0..max-1: the
   runs of a fixed max-seed sweep, without training any job twice.
3. Read back: the seeds each variant took and the adaptive sweep's final effects (the
   report's 95% CIs, and the stopping rule's own CI at the look's level on the watched
   metric); the same effects on the fixed sweep's runs; the compute of each side (jobs,
   epochs, wall seconds: adaptive = (1), fixed = (1) + (2)); and seed_table.py's table on
   the fixed sweep's runs (the seed's single-run conclusions checked).

Writes benchmarks/results/adaptive_seeds.json and benchmarks/results/seed_table.json (the
latter as seed_table.py writes it) and prints both tables for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import require_archive, results_file, write_results
from seed_table import VARIANTS, checked_rows, markdown

METRICS = ("best_val_accuracy", "test_accuracy")


def run_command(store: Path, arguments: list[str], outputs: str) -> float:
    """`python -m imdb_sweep -m ...` into `store`; its wall time in seconds."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "imdb_sweep", "-m", *arguments, "runtime.verbose=0", f"tracking.store_dir={store}",
         f"hydra.sweep.dir={store}/{outputs}"],
        cwd=store, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True,
    )
    if result.returncode != 0:
        sys.exit(f"the sweep failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.time() - started


def seeds_by_variant(runs: list) -> dict[str, list[int]]:
    taken: dict[str, list[int]] = {variant: [] for variant in VARIANTS}
    for run in runs:
        taken[run.params["variant"]].append(int(run.params["seed"]))
    return {variant: sorted(seeds) for variant, seeds in taken.items()}


def effect_records(runs: list, confidence: float, metrics: tuple[str, ...]) -> list[dict]:
    """Each variant against the baseline on `metrics`, CIs at `confidence` (no Holm: the
    rule's looks never adjust; the report's own effects are read apart)."""
    from imdb_sweep.report.effects import factor_effects

    found = factor_effects(runs, ["variant"], {"variant": "baseline"}, {}, metrics=list(metrics),
                           confidence=confidence, adjust=False)
    return [{"level": effect.level, "metric": effect.metric, "difference": effect.difference,
             "ci_low": effect.ci_low, "ci_high": effect.ci_high} for effect in found.effects]


def report_effects(table) -> list[dict]:
    return [{"level": effect.level, "metric": effect.metric, "difference": effect.difference,
             "ci_low": effect.ci_low, "ci_high": effect.ci_high, "p_adjusted": effect.p_adjusted,
             "resolved": effect.resolved} for effect in table.effects.effects if not effect.is_interaction]


def points(value: float) -> str:
    return "" if math.isnan(value) else f"{100 * value:+.2f}"


def comparison_markdown(record: dict) -> str:
    """The adaptive sweep beside the fixed one: seeds, final CIs in points, compute."""
    fixed_name = f"fixed {record['max_seeds']} seeds"
    lines = ["| variant | seeds (adaptive) | Δ best_val, adaptive: 95% CI | rule's CI (look level) | "
             f"Δ best_val, {fixed_name}: 95% CI | Δ test, adaptive: 95% CI | Δ test, {fixed_name}: 95% CI |",
             "|---|---:|---|---|---|---|---|"]

    def cell(effects: list[dict], level: str, metric: str) -> str:
        (effect,) = [e for e in effects if e["level"] == level and e["metric"] == metric]
        return f"{points(effect['difference'])} [{points(effect['ci_low'])}, {points(effect['ci_high'])}]"

    for variant in VARIANTS:
        seeds = len(record["adaptive"]["seeds"][variant])
        if variant == "baseline":
            lines.append(f"| baseline (reference) | {seeds} | | | | | |")
            continue
        lines.append(f"| {variant} | {seeds} | {cell(record['adaptive']['effects'], variant, 'best_val_accuracy')} | "
                     f"{cell(record['adaptive']['rule_effects'], variant, 'best_val_accuracy')} | "
                     f"{cell(record['fixed']['effects'], variant, 'best_val_accuracy')} | "
                     f"{cell(record['adaptive']['effects'], variant, 'test_accuracy')} | "
                     f"{cell(record['fixed']['effects'], variant, 'test_accuracy')} |")
    adaptive, fixed = record["adaptive"], record["fixed"]
    lines += ["", "| sweep | jobs | epochs | wall (s) |", "|---|---:|---:|---:|",
              f"| adaptive (min {record['min_seeds']}, max {record['max_seeds']}, {adaptive['rounds']} rounds, "
              f"{adaptive['outcome']}) | {adaptive['jobs']} | {adaptive['epochs']} | {adaptive['wall_seconds']:.0f} |",
              f"| fixed {record['max_seeds']} seeds | {fixed['jobs']} | {fixed['epochs']} | "
              f"{fixed['wall_seconds']:.0f} |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-seeds", type=int, default=3)
    parser.add_argument("--max-seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the local store in this new folder (default: a temporary one, removed)")
    parser.add_argument("--output", type=Path, default=results_file("adaptive_seeds"))
    parser.add_argument("--seed-table-output", type=Path, default=results_file("seed_table"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --)")
    args = parser.parse_args()
    require_archive()
    from imdb_sweep import contract
    from imdb_sweep.report import build_table, select_runs
    from imdb_sweep.report.seed_rule import SeedRule
    from imdb_sweep.tracking.uris import local_store_uri

    common = [f"train.epochs={args.epochs}", *args.extra]
    with tempfile.TemporaryDirectory(prefix="adaptive_seeds_") as folder:
        store = Path(folder) if args.store is None else args.store.resolve()
        store.mkdir(parents=True, exist_ok=True)
        uri = local_store_uri(store)
        adaptive_sweep = ["hydra/sweeper=adaptive_seeds", f"hydra.sweeper.min_seeds={args.min_seeds}",
                          f"hydra.sweeper.max_seeds={args.max_seeds}", f"variant={','.join(VARIANTS)}", "seed=0"]
        adaptive_wall = run_command(store, [*adaptive_sweep, *common], "outputs_adaptive")
        adaptive = select_runs(uri, "imdb-sweep")
        taken = seeds_by_variant(adaptive.finished)
        top_up_wall = 0.0
        by_count: dict[int, list[str]] = {}
        for variant, seeds in taken.items():
            if len(seeds) < args.max_seeds:
                by_count.setdefault(len(seeds), []).append(variant)
        for count, variants in sorted(by_count.items()):
            top_up_wall += run_command(store, [f"variant={','.join(variants)}",
                                               f"seed={','.join(str(seed) for seed in range(count, args.max_seeds))}",
                                               *common], f"outputs_top_up_{count}")
        every = select_runs(uri, "imdb-sweep", every_run=True)
        rule = SeedRule(args.min_seeds, args.max_seeds)
        tags = adaptive.parent_tags
        record = {
            "min_seeds": args.min_seeds, "max_seeds": args.max_seeds, "epochs": args.epochs, "extra": args.extra,
            "adaptive": {
                "seeds": taken, "rounds": int(tags[contract.SEED_RULE_ROUNDS]),
                "outcome": tags[contract.SEED_RULE_OUTCOME], "jobs": len(adaptive.finished),
                "epochs": len(adaptive.finished) * args.epochs, "wall_seconds": adaptive_wall,
                "effects": report_effects(build_table(adaptive, {"variant": "baseline"})),
                "rule_effects": effect_records(adaptive.finished, rule.look_confidence, ("best_val_accuracy",)),
                "look_confidence": rule.look_confidence,
            },
            "fixed": {
                "seeds": seeds_by_variant(every.finished), "jobs": len(every.finished),
                "epochs": len(every.finished) * args.epochs, "wall_seconds": adaptive_wall + top_up_wall,
                "effects": report_effects(build_table(every, {"variant": "baseline"})),
            },
        }
        rows, means = checked_rows(store, every_run=True)
    print(comparison_markdown(record))
    print()
    print(markdown(rows, means))
    write_results(args.output, record)
    write_results(args.seed_table_output, {
        "seeds": args.max_seeds, "epochs": args.epochs, "extra": args.extra,
        "wall_seconds": adaptive_wall + top_up_wall, "rows": rows,
        "means": {variant: {"mean": mean, "n": n} for variant, (mean, n) in means.items()},
        "runs_from": "benchmarks/adaptive_seeds.py: the adaptive sweep and its top-up"})


if __name__ == "__main__":
    main()
