"""Training and inference throughput (images/s) of the headline model ``gc_cnn``.

Training (Adam 1e-3, MSE, batch 64) is fed (i) from kzoo's TFRecord pipeline
``kzoo.data.dataset(dir, "train", batch_size=64, shuffle=True, cache=False)`` and (ii) from the same
images in memory (``model.fit(x, y, batch_size=64)``), so the input pipeline's cost shows: one
warm-up epoch, then ``--epochs`` timed epochs (median epoch reported). Inference: ``model.predict``
in memory, and a SavedModel exported with ``kzoo.export.export`` loaded with ``tf.saved_model.load``
and called via ``.serve(x)`` in batches of 256 (one warm-up pass, median of ``--epochs`` passes).

    python benchmarks/training.py                             # n=4096, 3 timed epochs, float32
    python benchmarks/training.py --precision mixed_bfloat16  # AMX/AVX512-BF16 CPUs: much faster
    python benchmarks/training.py --quick                     # smoke test: n=256, 1 timed epoch
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import gc_shards, machine_info, md_table, output_args, report, workdir  # noqa: E402

MODEL = "gc_cnn"
SERVE_BATCH = 256


def time_fit(model, epochs: int, n: int, data, **fit_args) -> dict:
    """One warm-up epoch, then ``epochs`` epochs timed one by one (a callback)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)

    model.fit(data, epochs=1, verbose=0, **fit_args)
    seconds = []
    model.fit(data, epochs=epochs, verbose=0, callbacks=[EpochTimer()], **fit_args)
    return {"seconds": seconds, "images_per_s": n / statistics.median(seconds)}


def time_passes(fn, passes: int, n: int) -> tuple[dict, np.ndarray]:
    """One warm-up call of ``fn()`` (its result is returned), then ``passes`` timed calls."""
    out = fn()
    seconds = []
    for _ in range(passes):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds, "images_per_s": n / statistics.median(seconds)}, out


def run(args, work: Path) -> dict:
    import keras
    import tensorflow as tf

    import kzoo
    from kzoo.data import dataset, load_arrays
    from kzoo.export import export

    data = work / "data"
    manifest, t_sim = gc_shards(data, args.n, workers=args.workers)
    x, y = load_arrays(data, "train")
    st = manifest["stats"]["features"]["counts"]
    print(f"simulated {args.n} images in {t_sim:.1f} s", flush=True)

    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(0)
    model = kzoo.build(MODEL, normalization={"mode": "global", "mean": st["mean"], "std": st["std"] or 1.0})
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    bs = args.batch_size
    train = {
        "kzoo": time_fit(model, args.epochs, args.n,
                         dataset(data, "train", batch_size=bs, shuffle=True, cache=False)),
        "in_memory": time_fit(model, args.epochs, args.n, x, y=y, batch_size=bs),
    }
    print("train: " + ", ".join(f"{k} {v['images_per_s']:,.0f} img/s" for k, v in train.items()), flush=True)

    export(model, "savedmodel", out=work / "savedmodel")
    loaded = tf.saved_model.load(str(work / "savedmodel"))

    def serve():
        return np.concatenate([loaded.serve(tf.constant(x[i:i + SERVE_BATCH])).numpy()
                               for i in range(0, len(x), SERVE_BATCH)])

    infer, preds = {}, {}
    infer["keras_predict"], preds["keras"] = time_passes(
        lambda: model.predict(x, batch_size=SERVE_BATCH, verbose=0), args.epochs, args.n)
    infer["savedmodel_serve"], preds["savedmodel"] = time_passes(serve, args.epochs, args.n)
    print("inference: " + ", ".join(f"{k} {v['images_per_s']:,.0f} img/s" for k, v in infer.items()), flush=True)
    return {"train": train, "inference": infer, "simulate_seconds": t_sim,
            "ratio_kzoo_over_in_memory": train["kzoo"]["images_per_s"] / train["in_memory"]["images_per_s"],
            "max_abs_diff_savedmodel_vs_keras": float(np.max(np.abs(
                preds["savedmodel"].astype(np.float64) - preds["keras"].astype(np.float64))))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4096, help="training images (default 4096)")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs / inference passes after a warm-up (default 3)")
    ap.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    ap.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    ap.add_argument("--workers", type=int, default=1, help="processes for write_shards (default 1)")
    ap.add_argument("--workdir", help="keep/reuse the shards and SavedModel here (default: a temporary directory)")
    output_args(ap, "training", "n=256, 1 timed epoch")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs = 256, 1
    if min(args.n, args.epochs, args.batch_size, args.workers) <= 0:
        ap.error("--n, --epochs, --batch-size and --workers must be positive")

    machine = machine_info()
    with workdir(args.workdir, "kzoo-bench-training-") as work:
        res = run(args, work)
    result = {"benchmark": "training", "machine": machine, "model": MODEL, "precision": args.precision,
              "n": args.n, "epochs": args.epochs, "batch_size": args.batch_size, "serve_batch": SERVE_BATCH,
              "image_shape": [64, 64, 1], **res}
    t1, t2 = (md_table([what, "img/s", f"{unit} seconds (median)"],
                       [[k, v["images_per_s"], statistics.median(v["seconds"])] for k, v in res[key].items()])
              for key, what, unit in (("train", "training fed from", "epoch"), ("inference", "inference", "pass")))
    report(args, result, f"Training and inference throughput ({MODEL})",
           f"{args.n:,} images of 64x64 float32, precision `{args.precision}`, Adam 1e-3 + MSE, batch "
           f"{args.batch_size}; median of {args.epochs} epoch(s) after a warm-up epoch",
           f"{t1}\nkzoo / in-memory: {res['ratio_kzoo_over_in_memory']:.2f}.\n\nInference in batches of "
           f"{SERVE_BATCH}; SavedModel vs Keras predictions differ by at most "
           f"{res['max_abs_diff_savedmodel_vs_keras']:.2g}.\n\n{t2}")

if __name__ == "__main__":
    main()
