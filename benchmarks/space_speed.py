"""Every configuration at full speed? One job per variant of the search space, side by side.

    python benchmarks/space_speed.py [--rounds 2] [--epochs 4] [--before REV] [--variants NAME ...]
                                     [--output benchmarks/results/space_speed.json]

Runs one `python -m imdb_sweep` job per variant (the baseline, then one key
changed each: dropout, adam, nadam, adagrad, sgd, 128 units, 3 hidden layers, l2, deterministic ops),
each a fresh process on the full archive, the variants in turn and the rounds
alternating, so that the machine's noise hits them alike. Reports per variant
the steady epoch (median of epochs 2..n, from the run's `epoch_seconds` metric
in the local store the jobs wrote) and the whole job (process start to exit),
each with its ratio to the baseline, beside the ratio that arithmetic alone
would predict: the estimated floating-point operations of one training step
(`step_flops`, from the layer shapes).

The jobs run the imdb_sweep of this script's checkout (PYTHONPATH), so the
script runs on any checkout that has `python -m imdb_sweep`. `--before REV`
also exports revision REV of this repository (`git archive`, into a temporary
folder) and runs every variant from it too, alternating with this checkout
round by round: a before/after comparison in one invocation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import CHECKOUT, baseline_config, export_revision, open_store, results_file, write_results

VARIANTS = {
    "baseline": [],
    "dropout 0.5": ["model.dropout=0.5"],
    "adam": ["train.optimizer=adam"],
    "nadam": ["train.optimizer=nadam"],
    "adagrad": ["train.optimizer=adagrad"],
    "sgd": ["train.optimizer=sgd"],
    "units 128": ["model.units=128"],
    "3 hidden layers": ["model.hidden_layers=3"],
    "l2 0.001": ["model.l2=0.001"],
    "deterministic": ["runtime.deterministic=true"],
}
# Arithmetic per parameter and step of each optimizer's update (RMSprop: the
# accumulator 4, the step 4; Adam: two moments 7, the step 4; roughly).
OPTIMIZER_FLOPS_PER_PARAMETER = {"rmsprop": 8, "adam": 11, "nadam": 13, "adagrad": 6, "sgd": 2}


def step_flops(cfg) -> dict[str, float]:
    """Estimated floating-point operations of one training step of `cfg`'s model.

    Dense layers: 2 per multiply-add forward, twice that backward (the gradients
    of the weights and of the inputs), so 6 x batch x inputs x outputs. The
    optimizer's update touches every trainable parameter (the fused loop updates
    the embedding densely). L2 adds 2 per penalized kernel weight, dropout one
    multiply per unit it sees, forward and backward. Embedding lookups and the
    hash of the dropout masks are integer and memory work, not counted here.
    """
    model, train = cfg.model, cfg.train
    batch, flattened = train.batch_size, cfg.data.maxlen * model.embedding_dim
    widths = [flattened] + [model.units] * model.hidden_layers + [1]
    dense_pairs = list(zip(widths[:-1], widths[1:]))
    dense = sum(6 * batch * inputs * outputs for inputs, outputs in dense_pairs)
    parameters = cfg.data.num_words * model.embedding_dim + sum(i * o + o for i, o in dense_pairs)
    optimizer = OPTIMIZER_FLOPS_PER_PARAMETER[train.optimizer] * parameters
    hidden_kernels = sum(i * o for i, o in dense_pairs[:-1])
    l2 = 2 * hidden_kernels if model.l2 > 0 else 0
    dropout = 2 * batch * flattened if model.dropout > 0 else 0
    return {"dense": dense, "optimizer": optimizer, "l2": l2, "dropout": dropout,
            "total": dense + optimizer + l2 + dropout}


def job_environment(checkout: Path, cwd: Path) -> dict[str, str]:
    """The environment in which `python -m imdb_sweep`, started in `cwd`, runs `checkout`'s package."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(checkout)}
    found = subprocess.run([sys.executable, "-c", "import imdb_sweep; print(imdb_sweep.__file__)"], env=env,
                           cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(checkout.resolve()):
        sys.exit(f"python -m imdb_sweep would import {found}, not the package of {checkout}")
    return env


def run_job(env: dict[str, str], store: Path, epochs: int, overrides: list[str]) -> dict:
    """One fresh `python -m imdb_sweep` process: its wall time and what its run recorded."""
    started = time.time()
    finished = subprocess.run(
        [sys.executable, "-m", "imdb_sweep", f"train.epochs={epochs}", f"tracking.store_dir={store}",
         "tracking.log_model=false", "sweep.rerun=all", f"hydra.run.dir={store}/outputs", *overrides],
        env=env, cwd=store, capture_output=True, text=True,
    )
    wall = time.time() - started
    if finished.returncode != 0:
        sys.exit(f"job {overrides} failed:\n{finished.stderr[-3000:]}")
    client, experiment_id = open_store(store)
    run = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])[0]
    epoch_points = sorted(client.get_metric_history(run.info.run_id, "epoch_seconds"), key=lambda p: p.step)
    epoch_seconds = [point.value for point in epoch_points]
    return {"wall_seconds": wall, "epoch_seconds": epoch_seconds,
            "steady_epoch_seconds": statistics.median(epoch_seconds[1:] or epoch_seconds),
            "test_accuracy": run.data.metrics["test_accuracy"]}


def summarize(runs: dict[str, list[dict]], flops: dict[str, dict]) -> dict[str, dict]:
    medians = {name: {"steady_epoch_seconds": statistics.median(r["steady_epoch_seconds"] for r in variant_runs),
                      "wall_seconds": statistics.median(r["wall_seconds"] for r in variant_runs),
                      "test_accuracy": statistics.median(r["test_accuracy"] for r in variant_runs)}
               for name, variant_runs in runs.items()}
    base = medians["baseline"]
    return {name: {**values,
                   "steady_epoch_ratio": values["steady_epoch_seconds"] / base["steady_epoch_seconds"],
                   "wall_ratio": values["wall_seconds"] / base["wall_seconds"],
                   "step_flops": flops[name]["total"],
                   "arithmetic_ratio": flops[name]["total"] / flops["baseline"]["total"]}
            for name, values in medians.items()}


def print_table(title: str, summary: dict[str, dict], epochs: int) -> None:
    print(f"\n{title}\n")
    print(f"| variant | steady epoch (median of 2..{epochs}) | vs baseline | arithmetic: GFLOP per step, vs baseline "
          "| whole job | vs baseline | test acc |")
    print("|---|---|---|---|---|---|---|")
    for name, row in summary.items():
        print(f"| {name} | {row['steady_epoch_seconds']:.2f} s | {row['steady_epoch_ratio']:.2f}x | "
              f"{row['step_flops'] / 1e9:.3f}, {row['arithmetic_ratio']:.2f}x | {row['wall_seconds']:.1f} s | "
              f"{row['wall_ratio']:.2f}x | {row['test_accuracy']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--before", metavar="REV", help="also run every variant from git revision REV, alternating")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="a subset of the variants (the baseline always runs)")
    parser.add_argument("--output", type=Path, default=results_file("space_speed"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --), e.g. data.train_limit=2000")
    args = parser.parse_args()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the first epoch includes compiling")
    variants = {name: VARIANTS[name] for name in VARIANTS if name == "baseline" or name in args.variants}
    flops = {name: step_flops(baseline_config(*overrides, *args.extra)) for name, overrides in variants.items()}

    scratch = Path(tempfile.mkdtemp(prefix="imdb_sweep_space_speed_"))
    checkouts = {"this checkout": CHECKOUT}
    if args.before:
        checkouts = {f"before ({args.before})": export_revision(args.before, scratch / "before"), **checkouts}
    sides = {}
    for side, checkout in checkouts.items():
        store = scratch / f"store_{len(sides)}"
        store.mkdir()
        env = job_environment(checkout, store)
        # A 1-epoch warm-up job per side: it creates the store (about 2.5 s of
        # migrations once, as a user's first job) and warms the encoded-data cache.
        run_job(env, store, 1, list(args.extra))
        sides[side] = {"checkout": str(checkout), "env": env, "store": store,
                       "runs": {name: [] for name in variants}}

    for round_number in range(1, args.rounds + 1):
        for name, overrides in variants.items():
            for side, state in sides.items():
                run = run_job(state["env"], state["store"], args.epochs, [*overrides, *args.extra])
                state["runs"][name].append(run)
                print(f"round {round_number} {side} {name}: steady epoch {run['steady_epoch_seconds']:.2f} s, "
                      f"job {run['wall_seconds']:.1f} s", flush=True)

    results = {"epochs": args.epochs, "rounds": args.rounds, "overrides": args.extra, "step_flops": flops,
               "sides": {}}
    for side, state in sides.items():
        summary = summarize(state["runs"], flops)
        print_table(f"{side}: {state['checkout']}", summary, args.epochs)
        results["sides"][side] = {"checkout": state["checkout"], "runs": state["runs"], "summary": summary}
    if args.before:
        before, after = (results["sides"][side]["summary"] for side in sides)
        print("\n| variant | steady epoch, before / after | speed-up | whole job, before / after | speed-up |")
        print("|---|---|---|---|---|")
        for name in variants:
            b, a = before[name], after[name]
            print(f"| {name} | {b['steady_epoch_seconds']:.2f} / {a['steady_epoch_seconds']:.2f} s | "
                  f"{b['steady_epoch_seconds'] / a['steady_epoch_seconds']:.2f}x | {b['wall_seconds']:.1f} / "
                  f"{a['wall_seconds']:.1f} s | {b['wall_seconds'] / a['wall_seconds']:.2f}x |")
    shutil.rmtree(scratch, ignore_errors=True)
    write_results(args.output, results)


if __name__ == "__main__":
    main()
