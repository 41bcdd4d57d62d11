"""TensorFlow start-up: a quiet import and the devices a job will use.

TensorFlow 2.21 writes start-up notices (oneDNN, CUDA probing, "could not find
cuda drivers") straight to file descriptor 2 from C++, before its logging
settings apply, so TF_CPP_MIN_LOG_LEVEL alone does not silence them. We send
fd 2 to a buffer while TensorFlow imports and probes devices, and replay the
buffer only if that fails. TensorFlow starts with its persistent XLA cache on
(compilation_cache.py); `without_cache_notices` keeps the notice it logs on
loading a saved program out of a compiled step's output.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from imdb_sweep.process.compilation_cache import CACHE_NOTICE, persist_compiled_programs
from imdb_sweep.process.memory import garbage_collection_paused

_devices: list[str] | None = None


@contextmanager
def native_stderr_captured() -> Iterator[tuple[Any, int]]:
    """Within the block, file descriptor 2 (C++'s stderr, and Python's) writes
    into a temporary file: yields (that file, a descriptor of the real stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield buffer, saved
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# Optional packages that Keras imports at start-up only for features a job never
# uses: scikit-learn (Keras's estimator wrappers) and matplotlib (pyplot for its
# image-gallery plots, matplotlib.patches for its bounding-box plots): a share of
# every job's TensorFlow import (benchmarks/README.md, Keras's optional extras).
_KERAS_EXTRAS = ("sklearn", "matplotlib")


@contextmanager
def _keras_extras_hidden() -> Iterator[None]:
    """While TensorFlow and Keras import, make the extras look not installed
    (Keras then skips them, as it does where they are missing); importable as
    usual afterwards (our reports plot with matplotlib). Already imported ones
    are left as they are."""
    hidden = [name for name in _KERAS_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # None: the import system's "not found"
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def start_tensorflow() -> list[str]:
    """Import TensorFlow quietly (once) and return the GPUs it sees (empty on CPU)."""
    global _devices
    if _devices is not None:
        return _devices
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        _devices = []  # Keras on JAX or PyTorch: TensorFlow is not used at all.
        return _devices
    if os.environ.get("IMDB_SWEEP_TF_VERBOSE"):  # Debugging start-up: show everything.
        persist_compiled_programs()
        import tensorflow as tf

        _devices = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
        return _devices
    failure: BaseException | None = None
    devices: list[str] = []
    persist_compiled_programs()  # read by TensorFlow once, as it starts
    with native_stderr_captured() as (buffer, _), garbage_collection_paused(), _keras_extras_hidden():
        try:
            import keras  # noqa: F401 - imported here, with the extras hidden
            import tensorflow as tf

            devices = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
        except BaseException as error:  # noqa: BLE001 - re-raised below, with the notices
            failure = error
        buffer.seek(0)
        notices = buffer.read().decode(errors="replace")
    if failure is not None:
        sys.stderr.write(notices)
        raise failure
    logging.getLogger("tensorflow").addFilter(_expected_retracing_hidden)
    _devices = devices
    return devices


def without_cache_notices(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a compiled Keras step), whose calls write nothing of
    TensorFlow's CACHE_NOTICE to stderr: any call may compile, or load a saved
    program, for a batch shape it has not met yet. Whatever else a call writes to
    stderr still shows, once the call returns (a step is a fraction of a second)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with native_stderr_captured() as (buffer, original_stderr):
            try:
                return function(*args, **kwargs)
            finally:
                sys.stderr.flush()
                buffer.seek(0)
                kept = b"".join(line for line in buffer.read().splitlines(keepends=True)
                                if not CACHE_NOTICE.search(line))
                while kept:
                    kept = kept[os.write(original_stderr, kept):]

    return call


def _expected_retracing_hidden(record: logging.LogRecord) -> bool:
    """Every job of a sweep or search builds a new model, and with it new compiled
    functions: TensorFlow's "triggered tf.function retracing" warning about that
    is expected, not a fault of the job."""
    return "triggered tf.function retracing" not in record.getMessage()


def set_tensorflow_threads(threads: int | None) -> None:
    """Size TensorFlow's intra- and inter-op thread pools (runtime.threads); None keeps
    TensorFlow's default, one thread per core.

    Jobs that run side by side (the joblib launcher) should each take their share
    of the cores instead of all of them. TensorFlow accepts this only before it
    runs its first op: a process that already trained with another count cannot
    change it, and says so.
    """
    if threads is None or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    start_tensorflow()
    import tensorflow as tf

    threading = tf.config.threading
    if (threading.get_intra_op_parallelism_threads() == threads
            and threading.get_inter_op_parallelism_threads() == threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        raise RuntimeError(
            f"runtime.threads = {threads} cannot be applied: TensorFlow already runs in this "
            f"process with {threading.get_intra_op_parallelism_threads() or 'default'} thread(s) "
            f"({error}). Give every job of one process the same runtime.threads."
        ) from error


def enable_deterministic_ops() -> None:
    """runtime.deterministic: identical numbers for the same seed on a CPU, at a
    cost in speed. TensorFlow offers no switch back."""
    start_tensorflow()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
