"""The README's quickstart, timed: its two kzoo commands run as a user runs them, and what they end with.

Runs ``kzoo simulate galactic_center --n 2400 --out WORK/data --seed 7 --workers 2`` then ``kzoo train gc-dm --data
WORK/data --out WORK/run --epochs 3`` in a fresh work folder, with the ``kzoo`` of this environment (the install is
not timed: it depends on the network and pip's cache), and records each command's wall time, the last lines of the
training and the test metrics, with the commit and machine, to benchmarks/results/quickstart.{json,md}. The README's
quickstart block is written from that record (``python docs/build.py --readme``).

    python benchmarks/quickstart.py [--work /tmp/kzoo-quickstart]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

COMMANDS = [
    ["kzoo", "simulate", "galactic_center", "--n", "2400", "--out", "{work}/data", "--seed", "7", "--workers", "2"],
    ["kzoo", "train", "gc-dm", "--data", "{work}/data", "--out", "{work}/run", "--epochs", "3"],
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/kzoo-quickstart", help="a work folder, emptied first")
    a = ap.parse_args(argv)
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    steps = []
    for cmd in COMMANDS:
        cmd = [c.format(work=work) for c in cmd]
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        steps.append({"command": " ".join(cmd).replace(str(work), "kzoo-quickstart"), "seconds": round(time.time() - t0, 1),
                      "exit_status": p.returncode,
                      "last_lines": [line.replace(str(work), "kzoo-quickstart")
                                     for line in p.stdout.strip().splitlines()[-4:]]})
        if p.returncode:
            print(p.stderr, file=sys.stderr)
            break
    metrics = json.loads((work / "run" / "metrics.json").read_text()) if (work / "run" / "metrics.json").exists() else {}
    m = machine_info()
    result = {"machine": m, "steps": steps, "test_metrics": metrics.get("metrics", metrics)}
    md = (f"# The README's quickstart, timed\n\n{machine_line(m)}; the install is not timed.\n\n"
          + md_table(["command", "seconds", "exit status"], [[f"`{s['command']}`", s["seconds"], s["exit_status"]]
                                                             for s in steps])
          + "\n\nThe training's last lines:\n\n```\n" + "\n".join(steps[-1]["last_lines"]) + "\n```\n")
    write_outputs(RESULTS / "quickstart.json", RESULTS / "quickstart.md", result, md)
    return max(s["exit_status"] for s in steps)


if __name__ == "__main__":
    sys.exit(main())
