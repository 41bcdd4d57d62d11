"""Shared fixtures: a tiny generated aclImdb archive, composed configs, a real MLflow server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.helpers.archives import write_aclimdb
from tests.helpers.cli import TINY, cli_environment
from tests.helpers.paths import CONF_DIR, REAL_ARCHIVE_DEFAULT
from tests.helpers.processes import start_mlflow_server, stop_process


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_aclimdb(tmp_path_factory.mktemp("data") / "tiny_aclImdb.tar.gz")


@pytest.fixture(scope="session")
def real_archive() -> Path:
    path = Path(os.environ.get("IMDB_SWEEP_ACLIMDB", REAL_ARCHIVE_DEFAULT))
    if not path.exists():
        pytest.skip(f"the real aclImdb archive is not at {path} (set IMDB_SWEEP_ACLIMDB)")
    return path.resolve()


@pytest.fixture()
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No tracking URI or data path leaking in from the developer's shell."""
    for name in ("MLFLOW_TRACKING_URI", "IMDB_SWEEP_ACLIMDB", "IMDB_SWEEP_STATE"):
        # Set, then delete: the undo then restores the variable's state from before
        # the test even when the test's code sets it (mlflow.set_tracking_uri exports
        # MLFLOW_TRACKING_URI), so no later test inherits this test's store.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("IMDB_SWEEP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture()
def compose_config(isolated_env: Path) -> Callable[..., DictConfig]:
    """Compose the real conf/ with overrides, as Hydra would for one job."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    return _compose


@pytest.fixture()
def tiny_config(compose_config: Callable[..., DictConfig], tiny_archive: Path, isolated_env: Path):
    """A config that trains in about a second: tiny archive, 1 epoch, store in tmp."""

    def _compose(*overrides: str) -> DictConfig:
        return compose_config(f"data.path={tiny_archive}", *TINY, "train.epochs=1",
                              f"tracking.store_dir={isolated_env / 'mlruns'}", *overrides)

    return _compose


@pytest.fixture()
def cli_env(tiny_archive: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a `python -m imdb_sweep` run on the tiny archive, its store in cwd."""
    return cli_environment(tiny_archive, tmp_path / "cache")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, uri = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    yield uri
    stop_process(process)


