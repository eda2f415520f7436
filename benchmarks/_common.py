"""Shared by the benchmark scripts: machine description, a markdown table, atomic JSON + markdown output,
a working directory and the galactic-centre shards most benchmarks read."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import tempfile
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
        **cpuinfo(),
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


def cpuinfo() -> dict:
    """The CPU model name and its bfloat16 flags (kzoo's own reader, so results pages and benchmarks agree)."""
    from kzoo.runs import cpu_info

    return cpu_info()


def md_table(headers, rows) -> str:
    def cell(v):
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    from kzoo.report import md_table as table

    return table(headers, [[cell(v) for v in row] for row in rows]) + "\n"


def machine_line(m: dict) -> str:
    bf16 = f" ({', '.join(m['bf16_flags'])})" if m.get("bf16_flags") else ""
    line = (f"{m['cpu_count']} CPUs ({m['usable_cpus']} usable), {m.get('cpu_model', m['processor'])}{bf16}, "
            f"TensorFlow {m['tensorflow']}, Keras {m['keras']}")
    if m["load_average_at_start"]:
        line += f", load average at start {m['load_average_at_start'][0]:.2f}"
    return line


def write_outputs(out_json, out_md, result: dict, markdown: str):
    """Write the JSON and markdown atomically (kzoo.io), print the markdown. The JSON records the commit and the
    command that made it (every record names them)."""
    from kzoo.io import write_json, write_text
    from kzoo.runs import git_commit

    result = {"commit": git_commit(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), **result}

    write_json(out_json, result)
    write_text(out_md, markdown)
    print(markdown)
    print(f"wrote {out_json} and {out_md}")


def output_args(ap, name: str, quick: str):
    """Add ``--out-json``/``--out-md`` (default ``results/NAME.json|md``) and ``--quick`` (help ``quick``)."""
    ap.add_argument("--out-json", default=str(RESULTS / f"{name}.json"))
    ap.add_argument("--out-md", default=str(RESULTS / f"{name}.md"))
    ap.add_argument("--quick", action="store_true", help=f"smoke test: {quick}")


def report(args, result: dict, title: str, setup: str, body: str):
    """write_outputs of ``result`` (which holds "machine") and of its markdown: title, setup, machine, body."""
    md = (f"# {title}\n\n{setup}{' (--quick)' if args.quick else ''}.\n"
          f"Machine: {machine_line(result['machine'])}.\n\n{body}")
    write_outputs(args.out_json, args.out_md, {**result, "quick": args.quick}, md)


@contextlib.contextmanager
def workdir(path=None, prefix: str = "kzoo-bench-"):
    """``path`` (created, kept), or a temporary directory removed at the end."""
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gc_shards(out, n: int, block: int = 16, workers: int = 1) -> tuple[dict, float]:
    """``n`` galactic-centre counts maps (train split, 8 shards) in ``out``: (manifest, seconds).

    write_shards keeps finished shards, so a rerun over the same ``out`` only checks them.
    """
    from kzoo.data import write_shards

    recipe = {"sky": "galactic_center", "splits": {"train": n}, "shards": 8, "block": block, "features": ["counts"]}
    t0 = time.perf_counter()
    manifest = write_shards(recipe, out, workers=workers, progress=False)
    return manifest, time.perf_counter() - t0
