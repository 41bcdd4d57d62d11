"""The registered champion scores what its run logged: one baseline job registers
itself, then `models:/NAME@champion`, loaded with mlflow.pyfunc as a user loads it,
scores the archive's 25,000 raw test reviews, against the run's
`model_test_accuracy` (the logged model's: the weights of epoch `model_epoch`, the
best validation epoch) and `test_accuracy` (the model after the last epoch).

    IMDB_SWEEP_ACLIMDB=/path/to/aclImdb_v1.tar.gz python benchmarks/served_champion.py \\
        [--folder DIR] [--name imdb-sentiment] [--score-only] [-- EXTRA_OVERRIDES...]

The job runs in DIR (default: a fresh temporary folder) as
`python -m imdb_sweep tracking.register=NAME sweep.rerun=all`, writing to that
folder's default local store (MLFLOW_TRACKING_URI, when set, wins as in any job);
`--score-only` scores the champion already in DIR's store. The reviews are read
with imdb_sweep's aclImdb reader. Keras's accuracy is a float32 mean of 0/1, so
the two accuracies must count the same reviews right: they differ by float32
rounding only (under 1e-7), not by a whole review (4e-5 of 25,000).
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

MODEL_METRICS = ("best_val_accuracy", "best_epoch", "model_epoch", "model_test_accuracy", "test_accuracy",
                 "epochs_trained")


def run_registered_job(folder: Path, name: str, extra: list[str]) -> None:
    """One baseline job in `folder` that registers itself as `name` (trained afresh)."""
    started = time.time()
    job = subprocess.run([sys.executable, "-m", "imdb_sweep", f"tracking.register={name}", "sweep.rerun=all",
                          *extra], cwd=folder, capture_output=True, text=True)
    if job.returncode != 0:
        sys.exit(f"the job failed ({job.returncode}):\n{job.stderr[-3000:]}")
    print(f"job: {time.time() - started:.0f} s")
    for line in job.stdout.splitlines()[-3:]:
        print("  " + line)


def tracking_uri(folder: Path) -> str:
    """MLFLOW_TRACKING_URI, else the local store the job wrote in `folder`: the
    project's default database (./mlflow.db, or mlruns/mlflow.db in older layouts)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    candidates = [path for path in (folder / "mlflow.db", folder / "mlruns" / "mlflow.db") if path.is_file()]
    if not candidates:
        sys.exit(f"no tracking store in {folder} (mlflow.db or mlruns/mlflow.db): run without --score-only")
    return f"sqlite:///{max(candidates, key=lambda path: path.stat().st_mtime)}"


def cell(metric: str, value: float | None) -> str:
    """Epoch counts whole, accuracies to 6 places, blank when the run did not log it."""
    if value is None:
        return ""
    return f"{value:.0f}" if metric.endswith(("epoch", "trained")) else f"{value:.6f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=None, help="where the job runs (default: a temporary folder)")
    parser.add_argument("--name", default="imdb-sentiment", help="the registered model's name")
    parser.add_argument("--score-only", action="store_true", help="score the champion already in --folder")
    parser.add_argument("extra", nargs="*", help="overrides for the job, after --")
    arguments = parser.parse_args()
    archive = require_archive()
    folder = (arguments.folder or Path(tempfile.mkdtemp(prefix="served_champion_"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if not arguments.score_only:
        run_registered_job(folder, arguments.name, arguments.extra)

    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from imdb_sweep.data.aclimdb import read_aclimdb

    uri = tracking_uri(folder)
    mlflow.set_tracking_uri(uri)
    model_uri = f"models:/{arguments.name}@champion"
    version = MlflowClient(uri).get_model_version_by_alias(arguments.name, "champion")
    metrics = MlflowClient(uri).get_run(version.run_id).data.metrics
    model = mlflow.pyfunc.load_model(model_uri)
    reviews = read_aclimdb(Path(archive))["test"]
    started = time.time()
    scores = model.predict(pd.DataFrame({"text": [text for _, text in reviews]}))
    scoring_seconds = time.time() - started
    right = int(sum(int(label) == int(served) for (label, _), served in zip(reviews, scores["label"])))
    accuracy = right / len(reviews)

    figures = {"model": f"{model_uri} (version {version.version}, run {version.run_id})", "store": uri,
               "test_reviews": len(reviews), "served_right": right, "served_accuracy": accuracy,
               "scoring_seconds": scoring_seconds, **{metric: metrics.get(metric) for metric in MODEL_METRICS}}
    print(f"{figures['model']}, store {uri}")
    print("| metric | value |")
    print("|---|---|")
    for metric in ("best_val_accuracy", "best_epoch", "model_epoch", "epochs_trained", "test_accuracy",
                   "model_test_accuracy"):
        print(f"| {metric} | {cell(metric, metrics.get(metric))} |")
    print(f"| served accuracy ({len(reviews)} raw test reviews, {scoring_seconds:.0f} s) | "
          f"{accuracy:.6f} ({right} right) |")
    if "model_test_accuracy" in metrics:
        difference = accuracy - metrics["model_test_accuracy"]
        figures["difference_to_model_test_accuracy"] = difference
        print(f"served - model_test_accuracy: {difference:+.2e} "
              f"({'the same reviews right' if abs(difference) < 0.5 / len(reviews) else 'NOT the same count'})")
    write_results(results_file("served_champion"), figures)


if __name__ == "__main__":
    main()
