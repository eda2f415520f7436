"""Soak test of kzoo's input pipeline: many epochs over many images, watching time and memory.

``kzoo.data.dataset(dir, "train", batch_size=256, shuffle=True, cache=False, repeat=False)`` over
``--n`` galactic-centre 64x64 float32 maps (kzoo shards, block 16) is iterated ``--epochs`` times,
every batch. Per epoch: wall time, images/s, the process's peak RSS (``ru_maxrss``) and its current
RSS (``VmRSS``). Memory "grows" if the current RSS after the last epoch exceeds that after epoch 2
by more than 5 % + 50 MiB.

    python benchmarks/soak.py                      # n=100000, 10 epochs (simulating takes ~80 s)
    python benchmarks/soak.py --workdir benchmarks/work/soak   # keep the shards for a rerun
    python benchmarks/soak.py --quick              # smoke test: n=2000, 3 epochs
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import gc_shards, machine_info, md_table, output_args, report, workdir  # noqa: E402

MiB = 2**20


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB (Linux: VmRSS and ru_maxrss, both KiB)."""
    current = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    return current * 1024 / MiB, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MiB


def soak(data: Path, n: int, epochs: int, batch_size: int) -> list[dict]:
    from kzoo.data import dataset

    ds = dataset(data, "train", batch_size=batch_size, shuffle=True, cache=False, repeat=False)
    rows = []
    for epoch in range(1, epochs + 1):
        seen = 0
        t0 = time.perf_counter()
        for x, _ in ds:
            seen += int(x.shape[0])
        wall = time.perf_counter() - t0
        if seen != n:
            raise RuntimeError(f"epoch {epoch} gave {seen} images, expected {n}")
        current, peak = rss_mb()
        rows.append({"epoch": epoch, "seconds": wall, "images_per_s": n / wall, "rss_mb": current, "peak_rss_mb": peak})
        print(f"epoch {epoch}: {n / wall:,.0f} img/s, RSS {current:,.0f} MiB (peak {peak:,.0f} MiB)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="images (default 100000)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs, at least 3 (default 10)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2, help="processes for write_shards (default 2)")
    ap.add_argument("--workdir", help="keep/reuse the shards here (default: a temporary directory)")
    output_args(ap, "soak", "n=2000, 3 epochs, 1 worker")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.workers = 2000, 3, 1
    if min(args.n, args.batch_size, args.workers) <= 0 or args.epochs < 3:
        ap.error("--n, --batch-size and --workers must be positive, --epochs at least 3")

    machine = machine_info()
    with workdir(args.workdir, "kzoo-bench-soak-") as work:
        _, t_sim = gc_shards(work / "data", args.n, workers=args.workers)
        print(f"simulated {args.n} images in {t_sim:.1f} s", flush=True)
        start_mb = rss_mb()[0]
        rows = soak(work / "data", args.n, args.epochs, args.batch_size)

    base, last = rows[1]["rss_mb"], rows[-1]["rss_mb"]
    grows = last - base > 0.05 * base + 50
    result = {"benchmark": "soak", "machine": machine, "n": args.n, "epochs": args.epochs,
              "batch_size": args.batch_size, "image_shape": [64, 64, 1], "dtype": "float32",
              "simulate_seconds": t_sim, "rss_mb_before": start_mb, "rss_growth_mb": last - base,
              "rss_grows": grows, "rows": rows}
    table = md_table(["epoch", "seconds", "img/s", "RSS MiB", "peak RSS MiB"],
                     [[r["epoch"], r["seconds"], r["images_per_s"], r["rss_mb"], r["peak_rss_mb"]] for r in rows])
    report(args, result, "Input pipeline soak",
           f"{args.n:,} images of 64x64 float32, {args.epochs} epochs of "
           f"`kzoo.data.dataset(batch_size={args.batch_size}, shuffle=True, cache=False)`",
           f"{table}\nRSS {start_mb:,.0f} MiB before the first epoch; {last - base:+,.0f} MiB from epoch 2 to epoch "
           f"{args.epochs}: **{'grows' if grows else 'flat'}** (grows = more than 5 % + 50 MiB).\n")

if __name__ == "__main__":
    main()
