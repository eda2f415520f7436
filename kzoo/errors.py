"""The errors that name what was asked for and what would be right, shared by every registry."""

from __future__ import annotations

import difflib


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the closest registered names."""

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0])


def closest(name: str, names, kind: str) -> UnknownNameError:
    """An UnknownNameError for ``name`` that suggests the closest of ``names``."""
    from kzoo.io import excerpt

    names = sorted(names)
    near = difflib.get_close_matches(str(name)[:200], names, n=3, cutoff=0.4)  # a name of megabytes: its start
    hint = f"did you mean {', '.join(repr(n) for n in near)}?" if near else f"registered: {', '.join(names)}"
    return UnknownNameError(f"unknown {kind} {excerpt(name)}; {hint}")
