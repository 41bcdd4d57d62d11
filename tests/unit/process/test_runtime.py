"""Process-wide settings of a job, each checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.paths import PROJECT_ROOT

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
    result = subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE, setting], cwd=PROJECT_ROOT,
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
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


# Trains a tiny model of the job's fused path under XLA, from the real conf/, and
# prints its history and the test evaluation as JSON: run twice against one cache
# folder, the second run loads the programs the first one compiled.
TRAIN_TINY_FUSED_MODEL = textwrap.dedent("""
    import json, sys
    from imdb_sweep.process.quiet_tensorflow import start_tensorflow
    start_tensorflow()
    import keras
    import numpy as np
    from hydra import compose, initialize_config_dir
    from imdb_sweep.config.location import config_dir
    from imdb_sweep.training.fused.batches import BatchGroups
    from imdb_sweep.training.model import build_compiled_model
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["runtime.jit_compile=true"])
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, size=(300, 12)).astype("int32")
    y = (x[:, -1] % 2).astype("float32")
    model = build_compiled_model(cfg, 50, 12)
    groups = BatchGroups(x[:200], y[:200], batch_size=32, group_size=4, seed=5)
    history = model.fit(groups.dataset(), validation_data=(x[200:], y[200:]), validation_batch_size=64,
                        epochs=2, shuffle=False, verbose=0, callbacks=[groups.epoch_callback()]).history
    test = model.evaluate(x[200:], y[200:], batch_size=1000, verbose=0)
    print(json.dumps({"history": history, "test": test}))
""")


def train_tiny_fused_model(cache_dir: Path, tf_xla_flags: str = "") -> tuple[dict, str]:
    """(history and test metrics, stderr) of TRAIN_TINY_FUSED_MODEL in a fresh process."""
    env = {**os.environ, "IMDB_SWEEP_CACHE_DIR": str(cache_dir), "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_XLA_FLAGS": tf_xla_flags}
    result = subprocess.run([sys.executable, "-c", TRAIN_TINY_FUSED_MODEL], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_a_second_job_loads_the_compiled_programs_computes_the_same_numbers_and_says_nothing(tmp_path):
    first, _ = train_tiny_fused_model(tmp_path / "cache")
    programs = sorted((tmp_path / "cache" / "xla").glob("*/*.pb"))
    # The train step for groups of 32-review batches and for the last 8 reviews; the
    # test step for validation batches of 64 and 36 reviews and the test batch of 100.
    assert len(programs) == 5
    saved = {path: path.stat().st_mtime_ns for path in programs}

    second, stderr = train_tiny_fused_model(tmp_path / "cache")
    assert {path: path.stat().st_mtime_ns for path in programs} == saved  # loaded, not compiled again
    assert second == first
    assert "XlaSerializedCacheEntry" not in stderr and "E0000" not in stderr, stderr[-2000:]

    # Without the cache, the very same numbers.
    uncached, _ = train_tiny_fused_model(tmp_path / "other", "--tf_xla_persistent_cache_directory=")
    assert uncached == first
    assert not (tmp_path / "other" / "xla").exists()


def test_compiled_programs_are_kept_apart_per_xla_flags_and_a_user_cache_setting_wins(tmp_path, monkeypatch):
    from imdb_sweep.process.compilation_cache import compiled_programs_folder, persist_compiled_programs

    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    plain = compiled_programs_folder(tmp_path)
    assert plain.parent == tmp_path / "xla"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert compiled_programs_folder(tmp_path) != plain  # other flags may compile other code

    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=0")
    folder = persist_compiled_programs(tmp_path)
    assert folder is not None and folder.is_dir()
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={folder}"

    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_persistent_cache_directory=/elsewhere")
    assert persist_compiled_programs(tmp_path) is None
    assert os.environ["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/elsewhere"


def test_only_the_cache_loaders_notices_are_kept_off_a_jobs_output():
    from imdb_sweep.process.compilation_cache import CACHE_NOTICE

    text_proto = (b"E0000 00:00:1796412829.1 17043 text_format.cc:399] Error parsing text-format "
                  b"tensorflow.XlaSerializedCacheEntry: 1:1: Invalid control characters encountered in text.")
    # What XLA logs loading a saved program on an AMD AVX-512 CPU: LLVM's tuning flags.
    loader = (b"E0000 00:00:1796412829.506803   17043 cpu_aot_loader.cc:220] Loading XLA:CPU AOT result. "
              b"Target machine feature +prefer-no-%s is not  supported on the host machine. Machine type used "
              b"for XLA:CPU compilation doesn't match the machine type for execution.")
    assert CACHE_NOTICE.search(text_proto)
    assert CACHE_NOTICE.search(loader % b"scatter") and CACHE_NOTICE.search(loader % b"gather")
    # A real instruction set missing on the host would crash a job: that one still shows.
    assert not CACHE_NOTICE.search(loader.replace(b"+prefer-no-%s", b"+avx512f"))
