"""Per-epoch checkpoints, so an interrupted job resumes where it stopped.

One folder per configuration, keyed by its `config_hash`, beside the tracking
store (`mlruns/checkpoints/<config_hash>/`). After every epoch it holds the
model with its optimizer state (`model.keras`) and `state.json`: the MLflow run
the job logs to, the epochs done and their Keras history, and which epoch's
weights each rule of training/epoch_rule.py keeps (`kept-<rule>-<epoch>.npz`: the
best epoch's, for the logged model and early stopping, may be long past). Files
are written to temporary names and renamed, the weights and the model before the
state that names them, so a kill mid-write leaves the previous epoch's checkpoint
intact. The folder is removed once the run has FINISHED.

Two jobs of one configuration at once (two workers of a search proposing the
same point) must not share a folder: a job first takes the folder's lock
(`<config_hash>.lock`, released by the system when its process dies, even by
kill -9), and trains without checkpoints when another live job holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
KEPT_PREFIX = "kept-"


@dataclass
class CheckpointState:
    run_id: str
    epochs_done: int
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    # EpochRule.name -> the 1-based epoch whose weights it keeps (a kept-*.npz file).
    kept_epochs: dict[str, int] = field(default_factory=dict)


def kept_file_name(rule_name: str, epoch: int) -> str:
    return f"{KEPT_PREFIX}{rule_name}-{epoch}.npz"


class CheckpointStore:
    """The checkpoint folder of one configuration."""

    def __init__(self, root: Path, config_hash: str):
        self.folder = Path(root) / config_hash
        self._lock_path = Path(root) / f"{config_hash}.lock"
        self._lock: Any = None

    def claim(self) -> bool:
        """Take this configuration's folder for this process; False when another
        live process holds it."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self._lock_path, "a")  # noqa: SIM115 - held until release() or process exit
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._lock = lock
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the lock
            self._lock = None

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE

    def load_state(self) -> CheckpointState | None:
        try:
            state = CheckpointState(**json.loads((self.folder / STATE_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return state if self.model_path.is_file() else None

    def load_kept_weights(self, state: CheckpointState) -> dict[str, list[np.ndarray]]:
        """The weights `state.kept_epochs` names, by rule name (a missing file: left out)."""
        kept = {}
        for rule_name, epoch in state.kept_epochs.items():
            try:
                with np.load(self.folder / kept_file_name(rule_name, epoch)) as arrays:
                    kept[rule_name] = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
            except (OSError, ValueError, KeyError):
                continue
        return kept

    def save(self, model: Any, state: CheckpointState,
             fresh_kept_weights: dict[str, list[np.ndarray]] | None = None) -> None:
        """Save `model` and `state`, with the kept weights that changed this epoch
        (by rule name; their epoch is in state.kept_epochs)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Weights and model first, then the state naming their epochs: a state
        # file never points at files older than itself.
        for rule_name, weights in (fresh_kept_weights or {}).items():
            path = self.folder / kept_file_name(rule_name, state.kept_epochs[rule_name])
            temporary = path.with_name(path.name + ".tmp")
            with open(temporary, "wb") as file:
                np.savez(file, *weights)
            os.replace(temporary, path)
        temporary_model = self.folder / f"{MODEL_FILE}.tmp.keras"
        model.save(temporary_model)
        os.replace(temporary_model, self.model_path)
        temporary_state = self.folder / f"{STATE_FILE}.tmp"
        temporary_state.write_text(json.dumps(asdict(state)))
        os.replace(temporary_state, self.folder / STATE_FILE)
        named = {kept_file_name(rule_name, epoch) for rule_name, epoch in state.kept_epochs.items()}
        for path in self.folder.glob(f"{KEPT_PREFIX}*.npz"):
            if path.name not in named:
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._lock is not None:
            # Only while holding it: another job then either failed to take it
            # already, or takes a fresh lock file for a fresh folder.
            self._lock_path.unlink(missing_ok=True)
