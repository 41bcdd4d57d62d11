"""Which keys tell configurations apart: what plots label rows by and what the factor
effects take as factors (table.py, effects.py)."""

from __future__ import annotations

from typing import Any


def distinguishing_keys(rows: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """The fewest of `keys` whose values still tell `rows` apart, in column order.

    One key alone where one does (the first such, so `variant` before the keys that
    a variant sets); otherwise keys are added greedily, each time the one that
    separates the most rows, until the rows are as distinct as with every key.
    """
    def distinct(chosen: list[str]) -> int:
        return len({tuple(row.get(key) for key in chosen) for row in rows})

    wanted = distinct(keys)
    for key in keys:
        if distinct([key]) == wanted:
            return [key]
    chosen: list[str] = []
    while distinct(chosen) < wanted:
        # max() keeps the first of equals: column order breaks ties.
        chosen.append(max((key for key in keys if key not in chosen),
                          key=lambda key: distinct([*chosen, key])))
    return sorted(chosen, key=keys.index)
