"""Apply a trained run to images on disk: FITS (first HDU with 2-D image data) or .npy files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class InputError(ValueError):
    """An input image that cannot be fed to the model; the message names the file."""


def read_image(path) -> np.ndarray:
    """A 2-D (H, W) or channels-last (H, W, C) float32 image from a FITS or .npy file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            img = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise InputError(f"{path}: not a numpy .npy array ({e})") from None
    elif path.suffix.lower() in (".fits", ".fit", ".fts") or path.name.lower().endswith(".fits.gz"):
        from astropy.io import fits

        try:
            with fits.open(path, memmap=False) as hdus:
                found = [h for h in hdus if getattr(h, "is_image", False) and h.data is not None and h.data.ndim >= 2]
                if not found:
                    kinds = ", ".join(f"{h.name or i} ({type(h).__name__}, {'no data' if h.data is None else 'table'})"
                                      for i, h in enumerate(hdus))
                    raise InputError(f"{path}: no image data in any HDU ({kinds}); kzoo needs a 2-D image HDU")
                img = np.asarray(found[0].data, dtype=np.float32)
        except OSError as e:
            raise InputError(f"{path}: not a readable FITS file ({e})") from None
        if img.ndim == 3:  # FITS cubes are (C, H, W); the model wants channels last
            img = np.moveaxis(img, 0, -1)
    else:
        raise InputError(f"{path}: unknown image format {path.suffix!r}; give a .fits or .npy file")
    img = np.asarray(img, dtype=np.float32)
    if img.ndim not in (2, 3):
        raise InputError(f"{path}: image has shape {img.shape}; need (H, W) or (H, W, C)")
    bad = ~np.isfinite(img)
    if bad.any():
        raise InputError(f"{path}: {int(bad.sum())} pixel(s) are NaN or inf; mask or fill them before predicting")
    return img


def predict(run_dir, paths, batch_size: int = 64) -> dict:
    """Predictions of the run's model for each image file, in the experiment's physical units.

    Returns ``{"targets": [...], "predictions": {file: [values]}}``. An image whose shape or channel
    count does not match the model's input raises InputError naming the file and the shape needed.
    """
    from kzoo.export import load_model

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else None
    if run is None:
        raise FileNotFoundError(f"{run_dir / 'run.json'}: not a kzoo run directory (made by `kzoo train`)")
    model = load_model(run_dir / "model.keras")
    want = tuple(model.input_shape[1:])
    images = []
    for p in paths:
        img = read_image(p)
        if img.ndim == 2:
            img = img[..., None]
        if img.shape != want:
            raise InputError(f"{p}: image shape {img.shape} does not fit model input {want} "
                             f"(height, width, channels)")
        images.append(img)
    if not images:
        raise InputError("no input images given")
    y = np.asarray(model.predict(np.stack(images), batch_size=batch_size, verbose=0), dtype=np.float64)
    exp = run["experiment"]
    if exp["scale_targets"]:
        from kzoo.data.shards import load_manifest
        from kzoo.data.pipeline import target_ranges

        r = target_ranges(load_manifest(run["data_dir"], verify=False), exp["targets"])
        y = r[:, 0] + y * (r[:, 1] - r[:, 0])
    return {"targets": list(exp["targets"]), "predictions": {str(p): y[i].tolist() for i, p in enumerate(paths)}}
