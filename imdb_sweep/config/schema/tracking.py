"""`tracking`: where a job's MLflow run goes and what it keeps (conf/tracking/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imdb_sweep.config.choices import PROMOTE
from imdb_sweep.config.schema.fields import boolean, number, one_of, text

# Registered model names: MLflow forbids '/' and ':'; '@' would break the
# `models:/<name>@champion` URI and spaces every shell command that names it.
MODEL_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}"
MODEL_NAME_ALLOWED = "a model name of letters, digits, '.', '_' and '-' (up to 256, starting with a letter or digit)"


def is_model_name(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(MODEL_NAME_PATTERN, value) is not None


@dataclass
class TrackingConfig:
    uri: str | None = text(None, optional=True, allowed="a tracking URI",
                           help="the tracking server or store (`$MLFLOW_TRACKING_URI` wins)")
    store_dir: str = text(".", allowed="a folder",
                          help="the local store's folder when no URI is set: `mlflow.db` there, artifacts in "
                               "`mlruns/`")
    experiment: str = text("imdb-sweep", pattern=r"(?s).*\S.*", allowed="a non-empty experiment name",
                           help="the MLflow experiment")
    log_model: bool = boolean(True, help="log each job's model as a pyfunc that scores raw review text")
    register: str | None = text(None, pattern=MODEL_NAME_PATTERN, optional=True, allowed=MODEL_NAME_ALLOWED,
                                help="register the sweep's best run (by validation) under this model name, "
                                     "alias `champion`")
    promote: str = one_of("when_better", PROMOTE,
                          help="`when_better`: alias `champion` moves only to a version that beats it on the "
                               "ranking metric (significantly, one-sided Welch at 0.05, when both have seeds), "
                               "else alias `challenger`; `always`: every registered version becomes champion")
    spool_dir: str | None = text(None, optional=True, pattern=r"(?s).*\S.*", allowed="a folder",
                                 help="where a job keeps what it logs while the tracking server is away (sent in "
                                      "order when it answers, or by `python -m imdb_sweep.sync`); null: `mlruns/spool` "
                                      "in `store_dir`")
    spool_max_megabytes: float = number(1000, above=0,
                                        help="the most one job's spool may hold, its model's files included; "
                                             "reached, the job fails and keeps what it spooled")
