"""runtime.deterministic keeps the fused XLA loop on a CPU and repeats bit for bit.

TensorFlow's op determinism is one-way per process, so each run is a fresh one.
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import CONF_DIR, PROJECT_ROOT

# One deterministic run on tiny data: the fused model's weights' digest, or an error.
RUN = f"""
import hashlib
import numpy as np
from hydra import compose, initialize_config_dir
from imdb_sweep.process.quiet_tensorflow import enable_deterministic_ops
enable_deterministic_ops()
import keras
from imdb_sweep.training.fused.batches import BatchGroups
from imdb_sweep.training.fused.model import FusedStepsSequential
from imdb_sweep.training.model import build_compiled_model
with initialize_config_dir(config_dir={str(CONF_DIR)!r}, version_base="1.3"):
    cfg = compose(config_name="config", overrides=["runtime.deterministic=true", "model.dropout=0.3"])
keras.utils.set_random_seed(cfg.seed)
model = build_compiled_model(cfg, 50, 12)
assert isinstance(model, FusedStepsSequential) and model.jit_compile is True, (type(model), model.jit_compile)
rng = np.random.default_rng(0)
x = rng.integers(0, 50, size=(300, 12)).astype("int32")
y = (x[:, -1] % 2).astype("float32")
groups = BatchGroups(x, y, batch_size=16, group_size=4, seed=cfg.seed)
model.fit(groups.dataset(), epochs=2, shuffle=False, verbose=0, callbacks=[groups.epoch_callback()])
print("WEIGHTS", hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest())
"""


def deterministic_run() -> str:
    result = subprocess.run([sys.executable, "-c", RUN], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return next(line for line in result.stdout.splitlines() if line.startswith("WEIGHTS "))


def test_deterministic_runs_train_on_the_fused_xla_loop_and_repeat_exactly():
    assert deterministic_run() == deterministic_run()
