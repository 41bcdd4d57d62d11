"""XLA's compiled programs kept on disk between jobs: TensorFlow's persistent
compilation cache, which XLA on a CPU supports.

A job's first epoch compiles its train and evaluation programs with XLA (seconds
on a CPU: benchmarks/README.md); every later job of the same model shape
compiles the same programs again. With
`--tf_xla_persistent_cache_directory` in TF_XLA_FLAGS, TensorFlow saves each
compiled program there and, next time, loads it when the program to compile is
the same: it still lowers the graph to XLA's HLO, and loads the saved program
only when that HLO matches the saved one exactly (its strict check), so a job
runs the very program it would have compiled, and computes the same numbers.

What the saved programs depend on beyond their HLO is the folder's key: the
TensorFlow build, the CPU (its model, features and count; a program compiled
for AVX-512 must never run on a CPU without it) and the user's XLA flags. The
folder is `<cache>/xla/<key>/` in imdb_sweep's user cache
(`$IMDB_SWEEP_CACHE_DIR`, else ~/.cache/imdb_sweep), a small file per model
shape. A TF_XLA_FLAGS that already names a persistent cache directory
is left as it is (`--tf_xla_persistent_cache_directory=` turns the cache off).

TensorFlow reads TF_XLA_FLAGS once, when it starts its devices, so
`persist_compiled_programs()` runs before TensorFlow is imported
(quiet_tensorflow.start_tensorflow). Loading a saved program, TensorFlow first
tries to read the file as a text proto and logs that parse's failure at ERROR
level before reading it as the binary proto it is. On a CPU for which LLVM sets
tuning flags (AMD's AVX-512 parts: +prefer-no-scatter, +prefer-no-gather), XLA's
loader also logs at ERROR that those "features" of the compiling machine are not
the host's: they are LLVM's tuning hints, not instructions, which CPU feature
detection never reports, and the folder's key already holds the CPU's real
features. quiet_tensorflow.without_cache_notices keeps both kinds of line off the
job's output; a mismatch of any other feature still shows.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
from pathlib import Path

from imdb_sweep import user_cache_dir

PERSISTENT_CACHE_FLAG = "--tf_xla_persistent_cache_directory"
# TensorFlow's notices on every saved program it loads (see the module's docstring).
CACHE_NOTICE = re.compile(
    rb"Error parsing text-format tensorflow\.XlaSerializedCacheEntry"
    rb"|cpu_aot_loader\.cc:\d+\] Loading XLA:CPU AOT result\. "
    rb"Target machine feature \+prefer-no-(?:scatter|gather) is not\s+supported on the host machine\.")
# The distributions TensorFlow's CPU build ships as.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly")


def compiled_programs_folder(cache_dir: Path | None = None) -> Path:
    """Where this TensorFlow on this CPU, with these XLA flags, keeps its programs."""
    identity = {
        "tensorflow": _tensorflow_version(),
        "machine": platform.machine(),
        "cpu": _cpu_identity(),
        "cpus": os.cpu_count(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "TF_XLA_FLAGS": os.environ.get("TF_XLA_FLAGS", ""),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return (cache_dir or user_cache_dir()) / "xla" / key


def persist_compiled_programs(cache_dir: Path | None = None) -> Path | None:
    """Point TensorFlow's persistent XLA cache at compiled_programs_folder() (call
    before TensorFlow starts); return the folder, or None when the user set one
    in TF_XLA_FLAGS or the folder cannot be made (then every job compiles)."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if PERSISTENT_CACHE_FLAG in flags:
        return None
    folder = compiled_programs_folder(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    os.environ["TF_XLA_FLAGS"] = f"{flags} {PERSISTENT_CACHE_FLAG}={folder}".strip()
    return folder


def _tensorflow_version() -> str:
    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _cpu_identity() -> str:
    """The CPU's model name and feature flags (Linux's /proc/cpuinfo), else what
    the platform module says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line.strip() for line in lines if line.split(":")[0].strip() in wanted}))
