"""`python -m imdb_sweep` as a user runs it, and the overrides that make a job train in about a second."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import PROJECT_ROOT

# The tiny archive's jobs: short reviews, a small vocabulary, small batches, no model logged.
TINY = ["data.maxlen=50", "data.num_words=40", "train.batch_size=8", "runtime.verbose=0",
        "tracking.log_model=false"]


def cli_environment(archive: Path, cache_dir: Path, tracking_uri: str = "") -> dict[str, str]:
    """The environment of a `python -m imdb_sweep` run: its data, an encoding cache of its own, and
    the tracking URI (empty: the default store in the folder it runs in)."""
    return {"IMDB_SWEEP_ACLIMDB": str(archive), "IMDB_SWEEP_CACHE_DIR": str(cache_dir),
            "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONUNBUFFERED": "1"}


def run_cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m imdb_sweep ...` as a user would, in its own process."""
    full_env = {**os.environ, **env}
    full_env.pop("IMDB_SWEEP_STATE", None)
    full_env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "imdb_sweep", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )
