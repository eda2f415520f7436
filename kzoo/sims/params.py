"""Declared simulator parameters and the one checker every sky's ``validate_params`` uses.

A sky module declares ``PARAMS = {name: Param(...)}`` beside ``DEFAULTS`` and validates with
``check_params(sky, PARAMS, DEFAULTS, params)``, which reports every problem at once.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    """One simulator parameter: its type, allowed range and shape.

    ``type`` is bool, int, float, str (any string unless ``choices``) or list (of distinct names); a float
    parameter also takes an integer. ``low``/``high``
    bound the value (each element of a pair), inclusive unless ``above`` (then value > low). ``pair``
    makes it a ``[low, high]`` list: ``"<="`` needs low <= high, ``"<"`` needs low < high (a
    half-open integer range that must not be empty). ``odd`` asks for an odd integer. ``choices``
    lists the allowed values of a str parameter (a model's name).
    """

    type: type
    low: float | None = None
    high: float | None = None
    above: bool = False
    pair: str = ""
    odd: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "one of " + ", ".join(repr(c) for c in self.choices) if self.choices else "a string"
        if self.type is list:
            return "a list of distinct non-empty names"
        what = {int: "integer", float: "number"}[self.type]
        if self.odd:
            what = "odd " + what
        lo = "" if self.low is None else f"{'(' if self.above else '['}{self.low:g}"
        if self.low is not None and self.high is not None:
            what += f" in {lo}, {self.high:g}]"
        elif self.low is not None:
            what += f" {'>' if self.above else '>='} {self.low:g}"
        elif self.high is not None:
            what += f" <= {self.high:g}"
        if self.pair:
            return f"a [low, high] pair of {what.replace('integer', 'integers').replace('number', 'numbers')} with low {self.pair} high"
        return ("an " if what[0] in "aeiou" else "a ") + what

    def ok(self, value) -> bool:
        """Whether ``value`` is allowed."""
        if not self.pair:
            return self._ok(value)
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(map(self._ok, value)):
            return False
        lo, hi = value
        return lo <= hi if self.pair == "<=" else lo < hi

    def _ok(self, v) -> bool:
        if self.type is bool:
            return isinstance(v, bool) or type(v).__name__ == "bool_"
        if self.type is str:
            return isinstance(v, str) and (v in self.choices or not self.choices)
        if self.type is list:
            return isinstance(v, list) and all(isinstance(c, str) and c for c in v) and len(set(v)) == len(v)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral if self.type is int else numbers.Real):
            return False
        if not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.above else v < self.low):
            return False
        if self.high is not None and v > self.high:
            return False
        return not (self.odd and v % 2 == 0)


class ParamError(ValueError):
    """Bad simulator parameters; ``problems`` holds ``(name, what is wrong)`` for every one of them."""

    def __init__(self, sky: str, problems: list[tuple[str, str]]):
        self.sky, self.problems = sky, problems
        super().__init__(f"{sky}: " + "; ".join(f"{name} {text}" for name, text in problems))


def _show(v) -> str:
    from kzoo.io import excerpt

    return excerpt(v)


def check_params(sky: str, table: dict[str, Param], defaults: dict, params: dict) -> dict:
    """``params`` merged over ``defaults`` after checking each against ``table``; ParamError lists every problem."""
    problems = []
    for name, value in params.items():
        if not isinstance(name, str):
            problems.append((_show(name), "is not a parameter name (names are strings)"))
        elif name not in table:
            near = difflib.get_close_matches(name, table, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            problems.append((name, f"is an unknown parameter of {sky}; {hint}(known: {', '.join(table)})"))
        elif not table[name].ok(value):
            problems.append((name, f"must be {table[name].describe()}, got {_show(value)}"))
    if problems:
        raise ParamError(sky, problems)
    return {**defaults, **params}
