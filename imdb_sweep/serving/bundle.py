"""What a logged text model is made of: its artifacts, the package code it runs,
its signature, input example and requirements (tracking/records.py logs it)."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from imdb_sweep.serving.text_model import (
    ENCODING_ARTIFACT,
    KERAS_MODEL_ARTIFACT,
    LABEL_COLUMN,
    LAYER_MODULES_SETTING,
    PROBABILITY_COLUMN,
    TEXT_COLUMN,
    VOCABULARY_ARTIFACT,
    encoding_settings,
)

PACKAGE_FOLDER = Path(__file__).resolve().parent.parent
# The model's code file, run by MLflow at load time (models from code).
MODEL_CODE = Path(__file__).with_name("model_code.py")
# The parts of the package the text model runs, besides the package root: no
# TensorFlow at import, none of the training, tracking or sweep code (process/
# for the quiet TensorFlow start-up; models/ for the layers Keras lacks, imported only
# by the models that use them).
BUNDLED_PARTS = ("process", "data", "serving", "models")
# Distributions the model needs where it is served (pinned to what trained it).
REQUIREMENTS = ("mlflow", "keras", "tensorflow", "numpy", "pandas", "omegaconf")

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
    outputs=Schema([ColSpec("double", PROBABILITY_COLUMN), ColSpec("long", LABEL_COLUMN)]),
)
INPUT_EXAMPLE = pd.DataFrame({TEXT_COLUMN: [
    "A wonderful film: moving, funny and superbly acted. I loved every minute of it.",
    "Dull and far too long. The plot makes no sense and the acting is awful.",
]})


def bundle_package_code(folder: Path) -> Path:
    """Copy the package root's __init__.py and the BUNDLED_PARTS into
    `folder/imdb_sweep` (sources only) and return that folder: the model's code path."""
    target = folder / PACKAGE_FOLDER.name
    target.mkdir(parents=True)
    shutil.copy2(PACKAGE_FOLDER / "__init__.py", target / "__init__.py")
    for part in BUNDLED_PARTS:
        shutil.copytree(PACKAGE_FOLDER / part, target / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def layer_modules(keras_model: Any) -> list[str]:
    """The modules beside Keras's own that define layers of `keras_model`: the loaded
    model imports them before Keras reads the model, so Keras knows those layers."""
    classes = {type(keras_model)} | {type(layer) for layer in nested_layers(keras_model)}
    return sorted({cls.__module__ for cls in classes if cls.__module__.split(".")[0] != "keras"})


def nested_layers(model: Any) -> Iterator[Any]:
    """Every layer of `model`, and of the models inside it, through Keras's public `layers`."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from nested_layers(layer)


def user_code_paths(modules: list[str]) -> list[str]:
    """The top-level package folder (or module file) of each module that is not ours
    (a custom model's own layers): they travel with the model as its code."""
    paths = set()
    for module in modules:
        top = module.split(".")[0]
        if top == PACKAGE_FOLDER.name or top not in sys.modules:
            continue
        package = sys.modules[top]
        if getattr(package, "__path__", None):  # a package, regular or namespace: its folder
            paths.add(str(Path(next(iter(package.__path__)))))
        elif package.__file__:
            paths.add(package.__file__)
    return sorted(paths)


def write_artifacts(folder: Path, keras_model: Any, vocabulary: Mapping[str, int], num_words: int, maxlen: int,
                    **extra_settings: Any) -> dict[str, str]:
    """Write the Keras model, vocabulary.json and encoding.json into `folder`;
    return them as the pyfunc's artifacts ({key: local path})."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        KERAS_MODEL_ARTIFACT: folder / "model.keras",
        VOCABULARY_ARTIFACT: folder / "vocabulary.json",
        ENCODING_ARTIFACT: folder / "encoding.json",
    }
    keras_model.save(paths[KERAS_MODEL_ARTIFACT])
    kept = {word: int(word_id) for word, word_id in vocabulary.items() if word_id < num_words}
    paths[VOCABULARY_ARTIFACT].write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    settings = encoding_settings(num_words, maxlen, **{LAYER_MODULES_SETTING: layer_modules(keras_model)},
                                 **extra_settings)
    paths[ENCODING_ARTIFACT].write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return {key: str(path) for key, path in paths.items()}


def pip_requirements() -> list[str]:
    """Pinned from the installed distributions: inferring them would load the model
    in a fresh process (seconds of every job)."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]
