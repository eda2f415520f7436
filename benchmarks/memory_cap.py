"""Training on a dataset larger than the memory a job may use (issue 51): `kzoo train` in a memory cgroup.

A cluster job (SLURM) or a container runs under a memory cgroup. kzoo decides from the manifest whether the
training split fits comfortably (at most half of what the process may use, the cgroup's limit included): it caches
the records in memory when it does and streams them from the shards every epoch when it does not, in the same
order. This benchmark simulates a Galactic-centre dataset larger than the cap, then trains one epoch under the cap:

- ``auto``: ``kzoo train`` as a user runs it (the decision above; it should stream and finish);
- ``cached`` (``--also-cached``): the same training forced to cache the split, as every run did before: the
  kernel's OOM killer should end it (exit 137) once the cache outgrows the cap.

It records the exit status, wall time, the cgroup's peak memory and kzoo's line saying which it chose, with the
commit, command and machine, to benchmarks/results/memory_cap.{json,md}. Linux only, as root (it makes a memory
cgroup under /sys/fs/cgroup; v1 or v2).

    python benchmarks/memory_cap.py --n 190000 --cap-gib 1.5 --work /tmp/kzoo-memory-cap
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

SMALL = ["--model-arg", "filters=[8,8,16,16,16,16]", "--model-arg", "dense=[32]"]  # the pipeline is the question


def cgroup(name: str, cap: int):
    """(the folder of a new memory cgroup of limit ``cap`` bytes, its procs file, a function reading its peak)."""
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        d = v1 / name
        d.mkdir(exist_ok=True)
        (d / "memory.limit_in_bytes").write_text(str(cap))
        (d / "memory.max_usage_in_bytes").write_text("0")
        return d, d / "cgroup.procs", lambda: int((d / "memory.max_usage_in_bytes").read_text())
    d = Path("/sys/fs/cgroup") / name
    d.mkdir(exist_ok=True)
    (d / "memory.max").write_text(str(cap))
    (d / "memory.swap.max").write_text("0")
    return d, d / "cgroup.procs", lambda: int((d / "memory.peak").read_text()) if (d / "memory.peak").exists() else -1


def run_capped(cmd: list[str], cap: int, name: str, log: Path) -> dict:
    folder, procs, peak = cgroup(name, cap)
    t0 = time.time()
    with open(log, "w") as f:
        # the shell joins the cgroup, then becomes the command: everything it starts is inside
        rc = subprocess.run(["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *cmd], stdout=f,
                            stderr=subprocess.STDOUT).returncode
    seconds = time.time() - t0
    result = {"exit_status": rc, "seconds": round(seconds, 1), "peak_bytes": peak()}
    text = log.read_text(errors="replace")
    result["said"] = next((line.strip() for line in text.splitlines() if "the train split" in line), "")
    result["last_line"] = text.strip().splitlines()[-1][-300:] if text.strip() else ""
    folder.rmdir()
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=190_000, help="Galactic-centre maps in the dataset (16 KiB each)")
    p.add_argument("--cap-gib", type=float, default=1.5, help="the memory cgroup's limit, GiB")
    p.add_argument("--work", default="/tmp/kzoo-memory-cap", help="where the dataset and runs go")
    p.add_argument("--also-cached", action="store_true", help="also train forced to cache the split (expect a kill)")
    p.add_argument("--batch-size", type=int, default=256)
    a = p.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    data = work / "data"
    subprocess.run([py, "-m", "kzoo.cli", "simulate", "galactic_center", "--n", str(a.n), "--seed", "3", "--out",
                    str(data), "--workers", "2", "--no-progress"], check=True)
    from kzoo.data.shards import load_manifest

    m = load_manifest(data, verify=False)
    train_bytes = sum(s["bytes"] for s in m["splits"]["train"]["shards"])
    cap = int(a.cap_gib * 2 ** 30)
    base = ["train", "gc-dm", "--data", str(data), "--epochs", "1", "--batch-size", str(a.batch_size), "--quiet",
            "--no-reference", *SMALL]
    runs = {}
    runs["auto"] = run_capped([py, "-m", "kzoo.cli", *base, "--out", str(work / "run-auto"), "--overwrite"], cap,
                              "kzoo-bench-auto", work / "auto.log")
    # start-up that does not grow with the data: the same command again finds the run finished ("up to date")
    t0 = time.time()
    again = subprocess.run([py, "-m", "kzoo.cli", *base, "--out", str(work / "run-auto")], capture_output=True,
                           text=True)
    up_to_date = {"exit_status": again.returncode, "seconds": round(time.time() - t0, 2),
                  "said": (again.stdout.strip().splitlines() or [""])[-1][:200]}
    if a.also_cached:
        code = ("import sys; from kzoo.train import fit; "
                f"fit('gc-dm', {str(data)!r}, {str(work / 'run-cached')!r}, epochs=1, batch_size={a.batch_size}, "
                "cache=True, overwrite=True, classical=False, verbose=2, "
                "model_args={'filters': [8, 8, 16, 16, 16, 16], 'dense': [32]})")
        runs["cached"] = run_capped([py, "-c", code], cap, "kzoo-bench-cached", work / "cached.log")
    from kzoo.runs import git_commit

    machine = machine_info()
    result = {"benchmark": "memory_cap", "commit": git_commit(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "machine": machine, "n_images": a.n, "train_images": m["splits"]["train"]["count"],
              "train_split_bytes": train_bytes, "cap_bytes": cap, "runs": runs, "up_to_date": up_to_date}
    rows = [[k, r["exit_status"], r["seconds"], f"{r['peak_bytes'] / 2 ** 30:.2f}", r["said"] or r["last_line"][:120]]
            for k, r in runs.items()]
    md = (f"# Training under a memory cap smaller than the training split\n\n"
          f"`kzoo train gc-dm --epochs 1` (a small gc_cnn: the pipeline is the question) on {m['splits']['train']['count']:,} "
          f"training maps ({train_bytes / 2 ** 30:.2f} GiB of shards) in a memory cgroup of {a.cap_gib:g} GiB.\n\n"
          + md_table(["run", "exit status", "seconds", "peak GiB", "what kzoo said (or the last line)"], rows)
          + f"\nThe same `kzoo train` again on the finished run (no memory cap): {up_to_date['seconds']} s to say "
          f"\"{up_to_date['said']}\" on this {m['splits']['train']['count'] + sum(v['count'] for k, v in m['splits'].items() if k != 'train'):,}-map "
          f"dataset (nothing hashed again: the shards' stamps are unchanged).\n"
          + f"\nMachine: {machine_line(machine)}; commit {result['commit']}.\n\nCommand: `{result['command']}`\n")
    write_outputs(RESULTS / "memory_cap.json", RESULTS / "memory_cap.md", result, md)
    return 0 if runs["auto"]["exit_status"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
