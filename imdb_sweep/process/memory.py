"""Process-wide memory settings that make a training process faster.

Both are one-way for the process and change no numbers: the garbage collector
kept away from the millions of long-lived objects TensorFlow and MLflow create,
and glibc's malloc kept from returning freed memory that the next training step
allocates again (measured in benchmarks/README.md).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No garbage collection during a block of big imports, and none of what they
    loaded in any later collection.

    Importing TensorFlow or MLflow creates about a million objects that live as
    long as the process (modules, classes, functions). Collections triggered
    while they are created find nothing to free, and every later full
    collection would walk them all again (benchmarks/README.md, garbage collection).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def garbage_collector_frozen() -> Iterator[None]:
    """Exempt every object alive now from garbage collection until the block ends.

    A job process holds millions of long-lived objects (TensorFlow, MLflow, the
    data); each full collection during fit would walk all of them. Frozen, a
    collection only looks at what fit itself creates. Unfrozen afterwards, so that
    whatever became garbage meanwhile (this job's model, in a multirun) is
    collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# glibc's M_TOP_PAD (malloc.h) and the value we give it.
_M_TOP_PAD = -2
_TOP_PAD_BYTES = 64 * 1024 * 1024
_allocator_tuned = False


def keep_freed_memory(enabled: bool = True) -> bool:
    """Make glibc's malloc keep 64 MiB of freed memory at the top of each heap
    instead of handing it back to the kernel (runtime.keep_freed_memory); return
    whether the setting is in force.

    Every training step frees and allocates again buffers of a few hundred KiB
    to a few MiB from TensorFlow's worker threads. With glibc's 128 KiB default
    pad, each step faulted in and zeroed those pages again; kept mapped, the
    pages are reused (the measured gain: benchmarks/README.md). The cost is up
    to 64 MiB per heap kept after use. A no-op where the C library is not glibc.
    """
    global _allocator_tuned
    if not enabled or _allocator_tuned:
        return _allocator_tuned
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _allocator_tuned = bool(mallopt(_M_TOP_PAD, _TOP_PAD_BYTES))
    return _allocator_tuned
