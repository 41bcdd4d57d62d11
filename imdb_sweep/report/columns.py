"""The param columns the human formats (Markdown, HTML, LaTeX) show.

One column per varying key, except in a table that spans model families: there each
family brings keys of its own (filters, cell, heads, ...), blank in every other
family's rows, and a column for each made the page scroll sideways at laptop width.
Those keys go together into one "model settings" cell beside `family`
(`cell=lstm, units=32, bidirectional=True`), which holds only the keys the row's
runs logged. CSV and JSON keep one column per key.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from imdb_sweep.config.identity import short_value
from imdb_sweep.tracking.records import param_text

FAMILY_KEY = "model.family"
MODEL_PREFIX = "model."
SETTINGS_HEADER = "model settings"


@dataclass(frozen=True)
class ParamColumn:
    header: str
    keys: list[str]  # one key, or the family keys of the settings column
    is_settings: bool = False

    def text(self, labels: Mapping[str, str], values: Mapping[str, Any], logged: Container[str]) -> str:
        """The cell: the value, short (a search's sampled floats shortened for reading), or
        `label=value, ...` of the logged keys in the settings column; "" where not logged."""
        if not self.is_settings:
            key = self.keys[0]
            return short_value(param_text(values.get(key))) if key in logged else ""
        return ", ".join(f"{labels[key]}={short_value(param_text(values.get(key)))}"
                         for key in self.keys if key in logged)


def param_columns(keys: list[str], labels: Mapping[str, str]) -> list[ParamColumn]:
    """`keys` (in column order) as displayed columns: one each, but with `model.family`
    among them the other model keys become one settings column right after it."""
    if FAMILY_KEY not in keys:
        return [ParamColumn(labels[key], [key]) for key in keys]
    family_keys = [key for key in keys if key.startswith(MODEL_PREFIX) and key != FAMILY_KEY]
    columns: list[ParamColumn] = []
    for key in keys:
        if key in family_keys:
            continue
        columns.append(ParamColumn(labels[key], [key]))
        if key == FAMILY_KEY and family_keys:
            columns.append(ParamColumn(SETTINGS_HEADER, family_keys, is_settings=True))
    return columns
