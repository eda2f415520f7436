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

The pipelines: ``kzoo.data.dataset`` (tf.data, where TensorFlow is installed) and kzoo's reader without TensorFlow
(``kzoo.data.reader.ShardReader``, ``--reader-workers`` threads) streamed (shuffled, not cached) from galactic-centre
shards of 64 x 64 maps, batch ``--batch``, images/s over one pass after a warm-up pass. And training from those
shards: each model whose one input is 64 x 64 x 1 and whose one output is a vector of k <= 7 values is trained
again, fed by the reader (targets: the first k labels), beside its rate from arrays in memory: does the reader
keep that network busy?

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


def shard_data(args, work: Path) -> Path:
    """Galactic-centre shards of 64 x 64 maps for the pipelines and the training from shards."""
    from _common import gc_shards

    gc_shards(work / "gc", 2048 if args.quick else 16384)
    return work / "gc"


def pipeline_rate(args, data: Path) -> dict:
    """kzoo's shard pipelines (64 x 64 float32 maps, batch --batch, shuffled, streamed): images/s over one pass of
    each, after a warm-up pass; tf.data only where TensorFlow is installed."""
    from kzoo.data.reader import ShardReader, tensorflow_installed

    readers = {"numpy reader": lambda: ShardReader(data, "train", batch_size=args.batch, shuffle=True,
                                                   workers=args.reader_workers)}
    if tensorflow_installed():
        from kzoo.data import dataset

        readers["tf.data"] = lambda: dataset(data, "train", batch_size=args.batch, shuffle=True, cache=False)
    out = {"batch": args.batch, "image_shape": [64, 64, 1], "reader_workers": args.reader_workers}
    for name, make in readers.items():
        ds = make()
        count = sum(int(b[0].shape[0]) for b in ds)  # warm-up pass (file cache, tracing)
        t0 = time.perf_counter()
        count = sum(int(b[0].shape[0]) for b in ds)
        out[name] = {"images": count, "images_per_s": count / (time.perf_counter() - t0)}
    return out


def from_shards(name: str, precision: str, args, data: Path, r: dict) -> None:
    """Train ``name`` again, fed by the reader from real shards (when its input is 64 x 64 x 1 and its one output a
    vector of k <= 7 values): ``r["shards_train_images_per_s"]`` beside the in-memory rate, or the reason not."""
    import keras

    import kzoo
    from kzoo.data import load_manifest
    from kzoo.data.reader import ShardReader

    if "error" in r or r["input_shape"] != [[64, 64, 1]]:
        return
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = kzoo.build(name, **args.model_args)
        shape = tuple(model.output.shape[1:]) if not isinstance(model.output, (list, dict)) else ()
        labels = load_manifest(data, verify=False)["schema"]["labels"]["names"]
        if len(shape) != 1 or not 1 <= shape[0] <= len(labels):
            r["shards"] = f"not run: output {shape}, not a vector of labels"
            return
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
        stream = iter(ShardReader(data, "train", targets=labels[:shape[0]], batch_size=args.batch, shuffle=True,
                                  repeat=True, workers=args.reader_workers))
        fit = lambda: model.fit(stream, steps_per_epoch=args.steps, epochs=1, verbose=0)  # noqa: E731
        fit()
        seconds = rounds_of(fit, args.rounds)
        r["shards_train_seconds"] = seconds
        r["shards_train_images_per_s"] = args.batch * args.steps / statistics.median(seconds)
    except Exception as e:
        r["shards"] = f"not run: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def markdown(result: dict) -> str:
    from _common import md_table

    rows = []
    pipe = result["pipeline"]["numpy reader"]["images_per_s"]
    for r in result["models"]:
        if "error" in r:
            rows.append([r["model"], r["precision"], "", "", "", "", "", f"not run: {r['error']}"])
            continue
        keeps = ""
        if pipe and r["input_shape"] == [[64, 64, 1]]:
            keeps = f"{pipe / r['train_images_per_s']:.2f}"
        shards = (f"{r['shards_train_images_per_s']:,.0f}" if "shards_train_images_per_s" in r else r.get("shards", ""))
        rows.append([r["model"], r["precision"], f"{r['parameters']:,}", " + ".join("x".join(map(str, t)) for t in r["input_shape"]),
                     f"{r['train_images_per_s']:,.0f}", shards, f"{r['predict_images_per_s']:,.0f}", keeps,
                     f"warm-up {r['warmup_seconds']:.1f} s"])
    table = md_table(["model", "precision", "parameters", "input", "train img/s (arrays)",
                      "train img/s (from shards, numpy reader)", "predict img/s", "reader / train", "notes"], rows)
    p = result["pipeline"]
    pipe_line = "; ".join(f"{k} {p[k]['images_per_s']:,.0f} images/s" for k in ("numpy reader", "tf.data") if k in p)
    pipe_line = (f"kzoo's shard pipelines, {'x'.join(map(str, p['image_shape']))} float32 maps (batch {p['batch']}, "
                 f"streamed, shuffled, {p['numpy reader']['images']:,} images, the reader with {p['reader_workers']} "
                 f"threads): {pipe_line}. 'reader / train' above 1 means the reader alone keeps up with that network "
                 "(64 x 64 x 1 networks only); 'from shards' is the network trained from the reader.")
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
    ap.add_argument("--reader-workers", type=int, default=4,
                    help="threads of kzoo's numpy shard reader (default 4)")
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
    from kzoo.runs import provenance_fields

    result = {**provenance_fields(), "benchmark": "gpu", "backend": backend, "device": device_name(backend),
              "versions": versions,
              "batch": args.batch, "predict_batch": args.predict_batch, "steps": args.steps, "rounds": args.rounds,
              "quick": args.quick, "model_args": args.model_args, "models": []}
    print(f"{backend} on {result['device']}: {len(names)} models x {precisions}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kzoo-bench-gpu-") as work:
        data = shard_data(args, Path(work))
        for name in names:
            for precision in precisions:
                r = measure(name, precision, args)
                from_shards(name, precision, args, data, r)
                result["models"].append(r)
                print(f"  {name} {precision}: " + (r["error"] if "error" in r else
                      f"train {r['train_images_per_s']:,.0f} img/s, from shards "
                      f"{r.get('shards_train_images_per_s', 0):,.0f}, predict {r['predict_images_per_s']:,.0f} img/s"),
                      flush=True)
                write_json(args.out_json, result)  # so far: a run cut short keeps the models it measured
        result["pipeline"] = pipeline_rate(args, data)
    md = markdown(result)
    write_json(args.out_json, result)
    write_text(args.out_md, md)
    print(md)


if __name__ == "__main__":
    main()
