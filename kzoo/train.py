"""One fit path for every supervised zoo model: ``fit(experiment, data_dir, out)``.

A run directory holds::

    run.json          what was trained on what, with which settings and versions
    model.keras       the trained model (best validation epoch), loadable with safe_mode
    history.csv       one row per epoch (continues across a resumed run)
    metrics.json      the seed's metrics on the test split, next to the seed's reference
    loss_curves.png, predicted_vs_true.png
    logs/             TensorBoard
    .staging/         the run being trained (with backup/ checkpoints); it replaces the files
                      above only once complete (see kzoo.runs)
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

from kzoo.experiments import Experiment, image_input_name, label_output
from kzoo.io import atomic_path, dir_lock, write_json

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
BACKENDS = ("tensorflow", "jax", "torch")  # Keras 3's; tf.data or kzoo's numpy reader feeds each of them
READERS = ("auto", "tf.data", "numpy")  # how a run reads its shards (data_reader)


def use_backend(name: str | None = None) -> str:
    """Make ``name`` this process's Keras backend (None: keep KERAS_BACKEND, or Keras's default
    tensorflow) and return the backend in use. Keras reads KERAS_BACKEND once, when it is first imported,
    so a backend other than the one already imported is refused; so is one whose package is missing."""
    import importlib.util
    import sys

    if name is not None and name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name is not None and importlib.util.find_spec(name) is None:
        raise ValueError(f"backend {name!r}: {name} is not installed (pip install {name})")
    if "keras" in sys.modules:
        import keras

        if name is not None and keras.backend.backend() != name:
            raise ValueError(f"backend {name!r}: Keras is already running on {keras.backend.backend()!r} in this "
                             f"process; start a new one with KERAS_BACKEND={name}")
        return keras.backend.backend()
    name = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if name not in BACKENDS:
        raise ValueError(f"KERAS_BACKEND must be one of {BACKENDS}, got {name!r}")
    if importlib.util.find_spec(name) is None:
        raise ValueError(f"KERAS_BACKEND {name!r}: {name} is not installed (pip install {name})")
    os.environ["KERAS_BACKEND"] = name
    return name


class TrainingError(RuntimeError):
    """Training stopped for a reason the user must act on (a NaN loss, ...)."""


def _nan_guard():
    import keras

    class NaNGuard(keras.callbacks.Callback):
        """Stop at the first non-finite loss and remember where it happened."""

        def __init__(self):
            super().__init__()
            self.message = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.message = (f"loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}; "
                                f"lower the learning rate or check the data for NaN/inf")
                self.model.stop_training = True

    return NaNGuard()


def _history_trimmer(path):
    import keras

    class TrimHistory(keras.callbacks.Callback):
        """At the first epoch, cut history.csv back to the rows of the epochs before it.

        A run resumed after a kill starts at the epoch its backup holds; rows from a kill after an
        epoch's CSV row but before its backup, or a half-written row, would otherwise stay.
        """

        def __init__(self):
            super().__init__()
            self.first = True

        def on_epoch_begin(self, epoch, logs=None):
            if self.first:
                self.first = False
                _trim_history(path, epoch)

    return TrimHistory()


def _trim_history(path, epochs: int):
    """Keep the header and the complete rows for epochs ``0 .. epochs-1`` at the top of history.csv.

    Truncates in place, so CSVLogger's handle (opened for appending) carries on at the new end.
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb+") as f:
        lines = f.read().splitlines(keepends=True)
        if not lines or not lines[0].endswith(b"\n"):
            return
        header = next(csv.reader([lines[0].decode(errors="replace")]))
        if "epoch" not in header:
            return
        col, keep = header.index("epoch"), len(lines[0])
        for line in lines[1:]:
            row = next(csv.reader([line.decode(errors="replace")]), [])
            complete = line.endswith(b"\n") and len(row) == len(header) and row[col].isdigit()
            if not (complete and int(row[col]) < epochs):
                break
            keep += len(line)
        if keep < sum(map(len, lines)):
            f.truncate(keep)


def launcher_processes() -> tuple[int, int] | None:
    """``(this process's index, the number of processes)`` of a job started by SLURM's srun or Open MPI's mpirun with
    more than one task, from their variables; None otherwise."""
    for size, rank in (("SLURM_NTASKS", "SLURM_PROCID"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK")):
        try:
            n, i = int(os.environ[size]), int(os.environ[rank])
        except (KeyError, ValueError):
            continue
        if n > 1 and 0 <= i < n:
            return i, n
    return None


def join_workers(backend: str) -> tuple[int, int]:
    """Join the processes of a data-parallel run across processes or machines, named as TensorFlow names
    them: TF_CONFIG = {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}.

    Keras 3's own multi-process data parallelism (``keras.distribution.DataParallel``) on the JAX backend:
    every process holds the whole model and trains on its slice of each global batch (``fit_datasets``
    with ``worker``); the gradients are averaged, so the weights stay equal. The first worker's address is
    the coordinator. On CPUs the collectives go through gloo. TensorFlow's MultiWorkerMirroredStrategy is
    not used: Keras 3 on TensorFlow 2.21 fails under it (a PerReplica batch reaches ``_maybe_symbolic_build``).
    Without TF_CONFIG, under SLURM (``srun``: SLURM_NTASKS, SLURM_PROCID) or Open MPI (``mpirun``:
    OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_RANK), ``jax.distributed.initialize()`` finds the coordinator, the number
    of processes and this one's index by itself; TF_CONFIG stays the explicit way.
    Returns (this process's index, the number of processes)."""
    launched = launcher_processes()
    if os.environ.get("TF_CONFIG") or launched is None:
        try:
            cfg = json.loads(os.environ.get("TF_CONFIG") or "")
            workers, index = cfg["cluster"]["worker"], cfg["task"]["index"]
            if cfg["task"].get("type", "worker") != "worker" or not isinstance(index, int) \
                    or not 0 <= index < len(workers) or not workers \
                    or not all(isinstance(w, str) and ":" in w for w in workers):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"TF_CONFIG must be JSON like {{\"cluster\": {{\"worker\": [\"host:port\", \"host:port\"]}}, "
                             f"\"task\": {{\"type\": \"worker\", \"index\": 0}}}} (index < the number of workers), or "
                             f"the job started by srun (SLURM) or mpirun (Open MPI) with several tasks; got TF_CONFIG "
                             f"{os.environ.get('TF_CONFIG')!r}") from None
        cluster = {"job_addresses": ",".join(workers), "num_processes": len(workers), "process_id": index}
        launched = index, len(workers)
    else:
        cluster = {}  # JAX reads the cluster from SLURM's or Open MPI's variables
    if backend != "jax":
        raise ValueError(f"--strategy multiworker runs on the jax backend (Keras's multi-process DataParallel), not "
                         f"{backend!r}: add --backend jax")
    import jax

    # CPU collectives through gloo (GPUs use their own); set before JAX starts its backends
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras

    keras.distribution.initialize(**cluster)
    keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))  # fit_datasets slices
    return launched


def input_normalization(exp, manifest) -> dict:
    """The experiment's input normalisation, with the training split's statistics for "global"."""
    if exp.normalization != "global":
        return {"mode": exp.normalization}
    st = manifest["stats"]["features"][image_input_name(exp)]
    return {"mode": "global", "mean": st["mean"], "std": st["std"] or 1.0}


def compile_args(exp) -> dict:
    """``loss``, ``loss_weights`` and ``metrics`` for ``model.compile``: one loss, or one per named output."""
    from kzoo import losses

    if exp.loss == "model":  # the model computes its own loss (a VAE: kzoo.families.rings.models.ConditionalVAE)
        return {"loss": None, "metrics": list(exp.metrics) or None}
    loss = {k: losses.get(v) for k, v in exp.loss.items()} if isinstance(exp.loss, dict) else \
        losses.get(exp.loss, **exp.loss_args)
    args = {"loss": loss, "metrics": list(exp.metrics) or None}
    if exp.loss_weights:
        args["loss_weights"] = dict(exp.loss_weights)
    return args


# The keys of a search space (ModelSpec.search_space) or of a tuner's best_hyperparameters.json that are fit
# settings; every other key is a builder argument.
FIT_SETTINGS = ("learning_rate", "batch_size")


def read_hyperparameters(path) -> tuple[dict, dict]:
    """``(fit settings, model arguments)`` from a JSON object of hyper-parameters, such as the
    ``OUT/best_hyperparameters.json`` of ``python -m tuners.search``: ``learning_rate`` and ``batch_size``
    are fit settings, the search's provenance (commit, command, machine) is skipped, every other key is an
    argument of the experiment's model builder."""
    from kzoo.io import excerpt, read_config
    from kzoo.runs import PROVENANCE_KEYS

    path = Path(path)
    try:
        values = read_config(path, "hyper-parameter file")
    except ValueError as e:  # not JSON, too large, nested too deeply: say what was expected
        raise ValueError(f'{e}; expected an object such as {{"learning_rate": 0.001, "dense": [256, 64]}}') \
            from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of hyper-parameters such as "
                         f'{{"learning_rate": 0.001, "dense": [256, 64]}}, got a {type(values).__name__}')
    bs, lr = values.get("batch_size", 1), values.get("learning_rate", 1.0)
    if isinstance(bs, bool) or not isinstance(bs, int) or bs <= 0:
        raise ValueError(f"{path}: batch_size must be a positive integer, got {excerpt(bs)}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr != lr:
        raise ValueError(f"{path}: learning_rate must be a number > 0, got {excerpt(lr)}")
    return ({k: v for k, v in values.items() if k in FIT_SETTINGS},
            {k: v for k, v in values.items() if k not in FIT_SETTINGS + PROVENANCE_KEYS})


def model_arguments(exp, manifest, normalization=None, **model_args) -> dict:
    """The keyword arguments ``build_for`` gives ``kzoo.build``: the input shape, normalisation and output
    count that the dataset and the experiment fix, then the experiment's ``model_args`` and ``model_args``.

    ``normalization``: the input normalisation instead of the experiment's on this dataset (a fine-tuned run
    keeps the one its initial weights were trained with).

    Raises a ValueError for an argument the builder does not take (naming those it takes) or one that the
    dataset fixes, before anything is built or written.
    """
    from kzoo.data.records import model_shape
    from kzoo.losses import predicts_sigma
    from kzoo.registry import check_arguments

    chosen = {**exp.model_args, **model_args}
    check_arguments(exp.model, chosen)
    fixed = {"input_shape": model_shape(manifest["schema"][image_input_name(exp)]["shape"]),
             "normalization": normalization or input_normalization(exp, manifest)}
    labels = label_output(exp.targets)
    if labels is not None and exp.evaluation == "classification":  # one output per class of the class label
        from kzoo.data.records import class_count

        fixed["outputs"] = class_count(manifest, labels[1][0])
    elif labels is not None and exp.loss != "model":  # a Gaussian NLL head predicts a mean and a log standard
        # deviation per target (a model computing its own loss, Deep SVDD, does not predict its label targets)
        fixed["outputs"] = (2 if predicts_sigma(exp.loss) else 1) * len(labels[1])
    clash = sorted(set(fixed) & set(chosen))
    if clash:
        raise ValueError(f"model argument {', '.join(map(repr, clash))} of {exp.model} is set from the dataset "
                         f"and the experiment {exp.name}'s targets; leave it out")
    return {**fixed, **chosen}


def build_for(exp, manifest, normalization=None, **model_args):
    """The experiment's zoo model, shaped for the dataset of ``manifest`` (used by fit and the tuners)."""
    from kzoo.registry import build

    return build(exp.model, **model_arguments(exp, manifest, normalization, **model_args))


def _batchnorm_layers(model) -> list:
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += _batchnorm_layers(layer)
    return found


def recalibrate_batchnorm(model, train_ds, val_ds=None, batches: int = 200) -> dict | None:
    """Replace the BatchNormalization moving statistics by their average over ``batches`` training
    batches at the final weights ("precise BN"), and keep them only if the validation loss improves.

    The moving averages that training leaves behind mix statistics of earlier weights (momentum
    0.99); the seed's autoencoder, for one, lost a third of its test MSE to that. The pass runs the
    model in training mode (as the statistics were gathered) with every layer's weights fixed.
    Returns what happened (for run.json), or None for a model without BatchNormalization.
    """
    bns = _batchnorm_layers(model)
    if not bns:
        return None

    def val_loss():
        return float(model.evaluate(val_ds, verbose=0, return_dict=True)["loss"]) if val_ds is not None else None

    before = val_loss()
    saved = [(layer.momentum, layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in bns]
    n = 0
    for x, _ in train_ds.take(batches):
        for layer in bns:
            layer.momentum = n / (n + 1)  # a running mean over the batches seen so far
        model(x, training=True)
        n += 1
    for layer, (momentum, _, _) in zip(bns, saved):
        layer.momentum = momentum
    after = val_loss()
    kept = before is None or (math.isfinite(after) and after < before)
    if not kept:
        for layer, (_, mean, var) in zip(bns, saved):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
    return {"layers": len(bns), "batches": n, "val_loss_before": before, "val_loss_after": after, "kept": kept}


NOMINAL_68 = math.erf(1 / math.sqrt(2))  # 0.6827: the probability inside a Gaussian's mean +- sigma


def calibrate_uncertainty(model, val_ds, exp):
    """For a Gaussian-NLL head (loss "gaussian_nll"): fit one variance scale per target on the validation
    split and append it to the model as a ``kzoo.layers.SigmaScale`` layer; return (model, record).

    The scale ``s_k`` is the 68.27 % quantile of ``|y - mean| / sigma`` over the validation split, so the
    calibrated ``mean +- s_k sigma`` covers 68.27 % of it by construction. Not the scale that makes
    mean(z^2) = 1: the 68 % interval is what is reported, and a quantile is not driven by a few large
    residuals; one scale cannot set both the 68 % and the 95 % coverage unless the normalised residuals
    are Gaussian, so the record holds both, before and after. Returns a new model (the same layers and
    weights, compiled with the same loss) ending in SigmaScale, and the record for run.json; (model, None)
    for other losses or without a validation split.
    """
    import keras
    import numpy as np

    from kzoo.metrics import coverage
    from kzoo.export import infer
    from kzoo.layers import SigmaScale
    from kzoo.losses import predicts_sigma, split_mean_sigma

    if not predicts_sigma(exp.loss) or val_ds is None:
        return model, None
    ys, outs = [], []
    for x, y in val_ds:
        ys.append(np.asarray(y, np.float64))
        outs.append(infer(model, x))
    y = np.concatenate(ys)
    mean, sigma = (np.asarray(t, np.float64) for t in split_mean_sigma(np.concatenate(outs)))
    z = np.abs(y - mean) / sigma
    scales = np.maximum(np.quantile(z, NOMINAL_68, axis=0), 1e-6)
    record = {"method": "sigma * s per target, s = the 68.27 % quantile of |y - mean| / sigma on the validation split",
              "split": "val", "n": int(len(y)), "targets": {}}
    for j, t in enumerate(exp.targets):
        before, after = coverage(y[:, j], mean[:, j], sigma[:, j]), coverage(y[:, j], mean[:, j], scales[j] * sigma[:, j])
        record["targets"][t] = {"sigma_scale": float(scales[j]), **{f"val_{k}_before": v for k, v in before.items()},
                                **{f"val_{k}_after": v for k, v in after.items()}}
    out = SigmaScale([float(s) for s in scales], name="sigma_scale", dtype="float32")(model.output)
    calibrated = keras.Model(model.input, out, name=model.name)
    if model.compiled:
        calibrated.compile(optimizer=model.optimizer, loss=model.loss)
    return calibrated, record


def train_count(manifest: dict, train_size: int | None = None, fold=None) -> int:
    """Training images of a fit: the split's, its first ``train_size``, or those outside fold ``fold[0]``."""
    if train_size:
        return int(train_size)
    info = manifest["splits"]["train"]
    if fold is not None:
        from kzoo.data.records import fold_records, record_sizes

        keep = fold_records(info, int(manifest["block"]), int(fold[0]), int(fold[1]), False)
        return int(sum(n for n, k in zip(record_sizes(info, int(manifest["block"])), keep) if k))
    return int(info["count"])


def draws_randomness(exp) -> bool:
    """Whether the experiment's training batches hold random draws (augmentation, input noise), which tf.data and
    kzoo's numpy reader draw differently; without them both readers give the same batches in the same order."""
    return bool(exp.augment or exp.input_noise)


def data_reader(choice: str = "auto", exp=None, distributed: bool = False) -> str:
    """How a run reads its shards: "tf.data" (TensorFlow's pipeline) or "numpy" (:class:`kzoo.data.reader.ShardReader`:
    no TensorFlow, tf.data's batches in tf.data's order, its own draws of augmentation and noise). "auto": numpy where
    TensorFlow is absent; else numpy for a single-process run of an experiment ``exp`` without random draws (the
    same batches, read faster: benchmarks/results/pipeline.md), tf.data for the others (their recorded draws, and
    TensorFlow's distribution strategies)."""
    from kzoo.data.reader import tensorflow_installed

    if choice not in READERS:
        raise ValueError(f"reader must be one of {READERS}, got {choice!r}")
    if choice == "auto":
        if not tensorflow_installed():
            return "numpy"
        return "tf.data" if distributed or exp is None or draws_randomness(exp) else "numpy"
    if choice == "tf.data" and not tensorflow_installed():
        raise ValueError("--reader tf.data needs TensorFlow (pip install tensorflow-cpu); --reader numpy reads the "
                         "shards without it")
    return choice


def split_batches(reader):
    """A :class:`kzoo.data.reader.ShardReader`'s single pass as a Keras PyDataset (read again at every epoch's
    validation; iterable as a tf.data dataset is)."""
    import keras

    class SplitBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.plan = reader.batch_plan(0)

        def __len__(self):
            return len(self.plan)

        def __getitem__(self, i):
            return reader.read_batch(self.plan[i], (0, i))

        def __iter__(self):
            return iter(reader)

    return SplitBatches()


def _feed(batches):
    """What model.fit takes: a tf.data dataset or a Keras PyDataset as it is, a reader's stream as a generator."""
    from kzoo.data.reader import ShardReader

    return iter(batches) if isinstance(batches, ShardReader) else batches


def fit_datasets(exp, data_dir, manifest, *, batch_size: int, seed: int, cache: bool = True,
                 epochs: tuple[int, int] = (0, 1), train_size: int | None = None, fold=None, worker=None,
                 reader: str = "tf.data"):
    """The (train, val) tf.data datasets ``fit`` trains on (val None when the dataset has no val split).

    ``train`` streams the training passes ``epochs`` = (start, stop), each shuffled and augmented as a
    function of (seed, epoch) only, so that a run resumed at an epoch sees what an uninterrupted one saw.
    ``train_size``: the training split's first images only (shard order; a learning curve's point).
    ``fold`` = (i, k): k-fold cross-validation on the training split: train on every fold but i, validate on
    fold i (the val split is not used).
    ``worker`` = (i, n): process i of a data-parallel run of n (:func:`join_workers`): every process reads
    the same global batches (whole ones only) and keeps its slice i of each, batch_size / n images.
    ``reader`` "numpy": read by :class:`kzoo.data.reader.ShardReader` without TensorFlow (train: the reader, whose
    passes follow tf.data's order, :mod:`kzoo.data.order`; val: a Keras PyDataset of its batches).
    """
    from kzoo.experiments import pipeline_args

    if reader == "numpy":
        from kzoo.data.reader import ShardReader as read

        if worker is not None:
            raise ValueError("data-parallel workers read their shards with tf.data: install TensorFlow")
    else:
        from kzoo.data.pipeline import dataset as read
    common = dict(**pipeline_args(exp), batch_size=batch_size, seed=seed, manifest=manifest, verify=False,
                  cache=cache, drop_remainder=worker is not None)
    held = None if fold is None else (int(fold[0]), int(fold[1]), False)
    train_ds = read(data_dir, "train", shuffle=True, augment=exp.augment, epochs=epochs, limit=train_size,
                    fold=held, **common)
    if fold is not None:
        val_ds = read(data_dir, "train", shuffle=False, fold=(held[0], held[1], True), **common)
    else:
        val_ds = read(data_dir, "val", shuffle=False, **common) if "val" in manifest["splits"] else None
    if reader == "numpy":  # Keras reads a validation PyDataset again at every epoch
        return train_ds, (None if val_ds is None else split_batches(val_ds))
    if worker is not None:
        import tensorflow as tf

        i, n = worker
        if batch_size % n:
            raise ValueError(f"batch_size {batch_size} must be a multiple of the {n} workers")
        n_val = manifest["splits"]["val"]["count"] if fold is None and "val" in manifest["splits"] else batch_size
        if n_val < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {n_val} validation images: data-parallel workers "
                             "validate on whole batches only")
        part = batch_size // n
        mine = lambda *xy: tf.nest.map_structure(lambda t: t[i * part:(i + 1) * part], xy)  # noqa: E731
        train_ds, val_ds = (None if ds is None else ds.map(mine) for ds in (train_ds, val_ds))
    return train_ds, val_ds


def check_recipe(exp, manifest, data_dir) -> None:
    """Refuse (DataError) a dataset whose simulator or parameters are not those of ``exp``'s recipe."""
    from kzoo.data.recipes import load_recipe
    from kzoo.data.shards import DataError
    from kzoo.sims import get_sky

    want = load_recipe(exp.recipe)
    mpath = Path(data_dir) / "manifest.json"
    if manifest["sky"] != want["sky"] or set(want["features"]) - set(manifest["schema"]):
        raise DataError(f"{mpath}: made from a {manifest['sky']} recipe storing "
                        f"{sorted(k for k in manifest['schema'] if k != 'labels')}, but {exp.name} needs a "
                        f"{want['sky']} dataset storing {want['features']} (recipe {exp.recipe!r})")
    if "params" not in manifest:  # the defaults it was made with are not known: they have changed since
        raise DataError(f"{mpath}: made by kzoo {manifest.get('kzoo_version', '?')} before manifests recorded "
                        f"every simulator parameter, so it cannot be matched with {exp.name}'s recipe "
                        f"{exp.recipe!r}; simulate it again with `kzoo simulate {exp.recipe}`, or pass "
                        f"--allow-other-recipe (allow_other_recipe=True) to train on it on purpose")
    have = json.loads(json.dumps(manifest["params"]))
    need = json.loads(json.dumps(get_sky(want["sky"]).validate_params(want["params"])))
    differ = [f"{k} {json.dumps(have.get(k))} (needs {json.dumps(need.get(k))})"
              for k in sorted(set(have) | set(need)) if have.get(k) != need.get(k)]
    if differ:
        raise DataError(f"{mpath}: made with other simulator parameters than {exp.name}'s recipe "
                        f"{exp.recipe!r}: {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}; simulate "
                        f"it with `kzoo simulate {exp.recipe}`, or pass --allow-other-recipe "
                        f"(allow_other_recipe=True) to train on it on purpose")


def recalibrate_run(run_dir, data_dir) -> dict | None:
    """Apply ``recalibrate_batchnorm`` to a finished run trained before fit did it, once: the model
    is rewritten (temp name + rename) and run.json records the pass; returns that record."""
    from kzoo.data.shards import load_manifest
    from kzoo.export import load_model

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    if "batchnorm_recalibration" in run:
        return run["batchnorm_recalibration"]
    model = load_model(run_dir / "model.keras", compile=True)  # its loss, for the validation check
    manifest = load_manifest(data_dir, verify=False)
    exp = Experiment.from_dict(run["experiment"])
    train_ds, val_ds = fit_datasets(exp, data_dir, manifest, batch_size=run["settings"]["batch_size"],
                                    seed=run["seed"], train_size=run["settings"].get("train_size"),
                                    fold=run["settings"].get("fold"))  # the pass over epoch 0, as fit's
    record = recalibrate_batchnorm(model, train_ds, val_ds)
    if record is not None:
        record["applied"] = "after training, to the finished run"
        if record["kept"]:
            with atomic_path(run_dir / "model.keras") as tmp:
                model.save(tmp)
    run["batchnorm_recalibration"] = record
    write_json(run_dir / "run.json", run)
    return record


def learning_rate_schedule(exp, learning_rate: float, steps: int):
    """The optimizer's learning rate: a constant, or the experiment's schedule over ``steps`` steps."""
    import keras

    if exp.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps))
    if exp.lr_schedule:
        raise ValueError(f"{exp.name}: lr_schedule must be '' or 'cosine', got {exp.lr_schedule!r}")
    return learning_rate


def make_optimizer(exp, learning_rate):
    """The experiment's optimizer (``Experiment.optimizer``) at ``learning_rate`` (a number or a schedule)."""
    import keras

    from kzoo.experiments import OPTIMIZERS

    if exp.optimizer not in OPTIMIZERS:
        raise ValueError(f"{exp.name}: optimizer must be one of {sorted(OPTIMIZERS)}, got {exp.optimizer!r}")
    return getattr(keras.optimizers, OPTIMIZERS[exp.optimizer])(learning_rate)


def fit(experiment, data_dir, out, *, epochs: int | None = None, batch_size: int | None = None,
        learning_rate: float | None = None, patience: int | None = None, seed: int = 0,
        precision: str = "float32", strategy=None, cache: bool | str = "auto", verify: bool = True,
        model_args: dict | None = None, callbacks: list | None = None, verbose="auto",
        evaluate_split: str = "test", overwrite: bool = False, allow_other_recipe: bool = False,
        classical: bool = True, train_size: int | None = None, fold=None, worker=None, init: str | None = None,
        freeze_epochs: int = 0, reader: str = "auto") -> dict:
    """Train ``experiment`` on the shards in ``data_dir``; write the run directory ``out``.

    The run is trained in ``out/.staging`` and replaces what ``out`` held only once it is complete
    (model, history, metrics, plots; see :mod:`kzoo.runs`). A killed run started again with the same
    arguments continues from its last checkpoint and ends exactly as an uninterrupted run would (on
    CPU); a run directory holding another run (another experiment, dataset, seed or setting) is refused
    unless ``overwrite``, and one that holds this very run, finished, is left as it is (nothing is
    trained) unless ``overwrite``. The dataset must come from the experiment's recipe (the same simulator
    parameters) unless ``allow_other_recipe``. ``classical``: also evaluate the experiment's classical
    reference method (``kzoo.evaluate``).
    ``precision`` "mixed_bfloat16" or "mixed_float16" trains in mixed precision (outputs stay
    float32); ``strategy`` is a ``tf.distribute.Strategy`` (default: the current one; TensorFlow backend
    only). The Keras backend is this process's (:func:`use_backend`, KERAS_BACKEND): tf.data feeds any of
    them; a backend other than tensorflow is recorded in settings (so it is another run) and in versions;
    ``model_args`` override the builder's arguments (those of the experiment's declaration included); they
    are recorded in run.json's settings, so a run with other ``model_args`` is another run; ``callbacks``
    are added to kzoo's own. ``train_size``: train on the training split's first ``train_size`` images only
    (in shard order; validation and test unchanged), one point of a learning curve; recorded in settings.
    ``fold`` = (i, k): fold i of a k-fold cross-validation: train on the training split's records outside fold
    i, validate on fold i (record j is in fold j % k); the test split as always; recorded in settings.
    ``worker`` = (i, n): this process is worker i of a data-parallel run of n processes joined by
    :func:`join_workers` (Keras's DataParallel on JAX): each trains on its slice of every global batch of
    ``batch_size`` (whole batches only), the gradients averaged over all; after training each process
    recalibrates, saves and evaluates a copy of the (equal) weights on its own; n is recorded in settings.
    ``cache``: keep the training split's records in memory after the first epoch; "auto" when they take at most half
    of the memory this process may use, cgroup limits included (a cluster job's), else stream them from the shards
    every epoch, in the same order (:func:`kzoo.data.shards.cache_fits`; one line says which).
    ``reader``: how the shards are read (:func:`data_reader`): "tf.data", "numpy" (kzoo's reader, no TensorFlow; tf.data's
    batches in tf.data's order, but its own draws of augmentation and noise, so for an experiment with those it is
    recorded in settings) or "auto" (numpy where TensorFlow is absent or the experiment draws nothing at random and
    one process trains; else tf.data).
    ``init``: fine-tune: start from the weights of a preset, a finished run's directory or a .keras file
    (:mod:`kzoo.transfer`: layers of the same name and shapes copied, the others, such as a head for other
    targets, built anew and named in run.json's ``init_report``); the source's input normalisation is kept; its
    sha256 is part of the run's identity. ``freeze_epochs``: with ``init``, train only the layers built anew for
    that many epochs, then all of them (one optimizer over all weights throughout, so a resumed run ends as an
    uninterrupted one).
    Returns the evaluation result written to ``out/metrics.json``, plus ``training``: what this call did
    (``status`` "up_to_date", "resumed", "retrained" or "trained", ``epochs_run``, ``resumed_at`` and a
    one-line ``message``).
    """
    plan = plan_run(experiment, data_dir, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    patience=patience, seed=seed, precision=precision, strategy=strategy, verify=verify,
                    model_args=model_args, allow_other_recipe=allow_other_recipe, train_size=train_size, fold=fold,
                    worker=worker, init=init, freeze_epochs=freeze_epochs, reader=reader)
    exp, backend, data_dir, manifest, source, run = (plan[k] for k in ("exp", "backend", "data_dir", "manifest",
                                                                        "source", "run"))
    out = Path(out)
    created = not out.exists()
    try:
        with dir_lock(out, f"kzoo train {exp.name}"):  # one writer at a time; creates out
            done = up_to_date(out, run, overwrite)
            if done is not None:
                return done
            import keras

            from kzoo import runs

            model_arguments(exp, manifest, **run["settings"]["model_args"])  # a name the builder lacks: refused here
            run["versions"], run["device"] = runs.versions(), runs.device_name()
            stage = open_staging(out, run, overwrite)
            from kzoo.data.shards import cache_fits

            if run["reader"] == "numpy":
                said = ("reading the shards with kzoo's numpy reader (tf.data's batches, without TensorFlow); the "
                        "operating system's page cache keeps what memory allows")
            else:
                cache, said = cache_fits(manifest, "train", train_count(manifest, train_size, fold)
                                         / manifest["splits"]["train"]["count"], cache)
            logging.getLogger("kzoo").info(said)
            keras.utils.set_random_seed(seed)
            old_policy = keras.mixed_precision.global_policy().name
            keras.mixed_precision.set_global_policy(precision)
            try:
                scope = _scope(strategy, backend)
                try:
                    train_ds, val_ds, steps = training_data(exp, data_dir, manifest, run, cache=cache, fold=fold,
                                                            train_size=train_size, worker=worker,
                                                            initial_epoch=stage["initial_epoch"])
                    with scope():
                        model = compiled_model(exp, manifest, run, steps)
                        if source is not None:  # what was copied and built anew goes into run.json
                            from kzoo.transfer import start_from

                            run["init_report"] = start_from(model, source)
                except Exception:  # refused before training (a value the builder rejects): a new run leaves no trace
                    if stage["state"] is None and not stage["resuming"]:
                        shutil.rmtree(stage["staging"], ignore_errors=True)
                    raise
                seconds = train_loop(exp, model, train_ds, val_ds, steps, run, stage, out, callbacks=callbacks,
                                     verbose=verbose, has_val="val" in manifest["splits"] or fold is not None,
                                     restream=lambda start: training_data(
                                         exp, data_dir, manifest, run, cache=cache, fold=fold, train_size=train_size,
                                         worker=worker, initial_epoch=start)[0])
                if worker is not None:  # the rest on this process alone: a local copy of the (equal) weights
                    weights = model.get_weights()
                    keras.distribution.set_distribution(None)
                    model = compiled_model(exp, manifest, run, steps)
                    model.set_weights(weights)
                with scope():
                    model = calibrate(exp, model, data_dir, manifest, run, val_ds, fold=fold, train_size=train_size)
                with atomic_path(stage["staging"] / "model.keras") as tmp:
                    model.save(tmp)
            finally:
                keras.mixed_precision.set_global_policy(old_policy)
            return finish(exp, model, data_dir, manifest, run, stage, out, seconds, evaluate_split=evaluate_split,
                          classical=classical)
    except Exception:
        if created and out.is_dir() and not any(out.iterdir()):  # a folder this call made and left empty
            out.rmdir()
        raise


def check_units(exp, manifest: dict, data_dir) -> None:
    """Refuse (DataError) a dataset whose images' units (BUNIT, pixel scale in arcsec; ``kzoo import`` records them)
    differ from those the experiment declares in ``units``."""
    if not exp.units:
        return
    from kzoo.data.shards import DataError

    have = manifest.get("params", {})
    differ = []
    if "bunit" in exp.units and str(have.get("bunit", "")) != str(exp.units["bunit"]):
        differ.append(f"BUNIT {have.get('bunit') or 'not given'!r} (the experiment expects {exp.units['bunit']!r})")
    want = exp.units.get("pixel_scale")
    got = float(have.get("pixel_scale") or 0.0)
    if want and (not got or abs(got - float(want)) > 0.01 * float(want)):
        differ.append(f"pixel scale {f'{got:g} arcsec' if got else 'not known'} (the experiment expects {want:g})")
    if differ:
        raise DataError(f"{Path(data_dir) / 'manifest.json'}: images of other units than {exp.name} declares: "
                        f"{'; '.join(differ)}; convert them, or change the experiment's units if they are right")


def fine_tuning(init, freeze_epochs, exp, manifest, data_dir) -> dict | None:
    """The source of a fine-tuned run's initial weights (:func:`kzoo.transfer.init_source`), every argument checked
    before anything is written; None without ``init``."""
    if isinstance(freeze_epochs, bool) or not isinstance(freeze_epochs, int) or freeze_epochs < 0:
        raise ValueError(f"--freeze-epochs must be an integer >= 0, got {freeze_epochs!r}")
    if init is None:
        if freeze_epochs:
            raise ValueError("--freeze-epochs freezes the layers copied by --init; give --init too")
        return None
    from kzoo.transfer import init_source

    source = init_source(str(init))
    theirs = (source["experiment"] or {}).get("units") or {}
    if theirs and exp.units != theirs:  # a preset trained on images of known units, fine-tuned on others
        from kzoo.experiments import Experiment

        check_units(Experiment(name=f"the model of --init {init}", recipe="", model=exp.model, units=theirs),
                    manifest, data_dir)
    return source


def fit_settings(exp, *, epochs, batch_size, learning_rate, patience, precision, strategy, backend, seed=0) -> dict:
    """The fit settings of a run: the experiment's, changed by the call's, each checked (and the random seed)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"the random seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    if strategy is not None and backend != "tensorflow":
        raise ValueError(f"a tf.distribute strategy needs the tensorflow backend, not {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    epochs = int(exp.epochs if epochs is None else epochs)
    batch_size = int(exp.batch_size if batch_size is None else batch_size)
    learning_rate = float(exp.learning_rate if learning_rate is None else learning_rate)
    patience = int(exp.patience if patience is None else patience)
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    if patience < 0:
        raise ValueError(f"patience must be >= 0 epochs without improvement, got {patience}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    return {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "patience": patience,
            "precision": precision}


def plan_run(experiment, data_dir, *, epochs: int | None = None, batch_size: int | None = None,
             learning_rate: float | None = None, patience: int | None = None, seed: int = 0,
             precision: str = "float32", strategy=None, verify: bool = True, model_args: dict | None = None,
             allow_other_recipe: bool = False, train_size: int | None = None, fold=None, worker=None,
             init: str | None = None, freeze_epochs: int = 0, reader: str = "auto") -> dict:
    """What :func:`fit` with these arguments would train, checked and decided before anything is written (no Keras):
    ``exp``, ``backend``, ``data_dir`` (resolved), ``manifest``, ``source`` (the fine-tuning source or None) and
    ``run`` (run.json's fields; :func:`kzoo.runs.identity` of it says which run it is)."""
    from kzoo.data.shards import load_manifest
    from kzoo.experiment_files import resolve

    exp = resolve(experiment)
    backend = use_backend()  # this process's backend, without importing Keras: a run that is up to date needs none
    settings = fit_settings(exp, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            patience=patience, precision=precision, strategy=strategy, backend=backend, seed=seed)
    data_dir = Path(data_dir).resolve()
    manifest = load_manifest(data_dir, verify=verify)
    if not allow_other_recipe and exp.recipe:
        check_recipe(exp, manifest, data_dir)
    check_units(exp, manifest, data_dir)
    source = fine_tuning(init, freeze_epochs, exp, manifest, data_dir)
    run = run_identity(exp, data_dir, manifest, seed=seed, settings=settings, model_args=model_args, backend=backend,
                       worker=worker, fold=fold, train_size=train_size, init=source, freeze_epochs=freeze_epochs,
                       reader=data_reader(reader, exp, distributed=strategy is not None or worker is not None))
    return {"exp": exp, "backend": backend, "data_dir": data_dir, "manifest": manifest, "source": source, "run": run}


def run_identity(exp, data_dir: Path, manifest: dict, *, seed: int, settings: dict, model_args, backend: str,
                 worker, fold, train_size, init: dict | None = None, freeze_epochs: int = 0,
                 reader: str = "tf.data") -> dict:
    """What run.json records: the run's identity (the experiment's declaration, the dataset, the seed, the
    settings), from the declaration and the manifest alone (no Keras); ``versions`` and ``device`` are filled in
    when training starts. Every setting is checked before anything is written."""
    from kzoo import runs

    model_args = {**exp.model_args, **(model_args or {})}
    run = {
        "experiment": exp.to_dict(),
        "data_dir": str(data_dir),
        "sky": manifest["sky"],
        "recipe_sha256": manifest["recipe_sha256"],
        "dataset_sha256": runs.manifest_sha256(manifest),
        "seed": seed,
        "settings": {**settings, "normalization": input_normalization(exp, manifest), "model_args": model_args},
        "versions": None,
        "device": None,
    }
    if backend != "tensorflow":  # only then in settings: the runs made before keep their identity
        run["settings"]["backend"] = backend
    run["reader"] = reader  # how this session reads (not part of the run's identity)
    if reader != "tf.data" and draws_randomness(exp):  # in settings only where it changes the batches: the numpy
        run["settings"]["reader"] = reader  # reader's augmentation and noise are other draws than tf.data's
    if manifest["sky"] == "image_folder":  # a user's images: how each was made from its file, for kzoo predict
        from kzoo.sims.image_folder import preparation

        run["image_preparation"] = preparation(manifest["params"])
    if init is not None:  # only then in settings, as backend: the weights it starts from are part of what it is
        run["settings"]["init"] = {"from": init["from"], "kind": init["kind"], "sha256": init["sha256"]}
        if freeze_epochs:
            run["settings"]["freeze_epochs"] = int(freeze_epochs)
        if init["normalization"] is not None:
            run["settings"]["normalization"] = init["normalization"]
    if worker is not None:
        if not 0 <= int(worker[0]) < int(worker[1]):
            raise ValueError(f"worker must be (i, n) with 0 <= i < n, got {worker!r}")
        run["settings"]["workers"] = int(worker[1])
    if fold is not None:  # only then in settings, as train_size
        if train_size is not None:
            raise ValueError("give train_size or fold, not both")
        from kzoo.data.records import fold_records

        fold_records(manifest["splits"]["train"], int(manifest["block"]), int(fold[0]), int(fold[1]), True)
        run["settings"]["fold"] = [int(fold[0]), int(fold[1])]
    if train_size is not None:  # only then in settings: runs made before the option keep their identity
        from kzoo.data.records import records_for_limit

        records_for_limit(manifest["splits"]["train"], int(manifest["block"]), int(train_size),
                          f"train_size {train_size} ({data_dir})")
        run["settings"]["train_size"] = int(train_size)
    if label_output(exp.targets):  # the label ranges that scale_targets used: predictions on other datasets
        from kzoo.data.records import target_ranges  # (kzoo evaluate --data) are scaled back with them

        run["target_ranges"] = target_ranges(manifest, label_output(exp.targets)[1]).tolist()
    return run


def up_to_date(out: Path, run: dict, overwrite: bool) -> dict | None:
    """The result of the finished run in ``out`` when it is this very run and ``overwrite`` is not given (nothing
    to train; decided from run.json, without Keras), else None."""
    from kzoo import runs

    done = runs.finished_run(out, run)
    if done is None or overwrite:
        return None
    n = done.get("epochs_run")
    return {**json.loads((out / "metrics.json").read_text()), "training": {
        "status": "up_to_date", "epochs_run": n, "resumed_at": None,
        "message": f"up to date: {out} holds this run (finished, {n} epochs); nothing trained"}}


def open_staging(out: Path, run: dict, overwrite: bool) -> dict:
    """Open ``out``'s staging area for ``run`` (see kzoo.runs): ``staging``, ``resuming``, ``state`` (the
    checkpoint resumed from), ``initial_epoch``, ``replacing`` (``out`` held another finished run)."""
    from kzoo import runs

    replacing = (out / "run.json").exists()
    staging, resuming = runs.open_run(out, run, overwrite=overwrite)
    state, why = runs.resume_state(staging) if resuming else (None, "")
    if why:
        runs.warn(why)
    if state is None:  # a clean start in the staging area: nothing of an earlier attempt stays
        for stale in ("history.csv", "metrics.json", "model.keras"):
            (staging / stale).unlink(missing_ok=True)
        shutil.rmtree(staging / "logs", ignore_errors=True)
        shutil.rmtree(staging / runs.BACKUP, ignore_errors=True)
    write_json(staging / "run.json", run)
    return {"staging": staging, "resuming": resuming, "state": state,
            "initial_epoch": state["epoch"] if state else 0, "replacing": replacing}


def _scope(strategy, backend: str):
    """The distribution strategy's scope (TensorFlow: the given strategy, else the current one), or a null one."""
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = strategy or tf.distribute.get_strategy()
    return strategy.scope if strategy is not None else contextlib.nullcontext


def training_data(exp, data_dir, manifest: dict, run: dict, *, cache: bool, fold, train_size, worker,
                  initial_epoch: int):
    """``(train_ds, val_ds, steps per epoch)`` of the run, from ``initial_epoch`` on."""
    batch_size, epochs = run["settings"]["batch_size"], run["settings"]["epochs"]
    train_ds, val_ds = fit_datasets(exp, data_dir, manifest, batch_size=batch_size, seed=run["seed"], cache=cache,
                                    train_size=train_size, fold=fold, worker=worker,
                                    epochs=(initial_epoch, max(epochs, initial_epoch + 1)),
                                    reader=run["reader"])
    n_train = train_count(manifest, train_size, fold)
    steps = n_train // batch_size if worker is not None else -(-n_train // batch_size)
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_train} training images: data-parallel "
                         "workers train on whole batches only")
    return train_ds, val_ds, steps


def compiled_model(exp, manifest: dict, run: dict, steps: int):
    """The experiment's model, built with the run's arguments and compiled with its optimizer and schedule."""
    import keras

    s = run["settings"]
    model = build_for(exp, manifest, s["normalization"], **s["model_args"])
    lr = learning_rate_schedule(exp, s["learning_rate"], s["epochs"] * steps)
    model.compile(optimizer=make_optimizer(exp, lr), **compile_args(exp))
    return model


def train_loop(exp, model, train_ds, val_ds, steps: int, run: dict, stage: dict, out: Path, *, callbacks,
               verbose, has_val: bool, restream=None) -> float:
    """Train from the staged state to the run's last epoch with kzoo's callbacks (the history, a checkpoint per
    epoch, TensorBoard, the NaN guard, the model's own); seconds spent. A run whose loss goes NaN is removed and
    refused with TrainingError. ``restream(start)``: the training stream from epoch ``start`` on (a fine-tuned run
    with ``freeze_epochs`` fits twice, and each fit reads its stream from its beginning)."""
    import keras

    from kzoo import runs
    from kzoo.data.reader import tensorflow_installed

    staging, state, initial_epoch = stage["staging"], stage["state"], stage["initial_epoch"]
    epochs, patience = run["settings"]["epochs"], run["settings"]["patience"]
    if state is None and hasattr(model, "init_center"):
        # Deep SVDD: c = the initial phi's mean over one pass of the training split (a resumed run
        # restores c and R from its checkpoint instead)
        model.init_center(train_ds.take(steps))
    guard = _nan_guard()
    # The CSV row of an epoch goes before its checkpoint: a kill between the two makes the resumed
    # run do the epoch again (its row is then trimmed), never skip a row.
    cbs = [
        _history_trimmer(staging / "history.csv"),
        keras.callbacks.CSVLogger(str(staging / "history.csv"), append=True),
        runs.checkpoint(staging, "val_loss" if has_val else "loss", patience, state),
        *([keras.callbacks.TensorBoard(str(staging / "logs"), write_graph=False)] if tensorflow_installed() else []),
        guard,
        *(model.fit_callbacks() if hasattr(model, "fit_callbacks") else []),  # a model's own (SVDD's epoch)
        *(callbacks or []),
    ]
    t0 = time.time()
    freeze = min(int(run["settings"].get("freeze_epochs", 0)), epochs)
    if initial_epoch < epochs and not (state and state.get("stopped")):
        if freeze:  # the best epoch and patience count from the first epoch that trains every layer
            model.selectable_from_epoch = max(int(getattr(model, "selectable_from_epoch", 0)), freeze)
        if initial_epoch < freeze:  # only the layers built anew train; one optimizer over all weights throughout
            model.optimizer.build(model.trainable_variables)
            from kzoo.transfer import weighted_layers

            copied = set(run["init_report"]["copied"])
            frozen = [layer for path, layer in weighted_layers(model).items() if path in copied]
            for layer in frozen:
                layer.trainable = False
            model.compile(optimizer=model.optimizer, **compile_args(exp))
            model.fit(_feed(train_ds), validation_data=val_ds, epochs=freeze, initial_epoch=initial_epoch,
                      steps_per_epoch=steps, callbacks=cbs, verbose=verbose)
            for layer in frozen:
                layer.trainable = True
            model.compile(optimizer=model.optimizer, **compile_args(exp))
            initial_epoch = freeze
            if initial_epoch < epochs:
                train_ds = restream(initial_epoch)
        if initial_epoch < epochs and not model.stop_training:
            model.fit(_feed(train_ds), validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=steps, callbacks=cbs, verbose=verbose)
    else:  # killed after the last epoch's checkpoint: nothing left to train
        cbs[2].set_model(model)
        cbs[2].on_train_begin()
        cbs[2].on_train_end()
    if guard.message:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrainingError(f"{exp.name}: {guard.message} (run directory {out}; nothing was saved)")
    return time.time() - t0


def calibrate(exp, model, data_dir, manifest: dict, run: dict, val_ds, *, fold, train_size):
    """The finished model's batch-norm statistics recalibrated over the training split and its sigmas calibrated on
    the validation split (each recorded in ``run``); the calibrated model."""
    bn_train, _ = fit_datasets(exp, data_dir, manifest, batch_size=run["settings"]["batch_size"], seed=run["seed"],
                               cache=False, train_size=train_size, fold=fold,
                               reader=run["reader"])
    run["batchnorm_recalibration"] = recalibrate_batchnorm(model, bn_train, val_ds)
    model, run["uncertainty_calibration"] = calibrate_uncertainty(model, val_ds, exp)
    return model


def finish(exp, model, data_dir, manifest: dict, run: dict, stage: dict, out: Path, seconds: float, *,
           evaluate_split: str, classical: bool) -> dict:
    """The run's record completed, its evaluation written, the staging area swapped into ``out``; the result with
    what this call did (``training``)."""
    from kzoo import runs
    from kzoo.evaluate import evaluate

    staging, resuming, state, initial_epoch = stage["staging"], stage["resuming"], stage["state"], stage["initial_epoch"]
    history = runs.read_history(staging / "history.csv")  # (its loss curves are drawn by evaluate)
    run.update({"epochs_run": len(history.get("loss", [])), "resumed": resuming and state is not None,
                "train_seconds_this_session": round(seconds, 1)})
    write_json(staging / "run.json", run)
    result = evaluate(staging, data_dir, split=evaluate_split if evaluate_split in manifest["splits"] else "train",
                      model=model, verify=False, classical=classical)
    runs.commit(out)
    n = run["epochs_run"]
    if run["resumed"]:
        status, message = "resumed", f"resumed at epoch {initial_epoch}: {out} holds the finished run ({n} epochs)"
    elif stage["replacing"]:
        status, message = "retrained", f"retraining: --overwrite given; {out} holds the new run ({n} epochs)"
    else:
        status, message = "trained", f"trained: {out} holds the new run ({n} epochs)"
    return {**result, "training": {"status": status, "epochs_run": n,
                                   "resumed_at": initial_epoch if run["resumed"] else None, "message": message}}
