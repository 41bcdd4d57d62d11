"""The README's key table, made from the config's schema (imdb_sweep/config/schema/).

    python tools/key_table.py           # rewrite the table between the README's markers
    python tools/key_table.py --check   # exit 1 when the README's table is not the schema's

Every key of every group with its default, what it allows and its one-line help,
as the schema's fields hold them; tests/test_readme.py fails when they disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
README = PROJECT_ROOT / "README.md"
START, END = "<!-- keys:start -->", "<!-- keys:end -->"
HEADER = "| key | default | allowed | meaning |"
# The order a reader meets the groups in: the model, how it is trained, the data,
# then how jobs run and where they are kept.
GROUP_ORDER = ("model", "train", "data", "runtime", "tracking", "sweep")


def key_table() -> str:
    """The table, one row per key, as Markdown."""
    from imdb_sweep.config.schema import FAMILY_KEY, GROUPS, MODEL_GROUP, TopLevelConfig
    from imdb_sweep.config.schema.models import MODEL_FAMILIES

    rows = [HEADER, "|---|---|---|---|"]
    top_level = {field.name: field for field in dataclasses.fields(TopLevelConfig)}
    rows.append(_row("seed", top_level["seed"]))
    for group in GROUP_ORDER:
        if group != MODEL_GROUP:
            rows += [_row(f"{group}.{field.name}", field) for field in dataclasses.fields(GROUPS[group])]
            continue
        families = ", ".join(MODEL_FAMILIES)
        rows.append(f"| `{MODEL_GROUP}.{FAMILY_KEY}` | `{next(iter(MODEL_FAMILIES))}` | one of {families} | "
                    "the architecture family; `model=NAME` selects one with its keys |")
        for family, schema in MODEL_FAMILIES.items():
            shown = f"({family}) " if len(MODEL_FAMILIES) > 1 else ""
            rows += [_row(f"{MODEL_GROUP}.{field.name}", field, shown)
                     for field in dataclasses.fields(schema) if field.name != FAMILY_KEY]
    rows.append(_row("variant", top_level["variant"]))
    return "\n".join(rows)


def _row(key: str, field: dataclasses.Field[Any], prefix: str = "") -> str:
    from imdb_sweep.config.schema.fields import default_of, help_of, rule_of

    cells = [f"`{key}`", show_default(default_of(field)), rule_of(field).allowed, prefix + help_of(field)]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def show_default(value: Any) -> str:
    """A default as a reader sets it: `null`, `true`, `$IMDB_SWEEP_ACLIMDB` (else null)."""
    if isinstance(value, str):
        variable = re.search(r"oc\.env:(\w+),null", value)
        if variable:
            return f"`${variable.group(1)}`, else `null`"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def with_table(readme: str, table: str) -> str:
    """`readme` with `table` between its markers."""
    if START not in readme or END not in readme:
        raise ValueError(f"README.md has no {START} ... {END} markers for the key table")
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table}\n{END}{after}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the README differs")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_ROOT))
    readme = README.read_text(encoding="utf-8")
    updated = with_table(readme, key_table())
    if args.check:
        if updated != readme:
            print("README.md's key table is not the schema's: run python tools/key_table.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
