"""Simulator throughput: images per second per core, and end-to-end ``write_shards`` throughput.

* Each simulator in SIMULATORS is called in this one process (one core): a warm-up call first
  (galactic_center builds a cached sampling table on first use), then the best of ``--repeats``
  calls of ``--n`` images. CPU seconds are recorded too (a busy machine lowers wall-clock rates).
* ``kzoo.data.write_shards`` (galactic_center, counts only, 8 shards) of ``--n-shards-images``
  images into a fresh directory with 1 and 2 worker processes: simulation, serialisation,
  sha256 and manifest, and with workers > 1 the start-up of the spawned processes.

    python benchmarks/simulators.py
    python benchmarks/simulators.py --quick       # smoke test
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

from kzoo.families.gc import sky as galactic_center  # noqa: E402

# name -> (simulate(rng, n, **kwargs), kwargs). Add other skies or settings here.
SIMULATORS = {
    "galactic_center": (galactic_center.simulate, {}),
    "galactic_center rotate=True": (galactic_center.simulate, {"rotate": True}),
}
# name -> target images per second per core (names without one are reported without a target).
TARGETS = {"galactic_center": 2000.0, "galactic_center rotate=True": 2000.0}


def time_simulator(fn, kwargs, n: int, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    fn(rng, n, **kwargs)  # warm-up (cached tables)
    warmup = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(rng, n, **kwargs)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"n": n, "warmup_seconds": warmup, "seconds": wall, "cpu_seconds": cpu,
            "images_per_s": n / min(wall), "images_per_cpu_s": n / min(cpu)}


def time_poisson_draw(fn, kwargs, n: int, repeats: int, seed: int = 0) -> dict:
    """Where a galactic-centre call spends its time: numpy's Poisson draw of the counts alone
    (``rng.poisson(expected)`` on one call's expected maps, best of ``repeats``), the step that no
    vectorisation of the rest can remove without changing the bytes of every dataset."""
    expected = fn(np.random.default_rng(seed), n, **kwargs)["expected"]
    rng = np.random.default_rng(seed + 1)
    wall = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rng.poisson(expected)
        wall.append(time.perf_counter() - t0)
    return {"seconds": min(wall), "mean_expected_counts": float(expected.mean())}


def time_write_shards(n: int, workers: int, workdir: Path) -> dict:
    from kzoo.data import write_shards

    out = workdir / f"shards-w{workers}"  # fresh: write_shards would keep finished shards
    recipe = {"sky": "galactic_center", "splits": {"train": n}, "shards": 8, "features": ["counts"]}
    t0 = time.perf_counter()
    manifest = write_shards(recipe, out, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    written = sum(s["bytes"] for s in manifest["splits"]["train"]["shards"])
    shutil.rmtree(out, ignore_errors=True)
    return {"n": n, "workers": workers, "seconds": wall, "bytes": written, "images_per_s": n / wall,
            "images_per_s_per_worker": n / wall / workers}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="images per simulate call (default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls, best reported (default 3)")
    ap.add_argument("--n-shards-images", default="8000,40000",
                    help="images for write_shards, comma-separated sizes (default 8000,40000: a worker's start-up, "
                         "about 0.5 s, weighs less on a larger dataset)")
    ap.add_argument("--workers", help="write_shards worker counts (default 1,2; with --quick 1)")
    ap.add_argument("--out-json", default=str(RESULTS / "simulators.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "simulators.md"))
    ap.add_argument("--quick", action="store_true", help="smoke test: n=500, 1 repeat, 1000 write_shards images, 1 worker")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.n_shards_images = 500, 1, "1000"
    workers = [int(w) for w in (args.workers or ("1" if args.quick else "1,2")).split(",")]
    sizes = [int(k) for k in str(args.n_shards_images).split(",")]
    if min(args.n, args.repeats, *sizes, *workers) <= 0:
        ap.error("--n, --repeats, --n-shards-images and --workers must be positive")

    machine = machine_info()
    sims = {}
    for name, (fn, kwargs) in SIMULATORS.items():
        r = time_simulator(fn, kwargs, args.n, args.repeats)
        r["kwargs"] = kwargs
        r["target_images_per_s"] = TARGETS.get(name)
        r["target_met"] = None if name not in TARGETS else r["images_per_s"] >= TARGETS[name]
        if fn is galactic_center.simulate:
            r["poisson_draw"] = time_poisson_draw(fn, kwargs, args.n, args.repeats)
            r["poisson_share"] = r["poisson_draw"]["seconds"] / min(r["seconds"])
        sims[name] = r
        print(f"{name}: {r['images_per_s']:,.0f} img/s ({r['images_per_cpu_s']:,.0f} per CPU-second)", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="kzoo-bench-sims-"))
    try:
        shards = []
        for size in sizes:
            for w in workers:
                shards.append(time_write_shards(size, w, workdir))
                print(f"write_shards {size} images, workers={w}: {shards[-1]['images_per_s']:,.0f} img/s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result = {"benchmark": "simulators", "machine": machine, "quick": args.quick, "n_per_call": args.n,
              "repeats": args.repeats, "simulators": sims, "write_shards": shards,
              "target_met": all(r["target_met"] for r in sims.values() if r["target_met"] is not None)}
    t1 = md_table(["simulator", "img/s per core", "img/s per CPU-second", "share of the time in the Poisson draw",
                   "target", "met"],
                  [[name, r["images_per_s"], r["images_per_cpu_s"], r.get("poisson_share", "-"),
                    "-" if r["target_images_per_s"] is None else r["target_images_per_s"],
                    "-" if r["target_met"] is None else r["target_met"]] for name, r in sims.items()])
    for r in shards:  # the goal: W workers at >= 0.9 W times the one-worker rate on the same number of images
        one = next((q["images_per_s"] for q in shards if q["workers"] == 1 and q["n"] == r["n"]), None)
        r["speedup_over_one_worker"] = None if one is None else r["images_per_s"] / one
        r["scaling_met"] = None if one is None or r["workers"] == 1 else r["speedup_over_one_worker"] >= 0.9 * r["workers"]
    t2 = md_table(["write_shards workers", "images", "seconds", "img/s", "img/s per worker", "x one worker",
                   ">= 0.9 x workers"],
                  [[r["workers"], r["n"], r["seconds"], r["images_per_s"], r["images_per_s_per_worker"],
                    "-" if r["speedup_over_one_worker"] is None else r["speedup_over_one_worker"],
                    "-" if r["scaling_met"] is None else r["scaling_met"]] for r in shards])
    md = (f"# Simulator throughput\n\nOne process, best of {args.repeats} call(s) of {args.n:,} images after a "
          f"warm-up call{' (--quick)' if args.quick else ''}.\nMachine: {machine_line(machine)}.\n\n{t1}\n"
          f"## write_shards end to end (galactic_center, counts, 8 shards)\n\n{t2}")
    write_outputs(args.out_json, args.out_md, result, md)


if __name__ == "__main__":
    main()
