"""The field helpers every config schema is written with.

Each helper makes a dataclass field whose metadata holds the key's rule (which
values it accepts, and how to say so in an error) and its one-line help. The
validator (config/validation.py) checks values against the rules, and the
README's key table (tools/key_table.py) prints rules and help: each key's rule
is written once, beside its default.

    units: int = integer(32, minimum=1, help="Units of each hidden Dense layer")
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RULE = "rule"
HELP = "help"


@dataclass(frozen=True)
class Rule:
    """What one key accepts: a test, and its description after "expected" in an error."""

    accepts: Callable[[Any], bool]
    allowed: str


def is_integer(value: Any) -> bool:
    # bool is a subclass of int in Python, but `true` is not a number of units.
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(default: int | str | None, *, minimum: int | None = None, maximum: int | None = None,
            optional: bool = False, help: str) -> Any:
    """A whole number, within [minimum, maximum] where given; null too when optional."""
    return _field(default, _nullable(Rule(
        lambda value: is_integer(value) and _within(value, minimum, maximum, None, None),
        f"an integer{_range_text(minimum, maximum, None, None)}",
    ), optional), help)


def number(default: float | str | None, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, below: float | None = None, optional: bool = False, help: str) -> Any:
    """An int or a float, within the bounds given (above/below: exclusive); null too when optional."""
    return _field(default, _nullable(Rule(
        lambda value: is_number(value) and _within(value, minimum, maximum, above, below),
        f"a number{_range_text(minimum, maximum, above, below)}",
    ), optional), help)


def one_of(default: Any, allowed: tuple[Any, ...], *, note: str = "", help: str) -> Any:
    """One of `allowed` (None among them means null is allowed); `note` says why, after the list."""
    shown = ", ".join(_shown(value) for value in allowed)
    # `value in allowed` would take True for 1 and 1.0 for 1: the type must match too.
    return _field(default, Rule(
        lambda value: any(value == choice and type(value) is type(choice) for choice in allowed),
        f"one of {shown}" + (f" ({note})" if note else ""),
    ), help)


def boolean(default: bool, *, help: str) -> Any:
    """true or false, as YAML writes them (not 'yes' or 1)."""
    return _field(default, Rule(lambda value: isinstance(value, bool), "true or false"), help)


def text(default: str | None, *, pattern: str | None = None, optional: bool = False, allowed: str = "",
         help: str) -> Any:
    """A string, matching `pattern` in full where given; `allowed` describes it for people."""
    matcher = re.compile(pattern) if pattern is not None else None
    return _field(default, _nullable(Rule(
        lambda value: isinstance(value, str) and (matcher is None or matcher.fullmatch(value) is not None),
        allowed or "a text",
    ), optional), help)


def checked_apart(default: Any, *, allowed: str, help: str) -> Any:
    """A value that no single-key rule can judge (a _target_ config, a name of another
    mapping, a direction that depends on the metric): a check of its own, which
    reads other keys too, judges it; `allowed` says what that check accepts."""
    return _field(default, Rule(lambda value: True, allowed), help)


def rule_of(field: dataclasses.Field[Any]) -> Rule:
    return field.metadata[RULE]


def help_of(field: dataclasses.Field[Any]) -> str:
    return field.metadata[HELP]


def default_of(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _field(default: Any, rule: Rule, help: str) -> Any:
    metadata = {RULE: rule, HELP: help}
    if isinstance(default, (dict, list)):
        # A mutable default is made afresh for each instance, as dataclasses require.
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _within(value: float, minimum: float | None, maximum: float | None, above: float | None,
            below: float | None) -> bool:
    return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
            and (above is None or value > above) and (below is None or value < below))


def _range_text(minimum: float | None, maximum: float | None, above: float | None, below: float | None) -> str:
    """' >= 1', ' in [0, 1)', ' > 0', '': the bounds as an error message says them."""
    low = (f"[{minimum}", minimum) if minimum is not None else (f"({above}", above) if above is not None else None
    high = (f"{maximum}]", maximum) if maximum is not None else (f"{below})", below) if below is not None else None
    if low and high:
        return f" in {low[0]}, {high[0]}"
    if low:
        return f" >= {minimum}" if minimum is not None else f" > {above}"
    if high:
        return f" <= {maximum}" if maximum is not None else f" < {below}"
    return ""


def _nullable(rule: Rule, optional: bool) -> Rule:
    """`rule`, and null too when `optional`."""
    if not optional:
        return rule
    return Rule(lambda value: value is None or rule.accepts(value), f"null or {rule.allowed}")


def _shown(value: Any) -> str:
    """How YAML writes a value: true, false, null; anything else as itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
