"""imdb_sweep: Hydra sweeps of the Keras IMDB sentiment model, tracked in MLflow."""

import os

# TensorFlow prints start-up notices (oneDNN, CUDA probing, CPU features) at
# import time; hide them unless the user asked for them. Must run before the
# first `import tensorflow`/`import keras`, which is why it lives here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# MLflow draws a progress bar for every model it logs or loads: noise in a job's log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

__version__ = "0.1.0"
