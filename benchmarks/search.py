"""What a search costs beyond its trainings, and what a second worker buys: ``kzoo tune`` of a small
galactic-centre experiment run the way users run it (the CLI, one process per tuner), timed end to end.

* one process: ``kzoo tune EXPERIMENT --tuner random --max-trials K --epochs E`` on its own;
* chief + workers: the same search with ``--chief 127.0.0.1:PORT`` and ``--workers`` processes started with
  ``--worker 127.0.0.1:PORT --id tunerI`` (keras-tuner's gRPC protocol), all on this machine.

For each: the wall-clock seconds from start to the last process's exit, the seconds the trials' own fits took
(``trials.json``: each trial's ``kzoo.train.fit`` time), and the overhead per trial = (wall - the fits' sum /
processes) / trials: process start-up, imports, the oracle's gRPC round trips, model building outside fit and the
trial report. The speed-up is the one-process wall over the chief-and-workers wall. On a machine of few cores the
workers share them, so the speed-up says what the protocol costs rather than what more machines would give.

    python benchmarks/search.py                      # gc-dm, 6 trials of 2 epochs, 2 workers, 2,048 images
    python benchmarks/search.py --quick --out-json /tmp/s.json --out-md /tmp/s.md
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402


def _tune(args, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "kzoo.cli", "tune", args.experiment, "--data", str(data), "--out", str(out),
            "--tuner", "random", "--max-trials", str(args.trials), "--epochs", str(args.epochs), "--seed", "1"]


def _fits(out: Path) -> tuple[int, float]:
    """(completed trials, the sum of their fit seconds) from a search's trials.json."""
    rows = json.loads((out / "trials.json").read_text())["trials"]
    done = [r for r in rows if r["status"] == "COMPLETED"]
    return len(done), float(sum(r["seconds"] or 0.0 for r in done))


def _wait(procs, timeout: float) -> None:
    try:
        for p in procs:
            _, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(p.args[:6])} ...: exit {p.returncode}: {err[-1500:]}")
    finally:
        for p in procs:
            p.kill()


def one_process(args, data: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    _wait([subprocess.Popen(_tune(args, data, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)],
          args.timeout)
    wall = time.perf_counter() - t0
    trials, fits = _fits(out)
    return {"processes": 1, "wall_seconds": wall, "trials": trials, "fit_seconds": fits,
            "overhead_per_trial_seconds": (wall - fits) / max(trials, 1)}


def chief_and_workers(args, data: Path, out: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = _tune(args, data, out)
    t0 = time.perf_counter()
    chief = subprocess.Popen(base + ["--chief", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen(base + ["--worker", f"127.0.0.1:{port}", "--id", f"tuner{i}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(args.workers)]
    _wait([*workers, chief], args.timeout)
    wall = time.perf_counter() - t0
    trials, fits = _fits(out)
    by = {}
    for r in json.loads((out / "trials.json").read_text())["trials"]:
        tid = json.loads((out / "runs" / r["trial"] / "trial.json").read_text()).get("tuner_id", "?")
        by[tid] = by.get(tid, 0) + 1
    return {"processes": 1 + args.workers, "workers": args.workers, "wall_seconds": wall, "trials": trials,
            "fit_seconds": fits, "trials_per_worker": by,
            "overhead_per_trial_seconds": (wall - fits / args.workers) / max(trials, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", default="gc-dm", help="a declared experiment of the galactic_center sky "
                                                           "(default gc-dm: gc_cnn, one amplitude)")
    ap.add_argument("--n", type=int, default=2048, help="images simulated for the search (default 2048)")
    ap.add_argument("--trials", type=int, default=6, help="trials of each search (default 6)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of each trial (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes beside the chief (default 2)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds a search may take (default 3600)")
    ap.add_argument("--out-json", default=str(RESULTS / "search.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "search.md"))
    ap.add_argument("--quick", action="store_true", help="smoke test: 256 images, 2 trials of 1 epoch")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.trials, args.epochs = 256, 2, 1
    if min(args.n, args.trials, args.epochs, args.workers) <= 0:
        ap.error("--n, --trials, --epochs and --workers must be positive")

    from kzoo.data import write_shards
    from kzoo.experiments import get_experiment

    exp = get_experiment(args.experiment)
    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="kzoo-bench-search-"))
    try:
        data = work / "data"
        write_shards(exp.recipe, data, n=args.n, workers=1, progress=False)
        single = one_process(args, data, work / "one")
        print(f"one process: {single['wall_seconds']:.1f} s for {single['trials']} trials", flush=True)
        spread = chief_and_workers(args, data, work / "spread")
        print(f"chief + {args.workers} workers: {spread['wall_seconds']:.1f} s for {spread['trials']} trials", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    speedup = single["wall_seconds"] / spread["wall_seconds"]
    result = {"benchmark": "search", "machine": machine, "quick": args.quick, "experiment": exp.name,
              "recipe": exp.recipe, "n": args.n, "trials": args.trials, "epochs": args.epochs,
              "one_process": single, "chief_and_workers": spread, "speedup": speedup}
    table = md_table(["search", "processes", "trials", "wall s", "fits s (sum)", "overhead s per trial"],
                     [["one process", 1, single["trials"], single["wall_seconds"], single["fit_seconds"],
                       single["overhead_per_trial_seconds"]],
                      [f"chief + {args.workers} workers", 1 + args.workers, spread["trials"], spread["wall_seconds"],
                       spread["fit_seconds"], spread["overhead_per_trial_seconds"]]])
    md = (f"# Search cost: `kzoo tune {exp.name}`\n\nRandom search, {args.trials} trials of {args.epochs} epoch(s) on "
          f"{args.n:,} simulated `{exp.recipe}` images{' (--quick)' if args.quick else ''}; trials per worker "
          f"{spread['trials_per_worker']}.\nMachine: {machine_line(machine)}.\n\n{table}\n"
          f"Speed-up of the chief and {args.workers} workers over one process: {speedup:.2f} (all on this machine's "
          f"{machine.get('usable_cpus', machine.get('cpu_count', '?'))} CPUs).\n")
    write_outputs(args.out_json, args.out_md, result, md)


if __name__ == "__main__":
    main()
