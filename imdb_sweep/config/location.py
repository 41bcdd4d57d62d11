"""Where the Hydra config folder is: the repository's conf/, shipped in a wheel as imdb_sweep/conf.

pyproject.toml maps the package `imdb_sweep.conf` to the top-level conf/ folder, so
`pip install .` copies the yaml files into the installed package, while a source
checkout and an editable install (`pip install -e .`) read conf/ itself, where users
edit them. The folder has no __init__.py (it holds yaml files only), which rules out
Hydra's `pkg://` paths; Hydra gets an absolute file system path instead.
"""

from __future__ import annotations

from pathlib import Path

import imdb_sweep


def config_dir() -> Path:
    """The absolute path of the folder that holds config.yaml and the config groups."""
    package_folder = Path(imdb_sweep.__file__).resolve().parent
    installed = package_folder / "conf"  # inside an installed wheel
    if installed.is_dir():
        return installed
    return package_folder.parent / "conf"  # a source checkout or an editable install
