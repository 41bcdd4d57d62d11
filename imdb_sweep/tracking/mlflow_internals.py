"""Every private MLflow name the package uses, fenced here.

Written against MLflow 3.18.0 (the project requires mlflow>=3.1). MLflow's public API is what its Python API
reference documents (`mlflow`, `mlflow.client`/`mlflow.tracking.MlflowClient`,
`mlflow.entities`, `mlflow.data`, `mlflow.models`, `mlflow.pyfunc`,
`mlflow.exceptions`, ...); names with a leading underscore and the `mlflow.store`
package (the stores behind the client) may change in any release. An MLflow
upgrade that moves one fails `check_mlflow_internals()`
(tests/unit/test_private_apis.py), naming it, instead of a job; the same test
fails when a private MLflow name is used outside this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imdb_sweep.process.private_name_checks import run_private_name_checks

# The logger MLflow announces a new SQLite store's schema set-up through, at INFO
# level (the module that runs the migrations, `mlflow.store.db.utils`). When it
# moves: run a job on a new store and read the logger name of that line.
SCHEMA_SETUP_LOGGER = "mlflow.store.db.utils"


def dataset_entity(dataset: Any) -> Any:
    """The `mlflow.entities.Dataset` record of an `mlflow.data` dataset, which
    `MlflowClient.log_inputs` takes inside a `DatasetInput`.

    The public `mlflow.log_input` converts it itself but logs to the active run
    only; `Dataset._to_mlflow_entity()` (as of MLflow 3.18) is that conversion. When
    it moves: build `mlflow.entities.Dataset(name, digest, source_type, source,
    schema, profile)` from the dataset's public properties (`dataset.to_dict()`).
    """
    return dataset._to_mlflow_entity()


def latest_schema_revision() -> str:
    """The alembic revision MLflow's tracking database migrations end at: what
    MLflow requires of a database it opens. MLflow has no public name for it;
    `mlflow.store.db.utils._get_latest_schema_revision` (as of MLflow 3.18) reads it
    from MLflow's migration scripts. When it moves: read the head revision of
    the alembic scripts that ship in MLflow's `store/db_migrations` folder.
    """
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def create_tracking_database(database: Path, artifacts: Path) -> None:
    """Create MLflow's tracking schema in a new SQLite database at `database`, as
    MLflow does for any new store (all migrations, and the Default experiment with
    `artifacts` as its location), and close it.

    `mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore(uri, artifact_uri)`
    (as of MLflow 3.18) is the store behind `MlflowClient` for database URIs. When
    it moves: `MlflowClient(f"sqlite:///{database}").search_experiments()` creates
    the same schema (the Default experiment's location then comes from the
    working folder).
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{database}", artifacts.as_uri())
    store.engine.dispose()


def check_mlflow_internals(scratch: Path) -> None:
    """Raise RuntimeError naming the private name when this MLflow lacks one we
    use. `scratch` is an empty folder for a throwaway database."""
    import logging

    import mlflow
    import numpy as np
    from mlflow.entities import Dataset

    checks = {
        "Dataset._to_mlflow_entity": lambda: isinstance(
            dataset_entity(mlflow.data.from_numpy(np.zeros((2, 1)), name="check")),  # type: ignore[attr-defined]
            Dataset),
        "mlflow.store.db.utils._get_latest_schema_revision": lambda: bool(latest_schema_revision()),
        "mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore": lambda: _creates_a_database(scratch),
        f"the {SCHEMA_SETUP_LOGGER} logger": lambda: SCHEMA_SETUP_LOGGER in logging.Logger.manager.loggerDict,
    }
    run_private_name_checks(f"MLflow {mlflow.__version__}", "imdb_sweep/tracking/mlflow_internals.py", checks)


def _creates_a_database(scratch: Path) -> bool:
    database = scratch / "mlflow.db"
    create_tracking_database(database, scratch / "artifacts")
    return database.stat().st_size > 0
