"""Shared fixtures: a tiny generated aclImdb archive, composed configs, a real MLflow server."""

from __future__ import annotations

import io
import os
import random
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
REAL_ARCHIVE_DEFAULT = PROJECT_ROOT.parent / "shared" / "data" / "aclImdb_labeled.tar.gz"

POSITIVE_WORDS = ["great", "wonderful", "superb", "moving", "brilliant", "loved"]
NEGATIVE_WORDS = ["awful", "boring", "terrible", "dull", "worst", "hated"]
NEUTRAL_WORDS = ["the", "film", "movie", "a", "plot", "actor", "scene", "and", "of", "it"]


def make_review(rng: random.Random, positive: bool, length: int) -> str:
    """A short review whose sentiment words make the label learnable."""
    sentiment = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    words = [rng.choice(NEUTRAL_WORDS + sentiment * 2) for _ in range(length)]
    half = len(words) // 2
    return " ".join(words[:half]).capitalize() + ".<br /><br />" + " ".join(words[half:]) + "!"


def write_aclimdb(
    destination: Path, reviews_per_class: int = 20, seed: int = 0, as_archive: bool = True,
    extra_test_words: tuple[str, ...] = ("unseenword",),
) -> Path:
    """Write an aclImdb-layout .tar.gz (or folder) with generated reviews."""
    rng = random.Random(seed)
    files: dict[str, str] = {"aclImdb/README": "generated for tests\n"}
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for review_id in range(reviews_per_class):
                rating = rng.randint(7, 10) if label == "pos" else rng.randint(1, 4)
                text = make_review(rng, label == "pos", rng.randint(5, 40))
                if split == "test" and review_id == 0:
                    text += " " + " ".join(extra_test_words)
                files[f"aclImdb/{split}/{label}/{review_id}_{rating}.txt"] = text
    if not as_archive:
        for name, text in files.items():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            (destination / name).write_text(text)
        return destination / "aclImdb"
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz") as archive:
        for name, text in files.items():
            payload = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return destination


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
        return compose_config(
            f"data.path={tiny_archive}", "data.maxlen=50", "data.num_words=40",
            "train.epochs=1", "train.batch_size=8", "train.verbose=0",
            f"tracking.store_dir={isolated_env / 'mlruns'}", "tracking.log_model=false",
            *overrides,
        )

    return _compose


@pytest.fixture()
def cli_env(tiny_archive: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a `python -m imdb_sweep` run on the tiny archive, its store in cwd."""
    return {"IMDB_SWEEP_ACLIMDB": str(tiny_archive), "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"),
            "MLFLOW_TRACKING_URI": "", "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


def start_mlflow_server(store: Path, extra: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """A real `mlflow server` on 127.0.0.1 over a SQLite store in `store`."""
    store.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
        "--workers", "1", *(extra or []),
    ]
    with open(store / "server.log", "wb") as log:  # the server writes to its own copy
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(uri + "/health", process)
    except RuntimeError as error:
        process.kill()
        raise RuntimeError((store / "server.log").read_text()[-3000:]) from error
    return process, uri


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, uri = start_mlflow_server(tmp_path_factory.mktemp("mlflow_server"))
    yield uri
    stop_process(process)


def run_cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m imdb_sweep ...` as a user would, in its own process."""
    full_env = {**os.environ, **env}
    full_env.pop("IMDB_SWEEP_STATE", None)
    full_env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "imdb_sweep", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )
