"""What the benchmarks share: the baseline job's config and data, as a job reads them.

Every script in benchmarks/ imports this as a sibling module (`from baseline
import ...`; Python puts a script's own folder first on sys.path) and the
imdb_sweep package as installed (`make setup`: an editable install).

- `baseline_config(*overrides)`: the job's config, composed from the real conf/
  with Hydra's compose API, with command-line style overrides on top.
- `load_full_data(cfg)`: the whole aclImdb archive, as a job loads it by default
  (no subset, the default cache).
- `start_training_here()`: this process set up for training as a job's is.
- `open_store(folder)`: the MLflow client and experiment of a local store that a
  benchmark's jobs wrote into.
- `require_archive()`, `results_file(name)`, `write_results(path, payload)`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
CHECKOUT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"  # ignored by git


def require_archive() -> str:
    """The aclImdb archive every benchmark trains on ($IMDB_SWEEP_ACLIMDB), or exit.

    Made absolute in this process's environment, so that the jobs a benchmark
    starts in a temporary folder find it too."""
    archive = os.environ.get("IMDB_SWEEP_ACLIMDB")
    if not archive:
        sys.exit("set IMDB_SWEEP_ACLIMDB to the aclImdb archive (.tar.gz or folder)")
    archive = os.environ["IMDB_SWEEP_ACLIMDB"] = str(Path(archive).expanduser().resolve())
    return archive


def baseline_config(*overrides: str) -> Any:
    """The config `python -m imdb_sweep OVERRIDES...` would run (a resolved DictConfig):
    conf/ composed by Hydra, so a benchmark measures the job's own settings."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from imdb_sweep.config.location import config_dir

    require_archive()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    OmegaConf.resolve(cfg)  # data.path and runtime.threads from the environment, as a job sees them
    return cfg


def load_full_data(cfg: Any) -> Any:
    """The reviews of `cfg.data` (ImdbData): by default the whole archive, from the encoded cache."""
    from imdb_sweep.data import load_imdb

    return load_imdb(cfg.data)


def start_training_here() -> None:
    """For benchmarks that train in their own process: TensorFlow started as a job
    starts it (quietly, without Keras's unused extras) and glibc's freed-memory pad
    on (runtime.keep_freed_memory, process-wide and one-way, as in every job)."""
    from imdb_sweep.process.memory import keep_freed_memory
    from imdb_sweep.process.quiet_tensorflow import start_tensorflow

    start_tensorflow()
    keep_freed_memory()


def open_store(store_folder: Path | str) -> tuple[Any, str]:
    """(MlflowClient, experiment id) of the job runs in a local store folder."""
    from mlflow.tracking import MlflowClient

    from imdb_sweep.tracking.uris import local_store_uri

    client = MlflowClient(local_store_uri(store_folder))
    experiment = client.get_experiment_by_name(baseline_config().tracking.experiment)
    return client, experiment.experiment_id


def results_file(name: str) -> Path:
    """Where a benchmark writes its samples by default: benchmarks/results/NAME.json."""
    return RESULTS / f"{name}.json"


def write_results(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"written {path}")


def export_revision(revision: str, folder: Path) -> Path:
    """Revision `revision` of this repository's tracked files, unpacked into `folder`
    (a --before side of a side-by-side benchmark)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder
