"""Apply a trained run to images on disk: FITS (first HDU with 2-D image data), .npy, PNG or JPEG files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kzoo.io import InputError, read_image


def predict(run_or_preset, paths, batch_size: int = 64, out=".", resize: bool = False) -> dict:
    """Predictions of a run's (or a preset's) model for each image file, in the experiment's physical
    units (a Gaussian-NLL head gives the means, then ``sigma_<target>``: their standard deviations).

    A model whose output is an image (a U-net's point-source map, a denoiser) writes it for each input to
    ``out/<input stem>.<target>.npy`` (float32, (H, W) or (H, W, C); on the scale it was trained on, e.g.
    the per-image max-normalised flux) and returns those paths in ``outputs``.

    A model trained on images of ``kzoo import`` gets each file made as the import made its training images
    (its HDU, size, scaling, filled missing pixels; run.json's ``image_preparation``).

    ``resize``: make each image as ``kzoo import-images`` made its training images (grey, resized to the
    model's square input, min-max scaled to [0, 1]) instead of refusing one of another shape; for a model trained
    on imported photographs, or a Deep SVDD applied to a folder of them.

    ``run_or_preset``: a run directory made by ``kzoo train`` / ``kzoo reproduce``, or a preset name
    (``kzoo.list_presets()``). Returns ``{"targets": [...], "predictions": {file: [values]}}``. An image
    whose shape or channel count does not match the model's input raises InputError naming the file
    and the shape needed.
    """
    from kzoo.export import model_input_shape
    from kzoo.presets import is_preset, load, preset_entry, preset_error

    if not is_preset(run_or_preset) and not Path(run_or_preset).exists():
        raise preset_error(str(run_or_preset))
    for p in paths:  # a missing image is said at once, before Keras and the model are loaded
        if not Path(p).exists():
            raise FileNotFoundError(f"{p}: no such file")
    if is_preset(run_or_preset):
        e = preset_entry(run_or_preset)
        exp, ranges, prep = e["experiment_declaration"], e["target_ranges"], e.get("image_preparation")
    else:
        run_dir = Path(run_or_preset)
        if not run_dir.exists():
            raise preset_error(str(run_or_preset))
        if run_dir.is_dir():
            from kzoo.runs import recover

            recover(run_dir)  # a swap of a new run that a kill cut short
        from kzoo.runs import run_target_ranges

        if not (run_dir / "run.json").exists():
            raise FileNotFoundError(f"{run_dir / 'run.json'}: not a kzoo run directory (made by `kzoo train`)")
        run = json.loads((run_dir / "run.json").read_text())
        exp, prep = run["experiment"], run.get("image_preparation")
        ranges = run_target_ranges(run)
    # a preset's manifest gives its input shape: its images are read (and a bad one refused) before TensorFlow
    # and the model are loaded, which a small job's memory cap may not allow; a run's model is loaded first
    want = tuple(e["input_shape"]) if is_preset(run_or_preset) and e.get("input_shape") else None
    images = _read_images(paths, want, prep, resize) if want else None
    model = load(run_or_preset)
    shape = model_input_shape(model)
    if shape is None:
        raise InputError(f"{run_or_preset}: this model takes named inputs, not images; kzoo predict reads images")
    if images is None:
        images = _read_images(paths, shape, prep, resize)
    y = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)
    if isinstance(exp["targets"], str):  # an image out per image in
        from kzoo.io import atomic_path, ensure_dir

        ensure_dir(out, "--out")
        written = {}
        for i, p in enumerate(paths):
            dest = Path(out) / f"{Path(p).name.split('.')[0]}.{exp['targets']}.npy"
            with atomic_path(dest) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, np.squeeze(y[i].astype(np.float32), axis=-1) if y.shape[-1] == 1 else y[i].astype(np.float32))
            written[str(p)] = str(dest)
        return {"targets": [exp["targets"]], "outputs": written,
                "transform": exp.get("target_transform") or "none",
                "predictions": {str(p): [float(y[i].min()), float(y[i].max())] for i, p in enumerate(paths)}}
    if exp.get("evaluation") == "anomaly":  # a one-class model (Deep SVDD) scores each image; labels only judged it
        from kzoo.evaluate import ZONES_FILE, zone_labels
        from kzoo.io import read_json

        score = y.reshape(len(paths), -1)[:, 0]
        zones = (preset_entry(run_or_preset).get("zones") if is_preset(run_or_preset)
                 else read_json(Path(run_or_preset) / ZONES_FILE, default=None))
        if zones is None:  # not judged on a labelled set yet: no zones to label with
            return {"targets": ["anomaly_score"], "predictions": {str(p): [float(v)] for p, v in zip(paths, score)}}
        zl = zone_labels(score, zones["thresholds"])
        return {"targets": ["anomaly_score", "zone_label"], "zones": zones,
                "predictions": {str(p): [float(v), float(z)] for p, v, z in zip(paths, score, zl)}}
    names, y = interpret(exp, ranges, y)
    return {"targets": names, "predictions": {str(p): y[i].tolist() for i, p in enumerate(paths)}}


def _read_images(paths, want, prep, resize) -> np.ndarray:
    """The images of ``paths`` as one (N, H, W, C) batch for a model whose input is ``want`` (H, W, C)."""
    images = []
    if resize and (len(want) != 3 or want[0] != want[1] or want[2] != 1):
        raise InputError(f"--resize makes grey square images; this model takes {want}")
    for p in paths:  # each .npy header is checked against the model input before its data is read
        if prep:  # a model trained on imported images: each file made as the import made them
            from kzoo.sims.image_folder import prepare

            img = prepare(p, prep)
        elif resize:
            from kzoo.sims.image_folder import to_grey_square

            img = to_grey_square(read_image(p), want[0])
        else:
            img = read_image(p, want)
        images.append(img[..., None] if img.ndim == 2 else img)
    if not images:
        raise InputError("no input images given")
    return np.stack(images)


def interpret(exp: dict, ranges, y: np.ndarray) -> tuple[list[str], np.ndarray]:
    """A regression or classification model's outputs ``y`` (one row per image) in the experiment's physical units:
    the target names and their values, then ``sigma_<target>`` for a Gaussian-NLL head (a classifier's row is its
    class probabilities, under the target's name)."""
    from kzoo.evaluate import physical

    names = list(exp["targets"])
    y, sigma = physical(exp, np.asarray(y, np.float64), ranges)  # sigmas calibrated when the model ends in SigmaScale
    if sigma is not None:
        y, names = np.concatenate([y, sigma], axis=1), names + [f"sigma_{t}" for t in names]
    return names, y
