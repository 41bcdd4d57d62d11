"""Where the project and its conf/ are, and where the real archive lies beside it."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # tests/helpers/paths.py -> the checkout
CONF_DIR = PROJECT_ROOT / "conf"
REAL_ARCHIVE_DEFAULT = PROJECT_ROOT.parent / "shared" / "data" / "aclImdb_labeled.tar.gz"
