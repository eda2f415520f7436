"""AutoKeras on a declared experiment: search, then the best model as a kzoo run directory.

    kzoo automl gc-dm --data DIR --out DIR [--max-trials 10] [--epochs 10] [--block-type vanilla]

AutoKeras 3 takes numpy arrays, not tf.data: the training and validation splits are read from the shards
into memory as float32 (``kzoo.data.load_arrays``), the inputs normalised as the experiment says and the
targets scaled as it scales them. The memory this takes (images x pixels x 4 bytes) is computed from the
manifest before anything is read and refused above half the available memory; ``--max-images N`` takes the
first N training images only (shard order). The best model is exported, the experiment's normalisation
layer put in front of it (so it takes raw data like every kzoo model), saved as ``OUT/run/model.keras`` with a
``run.json`` and evaluated like a trained run: ``kzoo evaluate``, ``kzoo export`` and ``kzoo predict`` take it.
Needs the ``automl`` extra (AutoKeras 3.0.0, which fails with keras >= 3.13; tensorboard).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

BLOCK_TYPES = ("resnet", "xception", "vanilla", "efficient")


def automl(experiment, data_dir, out, *, max_trials: int = 10, epochs: int = 10, block_type: str | None = None,
           max_images: int | None = None, seed: int = 0, allow_other_recipe: bool = False, classical: bool = True,
           verbose=2) -> dict:
    """Run (or resume) an AutoKeras search for ``experiment`` on ``data_dir`` and write ``out/run``; returns the
    evaluation of the best model (as ``kzoo.evaluate.evaluate``; ``classical=False`` skips the experiment's
    classical reference method there, as ``kzoo train --no-reference``)."""
    import numpy as np

    from kzoo.data.records import records_for_limit, target_ranges
    from kzoo.data.shards import available_memory, load_manifest
    from kzoo.experiment_files import resolve
    from kzoo.experiments import pipeline_args
    from kzoo.losses import predicts_sigma
    from kzoo.train import check_recipe, input_normalization
    from tuners.seeding import tuner_seed

    exp = resolve(experiment)
    if exp.evaluation != "regression" or not isinstance(exp.inputs, str) or isinstance(exp.targets, (str, dict)) \
            or predicts_sigma(exp.loss):
        raise ValueError(f"kzoo automl takes a regression experiment of one image input and label targets; "
                         f"{exp.name} has inputs {exp.inputs!r}, targets {exp.targets!r}, loss {exp.loss!r}")
    if block_type is not None and block_type not in BLOCK_TYPES:
        raise ValueError(f"--block-type must be one of {BLOCK_TYPES} (or omitted: AutoKeras chooses), got {block_type!r}")
    for name, v in (("max_trials", max_trials), ("epochs", epochs)):
        if int(v) <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    data_dir, out = Path(data_dir).resolve(), Path(out)
    manifest = load_manifest(data_dir)
    if not allow_other_recipe:
        check_recipe(exp, manifest, data_dir)
    n_train = manifest["splits"]["train"]["count"]
    if max_images is not None:
        n_train = records_for_limit(manifest["splits"]["train"], int(manifest["block"]), int(max_images),
                                    f"--max-images {max_images} ({data_dir})")[1]
    pixels = int(np.prod(manifest["schema"][exp.inputs]["shape"]))
    need = (n_train + manifest["splits"]["val"]["count"]) * pixels * 4
    available = available_memory()
    if available is not None and need > available / 2:
        raise ValueError(f"{data_dir}: AutoKeras needs the arrays in memory: {n_train} training and "
                         f"{manifest['splits']['val']['count']} validation images take {need / 2**30:.1f} GiB, more than "
                         f"half the {available / 2**30:.1f} GiB available; lower --max-images")
    import autokeras as ak
    import keras

    from kzoo.data.reader import load_arrays
    from kzoo.layers import normalization_layer

    args = {**pipeline_args(exp), "shuffle": False}
    x, y = load_arrays(data_dir, "train", limit=max_images, **args)
    xv, yv = load_arrays(data_dir, "val", **args)
    norm = input_normalization(exp, manifest)
    layer = normalization_layer(norm)
    if layer is not None:  # AutoKeras sees what the zoo's models see after their first layer
        x, xv = (np.concatenate([np.asarray(layer(a[i:i + 512])) for i in range(0, len(a), 512)]) for a in (x, xv))
    inp = ak.ImageInput()
    node = ak.ImageBlock(block_type=block_type, normalize=False, augment=False)(inp)
    head = ak.RegressionHead(output_dim=y.shape[1])(node)
    search = ak.AutoModel(inputs=inp, outputs=head, directory=str(out / "autokeras"), project_name=exp.name,
                          max_trials=int(max_trials), overwrite=False, seed=tuner_seed(seed), objective="val_loss")
    keras.utils.set_random_seed(seed)
    t0 = time.time()
    search.fit(x, y, validation_data=(xv, yv), epochs=int(epochs), batch_size=exp.batch_size, verbose=verbose)
    seconds = round(time.time() - t0, 1)
    best = search.export_model()
    raw = keras.Input(shape=x.shape[1:], name=exp.inputs)
    model = keras.Model(raw, best(normalization_layer(norm)(raw) if layer is not None else raw),
                        name=f"automl_{exp.name.replace('-', '_')}")
    rows = _trial_rows(search.tuner.oracle)
    return _write_run(exp, manifest, data_dir, out, model, norm, rows, seed, {
        "max_trials": int(max_trials), "epochs": int(epochs), "block_type": block_type or "any",
        "train_images": int(len(x)), "val_images": int(len(xv)), "memory_bytes": int(need), "seconds": seconds,
        "autokeras": ak.__version__}, target_ranges(manifest, list(exp.targets)).tolist(), classical)


def _trial_rows(oracle) -> list[dict]:
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        hp = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        rows.append({"trial": trial_id, "status": str(trial.status), "val_loss": trial.score, "hyperparameters": hp})
    return rows


def _write_run(exp, manifest, data_dir, out, model, norm, rows, seed, settings, ranges, classical=True) -> dict:
    """``out/run`` as ``kzoo train`` writes it (model.keras, run.json, evaluation), plus ``out/trials.md``."""
    import keras

    from kzoo import runs
    from kzoo.evaluate import evaluate
    from kzoo.io import atomic_path, write_json, write_text
    from kzoo.report import provenance
    from tuners.seeding import tuner_seed

    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / "model.keras") as tmp:
        model.save(tmp)
    write_json(run_dir / "run.json", {
        "experiment": exp.to_dict(), "data_dir": str(data_dir), "sky": manifest["sky"],
        "recipe_sha256": manifest["recipe_sha256"], "dataset_sha256": runs.manifest_sha256(manifest), "seed": seed,
        "settings": {"epochs": settings["epochs"], "batch_size": exp.batch_size, "learning_rate": None,
                     "patience": None, "precision": keras.mixed_precision.global_policy().name, "normalization": norm,
                     "model_args": {}, "automl": settings},
        "versions": runs.versions(), "device": runs.device_name(), "target_ranges": ranges, "epochs_run": settings["epochs"],
        "parameters": int(model.count_params())})
    result = evaluate(run_dir, data_dir, classical=classical)
    made = runs.provenance_fields()
    write_json(out / "trials.json", {"experiment": exp.name, "tuner_seed": tuner_seed(seed), "trials": rows, **made})
    lines = [f"# AutoKeras search of {exp.name}", "", "| trial | status | val_loss | hyper-parameters |", "|---|---|---|---|"]
    for r in rows:
        loss = f"{r['val_loss']:.5g}" if r["val_loss"] is not None else ""
        lines.append(f"| {r['trial']} | {r['status']} | {loss} | `{json.dumps(r['hyperparameters'])}` |")
    lines += ["", f"Best model: `run/model.keras`, {model.count_params():,} parameters; test metrics in `run/metrics.json`.",
              *provenance({**made, "note": ""})]
    write_text(out / "trials.md", "\n".join(lines))
    return result
