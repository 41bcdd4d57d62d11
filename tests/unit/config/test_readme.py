"""The README's key table is the schema's, and names every key of the real conf/, each with a
default, what it allows and a meaning."""

from __future__ import annotations

import re
import sys

from imdb_sweep.config.identity import flatten_config
from tests.helpers.paths import CONF_DIR, PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tools"))
from key_table import HEADER as KEY_TABLE_HEADER  # a script beside the project, not a package
from key_table import key_table, with_table


def key_table_rows(readme: str) -> list[list[str]]:
    """The cells of each row of the README's key table: the lines after its header
    and its |---| line, up to the first line that is not a table row."""
    lines = readme.splitlines()
    assert KEY_TABLE_HEADER in lines, f"README.md has no table headed {KEY_TABLE_HEADER}"
    rows = []
    for line in lines[lines.index(KEY_TABLE_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def documented_keys(rows: list[list[str]]) -> set[str]:
    """Every key a row's first cell spells in backticks (`train.epochs` / `train.batch_size`)."""
    return {key for row in rows for key in re.findall(r"`([^`]+)`", row[0])}


def group_options() -> list[str]:
    """`model=dense`, `variant=dropout`, ...: every option of every config group but
    Hydra's own, since an option may bring keys the defaults do not have."""
    return [f"{group.name}={option.stem}"
            for group in sorted(CONF_DIR.iterdir()) if group.is_dir() and group.name != "hydra"
            for option in sorted(group.glob("*.yaml"))]


def test_the_key_table_is_parsed_as_the_readme_writes_it():
    rows = key_table_rows(f"intro\n\n{KEY_TABLE_HEADER}\n|---|---|---|---|\n"
                          "| `a.b` / `a.c` | 1 / 2 | any | two keys |\n| `d` | x | x | one |\n\nafter\n"
                          "| `e` | 1 | 1 | not it |\n")
    assert rows == [["`a.b` / `a.c`", "1 / 2", "any", "two keys"], ["`d`", "x", "x", "one"]]
    assert documented_keys(rows) == {"a.b", "a.c", "d"}


def test_the_readme_key_table_names_every_key_of_the_config(compose_config):
    rows = key_table_rows((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    incomplete = [" | ".join(row) for row in rows if len(row) != 4 or not all(row)]
    assert not incomplete, (f"README.md's key table has rows without a key, default, allowed values and meaning "
                            f"each: {incomplete}")

    composed = set(flatten_config(compose_config()))  # `hydra.*` is left out
    for option in group_options():
        composed |= set(flatten_config(compose_config(option)))
    documented = documented_keys(rows)
    missing = sorted(composed - documented)
    assert not missing, (f"README.md's key table does not mention {', '.join(missing)}: "
                         "add each, spelled in full in backticks, with its default and meaning")
    unknown = sorted(documented - composed)
    assert not unknown, f"README.md's key table names keys that conf/ does not have: {', '.join(unknown)}"


def test_the_readme_key_table_is_the_one_the_schema_makes():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert with_table(readme, key_table()) == readme, (
        "README.md's key table is not the schema's (imdb_sweep/config/schema/): run python tools/key_table.py")
