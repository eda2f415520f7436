"""Run directories that know what they hold, and are replaced only by a complete run.

A run directory ``R`` holds the last complete run at its top level (``run.json``, ``model.keras``,
``history.csv``, ``metrics.json``, plots, ``logs/``). A run being trained lives in ``R/.staging/``,
with its checkpoints in ``R/.staging/backup/``; when it is complete, a marker ``R/.staging/COMPLETE``
is written and its files replace the old ones. A kill at any moment leaves either the old complete
run (plus a staging area that the next ``kzoo train`` resumes) or the new one: a kill during the swap
itself is finished by the next command that opens ``R`` (:func:`recover`).

``run.json`` records what the run is (its *identity*: the experiment's declaration, the dataset's
manifest sha256, the seed and the fit settings). ``kzoo train`` continues a killed run only when the
identity it would record is the same, leaves a finished run of the same identity as it is (nothing to
train: :func:`finished_run`), and replaces a finished run only with ``--overwrite``.

Checkpoints (:class:`Checkpoint`) are written to a temporary name and renamed; ``backup/state.json``
records each one's sha256, the epoch, the early-stopping state and the layers' random-generator
states, and a checkpoint whose sha256 does not match is never resumed from.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import logging
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path

from kzoo.io import read_json, sha256_file, write_json

STAGING = ".staging"
COMPLETE = "COMPLETE"
BACKUP = "backup"
STATE = "state.json"
IDENTITY = ("experiment", "dataset_sha256", "seed", "settings")
# Fields of an experiment's declaration that say how its run is reported, not what is trained: a run
# made before one of them changed is still the same run.
REPORT_ONLY = ("reference", "goals", "description", "seed", "evaluation", "evaluation_args", "reference_method",
               "reference_split", "comparison")


class RunError(ValueError):
    """A run directory that this command must not use as it is; the message says what differs."""


class DiskFullError(OSError):
    """Not enough free space to write a checkpoint; the message names the path and the bytes needed."""


def manifest_sha256(manifest: dict) -> str:
    """The dataset's identity: the sha256 of its manifest (which holds every shard's sha256)."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def identity(run: dict) -> dict:
    """The fields of a run record that say what the run is, in JSON form (tuples become lists)."""
    ident = json.loads(json.dumps({k: run.get(k) for k in IDENTITY}, default=str))
    if isinstance(ident.get("experiment"), dict):  # a field missing from a record made before it was added to
        merged = {**_experiment_defaults(), **ident["experiment"]}  # Experiment had its default value
        ident["experiment"] = {k: v for k, v in merged.items() if k not in REPORT_ONLY}
    return ident


def _experiment_defaults() -> dict:
    import dataclasses

    from kzoo.experiments import Experiment

    out = {}
    for f in dataclasses.fields(Experiment):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return json.loads(json.dumps(out, default=str))


def _flatten(d, prefix=""):
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def differences(old: dict, new: dict, limit: int = 4) -> list[str]:
    """``["key: old -> new", ...]`` for the identity fields that differ (nested keys dotted)."""
    a, b = _flatten(identity(old)), _flatten(identity(new))
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            va, vb = (json.dumps(x)[:40] if x is not None else "unrecorded" for x in (a.get(k), b.get(k)))
            out.append(f"{k}: {va} -> {vb}")
    return out[:limit] + ([f"and {len(out) - limit} more"] if len(out) > limit else [])


def recover(run_dir) -> None:
    """Finish a swap that a kill interrupted (``R/.staging/COMPLETE`` exists): the new run wins."""
    staging = Path(run_dir) / STAGING
    if (staging / COMPLETE).exists():
        _swap(Path(run_dir))


def finished_run(run_dir, run: dict) -> dict | None:
    """The run.json of the finished run in ``run_dir`` when it is the run that ``run`` describes (the same
    identity) and complete (model and metrics there); else None."""
    run_dir = Path(run_dir)
    recover(run_dir)
    done = read_json(run_dir / "run.json")
    if done is None or identity(done) != identity(run):
        return None
    return done if (run_dir / "model.keras").exists() and (run_dir / "metrics.json").exists() else None


def open_run(run_dir, run: dict, overwrite: bool = False) -> tuple[Path, bool]:
    """Prepare ``R/.staging`` for the run described by ``run``; return (staging dir, resuming).

    Resumes a killed run only if its identity equals ``run``'s; refuses (RunError) a killed or finished
    run of another identity unless ``overwrite``, which starts a clean staging area (the finished run
    stays until the new one is complete).
    """
    run_dir = Path(run_dir)
    recover(run_dir)
    staging = run_dir / STAGING
    killed = read_json(staging / "run.json") if staging.is_dir() else None
    finished = read_json(run_dir / "run.json")
    if killed is not None and identity(killed) == identity(run):
        return staging, (staging / BACKUP / STATE).exists()
    if not overwrite:
        for what, other in (("an unfinished run (killed or stopped)", killed), ("a finished run", finished)):
            if other is not None and identity(other) != identity(run):
                name = (other.get("experiment") or {}).get("name", "?")
                raise RunError(f"{run_dir}: holds {what} of {name} that differs from this one "
                               f"({'; '.join(differences(other, run))}); pass --overwrite to train a new "
                               f"run there (a finished run stays until the new one is complete), "
                               f"or choose another --out")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging, False


def commit(run_dir) -> None:
    """Mark ``R/.staging`` complete and make it the run: its files replace the old run's."""
    staging = Path(run_dir) / STAGING
    shutil.rmtree(staging / BACKUP, ignore_errors=True)
    (staging / COMPLETE).write_text("")
    _swap(Path(run_dir))


def _swap(run_dir: Path) -> None:
    staging = run_dir / STAGING
    new = {p.name for p in staging.iterdir() if p.name not in (COMPLETE, BACKUP)}
    for old in run_dir.iterdir():  # what the old run had and the new one has not (plots, export/)
        if not old.name.startswith(".") and old.name not in new:
            _remove(old)
    for name in sorted(new, key=lambda n: n == "run.json"):  # run.json last
        src, dst = staging / name, run_dir / name
        if src.is_dir() and dst.exists():
            _remove(dst)
        os.replace(src, dst)
    shutil.rmtree(staging)


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def _seed_generators(model) -> list:
    """Every keras SeedGenerator of the model's layers (dropout, noise), in a fixed order."""
    found = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        found += list(getattr(layer, "_seed_generators", []))
    return found


def resume_state(staging) -> tuple[dict | None, str]:
    """The checkpoint state to resume from (None: start from scratch) and why."""
    backup = Path(staging) / BACKUP
    path = backup / STATE
    if not path.exists():
        return None, ""
    try:
        state = json.loads(path.read_text())
        files = [state["latest"]] + ([state["best"]] if state.get("best") else [])
    except (ValueError, KeyError, TypeError) as e:
        return None, f"{path} is unreadable ({e}); training starts again from epoch 1"
    for f in files:
        p = backup / f["file"]
        if not p.exists() or p.stat().st_size != f["bytes"] or sha256_file(p) != f["sha256"]:
            return None, (f"{p} does not match its sha256 in {path} (truncated or damaged); "
                          f"training starts again from epoch 1")
    return state, ""


def checkpoint(staging, monitor: str, patience: int, state: dict | None):
    """A keras callback that checkpoints every epoch into ``staging/backup`` and stops early.

    It replaces keras' BackupAndRestore and EarlyStopping so that a resumed run is the same as an
    uninterrupted one: the checkpoint holds the weights and optimizer state (``.weights.h5``) and
    ``state.json`` the early-stopping state (best epoch, best value, epochs without improvement) and
    the layers' random-generator states. Each file is written to a temporary name and renamed;
    before writing, the free space is checked against the last checkpoint's size (DiskFullError).
    At the end of training the best epoch's weights are restored (as ``restore_best_weights``).
    """
    import keras
    import numpy as np

    backup = Path(staging) / BACKUP

    class Checkpoint(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.state = state or {"epoch": 0, "best": None, "wait": 0, "latest": None}

        def on_train_begin(self, logs=None):
            if self.state["latest"] is None:
                return
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(backup / self.state["latest"]["file"])
            for sg, value in zip(_seed_generators(self.model), self.state.get("seed_generators", [])):
                sg.state.assign(np.asarray(value, dtype=sg.state.dtype))

        def _save(self, name: str) -> dict:
            done = [f["bytes"] for f in (self.state["latest"], self.state["best"]) if f]
            need = (max(done) if done else 16 * sum(int(np.prod(v.shape)) for v in self.model.weights)) + (1 << 20)
            backup.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(backup).free
            if free < need:
                raise DiskFullError(f"{backup}: {need:,} bytes needed for the next checkpoint, {free:,} free; "
                                    f"free some space and rerun the same command to continue from the last "
                                    f"checkpoint")
            p, tmp = backup / name, backup / f"tmp-{os.getpid()}-{name}"  # keras wants *.weights.h5 names
            try:
                self.model.save_weights(tmp)
                os.replace(tmp, p)
            finally:
                tmp.unlink(missing_ok=True)
            return {"file": name, "bytes": p.stat().st_size, "sha256": sha256_file(p)}

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            st = self.state
            old_files = {f["file"] for f in (st["latest"], st["best"]) if f}
            st["latest"] = self._save(f"epoch-{epoch + 1:04d}.weights.h5")
            # a model whose loss changes meaning after a warm-up (Deep SVDD's soft boundary sets R then) names the
            # first epoch that may be chosen as the best and counts towards patience
            eligible = epoch >= int(getattr(self.model, "selectable_from_epoch", 0))
            if eligible and value is not None and math.isfinite(value) and (st["best"] is None
                                                                          or value < st["best"]["value"]):
                st["best"] = {**st["latest"], "epoch": epoch, "value": float(value)}
                st["wait"] = 0
            elif eligible:  # keras' EarlyStopping: stop after `patience` epochs without improvement
                st["wait"] += 1
                st["stopped"] = st["wait"] >= patience and epoch > 0
            st["epoch"] = epoch + 1
            st["seed_generators"] = [np.asarray(sg.state.numpy()).tolist() for sg in _seed_generators(self.model)]
            write_json(backup / STATE, st)  # written last: it points to complete files only
            for name in old_files - {st["latest"]["file"], st["best"]["file"] if st["best"] else None}:
                (backup / name).unlink(missing_ok=True)
            if st.get("stopped"):
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.state["best"] is not None:
                self.model.load_weights(backup / self.state["best"]["file"])

    return Checkpoint()


def warn(message: str) -> None:
    """A warning of kzoo's (the ``kzoo`` logger; the CLI shows it as ``kzoo: message``)."""
    logging.getLogger("kzoo").warning(message)


def run_target_ranges(run: dict):
    """The label ranges ``[[low, high], ...]`` a run scaled its targets with: those ``run.json`` records,
    or, for runs made before it recorded them, the ranges of its dataset; None if it scaled none."""
    exp = run["experiment"]
    if not exp.get("scale_targets"):
        return None
    if run.get("target_ranges") is not None:
        return run["target_ranges"]
    from kzoo.data.records import target_ranges
    from kzoo.data.shards import load_manifest
    from kzoo.experiments import label_output

    labels = label_output(exp["targets"])[1]
    return target_ranges(load_manifest(run["data_dir"], verify=False), labels).tolist()


def read_history(path) -> dict[str, list[float]]:
    """history.csv as columns; ``epoch`` counts from 0."""
    cols: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                cols.setdefault(k, []).append(float(v))
    return cols


def versions() -> dict:
    import importlib.metadata

    import keras
    import numpy

    from kzoo.data.reader import tensorflow_installed
    from kzoo.version import __version__

    backend = keras.backend.backend()
    versions = {"kzoo": __version__, "commit": git_commit(), "keras": keras.__version__,
                "tensorflow": __import__("tensorflow").__version__ if tensorflow_installed() else None,
                "numpy": numpy.__version__, "python": platform.python_version(), "backend": backend}
    if backend != "tensorflow":
        versions[backend] = importlib.metadata.version(backend)
    return versions


def device_name() -> str:
    """The accelerators the Keras backend trains on, else the CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform != "cpu"]
    elif backend == "torch":
        import torch

        gpus = list(range(torch.cuda.device_count()))
    else:
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else f"CPU ({os.cpu_count()} cores)"


def git_commit(root=None) -> str:
    """The source checkout's short commit (+uncommitted when it has local changes outside results/ and
    benchmarks/results/, the records being written; ``root``: another checkout than kzoo's own); outside a git
    checkout (kzoo installed from a wheel), the commit the package was built from (kzoo/_build.json, written by the
    build backend); else 'unknown'."""
    root = Path(root).resolve() if root is not None else Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        top, _, commit = out.stdout.strip().partition("\n")
        # the checkout kzoo runs from, not one a virtual environment with kzoo installed happens to lie in
        if out.returncode == 0 and Path(top).resolve() == root:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                    ":(exclude)results", ":(exclude)benchmarks/results"],  # records, not the source
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return commit + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    built = read_json(Path(__file__).resolve().parent / "_build.json", default=None)
    return f"{built['commit']} (built)" if isinstance(built, dict) and built.get("commit") else "unknown"


PROVENANCE_KEYS = ("commit", "command", "machine")  # what provenance_fields adds to a record


def provenance_fields(command: str | None = None) -> dict:
    """What every record names about where it came from: the commit, the command (default: this process's), the
    machine."""
    import os
    import platform

    program = Path(sys.argv[0]).name if sys.argv else "python"
    program = "kzoo" if program in ("cli.py", "__main__.py") else program  # python -m kzoo.cli is the kzoo command
    return {"commit": git_commit(),
            "command": command or " ".join([program, *sys.argv[1:]]),
            "machine": {"cores": os.cpu_count(), "cpu": cpu_info()["cpu_model"], "platform": platform.platform()}}


def cpu_info() -> dict:
    """The CPU model name and its bfloat16 flags (AMX / AVX512-BF16), from /proc/cpuinfo (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu_model": platform.processor() or platform.machine(), "bf16_flags": []}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = fields.get("flags", "").split()
    return {"cpu_model": fields.get("model name", platform.machine()),
            "bf16_flags": [f for f in ("amx_bf16", "avx512_bf16") if f in flags]}
