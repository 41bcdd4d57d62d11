"""The project as users install it: `pip install .` builds a wheel that carries conf/ (as
imdb_sweep/conf), a job runs from that wheel in another folder, an editable install keeps
reading the checkout's conf/, and `python -m imdb_sweep --help` describes the tool."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from tests.helpers.archives import write_aclimdb
from tests.helpers.cli import TINY
from tests.helpers.paths import PROJECT_ROOT

# Not copied into the build folder: environments, outputs and earlier builds.
SKIPPED_AT_TOP = {".git", ".venv", "build", "dist", "mlruns", "outputs", "multirun",
                  ".pytest_cache", "benchmarks"}
SKIPPED_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info")

VARIANTS = sorted(path.stem for path in (PROJECT_ROOT / "conf" / "variant").glob("*.yaml"))


def skip_build_outputs(folder: str, names: list[str]) -> set[str]:
    skipped = set(SKIPPED_ANYWHERE(folder, names))
    if Path(folder) == PROJECT_ROOT:
        skipped |= SKIPPED_AT_TOP & set(names)
    return skipped


def clean_env(**extra: str) -> dict[str, str]:
    """The user's environment without anything that points Python or the job at the checkout."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "IMDB_SWEEP_ACLIMDB", "IMDB_SWEEP_STATE")}
    return {**env, **extra}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree, so that builds write nothing into the checkout."""
    source = tmp_path_factory.mktemp("source") / "imdb_sweep"
    shutil.copytree(PROJECT_ROOT, source, ignore=skip_build_outputs)
    return source


@pytest.fixture(scope="module")
def wheel(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` builds, with this environment's setuptools: no download."""
    wheels = tmp_path_factory.mktemp("wheels")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--check-build-dependencies", "--wheel-dir", str(wheels), str(source_copy)], cwd=wheels)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel_file,) = wheels.glob("imdb_sweep-*.whl")
    return wheel_file


def venv_with(wheel_file: Path, venv: Path) -> Path:
    """A fresh virtual environment with `wheel_file` installed; its python. Its dependencies
    are this environment's, reached through a .pth file: a path entry only, so this
    environment's own .pth files (the editable install's import hook among them) do not
    run there."""
    created = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                     "--no-index", str(wheel_file)], cwd=venv)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    # Only now: pip must not see (and offer to replace) this environment's imdb_sweep.
    (venv_site,) = (venv / "lib").glob("python*/site-packages")
    (venv_site / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.fixture(scope="module")
def installed_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return venv_with(wheel, tmp_path_factory.mktemp("venv"))


@pytest.fixture(scope="module")
def editable_python(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with an editable install of the source copy, built as
    `pip install -e .` builds it (setuptools' PEP 660 hook, which pip calls)."""
    wheels = tmp_path_factory.mktemp("editable_wheels")
    built = run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                 "build_meta.build_editable(sys.argv[1])", str(wheels)], cwd=source_copy)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel_file,) = wheels.glob("imdb_sweep-*.editable-*.whl")
    return venv_with(wheel_file, tmp_path_factory.mktemp("editable_venv"))


def discovered_sweepers(python: Path, cwd: Path) -> dict[str, str]:
    """The sweepers Hydra's scan of the hydra_plugins namespace finds in a fresh process of
    `python` that never imports imdb_sweep's __main__ (as a launcher's worker process),
    each with the file it came from."""
    probe = ("import json, inspect; from hydra.core.plugins import Plugins; "
             "from hydra.plugins.sweeper import Sweeper; "
             "print(json.dumps({p.__name__: inspect.getfile(p) for p in Plugins.instance().discover(Sweeper)}))")
    return probe_json(python, cwd, probe)


def imported_from(python: Path, cwd: Path) -> dict[str, str]:
    """Where `python` imports imdb_sweep from, which config folder it uses, and how it was
    installed (pip's direct_url.json: {"url": ..., "dir_info": {"editable": ...}}, or null)."""
    probe = ("import json, imdb_sweep, imdb_sweep.config.location as c; from importlib import metadata; "
             "print(json.dumps({'package': imdb_sweep.__file__, 'config_dir': str(c.config_dir()), "
             "'direct_url': metadata.distribution('imdb_sweep').read_text('direct_url.json')}))")
    return probe_json(python, cwd, probe)


def probe_json(python: Path, cwd: Path, probe: str) -> Any:
    """What `probe`, run by `python -c` in a fresh process in `cwd`, printed last as JSON."""
    result = run([str(python), "-c", probe], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_help_describes_the_tool(text: str) -> None:
    assert "powered by Hydra" not in text
    assert text.startswith("imdb_sweep: hyperparameter sweeps of the Keras IMDB sentiment model")
    assert "variant: " + ", ".join(VARIANTS) in text
    for command in ("python -m imdb_sweep model.units=64",
                    "python -m imdb_sweep -m model.units=32,64 model.activation=relu,tanh",
                    "python -m imdb_sweep -m 'variant=glob(*)'",
                    "python -m imdb_sweep.server", "python -m imdb_sweep.report"):
        assert command in text, command
    assert "$MLFLOW_TRACKING_URI" in text and "mlruns/" in text
    # $CONFIG: the composed config, overrides given before --help included.
    assert "units: 48" in text and "experiment: imdb-sweep" in text


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_every_config_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(PROJECT_ROOT).as_posix()
               for path in (PROJECT_ROOT / "imdb_sweep").rglob("*.py")}
    # A subpackage missing from pyproject.toml's `packages` list would be left out here.
    assert modules <= names, sorted(modules - names)
    configs = {"imdb_sweep/conf/" + path.relative_to(PROJECT_ROOT / "conf").as_posix()
               for path in (PROJECT_ROOT / "conf").rglob("*.yaml")}
    assert {"imdb_sweep/conf/config.yaml", "imdb_sweep/conf/hydra/help/imdb_sweep.yaml"} <= configs
    assert configs == {name for name in names if name.startswith("imdb_sweep/conf/")}
    # The HTML report's template, package data beside the code that renders it.
    templates = {path.relative_to(PROJECT_ROOT).as_posix()
                 for path in (PROJECT_ROOT / "imdb_sweep" / "report" / "templates").iterdir()}
    assert "imdb_sweep/report/templates/report.html.j2" in templates and templates <= names, sorted(templates - names)
    # The search sweeper's plugin, in Hydra's namespace package, which has no __init__.py of ours.
    assert "hydra_plugins/imdb_sweep_optuna/optuna_sweeper.py" in names
    assert "hydra_plugins/imdb_sweep_seeds/adaptive_seeds_sweeper.py" in names
    assert "hydra_plugins/__init__.py" not in names


@pytest.mark.slow
def test_a_job_runs_from_the_installed_wheel_in_another_folder(installed_python: Path, tmp_path: Path):
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    venv = installed_python.parent.parent
    where = imported_from(installed_python, workdir)
    assert Path(where["package"]).is_relative_to(venv), where
    assert Path(where["config_dir"]) == Path(where["package"]).parent / "conf"

    archive = write_aclimdb(tmp_path / "tiny_aclImdb.tar.gz")
    store = tmp_path / "store"
    env = clean_env(IMDB_SWEEP_CACHE_DIR=str(tmp_path / "cache"))
    result = run([str(installed_python), "-m", "imdb_sweep", f"data.path={archive}",
                  "data.train_limit=32", *TINY, "train.epochs=1", f"tracking.store_dir={store}"],
                 cwd=workdir, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sweep")
    (run_info,) = client.search_runs([experiment.experiment_id])
    assert run_info.info.status == "FINISHED"
    assert run_info.data.params["data.train_limit"] == "32"
    assert "test_accuracy" in run_info.data.metrics
    # MLflow records the job's entry point: the installed package's __main__.py.
    assert Path(run_info.data.tags["mlflow.source.name"]).is_relative_to(venv), run_info.data.tags

    # A search from the installed wheel: Hydra finds our sweeper outside the checkout.
    searched = run([str(installed_python), "-m", "imdb_sweep", "-m", "hydra/sweeper=imdb_optuna",
                    "hydra.sweeper.n_trials=2", "model.units=choice(4,8)", f"data.path={archive}",
                    "data.train_limit=32", *TINY, "train.epochs=1", f"tracking.store_dir={tmp_path / 'search'}"],
                   cwd=workdir, env=env)
    assert searched.returncode == 0, searched.stdout[-3000:] + searched.stderr[-3000:]
    assert "Search " in searched.stdout and "ended FINISHED" in searched.stdout

    helped = run([str(installed_python), "-m", "imdb_sweep", "model.units=48", "--help"], cwd=workdir,
                 env=env, timeout=120)
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert_help_describes_the_tool(helped.stdout)


def test_the_help_describes_the_tool_its_variants_and_example_commands(tmp_path: Path):
    # As a user types it in their project folder; the checkout's imdb_sweep, by PYTHONPATH.
    env = clean_env(PYTHONPATH=str(PROJECT_ROOT))
    result = run([sys.executable, "-m", "imdb_sweep", "model.units=48", "--help"], cwd=tmp_path,
                 env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_help_describes_the_tool(result.stdout)


def test_an_editable_install_reads_the_checkouts_conf(tmp_path: Path):
    """`pip install -e .` (make setup): edits to conf/ take effect without reinstalling."""
    where = imported_from(Path(sys.executable), tmp_path)
    installed = json.loads(where["direct_url"] or "{}")
    if not installed.get("dir_info", {}).get("editable"):
        pytest.skip(f"imdb_sweep is not an editable install here ({where['package']})")
    if Path(installed["url"].removeprefix("file://")).resolve() != PROJECT_ROOT:
        pytest.skip(f"the editable install points at {installed['url']}, not this checkout")
    assert Path(where["package"]).resolve().is_relative_to(PROJECT_ROOT), where
    assert Path(where["config_dir"]) == PROJECT_ROOT / "conf"
    sweepers = discovered_sweepers(Path(sys.executable), tmp_path)
    assert Path(sweepers["ImdbOptunaSweeper"]).resolve().is_relative_to(PROJECT_ROOT), sweepers


@pytest.mark.slow
@pytest.mark.parametrize("install", ["installed_python", "editable_python"], ids=["wheel", "editable"])
def test_hydras_plugin_scan_finds_the_sweeper_in_a_fresh_process(install: str, request, tmp_path: Path):
    python = request.getfixturevalue(install)
    sweepers = discovered_sweepers(python, tmp_path)
    assert "ImdbOptunaSweeper" in sweepers and "AdaptiveSeedsSweeper" in sweepers, sweepers
    # From the install itself: the venv's copy, or the editable install's source folder.
    expected_root = python.parent.parent if install == "installed_python" else request.getfixturevalue("source_copy")
    assert Path(sweepers["ImdbOptunaSweeper"]).is_relative_to(expected_root), sweepers
