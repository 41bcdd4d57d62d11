"""imdb_sweep: Hydra sweeps of the Keras IMDB sentiment model, tracked in MLflow."""

import os
from pathlib import Path

# TensorFlow prints start-up notices (oneDNN, CUDA probing, CPU features) at
# import time; hide them unless the user asked for them. Must run before the
# first `import tensorflow`/`import keras`, which is why it lives here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# MLflow draws a progress bar for every model it logs or loads: noise in a job's log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

__version__ = "0.1.0"

# Where imdb_sweep keeps what it can rebuild: encoded reviews (data/cache.py),
# compiled XLA programs (process/compilation_cache.py), an empty MLflow
# database to copy (tracking/fresh_database.py).
CACHE_DIR_ENV_VAR = "IMDB_SWEEP_CACHE_DIR"


def user_cache_dir() -> Path:
    """$IMDB_SWEEP_CACHE_DIR, else ~/.cache/imdb_sweep."""
    configured = os.environ.get(CACHE_DIR_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "imdb_sweep"
