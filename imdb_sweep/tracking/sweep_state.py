"""How a sweep's jobs find their parent run, wherever the launcher runs them.

The sweep callback publishes the sweep's state twice: in an environment
variable (inherited by jobs in the same process or in subprocesses the launcher
starts later, e.g. joblib) and in a JSON file in the sweep folder (read by jobs
on other machines that share that folder, e.g. SLURM or a Ray cluster on shared
storage). A job reads the environment first, then the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "mlflow_sweep.json"
STATE_ENV_VAR = "IMDB_SWEEP_STATE"


@dataclass(frozen=True)
class SweepState:
    sweep_id: str
    parent_run_id: str
    tracking_uri: str
    experiment_id: str
    total_jobs: int | None = None
    # Config keys the sweep varies (`model.units`); they name the job runs.
    swept_keys: list[str] = field(default_factory=list)
    # A search's study (imdb_sweep/search/trial_link.py SearchInfo); None for a grid.
    search: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def publish(self, sweep_dir: Path) -> None:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / STATE_FILE).write_text(self.to_json())
        os.environ[STATE_ENV_VAR] = self.to_json()

    @staticmethod
    def withdraw() -> None:
        os.environ.pop(STATE_ENV_VAR, None)

    @staticmethod
    def find(sweep_dir: Path | None) -> SweepState | None:
        text = os.environ.get(STATE_ENV_VAR)
        if not text and sweep_dir is not None and (sweep_dir / STATE_FILE).is_file():
            text = (sweep_dir / STATE_FILE).read_text()
        return SweepState(**json.loads(text)) if text else None
