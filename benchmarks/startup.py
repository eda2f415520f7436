"""Start-up against dataset size: does starting `kzoo train`, or finding a run up to date, grow with the data?

For each size it simulates a Galactic-centre dataset (64 x 64 counts maps only, 2 workers; the writer hashes each
shard as it writes it and remembers it as verified), then times, each in a fresh process as a user runs them:

- the first training: command start to the first training step (imports, the manifest, the shards' check, the
  run's identity, the model, the pipeline), then its whole run (one epoch of the first 512 training maps with a
  small CNN; evaluation on the val split, no classical reference);
- the same command again: a finished run, "up to date" (command start to exit).

It records the sizes, times and the machine with the commit and command to benchmarks/results/startup.{json,md}.

    python benchmarks/startup.py --sizes 10000,100000,1000000 --work /tmp/kzoo-startup
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

# The run: one epoch of the first 512 training maps with a small CNN. The first time a callback notes the first
# training step (it needs Keras, imported first); the second time there is no callback, as a user's command has
# none: fit decides "up to date" before it imports Keras.
TRAIN = """
import json, os, sys, time
from kzoo.train import fit

callbacks = []
if sys.argv[3] == "first":
    import keras

    class FirstStep(keras.callbacks.Callback):
        seconds = None
        def on_train_batch_begin(self, batch, logs=None):
            if FirstStep.seconds is None:
                FirstStep.seconds = time.time() - float(os.environ["KZOO_BENCH_START"])

    callbacks = [FirstStep()]
res = fit("gc-dm", sys.argv[1], sys.argv[2], epochs=1, train_size=512, batch_size=64, verbose=0, classical=False,
          evaluate_split="val", model_args={"filters": [8, 8, 16, 16, 16, 16], "dense": [32]}, callbacks=callbacks)
print(json.dumps({"first_step_s": callbacks[0].seconds if callbacks else None, "status": res["training"]["status"]}))
"""


def run_train(data: Path, run: Path, which: str) -> dict:
    env = {**os.environ, "KZOO_BENCH_START": repr(time.time()), "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", TRAIN, str(data), str(run), which], capture_output=True, text=True,
                       env=env)
    wall = time.time() - t0
    if p.returncode:
        raise SystemExit(f"training failed:\n{p.stderr[-3000:]}")
    return {**json.loads(p.stdout.strip().splitlines()[-1]), "wall_s": round(wall, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="dataset sizes in maps, comma-separated")
    ap.add_argument("--work", default="/tmp/kzoo-startup", help="a work folder (each dataset removed after use)")
    ap.add_argument("--workers", type=int, default=2, help="simulation processes")
    a = ap.parse_args(argv)
    from kzoo.data import write_shards
    from kzoo.data.recipes import load_recipe

    work = Path(a.work)
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        shutil.rmtree(work, ignore_errors=True)
        recipe = {**load_recipe("galactic_center"), "features": ["counts"], "shards": max(8, n // 4096)}
        t0 = time.time()
        m = write_shards(recipe, work / "data", n=n, seed=1, workers=a.workers, progress=False)
        sim = time.time() - t0
        gib = sum(sh["bytes"] for s in m["splits"].values() for sh in s["shards"]) / 2**30
        first = run_train(work / "data", work / "run", "first")
        again = run_train(work / "data", work / "run", "again")
        rows.append({"maps": n, "shards": recipe["shards"], "gib": round(gib, 2), "simulate_s": round(sim, 1),
                     "first_step_s": round(first["first_step_s"], 2), "first_run_s": first["wall_s"],
                     "up_to_date_s": again["wall_s"], "second_status": again["status"]})
        print(rows[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    m = machine_info()
    md = (f"# Start-up against dataset size\n\n{machine_line(m)}. Galactic-centre datasets of 64 x 64 counts maps; "
          "each command in a fresh process. First step: command start to the first training step of the first "
          "`fit` (one epoch of the first 512 training maps, a small CNN). Up to date: the same command again.\n\n"
          + md_table(["maps", "shards", "GiB", "simulate s", "first step s", "first run s", "up to date s"],
                     [[f"{r['maps']:,}", r["shards"], r["gib"], r["simulate_s"], r["first_step_s"], r["first_run_s"],
                       r["up_to_date_s"]] for r in rows]) + "\n")
    write_outputs(RESULTS / "startup.json", RESULTS / "startup.md", {"machine": m, "rows": rows}, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
