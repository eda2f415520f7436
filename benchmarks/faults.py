"""Fault injection: ``kzoo simulate`` and ``kzoo train`` killed with SIGKILL at random moments, then rerun.

For each command, one uninterrupted run is the reference and its wall time T the span of the kills.
Each trial starts the command in a fresh folder, sends SIGKILL to that one process (never to its
workers: they must follow by themselves) after a seeded uniform(0, T) seconds (a run that ended
first makes T that moment, and the trials go on until ``--kills`` kills have landed), checks
that no process it had started survives (its descendants, and any process whose command line names
the folder) ORPHAN_WAIT seconds later, reruns the same command to the end and compares:

* simulate (the tiny 16 x 16 recipe at SIM_IMAGES images in SIM_SHARDS shards, ``--workers 2``):
  every file of the folder byte for byte (shards, manifest.json, .kzoo-parts; no temporary or
  lock left);
* train (``kzoo train gc-dm`` on a tiny dataset, TRAIN_EPOCHS epochs; the rerun continues the killed
  run): history.csv byte for byte and every weight array of model.keras exactly.

    python benchmarks/faults.py --what all --kills 20 --seed 0
    python benchmarks/faults.py --what simulate --quick       # 3 kills
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_info, md_table, output_args, report, workdir  # noqa: E402

TINY = HERE.parent / "data" / "gc_tiny.yaml"
SIM_IMAGES, SIM_SHARDS, TRAIN_EPOCHS = 24000, 24, 6
ORPHAN_WAIT = 5.0  # seconds the workers of a killed process get to die
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


# -- processes (Linux /proc) -------------------------------------------------------------------------

def _stat(pid: int):
    """(parent pid, state, start time in clock ticks) of a process, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return int(fields[1]), fields[0], fields[19]


def _pids() -> list[int]:
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()]


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children, theirs, ...): pid -> start time."""
    table = {p: s for p in _pids() if (s := _stat(p)) is not None}
    out, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for p, (ppid, _, start) in table.items():
            if ppid == parent and p not in out:
                out[p] = start
                todo.append(p)
    return out


def naming(text: str) -> dict[int, str]:
    """Processes (other than this one) whose command line contains ``text``: pid -> start time."""
    out = {}
    for p in _pids():
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and p != os.getpid() and (s := _stat(p)) is not None:
            out[p] = s[2]
    return out


def survivors(procs: dict[int, str]) -> list[int]:
    """Those of ``procs`` still running: the same process (same start time), not a zombie."""
    return sorted(p for p, start in procs.items() if (s := _stat(p)) and s[2] == start and s[1] != "Z")


def kill_and_check(proc: subprocess.Popen, folder: Path, wait: float = ORPHAN_WAIT) -> tuple[bool, list[int]]:
    """SIGKILL ``proc`` alone; (whether it still ran, the processes of it left ``wait`` seconds later).

    The survivors are then killed (they are this script's own), so one failure does not spoil the
    next trial.
    """
    kids = descendants(proc.pid)
    if proc.poll() is not None:
        return False, []
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + wait
    while (left := survivors(kids)) and time.monotonic() < end:
        time.sleep(0.05)
    left = sorted(set(left) | set(survivors(naming(str(folder)))))
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True, left


# -- the commands ------------------------------------------------------------------------------------

def kzoo(*args) -> list[str]:
    return [sys.executable, "-m", "kzoo.cli", *map(str, args)]


def simulate_cmd(recipe: Path, out: Path) -> list[str]:
    return kzoo("simulate", recipe, "--out", out, "--workers", 2, "--no-progress")


def train_cmd(data: Path, out: Path) -> list[str]:
    return kzoo("train", "gc-dm", "--data", data, "--out", out, "--epochs", TRAIN_EPOCHS, "--batch-size", 16,
                "--allow-other-recipe", "--quiet")


def run_to_end(cmd: list[str], log: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    with open(log, "a") as f:
        rc = subprocess.run(cmd, env=ENV, stdout=f, stderr=subprocess.STDOUT, timeout=1800).returncode
    return rc, time.perf_counter() - t0


def tree(d: Path) -> dict[str, bytes]:
    """Every file under ``d`` (dotfiles too) with its bytes, but the stamps of the shards' last verification (a cache
    of each shard's inode and modification time, which differ between any two folders: kzoo.data.shards.VERIFIED)."""
    from kzoo.data.shards import PARTS, VERIFIED

    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.relative_to(d).as_posix() != f"{PARTS}/{VERIFIED}"}


def same_dataset(ref: Path, d: Path) -> bool:
    return tree(ref) == tree(d)


def same_run(ref: Path, d: Path) -> bool:
    """history.csv byte for byte and every weight of model.keras exactly."""
    import numpy as np

    from kzoo.export import load_model

    if not all((x / f).exists() for x in (ref, d) for f in ("history.csv", "model.keras")):
        return False
    if (ref / "history.csv").read_bytes() != (d / "history.csv").read_bytes():
        return False
    a, b = load_model(ref / "model.keras").get_weights(), load_model(d / "model.keras").get_weights()
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def trials(name: str, make_cmd, same, work: Path, kills: int, rng: random.Random) -> dict:
    """The reference run, then trials of kill -> orphan check -> rerun -> comparison until ``kills`` kills
    landed (a run that ended before its moment is a trial without a kill; at most 3 x ``kills`` trials)."""
    log = work / f"{name}.log"
    ref = work / f"{name}-ref"
    rc, reference = run_to_end(make_cmd(ref), log)
    span = reference
    if rc != 0:
        raise SystemExit(f"{name}: the uninterrupted reference run failed (exit {rc}); see {log}")
    rows, i = [], 0
    while sum(r["killed"] for r in rows) < kills and i < 3 * kills:
        out, i = work / f"{name}-{i:02d}", i + 1
        at = rng.uniform(0.0, span)
        with open(log, "a") as f:
            proc = subprocess.Popen(make_cmd(out), env=ENV, stdout=f, stderr=subprocess.STDOUT)
        time.sleep(at)
        killed, orphans = kill_and_check(proc, out)
        if not killed:  # it finished sooner than the reference: draw the next moments from a shorter span
            span = at
        rc, seconds = run_to_end(make_cmd(out), log)
        identical = rc == 0 and same(ref, out)
        rows.append({"trial": i - 1, "kill_at_s": round(at, 3), "killed": killed, "orphans": orphans,
                     "rerun_exit": rc, "rerun_s": round(seconds, 2), "identical": identical})
        print(f"{name} {i - 1}: kill at {at:.2f} s ({'killed' if killed else 'had finished'}), "
              f"{len(orphans)} orphan(s), rerun exit {rc} in {seconds:.1f} s, identical: {identical}", flush=True)
    shown = ["kzoo", *make_cmd(work / f"{name}-NN")[3:]]  # not the interpreter's path
    return {"command": " ".join(shown).replace(str(work), "WORK"), "reference_s": round(reference, 2),
            "trials": rows, "kills": sum(r["killed"] for r in rows), "reruns": len(rows),
            "identical": sum(r["identical"] for r in rows), "orphans": sum(len(r["orphans"]) for r in rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--what", default="all", choices=["simulate", "train", "all"])
    ap.add_argument("--kills", type=int, default=20, help="kills of each command (default 20; --quick 3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--out", help="work folder (kept); default a temporary folder, removed at the end")
    output_args(ap, "faults", quick="3 kills of each command")
    args = ap.parse_args(argv)
    if os.name != "posix" or not Path("/proc/self/stat").exists():
        ap.error("needs Linux (/proc) and SIGKILL")
    kills = 3 if args.quick else args.kills
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    results = {}
    with workdir(args.out, prefix="kzoo-faults-") as work:
        if args.what in ("simulate", "all"):
            import yaml

            recipe = work / "recipe.yaml"
            recipe.write_text(yaml.safe_dump({**yaml.safe_load(TINY.read_text()), "shards": SIM_SHARDS,
                                              "splits": {"train": SIM_IMAGES * 3 // 5, "val": SIM_IMAGES // 5,
                                                         "test": SIM_IMAGES // 5}}))
            results["simulate"] = trials("simulate", lambda out: simulate_cmd(recipe, out), same_dataset, work,
                                         kills, rng)
        if args.what in ("train", "all"):
            data = work / "train-data"
            rc, _ = run_to_end(kzoo("simulate", TINY, "--out", data, "--no-progress"), work / "train.log")
            if rc != 0:
                raise SystemExit(f"could not simulate the training data (exit {rc}); see {work / 'train.log'}")
            results["train"] = trials("train", lambda out: train_cmd(data, out), same_run, work, kills, rng)
    seconds = time.perf_counter() - t0
    ok = all(r["identical"] == r["reruns"] and r["orphans"] == 0 for r in results.values())
    rows = [[name, r["kills"], r["reruns"], r["identical"], r["orphans"], r["reference_s"],
             sum(t["rerun_s"] for t in r["trials"]) / max(len(r["trials"]), 1)] for name, r in results.items()]
    body = md_table(["command", "kills (landed)", "reruns", "identical to the uninterrupted run", "orphans",
                     "uninterrupted s", "mean rerun s"], rows)
    body += "".join(f"\n`{r['command']}`\n" for r in results.values())
    body += f"\nAll {seconds:,.0f} s; every rerun identical and no orphan: **{'yes' if ok else 'no'}**.\n"
    report(args, {"benchmark": "faults", "machine": machine_info(), "seed": args.seed, "kills_each": kills,
                  "seconds": seconds, "ok": ok, "results": results}, "Fault injection",
           f"SIGKILL at {kills} seeded random moments (seed {args.seed}) of each command, a rerun after each, "
           f"compared with an uninterrupted run", body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
