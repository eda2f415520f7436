"""Training and inference images/s of every zoo model on this machine's accelerator (or its CPU), per Keras
backend and precision, beside the rate kzoo's shard pipeline streams: does the pipeline keep up?

For each model of ``kzoo.list_models()`` (``--models`` filters by wildcard): ``kzoo.build(name)`` at its
spec's input shape, random float32 inputs and targets of the model's own input and output shapes, Adam and
a mean squared error on every output (the throughput of the network, not of its zoo loss), ``model.fit``
on numpy arrays in memory: one warm-up epoch of ``--steps`` batches (tracing, compilation), then
``--rounds`` timed epochs of ``--steps`` batches; ``model.predict`` likewise in batches of
``--predict-batch``. The median round is reported. A model that cannot be trained this way (e.g. Deep
SVDD, whose centre is set from data) is listed with the reason, not left out. ``--model-arg NAME=VALUE`` passes
builder arguments, as ``kzoo train`` does (e.g. the spectra WGAN's ``penalty=gp``).

The pipeline: ``kzoo.data.dataset`` streamed (shuffled, not cached) from galactic-centre shards of 64 x 64
maps, batch 256, images/s over one pass after a warm-up pass; it needs TensorFlow (tf.data). Where
TensorFlow is not installed (a JAX- or PyTorch-only GPU machine) the models are fed numpy, the pipeline
is not measured, and the page says so.

    python benchmarks/gpu.py                                  # every model, float32 and mixed_bfloat16
    KERAS_BACKEND=jax python benchmarks/gpu.py --batch 1024   # or --backend jax
    python benchmarks/gpu.py --models spectra_wgan --batch 64 --model-arg penalty=gp
    python benchmarks/gpu.py --quick --out-json /tmp/g.json --out-md /tmp/g.md
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import fnmatch
import importlib.util
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"


def device_name(backend: str) -> str:
    """The accelerator the backend computes on (its name as the driver gives it), else the CPU's model."""
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform != "cpu":
            return f"{len(jax.devices())} x {d.device_kind} (jax {d.platform})"
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)} (torch cuda)"
    else:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            return f"{len(gpus)} x {name} (tensorflow)"
    model = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {os.cpu_count()} cores, {model}"


def random_like(structure, batch: int, rng):
    """Random float32 arrays of the shapes of a model's inputs or outputs (a tensor, list or dict)."""
    if isinstance(structure, dict):
        return {k: random_like(v, batch, rng) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [random_like(v, batch, rng) for v in structure]
    shape = tuple(d if d is not None else 1 for d in structure.shape[1:])
    return rng.random((batch,) + shape, dtype=np.float32)


def rounds_of(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(name: str, precision: str, args) -> dict:
    """One model in one precision: train and predict images/s, or the reason it could not run."""
    import keras

    import kzoo

    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = kzoo.build(name, **args.model_args)
        n = args.batch * args.steps
        rng = np.random.default_rng(0)
        try:
            inputs, outputs = model.input, model.output
        except (AttributeError, ValueError):  # a subclassed model: its example inputs (or its spec's input shape)
            if hasattr(model, "example_inputs"):  # several named inputs (a conditional VAE or GAN)
                inputs = keras.tree.map_structure(lambda a: keras.KerasTensor((None,) + tuple(a.shape[1:])),
                                                  model.example_inputs(2))
            else:
                inputs = keras.KerasTensor((None,) + tuple(kzoo.spec(name).input_shape))
            outputs = keras.tree.map_structure(lambda t: keras.KerasTensor((None,) + tuple(t.shape[1:])),
                                               model(random_like(inputs, 2, rng)))
        x, y = random_like(inputs, n, rng), random_like(outputs, n, rng)
        loss = {k: "mse" for k in y} if isinstance(y, dict) else ["mse"] * len(y) if isinstance(y, list) else "mse"
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
        fit = lambda: model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)  # noqa: E731
        t0 = time.perf_counter()
        fit()
        warm = time.perf_counter() - t0
        train = rounds_of(fit, args.rounds)
        predict = lambda: model.predict(x, batch_size=args.predict_batch, verbose=0)  # noqa: E731
        predict()
        infer = rounds_of(predict, args.rounds)
        return {"model": name, "precision": precision, "parameters": int(model.count_params()),
                "input_shape": [list(t.shape[1:]) for t in keras.tree.flatten(inputs)], "images": n, "warmup_seconds": warm,
                "train_seconds": train, "predict_seconds": infer,
                "train_images_per_s": n / statistics.median(train), "predict_images_per_s": n / statistics.median(infer)}
    except Exception as e:  # a model this generic harness cannot train: say why
        msg = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(e)).split())
        return {"model": name, "precision": precision, "error": f"{type(e).__name__}: {msg[:200]}"}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def pipeline_rate(args, work: Path) -> dict:
    """kzoo's shard pipeline (64 x 64 float32 maps, batch 256, shuffled, streamed): images/s over one pass."""
    if "tensorflow" in sys.modules and sys.modules["tensorflow"] is None or importlib.util.find_spec("tensorflow") is None:
        return {"error": "tensorflow is not installed: the models were fed numpy, the tf.data pipeline not measured"}
    from _common import gc_shards

    from kzoo.data import dataset

    n = 2048 if args.quick else 16384
    gc_shards(work / "gc", n)
    ds = dataset(work / "gc", "train", batch_size=256, shuffle=True, cache=False)
    count = sum(int(b[0].shape[0]) for b in ds)  # warm-up pass (file cache, tracing)
    t0 = time.perf_counter()
    count = sum(int(b[0].shape[0]) for b in ds)
    return {"images": count, "images_per_s": count / (time.perf_counter() - t0), "batch": 256,
            "image_shape": [64, 64, 1]}


def markdown(result: dict) -> str:
    from _common import md_table

    rows = []
    pipe = result["pipeline"].get("images_per_s")
    for r in result["models"]:
        if "error" in r:
            rows.append([r["model"], r["precision"], "", "", "", "", "", f"not run: {r['error']}"])
            continue
        keeps = ""
        if pipe and r["input_shape"] == [[64, 64, 1]]:
            keeps = f"{pipe / r['train_images_per_s']:.2f}"
        rows.append([r["model"], r["precision"], f"{r['parameters']:,}", " + ".join("x".join(map(str, t)) for t in r["input_shape"]),
                     f"{r['train_images_per_s']:,.0f}", f"{r['predict_images_per_s']:,.0f}", keeps,
                     f"warm-up {r['warmup_seconds']:.1f} s"])
    table = md_table(["model", "precision", "parameters", "input", "train img/s", "predict img/s",
                      "pipeline / train", "notes"], rows)
    p = result["pipeline"]
    pipe_line = (f"kzoo's shard pipeline: {p['images_per_s']:,.0f} images/s of {'x'.join(map(str, p['image_shape']))} "
                 f"float32 (batch {p['batch']}, streamed, shuffled, {p['images']:,} images); 'pipeline / train' "
                 "above 1 means it keeps up with that network (64 x 64 x 1 networks only)."
                 if "images_per_s" in p else f"Pipeline: {p['error']}.")
    v = result["versions"]
    return (f"# Zoo throughput on {result['device']}\n\n"
            f"Keras {v['keras']} on the {result['backend']} backend"
            f"{''.join(f', {k} {val}' for k, val in v.items() if k not in ('keras',))}; batch {result['batch']} "
            f"(predict {result['predict_batch']}), {result['steps']} batches a round, median of {result['rounds']} "
            f"rounds after a warm-up round; random data in memory, Adam + MSE on every output"
            f"{''.join(f'; {k}={v!r}' for k, v in result.get('model_args', {}).items())}"
            f"{' (--quick)' if result['quick'] else ''}.\n\n{table}\n\n{pipe_line}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                    help="Keras backend (default: KERAS_BACKEND, else tensorflow)")
    ap.add_argument("--models", default="*", help="wildcard over the zoo's model names (default: all)")
    ap.add_argument("--precisions", default="float32,mixed_bfloat16",
                    help="comma-separated: float32, mixed_bfloat16, mixed_float16 (GPU)")
    ap.add_argument("--batch", type=int, default=256, help="training batch (default 256)")
    ap.add_argument("--predict-batch", type=int, default=1024, help="inference batch (default 1024)")
    ap.add_argument("--steps", type=int, default=20, help="batches a round (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    ap.add_argument("--model-arg", action="append", metavar="NAME=VALUE", default=[],
                    help="a builder argument for every model measured, VALUE read as JSON as by `kzoo train` "
                         "(e.g. penalty=gp; repeatable)")
    ap.add_argument("--out-json", default=str(RESULTS / "gpu.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "gpu.md"))
    ap.add_argument("--quick", action="store_true", help="smoke test: batch 8, 2 batches, 1 round, a small pipeline")
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.predict_batch, args.steps, args.rounds = 8, 8, 2, 1
    if min(args.batch, args.predict_batch, args.steps, args.rounds) <= 0:
        ap.error("--batch, --predict-batch, --steps and --rounds must be positive")
    precisions = [p for p in args.precisions.split(",") if p]
    bad = [p for p in precisions if p not in ("float32", "mixed_bfloat16", "mixed_float16")]
    if bad:
        ap.error(f"--precisions: {bad} not among float32, mixed_bfloat16, mixed_float16")
    from kzoo.cli import model_args

    try:
        args.model_args = model_args(args.model_arg)
    except ValueError as e:
        ap.error(str(e))
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    import tempfile

    import keras

    import kzoo
    from kzoo.io import write_json, write_text

    backend = keras.backend.backend()
    names = [n for n in kzoo.list_models() if fnmatch.fnmatch(n, args.models)]
    if not names:
        ap.error(f"--models {args.models!r} matches none of {kzoo.list_models()}")
    versions = {"keras": keras.__version__, "numpy": np.__version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "jax", "torch"):
        if sys.modules.get(pkg) is not None or pkg == backend:
            versions[pkg] = getattr(sys.modules.get(pkg) or __import__(pkg), "__version__", "?")
    result = {"benchmark": "gpu", "backend": backend, "device": device_name(backend), "versions": versions,
              "batch": args.batch, "predict_batch": args.predict_batch, "steps": args.steps, "rounds": args.rounds,
              "quick": args.quick, "model_args": args.model_args, "models": []}
    print(f"{backend} on {result['device']}: {len(names)} models x {precisions}", flush=True)
    for name in names:
        for precision in precisions:
            r = measure(name, precision, args)
            result["models"].append(r)
            print(f"  {name} {precision}: " + (r["error"] if "error" in r else
                  f"train {r['train_images_per_s']:,.0f} img/s, predict {r['predict_images_per_s']:,.0f} img/s"),
                  flush=True)
            write_json(args.out_json, result)  # so far: a run cut short keeps the models it measured
    with tempfile.TemporaryDirectory(prefix="kzoo-bench-gpu-") as work:
        result["pipeline"] = pipeline_rate(args, Path(work))
    md = markdown(result)
    write_json(args.out_json, result)
    write_text(args.out_md, md)
    print(md)


if __name__ == "__main__":
    main()
