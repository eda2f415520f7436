"""Progress bars (tqdm) for long work: drawn in place on a terminal, plain lines elsewhere.

A log file or a cluster job's output is not a terminal: there tqdm's carriage returns and ANSI codes would pile up
into one unreadable line. ``bar`` then writes a plain line (``simulate: 40%| 4000/10000 [00:12<00:18, 333 img/s]``)
every 30 seconds and at the end instead.
"""

from __future__ import annotations

import sys


class _Lines:
    """A file for tqdm that turns each redraw into a line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> None:
        text = s.replace("\r", "").replace("\x1b[A", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar(iterable=None, *, total=None, desc: str = "", unit: str = "it", disable: bool = False, **kwargs):
    """A tqdm progress bar on standard error: in place on a terminal, a plain line every 30 s otherwise."""
    from tqdm import tqdm

    stream = sys.stderr
    if not disable and not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs = {"mininterval": 30, "ascii": True, "ncols": 100, **kwargs, "file": _Lines(stream)}
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, **kwargs)
