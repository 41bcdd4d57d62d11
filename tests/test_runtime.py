"""Process-wide settings of a job, each checked in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Frees and allocates again forty 100 KiB blocks a hundred times from a worker
# thread, as TensorFlow's threads do every training step, and prints the page
# faults that cost. The trim threshold is set to what TensorFlow's generator
# dataset sets it to ("Memory patch applied: M_TRIM_THRESHOLD=128 kb").
ALLOCATE_AND_FREE = textwrap.dedent("""
    import ctypes, resource, sys, threading
    import numpy as np
    from imdb_sweep.process.memory import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory() is True
    else:
        assert keep_freed_memory(False) is False
    ctypes.CDLL(None).mallopt(-1, 128 * 1024)

    def allocate_and_free():
        for _ in range(100):
            blocks = [np.ones(25_000, dtype=np.float32) for _ in range(40)]
            del blocks

    worker = threading.Thread(target=allocate_and_free)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    worker.start()
    worker.join()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def page_faults(setting: str) -> int:
    result = subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE, setting], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="keep_freed_memory tunes glibc's malloc")
def test_keep_freed_memory_stops_the_page_faults_of_freeing_and_allocating_again():
    released, kept = page_faults("release"), page_faults("keep")
    # Measured here: about 14,500 page faults against 1,000.
    assert released > 5_000
    assert kept < released / 4


def test_tensorflow_starts_without_keras_optional_extras_which_stay_importable():
    code = textwrap.dedent("""
        import sys
        from imdb_sweep.process.quiet_tensorflow import start_tensorflow
        start_tensorflow()
        import keras
        assert "sklearn" not in sys.modules and "matplotlib" not in sys.modules, "imported at start-up"
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])  # Keras works without them
        import matplotlib.pyplot, sklearn  # and they import as usual afterwards
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
