"""STAND-IN for issue 20's field helpers, with exactly their API: each helper puts a key's
rule and its one-line help in the dataclass field's metadata. The merge keeps issue 20's
version; this one carries only what families.py and its validation need."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

ACCEPTS = "accepts"  # metadata: value -> bool
ALLOWED = "allowed"  # metadata: what is allowed, for the error message
HELP = "help"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(default: Any, accepts: Callable[[Any], bool], allowed: str, optional: bool, help: str) -> Any:
    if optional:
        return dataclasses.field(default=default, metadata={
            ACCEPTS: lambda value: value is None or accepts(value), ALLOWED: "null or " + allowed, HELP: help})
    return dataclasses.field(default=default, metadata={ACCEPTS: accepts, ALLOWED: allowed, HELP: help})


def _bounds(kind: str, minimum: Any, maximum: Any, above: Any = None, below: Any = None) -> tuple[Callable, str]:
    tests, words = [], []
    if minimum is not None:
        tests.append(lambda v: v >= minimum)
        words.append(f">= {minimum}")
    if above is not None:
        tests.append(lambda v: v > above)
        words.append(f"> {above}")
    if maximum is not None:
        tests.append(lambda v: v <= maximum)
        words.append(f"<= {maximum}")
    if below is not None:
        tests.append(lambda v: v < below)
        words.append(f"< {below}")
    return (lambda v: all(test(v) for test in tests)), " ".join([kind, " and ".join(words)]).strip()


def integer(default: Any, *, minimum: int | None = None, maximum: int | None = None, optional: bool = False,
            help: str = "") -> Any:
    within, allowed = _bounds("an integer", minimum, maximum)
    return _field(default, lambda v: _is_int(v) and within(v), allowed, optional, help)


def number(default: Any, *, minimum: float | None = None, maximum: float | None = None, above: float | None = None,
           below: float | None = None, optional: bool = False, help: str = "") -> Any:
    within, allowed = _bounds("a number", minimum, maximum, above, below)
    return _field(default, lambda v: _is_number(v) and within(v), allowed, optional, help)


def one_of(default: Any, allowed: tuple[Any, ...], *, help: str = "") -> Any:
    return _field(default, lambda v: v in allowed, "one of " + ", ".join(map(str, allowed)), False, help)


def boolean(default: bool, *, help: str = "") -> Any:
    return _field(default, lambda v: isinstance(v, bool), "true or false", False, help)


def text(default: Any, *, pattern: str | None = None, optional: bool = False, help: str = "") -> Any:
    compiled = re.compile(pattern) if pattern else None
    allowed = f"a string matching {pattern}" if pattern else "a string"
    return _field(default, lambda v: isinstance(v, str) and (compiled is None or compiled.fullmatch(v) is not None),
                  allowed, optional, help)
