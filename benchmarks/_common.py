"""Shared by the benchmark scripts: machine description, a markdown table, atomic JSON + markdown output."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    import numpy
    import tensorflow as tf
    import keras

    import kzoo

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "processor": platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "kzoo": kzoo.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def md_table(headers, rows) -> str:
    def cell(v):
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_line(m: dict) -> str:
    line = (f"{m['cpu_count']} CPUs ({m['usable_cpus']} usable), {m['processor']}, "
            f"TensorFlow {m['tensorflow']}, Keras {m['keras']}")
    if m["load_average_at_start"]:
        line += f", load average at start {m['load_average_at_start'][0]:.2f}"
    return line


def write_outputs(out_json, out_md, result: dict, markdown: str):
    """Write the JSON and markdown atomically (kzoo.io), print the markdown."""
    from kzoo.io import write_json, write_text

    write_json(out_json, result)
    write_text(out_md, markdown)
    print(markdown)
    print(f"wrote {out_json} and {out_md}")
