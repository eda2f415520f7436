"""Inference speed of seed 003's separable-convolution Xception (``xception_sersic``) on this CPU, in float32
and mixed_bfloat16, beside its multiply-adds per image and the machine's plain matmul GFLOP/s.

* Images/s of Keras ``model.predict(x, batch_size=256)`` and of the exported SavedModel
  (``kzoo.export.export(model, "savedmodel")``, then ``tf.saved_model.load(path).serve(x)`` in batches of
  256), for a model built in float32 and one built under ``keras.mixed_precision`` "mixed_bfloat16" with
  the same weights. A warm-up pass (tracing), then ``--rounds`` interleaved rounds of ``--repeats`` timed
  passes of ``--n`` images per case; the median pass is reported.
* Multiply-adds (MACs) per image, counted layer by layer from the layers' shapes:
  Conv2D H_out*W_out*kh*kw*C_in*C_out, SeparableConv2D H_out*W_out*kh*kw*C_in (depthwise) +
  H_out*W_out*C_in*C_out (pointwise), Dense C_in*C_out; biases, activations, the normalisation, the
  residual sums and the poolings are not counted (TensorFlow's profiler, which counts them, is recorded
  as a cross-check). GFLOP/s = 2 * MACs * images/s.
* GFLOP/s of an N x N float32 matmul (``tf.linalg.matmul`` and numpy's ``@``) and of a bfloat16
  ``tf.linalg.matmul``: what this machine's BLAS reaches when the work is one large dense product.
* The seed's claim (a million images in 15 minutes: 1,111 images/s) against each measurement.

``--pause-others`` sends SIGSTOP to the background ``kzoo reproduce`` jobs (and their child processes;
``--pause-pid`` adds others) for each timed section only, and SIGCONT right after, in a ``finally``, on
SIGTERM/SIGHUP/SIGINT, and, should this process be killed outright, from a small watchdog process that also
resumes them after ``--max-pause`` seconds. Off by default.

    python benchmarks/sersic_inference.py --pause-others   # ~5 minutes on a 2-core machine
    python benchmarks/sersic_inference.py --quick --out-json /tmp/i.json --out-md /tmp/i.md
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, md_table, output_args, report, workdir  # noqa: E402

MODEL = "xception_sersic"
NORMALIZATION = {"mode": "global", "mean": 0.0, "std": 1.0}
PRECISIONS = ("float32", "mixed_bfloat16")
SEED_CLAIM = {"images": 1_000_000, "minutes": 15, "images_per_s": 1_000_000 / (15 * 60),
              "source": "seed 003: a million images in 15 minutes"}
# Quoted, not measured here.
EXTERNAL_H100 = {"device": "one NVIDIA H100", "software": "Keras 3.12, JAX backend, numpy-fed model.predict",
                 "images_per_s": {"float32": 80_000, "mixed_bfloat16": 135_000},
                 "note": "an external measurement of this architecture, quoted; not taken by this script"}
PAUSE_PATTERNS = ("kzoo.cli reproduce", "kzoo reproduce")


# --------------------------------------------------------------------------------------------------- pausing


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, utime + stime in clock ticks) from /proc/PID/stat, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[11]) + int(fields[12])


def _cpu_ticks() -> dict:
    """Machine-wide CPU ticks from /proc/stat: busy (user+nice+system+irq+softirq), steal, all."""
    try:
        v = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return {}
    return {"busy": v[0] + v[1] + v[2] + v[5] + v[6], "steal": v[7] if len(v) > 7 else 0, "all": sum(v[:8])}


def _own_lineage() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _is_reproduce(argv: list[str]) -> bool:
    """A python/kzoo process running ``kzoo reproduce`` or ``python -m kzoo.cli reproduce``, not a shell whose
    command line merely contains the words."""
    if not argv or not ("python" in Path(argv[0]).name or Path(argv[0]).name == "kzoo"):
        return False
    return any(a in ("kzoo.cli", "kzoo") or Path(a).name == "kzoo" for a in argv[:-1]) and "reproduce" in argv


def _pgrep(*args: str) -> list[int]:
    out = subprocess.run(["pgrep", *args], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _pgrep("-P", str(pid)):
        out += [child, *_descendants(child)]
    return out


def find_others(extra=()) -> list[int]:
    """The background jobs to pause (parents before children), never this process or its ancestors."""
    own = _own_lineage()
    roots = [p for pat in PAUSE_PATTERNS for p in _pgrep("-f", pat) if _is_reproduce(_cmdline(p))]
    roots += [int(p) for p in extra]
    found = []
    for pid in roots:
        for p in (pid, *_descendants(pid)):
            st = _stat(p)
            # Not ourselves; not one stopped already by someone else (we would wrongly resume it after).
            if p not in own and p not in found and st is not None and st[0] != "T":
                found.append(p)
    return found


WATCHDOG = r"""
import json, os, signal, sys, time
owner, state, max_pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
def resume():
    try:
        with open(state) as f:
            pids = json.load(f).get("pids", [])
    except (OSError, ValueError):
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    try:
        os.remove(state)
    except OSError:
        pass
while True:
    time.sleep(0.2)
    if os.getppid() != owner:  # the benchmark is gone (killed outright): resume whatever it had stopped
        resume()
        try:
            os.rmdir(os.path.dirname(state))
        except OSError:
            pass
        break
    try:
        with open(state) as f:
            s = json.load(f)
    except (OSError, ValueError):
        continue
    if s.get("pids") and time.time() - s["since"] > max_pause:
        resume()
"""


class Pauser:
    """SIGSTOP the background jobs for one timed section, SIGCONT them after, whatever happens."""

    def __init__(self, enabled: bool, extra=(), max_pause: float = 900.0):
        self.enabled, self.extra, self.max_pause = enabled, list(extra), max_pause
        self.stopped: list[int] = []
        self.sections: list[dict] = []
        self.watchdog = None
        if enabled:
            self.state = Path(tempfile.mkdtemp(prefix="kzoo-pause-")) / "stopped.json"
            # Its own session: a kill of this job's process group leaves it to resume the others.
            self.watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(self.state),
                                              str(max_pause)], start_new_session=True)

    def _write_state(self):
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pids": self.stopped, "since": time.time()}))
        os.replace(tmp, self.state)

    def resume(self):
        for pid in reversed(self.stopped):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)
        self.stopped = []
        if self.enabled:
            with contextlib.suppress(OSError):
                self.state.unlink()

    @contextlib.contextmanager
    def section(self, name: str):
        rec = {"section": name, "paused": self.enabled, "load_average_before": list(os.getloadavg())}
        t0 = time.perf_counter()
        try:
            if self.enabled:
                targets = find_others(self.extra)
                self.stopped = list(targets)
                self._write_state()  # before the first SIGSTOP: the watchdog knows whom to resume
                for pid in targets:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGSTOP)
                late = [p for p in find_others(self.extra) if p not in self.stopped]  # forked meanwhile
                if late:
                    self.stopped += late
                    self._write_state()
                    for pid in late:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGSTOP)
                time.sleep(0.2)
                before = {p: _stat(p) for p in self.stopped}
                rec["others"] = [{"pid": p, "args": " ".join(_cmdline(p))[:160]} for p in self.stopped]
                rec["others_state_at_start"] = {str(p): (s[0] if s else "gone") for p, s in before.items()}
            rec["load_average_timed_start"] = list(os.getloadavg())
            c0, k0 = time.process_time(), _cpu_ticks()
            t1 = time.perf_counter()
            yield rec
            wall, own = time.perf_counter() - t1, time.process_time() - c0
            k1, hz = _cpu_ticks(), os.sysconf("SC_CLK_TCK")
            rec["own_cpu_per_wall_s"] = own / wall
            if k0 and k1:  # CPU time the rest of the machine took meanwhile, and what the hypervisor stole
                rec["others_cpu_per_wall_s"] = max(0.0, ((k1["busy"] - k0["busy"]) / hz - own) / wall)
                rec["steal_per_wall_s"] = (k1["steal"] - k0["steal"]) / hz / wall
            rec["load_average_timed_end"] = list(os.getloadavg())
            if self.enabled:
                after = {p: _stat(p) for p in self.stopped}
                # CPU ticks the paused jobs used during the section: 0 when they really stayed stopped.
                rec["others_cpu_ticks_during"] = sum(after[p][1] - before[p][1] for p in self.stopped
                                                     if after[p] and before[p])
                rec["others_stayed_stopped"] = all(a is None or a[0] == "T" for a in after.values())
        finally:
            self.resume()
            rec["seconds_paused" if self.enabled else "seconds"] = time.perf_counter() - t0
            rec["load_average_after"] = list(os.getloadavg())
            self.sections.append(rec)

    def close(self) -> list[int]:
        """Resume everything, end the watchdog; the pids that any section stopped and that are still in state T."""
        self.resume()
        if self.watchdog is not None:
            self.watchdog.terminate()
            self.watchdog.wait(10)
            with contextlib.suppress(OSError):
                self.state.parent.rmdir()
        ever = {o["pid"] for s in self.sections for o in s.get("others", [])}
        return sorted(p for p in ever if (_stat(p) or ("gone",))[0] == "T")


# --------------------------------------------------------------------------------------------------- counting


def layer_macs(layer) -> dict | None:
    """Multiply-adds per image of one layer (None for layers without a weight product)."""
    import keras

    if not isinstance(layer, (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D, keras.layers.Conv2D,
                              keras.layers.Dense)):
        if layer.weights and type(layer).__name__ != "Standardize":  # kzoo's normalisation: elementwise
            raise ValueError(f"layer_macs: no rule for {type(layer).__name__} {layer.name} (it has weights)")
        return None
    out, inp = layer.output.shape, layer.input.shape
    if isinstance(layer, keras.layers.SeparableConv2D):
        (kh, kw), dm, cin, cout = layer.kernel_size, layer.depth_multiplier, inp[-1], out[-1]
        h, w = out[1], out[2]
        dw, pw = h * w * kh * kw * cin * dm, h * w * cin * dm * cout
        return {"macs": dw + pw, "depthwise": dw, "pointwise": pw,
                "formula": f"{h}*{w}*{kh}*{kw}*{cin}{'*' + str(dm) if dm != 1 else ''} + {h}*{w}*{cin * dm}*{cout}"}
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        (kh, kw), dm, cin = layer.kernel_size, layer.depth_multiplier, inp[-1]
        h, w = out[1], out[2]
        return {"macs": h * w * kh * kw * cin * dm, "formula": f"{h}*{w}*{kh}*{kw}*{cin}*{dm}"}
    if isinstance(layer, keras.layers.Conv2D) and type(layer).__name__ == "Conv2D":
        (kh, kw), cin, cout, g = layer.kernel_size, inp[-1], out[-1], layer.groups
        h, w = out[1], out[2]
        return {"macs": h * w * kh * kw * (cin // g) * cout, "formula": f"{h}*{w}*{kh}*{kw}*{cin // g}*{cout}"}
    if isinstance(layer, keras.layers.Dense):
        rows = int(np.prod(inp[1:-1])) if len(inp) > 2 else 1
        return {"macs": rows * inp[-1] * layer.units, "formula": f"{inp[-1]}*{layer.units}"}
    raise ValueError(f"layer_macs: no rule for {type(layer).__name__} {layer.name}")


def count_macs(model) -> dict:
    layers = []
    for layer in model.layers:
        m = layer_macs(layer)
        if m:
            layers.append({"layer": layer.name, "type": type(layer).__name__, "input": list(layer.input.shape[1:]),
                           "output": list(layer.output.shape[1:]), **m})
    return {"per_image": sum(x["macs"] for x in layers), "layers": layers,
            "depthwise": sum(x.get("depthwise", 0) for x in layers),
            "pointwise": sum(x.get("pointwise", 0) for x in layers)}


def profiler_flops(model) -> int | None:
    """TensorFlow's own FLOP count of one image's forward graph (counts bias adds, sums etc. too)."""
    try:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
            tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32))
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        return int(tf.compat.v1.profiler.profile(graph=convert_variables_to_constants_v2(fn).graph,
                                                 options=opts).total_float_ops)
    except Exception as e:  # a cross-check only
        print(f"profiler cross-check skipped: {e}", flush=True)
        return None


# --------------------------------------------------------------------------------------------------- timing


def timed(fn, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return seconds


def rounds(pauser: Pauser, fns: dict, n_rounds: int, repeats: int, prefix: str = "") -> dict:
    """``n_rounds`` rounds, each timing every case ``repeats`` times in its own paused section (interleaved, so
    a slow spell of the machine falls on every case alike): per case, every pass's seconds and the sections."""
    out = {name: {"seconds": [], "round_medians": [], "sections": []} for name in fns}
    for r in range(n_rounds):
        for name, fn in fns.items():
            with pauser.section(f"{prefix}{name}, round {r + 1}") as rec:
                sec = timed(fn, repeats)
            out[name]["seconds"] += sec
            out[name]["round_medians"].append(statistics.median(sec))
            out[name]["sections"].append(rec)
    for v in out.values():
        recs = v.pop("sections")
        for key in ("own_cpu_per_wall_s", "others_cpu_per_wall_s", "steal_per_wall_s"):
            vals = [x[key] for x in recs if x.get(key) is not None]
            v[key] = statistics.mean(vals) if vals else None
    return out


def matmuls(pauser: Pauser, size: int, n_rounds: int, repeats: int) -> dict:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    flop = 2 * size**3
    tf_a, tf_b = tf.constant(a), tf.constant(b)
    bf_a, bf_b = tf.cast(tf_a, tf.bfloat16), tf.cast(tf_b, tf.bfloat16)
    fns = {"tf.linalg.matmul float32": lambda: tf.linalg.matmul(tf_a, tf_b).numpy(),
           "numpy float32 (a @ b)": lambda: a @ b,
           "tf.linalg.matmul bfloat16": lambda: tf.linalg.matmul(bf_a, bf_b).numpy()}
    for fn in fns.values():
        fn()  # warm-up
    cases = rounds(pauser, fns, n_rounds, repeats, "matmul: ")
    for name, v in cases.items():
        v["gflop_per_s"] = flop / statistics.median(v["seconds"]) / 1e9
        v["round_gflop_per_s"] = [flop / m / 1e9 for m in v["round_medians"]]
        print(f"{name}: {v['gflop_per_s']:.1f} GFLOP/s", flush=True)
    return {"size": size, "rounds": n_rounds, "repeats": repeats, "flop": flop, "cases": cases}


def build(precision: str):
    import keras

    import kzoo

    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        return kzoo.build(MODEL, normalization=NORMALIZATION)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def run(args, work: Path, pauser: Pauser) -> dict:
    import tensorflow as tf

    from kzoo.export import export

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, 64, 64, 1), dtype=np.float32)
    bs = args.batch_size
    batches = [tf.constant(x[i:i + bs]) for i in range(0, args.n, bs)]

    ref = build("float32")
    macs = count_macs(ref)
    prof = profiler_flops(ref)
    print(f"{macs['per_image']:,} MACs per image (TF profiler: {prof} FLOP)", flush=True)
    mm = matmuls(pauser, args.matmul_size, args.rounds, args.matmul_repeats)
    mm32 = mm["cases"]["tf.linalg.matmul float32"]["gflop_per_s"]

    fns, preds, export_seconds = {}, {}, {}
    for precision in args.precisions:
        model = ref if precision == "float32" else build(precision)
        if model is not ref:
            model.set_weights(ref.get_weights())
        sm_path = work / f"savedmodel-{precision}"
        t0 = time.perf_counter()
        export(model, "savedmodel", out=sm_path)
        export_seconds[precision] = time.perf_counter() - t0
        loaded = tf.saved_model.load(str(sm_path))  # kept alive by the closure: serve() needs its variables

        def keras_predict(model=model):
            return model.predict(x, batch_size=bs, verbose=0)

        def serve(loaded=loaded):
            return np.concatenate([loaded.serve(b).numpy() for b in batches])

        for how, fn in (("keras_predict", keras_predict), ("savedmodel_serve", serve)):
            fns[f"{how} {precision}"] = fn
            preds[(precision, how)] = fn()  # warm-up (tracing), not timed, not paused

    results = rounds(pauser, fns, args.rounds, args.repeats)
    for key, v in results.items():
        how, precision = key.split()
        ips = args.n / statistics.median(v["seconds"])
        gflops = 2 * macs["per_image"] * ips / 1e9
        v.update({"precision": precision, "how": how, "images_per_s": ips, "gflop_per_s": gflops,
                  "round_images_per_s": [args.n / m for m in v["round_medians"]],
                  "fraction_of_tf_float32_matmul": gflops / mm32, "million_images_minutes": 1e6 / ips / 60,
                  "meets_seed_claim": ips >= SEED_CLAIM["images_per_s"],
                  "export_seconds": export_seconds[precision]})
        print(f"{key}: {ips:,.0f} img/s", flush=True)

    f32 = preds.get(("float32", "keras_predict"))
    checks = {f"{p} {h} vs float32 keras_predict": float(np.max(np.abs(v - f32)))
              for (p, h), v in preds.items() if f32 is not None and (p, h) != ("float32", "keras_predict")}
    if f32 is not None:
        checks["float32 keras_predict max |output|"] = float(np.max(np.abs(f32)))
    return {"macs": macs, "tf_profiler_flops_per_image": prof, "matmul": mm, "inference": results,
            "max_abs_diff": checks}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--n", type=int, default=1024, help="images per timed pass (random normal 64x64x1 float32)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="interleaved rounds: each round times every case in turn (inference and matmul)")
    ap.add_argument("--repeats", type=int, default=4,
                    help="timed passes per case and round, after one warm-up pass; the median of all is reported")
    ap.add_argument("--batch-size", type=int, default=256, help="batch of model.predict and of each serve() call")
    ap.add_argument("--precisions", default=",".join(PRECISIONS),
                    help="comma-separated Keras policies to measure (float32 is always built: the weights and "
                         "the reference predictions)")
    ap.add_argument("--matmul-size", type=int, default=2048, help="N of the N x N matmuls")
    ap.add_argument("--matmul-repeats", type=int, default=5, help="timed matmuls per case and round (median of all)")
    ap.add_argument("--pause-others", action="store_true",
                    help="SIGSTOP the 'kzoo reproduce' / 'kzoo.cli reproduce' jobs (and their children) during "
                         "each timed section, SIGCONT right after (also on error, on SIGTERM/SIGHUP/SIGINT, and "
                         "from a watchdog if this process is killed)")
    ap.add_argument("--pause-pid", type=int, action="append", default=[], metavar="PID",
                    help="another process (and its children) to pause with --pause-others; repeatable")
    ap.add_argument("--max-pause", type=float, default=900.0,
                    help="with --pause-others: the watchdog resumes the jobs after this many seconds in one section")
    ap.add_argument("--workdir", help="keep the SavedModels here (none: a temporary directory, removed at the end)")
    output_args(ap, "sersic_inference", "n=256, 1 round of 1 repeat, 512 x 512 matmuls")
    for action in ap._actions:  # _common's --out-json/--out-md come without a help line
        if action.dest in ("out_json", "out_md"):
            action.help = f"where the {action.dest[4:].upper()} results go"
    args = ap.parse_args(argv)
    args.precisions = [p for p in args.precisions.split(",") if p]
    if args.quick:
        args.n, args.rounds, args.repeats, args.matmul_size, args.matmul_repeats = 256, 1, 1, 512, 2
    if min(args.n, args.rounds, args.repeats, args.batch_size, args.matmul_size, args.matmul_repeats) <= 0:
        ap.error("--n, --rounds, --repeats, --batch-size, --matmul-size and --matmul-repeats must be positive")
    if not set(args.precisions) <= set(PRECISIONS):
        ap.error(f"--precisions: choose from {', '.join(PRECISIONS)}")
    if args.pause_pid and not args.pause_others:
        ap.error("--pause-pid needs --pause-others")

    def _exit(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through the finally blocks, which resume the others

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)

    import tensorflow as tf

    machine = machine_info()
    pauser = Pauser(args.pause_others, args.pause_pid, args.max_pause)
    try:
        with workdir(args.workdir, "kzoo-bench-sersic-inference-") as work:
            res = run(args, work, pauser)
    finally:
        left_stopped = pauser.close()
    load_end = list(os.getloadavg())
    if left_stopped:
        print(f"WARNING: still stopped: {left_stopped}", file=sys.stderr)
    machine["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    machine["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    machine["onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")
    # With autogroup on, a niced job started from another session still gets an equal share of the CPUs.
    with contextlib.suppress(OSError):
        machine["sched_autogroup_enabled"] = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    result = {"benchmark": "sersic_inference", "machine": machine, "model": MODEL, "normalization": NORMALIZATION,
              "image_shape": [64, 64, 1], "outputs": 5, "n": args.n, "rounds": args.rounds, "repeats": args.repeats,
              "batch_size": args.batch_size, "pause_others": args.pause_others, "sections": pauser.sections,
              "seconds_others_paused": sum(s.get("seconds_paused", 0) for s in pauser.sections),
              "left_stopped": left_stopped, "load_average_at_end": load_end,
              "seed_claim": SEED_CLAIM, "external_h100": EXTERNAL_H100, **res}
    report(args, result, f"Inference speed of {MODEL} (seed 003) on this CPU", *markdown(args, result))


def markdown(args, r: dict) -> tuple[str, str]:
    macs, mm = r["macs"], r["matmul"]
    mm32 = mm["cases"]["tf.linalg.matmul float32"]["gflop_per_s"]
    setup = (f"`kzoo.build(\"{MODEL}\", normalization={NORMALIZATION})`, input 64x64x1, 5 outputs; "
             f"{r['n']:,} random images per pass in batches of {r['batch_size']}, a warm-up pass then the median "
             f"of {r['rounds']} interleaved rounds x {r['repeats']} timed passes; float32, and mixed_bfloat16 "
             f"with the same weights; background jobs {'paused (SIGSTOP) during each timed section' if r['pause_others'] else 'not paused'}")

    def f2(v):
        return "-" if v is None else f"{v:.2f}"

    rows = [[k.split()[0], v["precision"], v["images_per_s"],
             f"{r['n'] / max(v['seconds']):,.0f}-{r['n'] / min(v['seconds']):,.0f}",
             ", ".join(f"{x:,.0f}" for x in v["round_images_per_s"]), f"{v['gflop_per_s']:.1f}",
             f"{100 * v['fraction_of_tf_float32_matmul']:.0f} %", f"{v['million_images_minutes']:.0f}",
             v["meets_seed_claim"], f2(v["own_cpu_per_wall_s"]), f2(v.get("others_cpu_per_wall_s")),
             f2(v.get("steal_per_wall_s"))]
            for k, v in r["inference"].items()]
    t_inf = md_table(["inference", "precision", "img/s (median)", "slowest-fastest pass", "rounds", "GFLOP/s",
                      "of the float32 matmul", "minutes per million", ">= 1,111 img/s", "CPU s/s ours",
                      "others", "steal"], rows)
    groups: dict = {}
    for layer in macs["layers"]:
        key = (layer["type"], tuple(layer["input"]), tuple(layer["output"]), layer["formula"])
        g = groups.setdefault(key, {"names": [], "macs": layer["macs"]})
        g["names"].append(layer["layer"])
    t_macs = md_table(["layers", "type", "in -> out", "MACs each (formula)", "count", "MACs"],
                      [[g["names"][0] if len(g["names"]) == 1 else f"{g['names'][0]} ... {g['names'][-1]}",
                        t, f"{'x'.join(map(str, i))} -> {'x'.join(map(str, o))}", f"{g['macs']:,} ({f})",
                        len(g["names"]), g["macs"] * len(g["names"])]
                       for (t, i, o, f), g in groups.items()] + [["total", "", "", "", len(macs["layers"]),
                                                                   macs["per_image"]]])
    prof = r["tf_profiler_flops_per_image"]
    prof_line = (f" TensorFlow's profiler counts {prof:,} FLOP for one image, {prof / (2 * macs['per_image']):.3f} x "
                 f"2 x MACs (it also counts the biases, residual sums, poolings and the normalisation)."
                 if prof else "")
    t_mm = md_table([f"matmul {mm['size']} x {mm['size']}", "GFLOP/s (median)", "rounds", "CPU s/s ours", "others",
                     "steal"],
                    [[k, f"{v['gflop_per_s']:.1f}", ", ".join(f"{x:.0f}" for x in v["round_gflop_per_s"]),
                      f2(v["own_cpu_per_wall_s"]), f2(v["others_cpu_per_wall_s"]), f2(v["steal_per_wall_s"])]
                     for k, v in mm["cases"].items()])
    best = max(r["inference"].values(), key=lambda v: v["images_per_s"])
    claim = r["seed_claim"]
    need = 2 * macs["per_image"] * claim["images_per_s"] / 1e9
    h100 = r["external_h100"]
    h100_rows = [[p, ips, f"{2 * macs['per_image'] * ips / 1e12:.1f}"] for p, ips in h100["images_per_s"].items()]
    secs = r["sections"]
    pause_line = ""
    if r["pause_others"]:
        pids = sorted({o["pid"] for s in secs for o in s.get("others", [])})
        ticks = sum(s.get("others_cpu_ticks_during", 0) for s in secs)
        pause_line = (f"Paused: pid(s) {', '.join(map(str, pids)) or 'none found'}, {len(secs)} sections, "
                      f"{r['seconds_others_paused']:.0f} s in all; CPU ticks they used while paused: {ticks}; "
                      f"left stopped at the end: {r['left_stopped'] or 'none'}. ")
    load_rows = [[s["section"], f"{s['load_average_before'][0]:.2f}", f"{s['load_average_timed_start'][0]:.2f}",
                  f"{s.get('load_average_timed_end', [float('nan')])[0]:.2f}", f"{s['load_average_after'][0]:.2f}",
                  f"{s.get('seconds_paused', s.get('seconds', 0)):.1f}"] for s in secs]
    t_load = md_table(["timed section", "load before", "at timing start", "at timing end", "after resume",
                       "seconds"], load_rows)
    diffs = ", ".join(f"{k}: {v:.3g}" for k, v in r["max_abs_diff"].items())
    body = (f"## Throughput\n\n{t_inf}\nGFLOP/s = 2 x MACs per image x images/s (median pass). CPU s/s: CPU seconds "
            f"per wall second during the timed passes (2 = both cores busy) of this process, of every other "
            f"process (from /proc/stat) and stolen by the hypervisor.\n\n"
            f"## The seed's claim\n\n{claim['source']} = {claim['images_per_s']:,.0f} img/s. "
            f"{'Reached' if best['meets_seed_claim'] else 'Not reached'} on this CPU: the fastest here "
            f"({best['how']}, {best['precision']}) does {best['images_per_s']:,.0f} img/s, a million in "
            f"{best['million_images_minutes']:.0f} minutes. At {macs['per_image'] / 1e6:.1f} M MACs per image the "
            f"claim needs {need:.0f} GFLOP/s sustained, {need / mm32:.2f} x what this machine's float32 matmul "
            f"reaches.\n\n"
            f"Quoted, not measured here: on {h100['device']} ({h100['software']}) this architecture was measured "
            f"at the rates below (TFLOP/s from our MAC count); a million images in "
            f"{1e6 / h100['images_per_s']['float32']:.1f} s (float32).\n\n"
            f"{md_table(['H100 (external)', 'img/s', 'TFLOP/s'], h100_rows)}\n"
            f"## Multiply-adds per image: {macs['per_image']:,}\n\n"
            f"Counted from each layer's shapes: Conv2D H_out*W_out*kh*kw*C_in*C_out; SeparableConv2D "
            f"H_out*W_out*kh*kw*C_in (depthwise) + H_out*W_out*C_in*C_out (pointwise); Dense C_in*C_out. Not "
            f"counted: biases, SELU, the normalisation, residual sums, poolings. Depthwise "
            f"{macs['depthwise']:,} ({100 * macs['depthwise'] / macs['per_image']:.1f} %), pointwise "
            f"{macs['pointwise']:,} ({100 * macs['pointwise'] / macs['per_image']:.1f} %).{prof_line}\n\n{t_macs}\n"
            f"## Matmul on the same machine\n\n{mm['rounds']} interleaved rounds x {mm['repeats']} products per "
            f"case, after a warm-up product; 2 N^3 FLOP each.\n\n{t_mm}\n"
            f"## Fairness\n\n{pause_line}Load averages (1 minute, which lags) around each timed section:\n\n{t_load}\n"
            f"Largest |difference| of predictions (random inputs, untrained weights): {diffs}.\n")
    return setup, body


if __name__ == "__main__":
    main()
