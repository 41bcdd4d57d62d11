"""The seed's table, checked: its six variants with several seeds each, full data.

    python benchmarks/seed_table.py [--seeds 5] [--epochs 10] [-- key=value ...]

The seed compared one run per variant (conf/variant/: baseline, units64, mse,
tanh, dropout, l2) and read conclusions from the differences: 64 units "lost"
0.23 points, l2 "gained" 0.07. Seed-to-seed spread is about half a point, so
this runs every variant with `--seeds` seeds (seed=0..N-1) as one real sweep
(`python -m imdb_sweep -m variant=... seed=...`) into a fresh local store, then
reads it back with the report's own factor effects (imdb_sweep/report/effects.py:
each variant against the baseline, difference of mean test_accuracy with its
95% CI, Holm-adjusted p over the report's tests). For each variant it prints the
seed's single-run difference, ours with its CI, and whether the seed's conclusion
holds:

- holds: our CI excludes 0 and has the seed's sign;
- reversed: our CI excludes 0 with the other sign;
- not shown: our CI covers 0, so the seed's difference may be noise.

The Markdown table is printed for benchmarks/README.md; the numbers go to
benchmarks/results/seed_table.json. A quick check that it works (minutes, not
the real figures): `--seeds 2 --epochs 1 -- data.train_limit=2000 data.test_limit=500`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import require_archive, results_file, write_results
from imdb_sweep.report.effects import Effect

VARIANTS = ("baseline", "units64", "mse", "tanh", "dropout", "l2")
# The seed's one run per variant (DESIGN.md, "The model being swept"): test accuracy.
SEED_TEST_ACCURACY = {"baseline": 0.8410, "units64": 0.8387, "mse": 0.8283, "tanh": 0.8335,
                      "dropout": 0.8657, "l2": 0.8417}
METRIC = "test_accuracy"


def run_sweep(store: Path, seeds: int, epochs: int, extra: list[str]) -> float:
    """Every variant with every seed as one sweep into `store`; its wall time in seconds."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "imdb_sweep", "-m", f"variant={','.join(VARIANTS)}",
         f"seed={','.join(str(seed) for seed in range(seeds))}", f"train.epochs={epochs}", "runtime.verbose=0",
         f"tracking.store_dir={store}", f"hydra.sweep.dir={store}/outputs", *extra],
        cwd=store, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True,
    )
    if result.returncode != 0:
        sys.exit(f"the sweep failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.time() - started


def verdict(seed_difference: float, effect: Effect) -> str:
    """Whether our effect confirms the sign of the seed's single-run difference: resolved
    as the report resolves it (the CI excludes 0 and Holm's p < 0.05), with the same sign."""
    if not effect.resolved:
        return "not shown"
    return "holds" if (seed_difference > 0) == (effect.difference > 0) else "reversed"


def checked_rows(store: Path, every_run: bool = False) -> tuple[list[dict], dict]:
    """One record per variant but the baseline: the seed's difference, ours, the verdict.
    The store's latest sweep, or with `every_run` every job run in it (several sweeps that
    together hold every variant's seeds: benchmarks/adaptive_seeds.py)."""
    from imdb_sweep.report import build_table, select_runs
    from imdb_sweep.tracking.uris import local_store_uri

    table = build_table(select_runs(local_store_uri(store), "imdb-sweep", every_run=every_run),
                        {"variant": "baseline"})
    effects = {effect.level: effect for effect in table.effects.effects
               if effect.key == "variant" and effect.metric == METRIC}
    rows = []
    for variant in VARIANTS[1:]:
        effect = effects[variant]
        seed_difference = SEED_TEST_ACCURACY[variant] - SEED_TEST_ACCURACY["baseline"]
        rows.append({"variant": variant, "seed_difference": seed_difference, "difference": effect.difference,
                     "ci_low": effect.ci_low, "ci_high": effect.ci_high, "p_value": effect.p_value,
                     "p_adjusted": effect.p_adjusted,
                     "verdict": verdict(seed_difference, effect)})
    means = {row.params.get("variant"): (row.value(METRIC), row.n) for row in table.rows}
    return rows, means


def p_text(p_value: float) -> str:
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def markdown(rows: list[dict], means: dict) -> str:
    """The table for benchmarks/README.md, in points (0.01 accuracy = 1 point)."""
    lines = ["| variant | seed's Δ (one run) | ours: Δ mean, 95% CI | p (Holm) | the seed's conclusion |",
             "|---|---:|---|---:|---|"]
    for row in rows:
        lines.append(f"| {row['variant']} | {100 * row['seed_difference']:+.2f} | {100 * row['difference']:+.2f} "
                     f"[{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}] | {p_text(row['p_adjusted'])} | "
                     f"{row['verdict']} |")
    baseline_mean, seeds = means["baseline"]
    lines.append(f"\nΔ in points of {METRIC} against the baseline (ours: its mean over {seeds} seeds, "
                 f"{100 * baseline_mean:.2f}%).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per variant (at least 2; 5 for the figures)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=results_file("seed_table"))
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the sweep's local store in this new folder (default: a temporary one, removed)")
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --)")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error(f"--seeds = {args.seeds} is not allowed: expected at least 2 (a CI needs two seeds)")
    require_archive()
    with tempfile.TemporaryDirectory(prefix="seed_table_") as folder:
        store = Path(folder) if args.store is None else args.store.resolve()
        store.mkdir(parents=True, exist_ok=True)
        wall = run_sweep(store, args.seeds, args.epochs, args.extra)
        rows, means = checked_rows(store)
    print(markdown(rows, means))
    write_results(args.output, {"seeds": args.seeds, "epochs": args.epochs, "extra": args.extra,
                                "wall_seconds": wall, "rows": rows,
                                "means": {variant: {"mean": mean, "n": n} for variant, (mean, n) in means.items()}})


if __name__ == "__main__":
    main()
