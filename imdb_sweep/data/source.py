"""Where the reviews come from (`data.source`, `data.path`) and the quick checks
that run before any training or MLflow run."""

from __future__ import annotations

import functools
import hashlib
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from imdb_sweep.data.encoding import SPLITS

ACLIMDB_ENV_VAR = "IMDB_SWEEP_ACLIMDB"
LABELS = {"neg": 0, "pos": 1}


class DataError(ValueError):
    """The configured dataset is missing, unreadable or not in the aclImdb layout."""


def resolve_source(data_cfg: Any) -> tuple[str, Path | None]:
    """Return ("aclimdb", path) or ("keras", None) for `data.source`/`data.path`."""
    path = data_cfg.path or os.environ.get(ACLIMDB_ENV_VAR) or None
    if data_cfg.source == "keras":
        return "keras", None
    if data_cfg.source == "aclimdb" or path is not None:
        if path is None:
            raise DataError(
                f"data.path = None is not allowed with data.source = 'aclimdb': expected the "
                f"aclImdb folder or its .tar.gz (or set {ACLIMDB_ENV_VAR})"
            )
        return "aclimdb", Path(path).expanduser()
    return "keras", None


def check_data_source(data_cfg: Any) -> None:
    """Fail fast, with the key and value, when the configured data cannot be read."""
    source, path = resolve_source(data_cfg)
    if source == "keras":
        check_keras_dataset(data_cfg.source)
        return
    assert path is not None
    if not path.exists():
        raise DataError(
            f"data.path = '{path}' does not exist: expected the aclImdb folder or its "
            f".tar.gz (set data.path=... or {ACLIMDB_ENV_VAR})"
        )
    if not os.access(path, os.R_OK):
        raise DataError(f"data.path = '{path}' is not readable by this user")
    if path.is_dir():
        missing = [
            f"{split}/{label}"
            for split in SPLITS
            for label in LABELS
            if not (aclimdb_root(path) / split / label).is_dir()
        ]
        if missing:
            raise DataError(
                f"data.path = '{path}' is not in the aclImdb layout: missing folders "
                f"{', '.join(missing)} (expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt)"
            )
    elif not tarfile.is_tarfile(path):
        raise DataError(
            f"data.path = '{path}' is neither a folder nor a readable tar archive: expected "
            "the aclImdb folder or aclImdb_v1.tar.gz"
        )


# keras.datasets.imdb.load_data and get_word_index read these from Keras's cache,
# downloading them from here the first time.
KERAS_DATASET_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_DATASET_FILES = ("imdb.npz", "imdb_word_index.json")


def keras_dataset_folder() -> Path:
    """Keras's download cache for datasets ($KERAS_HOME/datasets, else ~/.keras/datasets)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def check_keras_dataset(setting: str) -> None:
    """keras.datasets.imdb is in Keras's cache or can be downloaded: a job must know
    before any run exists that it will have reviews to train on."""
    problem = _keras_download_problem()
    if problem is None:
        return
    how = ("data.source = 'keras'" if setting == "keras"
           else f"data.source = 'auto' found no archive (neither data.path nor {ACLIMDB_ENV_VAR} is set)")
    raise DataError(
        f"no IMDB reviews to train on: {how}, and keras.datasets.imdb cannot be downloaded "
        f"({problem}).\n    Set {ACLIMDB_ENV_VAR} (or data.path) to the official aclImdb folder or "
        f"its .tar.gz:\n      export {ACLIMDB_ENV_VAR}=/path/to/aclImdb_v1.tar.gz\n"
        "    or let this machine reach the internet once (data.source=keras downloads into ~/.keras)."
    )


@functools.cache  # once per process: every job of a sweep asks
def _keras_download_problem() -> str | None:
    """None when Keras has the files or their origin answers; else why not. Only asks
    whether the origin answers (a HEAD request): the job downloads as Keras does."""
    if all((keras_dataset_folder() / name).is_file() for name in KERAS_DATASET_FILES):
        return None
    request = urllib.request.Request(KERAS_DATASET_ORIGIN + KERAS_DATASET_FILES[0], method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"{KERAS_DATASET_ORIGIN} does not answer: {reason}"


def aclimdb_root(folder: Path) -> Path:
    """Accept both the aclImdb folder itself and the folder that contains it."""
    return folder / "aclImdb" if (folder / "aclImdb").is_dir() else folder


def keras_digest() -> str:
    """The digest of Keras's IMDB download (a name until it is downloaded)."""
    file = keras_dataset_folder() / "imdb.npz"
    return source_digest(file) if file.exists() else "keras-imdb"


def configured_digest(data_cfg: Any) -> str:
    """The digest a job of `data_cfg` tags its run with, without reading a review."""
    source, path = resolve_source(data_cfg)
    if source == "keras":
        return keras_digest()
    assert path is not None  # resolve_source gives aclImdb a path
    return source_digest(path)


def source_digest(path: Path) -> str:
    """sha256 of an archive's bytes, or of a folder's review listing (name, size, mtime)."""
    hasher = hashlib.sha256()
    if path.is_dir():
        root = aclimdb_root(path)
        for split in SPLITS:
            for label in LABELS:
                for entry in sorted(os.scandir(root / split / label), key=lambda e: e.name):
                    stat = entry.stat()
                    hasher.update(f"{split}/{label}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return "folder-" + hasher.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()
