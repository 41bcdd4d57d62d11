"""Hashed dropout masks against Keras's Dropout layer: do they train as well?

    python benchmarks/dropout_masks.py [--seeds 1 2 3] [--epochs 10] [--output benchmarks/results/dropout_masks.json]

Trains the dropout variant (Dropout(0.5) after Flatten) on the full archive once
per seed with each kind of mask, alternating, each in a fresh
benchmarks/train_only.py process: `train.dropout_masks=hashed` (the fused XLA
loop's own masks, imdb_sweep/training/fused/dropout.py) and
`train.dropout_masks=keras` (Keras's Dropout layer, trained by Keras's own loop).
Reports per side the test accuracy and the best validation accuracy, mean ± std
over the seeds, and Welch's t-test p value of the difference. The seeds change
the initial weights, the shuffle and the masks alike. Epoch times are recorded
too, but this script is about the accuracies.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from baseline import require_archive, results_file, write_results

# Fresh processes, as a job trains (and the two sides take different loops).
from process_settings import run_once

SIDES = ("hashed", "keras")
MEASURES = ("test_accuracy", "best_val_accuracy")


def welch_p_value(first: list[float], second: list[float]) -> float:
    from scipy.stats import ttest_ind

    return float(ttest_ind(first, second, equal_var=False).pvalue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=results_file("dropout_masks"))
    parser.add_argument("extra", nargs="*", help="more overrides for both sides (after --)")
    args = parser.parse_args()
    require_archive()

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for seed in args.seeds:
        for side in SIDES:
            run = run_once(args.epochs, ["variant=dropout", f"train.dropout_masks={side}", f"seed={seed}",
                                         *args.extra])
            runs[side].append({"seed": seed, **run})
            print(f"seed {seed} {side}: test acc {run['test_accuracy']:.4f}, best val acc "
                  f"{run['best_val_accuracy']:.4f}, steady epoch {run['steady_epoch_seconds']:.2f} s", flush=True)

    summary: dict[str, dict] = {}
    for measure in MEASURES:
        values = {side: [run[measure] for run in runs[side]] for side in SIDES}
        summary[measure] = {
            **{side: {"mean": statistics.mean(values[side]),
                      "std": statistics.stdev(values[side]) if len(values[side]) > 1 else 0.0} for side in SIDES},
            "difference": statistics.mean(values["hashed"]) - statistics.mean(values["keras"]),
            "welch_p": welch_p_value(values["hashed"], values["keras"]) if len(args.seeds) > 1 else float("nan"),
        }

    print(f"\n| dropout 0.5, {args.epochs} epochs, seeds {', '.join(map(str, args.seeds))} | "
          "hashed masks (fused, XLA) | Keras's Dropout (Keras's loop) | difference | Welch p |")
    print("|---|---|---|---|---|")
    for measure in MEASURES:
        row = summary[measure]
        print(f"| {measure.replace('_', ' ')} | {row['hashed']['mean']:.4f} ± {row['hashed']['std']:.4f} | "
              f"{row['keras']['mean']:.4f} ± {row['keras']['std']:.4f} | {row['difference']:+.4f} | "
              f"{row['welch_p']:.2f} |")
    epochs = {side: statistics.median(run["steady_epoch_seconds"] for run in runs[side]) for side in SIDES}
    print(f"\nsteady epoch (median, busy machine, not a timing): hashed {epochs['hashed']:.2f} s, "
          f"keras {epochs['keras']:.2f} s")
    write_results(args.output, {"epochs": args.epochs, "seeds": args.seeds, "overrides": args.extra,
                                "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
