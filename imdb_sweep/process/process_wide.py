"""The process-wide settings of imdb_sweep, in one place.

Two moments, two functions:

- `start_process()`, once, from the entry point (`python -m imdb_sweep`):
  SIGTERM ends runs KILLED like Ctrl-C, and the exit skips the interpreter's
  final garbage collection.
- `apply_runtime_settings(cfg.runtime)`, by `train()` before it builds a model:
  the process-wide settings a job's config asks for (TensorFlow's thread pools,
  deterministic ops, glibc's freed-memory pad).

Two more are scoped rather than process-wide, and live where they apply:
TensorFlow's quiet start (`quiet_tensorflow.start_tensorflow`, called by the
job just before it imports the training code) and the garbage collector kept
away from long-lived objects during imports and fit (`memory`).
"""

from __future__ import annotations

import atexit
import gc
from typing import Any

from imdb_sweep.process.interrupts import install_handlers
from imdb_sweep.process.memory import keep_freed_memory
from imdb_sweep.process.quiet_tensorflow import enable_deterministic_ops, set_tensorflow_threads


def start_process() -> None:
    """Signals and exit behaviour of a job process; call once, before Hydra runs."""
    # Registered first, so it runs after every other exit handler (MLflow's, the
    # sweep's): with everything frozen, the interpreter's final garbage
    # collection skips TensorFlow's object graph, about a second per process.
    atexit.register(gc.freeze)
    install_handlers()


def apply_runtime_settings(runtime_cfg: Any) -> None:
    """The process-wide settings `runtime_cfg` asks for. All are one-way: a process
    that ran one job keeps them for the next (threads must agree, and say so)."""
    if runtime_cfg.deterministic:
        enable_deterministic_ops()
    set_tensorflow_threads(runtime_cfg.threads)
    keep_freed_memory(runtime_cfg.keep_freed_memory)
