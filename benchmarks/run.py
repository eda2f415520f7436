"""Run every benchmark, each in its own process, and collect the results into all.json and all.md.

Each script writes ``RESULTS/<name>.json|md``; this one adds ``RESULTS/all.json`` (every result,
plus the machine and each script's exit status and seconds) and ``RESULTS/all.md`` (the machine,
a summary, then each script's markdown with its headings one level down). A failing script is reported and
the others still run; the exit status is then 1.

    python benchmarks/run.py                          # full sizes, into benchmarks/results/
    python benchmarks/run.py --quick --results /tmp/kzoo-bench   # smoke test, keeps the real results
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

BENCHMARKS = ("pipeline", "simulators", "training", "soak", "faults")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    ap.add_argument("--results", default=str(RESULTS), help="output directory (default benchmarks/results)")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    if set(names) - set(BENCHMARKS):
        ap.error(f"--only: unknown benchmark(s) {sorted(set(names) - set(BENCHMARKS))}")

    results = Path(args.results)
    machine = machine_info()
    runs = {}
    for name in names:
        out = {"out_json": results / f"{name}.json", "out_md": results / f"{name}.md"}
        cmd = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick else []),
               "--out-json", str(out["out_json"]), "--out-md", str(out["out_md"])]
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd).returncode
        runs[name] = {"returncode": rc, "seconds": time.perf_counter() - t0, **{k: str(v) for k, v in out.items()}}

    ok = [n for n in names if runs[n]["returncode"] == 0]
    # The summary holds the latest result of every benchmark: those run now, and (after --only) the
    # ones an earlier run left in the results directory, marked as such.
    kept = [n for n in BENCHMARKS if n not in names and (results / f"{n}.json").exists()]
    shown = [n for n in BENCHMARKS if n in ok or n in kept]
    result = {"benchmark": "all", "machine": machine, "quick": args.quick, "runs": runs, "kept_from_earlier": kept,
              "results": {n: json.loads((results / f"{n}.json").read_text()) for n in shown}}
    rows = [[n, "ok" if n in ok else f"failed (exit {r['returncode']})", r["seconds"]] for n, r in runs.items()]
    rows += [[n, "kept from an earlier run", "-"] for n in kept]
    summary = md_table(["benchmark", "status", "seconds"], rows)
    sections = "".join("\n" + re.sub(r"^#", "##", (results / f"{n}.md").read_text(), flags=re.M) for n in shown)
    md = (f"# kzoo benchmarks{' (--quick: the numbers mean nothing)' if args.quick else ''}\n\n"
          f"{machine['date']}. Machine: {machine_line(machine)}.\n\n{summary}{sections}")
    write_outputs(results / "all.json", results / "all.md", result, md)
    return 0 if len(ok) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
