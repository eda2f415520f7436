"""Real images as a sky: a CSV list of JPEG, PNG, FITS or .npy files, made into the same shards, manifest and
pipelines as simulated images (``kzoo import-images``; seed 002 trained on photographs of galaxies this way).

The list is a CSV file with a header naming the columns ``location`` (the image file, relative to the list's
folder or absolute) and ``label`` (a class name; empty for an unlabelled image) and, optionally, ``split``
(train, val, test or apply). Every image is read (JPEG and PNG through TensorFlow's decoders, FITS through astropy:
the first 2-D image HDU), made grey (the mean of its colour channels), resized to npix x npix (area averaging; the
aspect ratio is not kept, as the seed's ``transforms.Resize((256, 256))`` did not) and scaled to [0, 1] by its own
minimum and maximum (the per-image min-max of the seed's loader; the models' own normalisation, such as the global
contrast normalisation of the Deep SVDD, comes after it).

Splits: a row with a split keeps it; the other labelled rows of each class go, in a shuffle seeded by
``split_seed``, a ``test_fraction`` to test, a ``val_fraction`` to val and the rest to train, so that no image is in
two splits; unlabelled rows go to ``apply``. With ``grow_to`` > 0 the train split is grown to that many images per
class by copies with the seed's augmentation: a rotation by a uniform angle, a left-right flip half the time and
Gaussian noise of standard deviation ``noise`` (the images it was made from come first, unchanged). The label is
the class index in ``classes`` (-1 for unlabelled: such images are scored, never judged).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from kzoo.sims.params import Param, ParamError, check_params

FEATURES = ("image",)
READS_FILES = True  # kzoo.data.shards passes each shard's split and first image: the images are rows, not draws
PROBE_PIXELS = 1 << 60  # reading needs no time estimate
COLUMNS = ("location", "label", "split")
SPLITS = ("train", "val", "test", "apply")
SUFFIXES = (".png", ".jpg", ".jpeg", ".fits", ".fit", ".fts", ".npy")

DEFAULTS = dict(
    list="",  # the CSV list (an absolute path: the recipe is written by kzoo import-images)
    list_sha256="",  # its sha256 when imported: a list edited since is refused
    label="label",  # the name the label gets in the dataset (e.g. morph_class, to judge a morphology run on it)
    classes=[],  # the class names in index order
    npix=256,
    val_fraction=0.15,
    test_fraction=0.15,
    split_seed=0,
    grow_to=0,
    noise=0.02,
)

PARAMS = dict(
    list=Param(str),
    list_sha256=Param(str),
    label=Param(str),
    classes=Param(list),
    npix=Param(int, 8, 4096),
    val_fraction=Param(float, 0, 0.9),
    test_fraction=Param(float, 0, 0.9),
    split_seed=Param(int, 0),
    grow_to=Param(int, 0, 10 ** 7),
    noise=Param(float, 0, 1),
)


class ListError(ValueError):
    """A CSV list that cannot be imported; the message names the file, line and column."""


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; ParamError names every bad parameter."""
    p = check_params("image_folder", PARAMS, DEFAULTS, params)
    if p["val_fraction"] + p["test_fraction"] >= 1:
        raise ParamError("image_folder", [("val_fraction", "plus test_fraction must be below 1 (some images must "
                                                           "be left to train)")])
    return p


def _rows_unlabelled(p) -> bool:
    return any(row[1] is None for row in read_list(p["list"], p["list_sha256"], tuple(p["classes"])))


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    lo = -1.0 if p["list"] and _rows_unlabelled(p) else 0.0
    return {p["label"]: (lo, float(max(len(p["classes"]) - 1, 0)))}


def class_names(params: dict, label: str) -> list[str]:
    """The names of the labels from the range's low end: "unlabelled" (-1) when the list has unlabelled rows."""
    p = validate_params(params)
    if label != p["label"]:
        return []
    lo = label_ranges(**p)[label][0]
    return (["unlabelled"] if lo < 0 else []) + list(p["classes"])


def to_grey_square(img: np.ndarray, npix: int) -> np.ndarray:
    """An (H, W) or (H, W, C) image as (npix, npix) float32 in [0, 1]: the mean of its channels, resized by area
    averaging (bilinear when enlarged), min-max scaled (a constant image becomes zeros)."""
    import tensorflow as tf

    img = np.asarray(img, np.float32)
    grey = img.mean(axis=-1) if img.ndim == 3 else img
    if grey.shape != (npix, npix):
        method = "area" if min(grey.shape) >= npix else "bilinear"
        grey = tf.image.resize(grey[..., None], (npix, npix), method=method, antialias=True).numpy()[..., 0]
    lo, hi = float(grey.min()), float(grey.max())
    return ((grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)).astype(np.float32)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=8)
def read_list(path: str, sha256: str = "", classes: tuple = ()) -> tuple:
    """The rows of a CSV list as (file, label index or None, split or None), every problem checked that the text
    shows (columns, empty locations, unknown suffixes, labels outside ``classes``, splits); the files themselves
    are checked by :func:`check_files`."""
    where = Path(path)
    if not where.is_file():
        raise ListError(f"{where}: no such list (a CSV file with the columns location, label[, split])")
    if sha256 and _sha256(where) != sha256:
        raise ListError(f"{where}: changed since it was imported (its sha256 differs); import it again")
    try:
        text = where.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ListError(f"{where}: cannot read the list as UTF-8 text ({e})") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "location" not in header or "label" not in header:
        what = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "missing column(s) " + ", ".join(
            repr(c) for c in ("location", "label") if c not in header)
        raise ListError(f"{where} line 1: {what}; the header must name location and label (and may name split), "
                        f"got {','.join(header) or 'an empty line'}")
    col = {h: i for i, h in enumerate(header)}
    rows, seen = [], {}
    for line, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise ListError(f"{where} line {line}: {len(fields)} field(s), the header names {len(header)} "
                            f"({','.join(header)})")
        get = {h: fields[i].strip() for h, i in col.items()}
        loc = get["location"]
        if not loc:
            raise ListError(f"{where} line {line}: column location is empty; give the image's file")
        f = Path(loc) if Path(loc).is_absolute() else where.parent / loc
        if not f.name.lower().endswith(SUFFIXES + (".fits.gz",)):
            raise ListError(f"{where} line {line}: {loc}: not an image file name (kzoo reads "
                            f"{', '.join(SUFFIXES)} and .fits.gz)")
        label = get["label"] or None
        if label is not None and classes and label not in classes:
            raise ListError(f"{where} line {line}: label {label!r} is not one of the classes "
                            f"({', '.join(classes)}); leave it empty for an unlabelled image")
        split = get.get("split") or None
        if split is not None and split not in SPLITS:
            raise ListError(f"{where} line {line}: split {split!r}: use one of {', '.join(SPLITS)} (or leave it empty)")
        if split == "apply" and label is not None or split not in (None, "apply") and label is None:
            raise ListError(f"{where} line {line}: split {split} {'with' if label else 'without'} a label: labelled "
                            "images go to train, val or test, unlabelled ones to apply")
        key = os.path.realpath(f)
        if key in seen:  # one image in two splits would be judged on what it was trained on
            first, first_split = seen[key]
            if split is None or split != first_split:
                raise ListError(f"{where} line {line}: {loc} is also on line {first}: an image may be in one split only; "
                                f"list it once, or give every row of it the same split")
        seen.setdefault(key, (line, split))
        rows.append((str(f), None if label is None else (classes.index(label) if classes else label), split, line))
    if not rows:
        raise ListError(f"{where}: no image rows under the header")
    return tuple(rows)


def check_files(path: str, rows: tuple) -> dict:
    """Read every listed image once; ListError names the line of the first that is missing or unreadable.
    Returns {"shapes": counts of the image shapes}."""
    from kzoo.io import InputError, read_image

    shapes = {}
    for f, _, _, line in rows:
        try:
            img = read_image(f)
        except (InputError, FileNotFoundError, OSError) as e:
            raise ListError(f"{path} line {line}: {e}") from None
        key = "x".join(map(str, img.shape))
        shapes[key] = shapes.get(key, 0) + 1
    return {"shapes": shapes}


@functools.lru_cache(maxsize=8)
def _plan_cached(path, sha256, classes, val_fraction, test_fraction, split_seed, grow_to) -> dict:
    rows = read_list(path, sha256, classes)
    rng = np.random.default_rng(split_seed)
    plan = {s: [] for s in SPLITS}
    for label in sorted({r[1] for r in rows if r[1] is not None}):
        mine = [i for i, r in enumerate(rows) if r[1] == label]
        given = {s: [i for i in mine if rows[i][2] == s] for s in ("train", "val", "test")}
        free = [i for i in mine if rows[i][2] is None]
        free = [free[k] for k in rng.permutation(len(free))]
        n_test, n_val = int(round(test_fraction * len(free))), int(round(val_fraction * len(free)))
        plan["test"] += [(i, False) for i in given["test"] + free[:n_test]]
        plan["val"] += [(i, False) for i in given["val"] + free[n_test:n_test + n_val]]
        train = given["train"] + free[n_test + n_val:]
        plan["train"] += [(i, False) for i in train]
        if grow_to and train:  # augmented copies, cycling through the class's training images
            plan["train"] += [(train[k % len(train)], True) for k in range(max(grow_to - len(train), 0))]
    plan["apply"] = [(i, False) for i, r in enumerate(rows) if r[1] is None]
    order = rng.permutation(len(plan["train"]))  # the classes mixed across the train shards
    plan["train"] = [plan["train"][k] for k in order]
    return {s: v for s, v in plan.items() if v}


def plan_splits(params: dict) -> dict[str, list[tuple[int, bool]]]:
    """{split: [(row, augmented), ...]} for a validated ``params``: what each split's images are."""
    p = validate_params(params)
    return _plan_cached(p["list"], p["list_sha256"], tuple(p["classes"]), p["val_fraction"], p["test_fraction"],
                        p["split_seed"], p["grow_to"])


def simulate(rng: np.random.Generator, n: int, split: str = "train", start: int = 0, **params) -> dict[str, np.ndarray]:
    """Images ``start`` .. ``start + n - 1`` of ``split`` (rows of the list; augmented copies draw their rotation,
    flip and noise from ``rng``)."""
    p = validate_params(params)
    rows = read_list(p["list"], p["list_sha256"], tuple(p["classes"]))
    items = plan_splits(p).get(split, [])[start:start + n]
    if len(items) != n:
        raise ValueError(f"image_folder: split {split!r} has {len(plan_splits(p).get(split, []))} images, asked for "
                         f"{start} .. {start + n - 1}")
    images = np.empty((n, p["npix"], p["npix"]), np.float32)
    labels = np.empty((n, 1), np.float32)
    from kzoo.io import read_image

    augmented = []
    for k, (i, aug) in enumerate(items):
        f, label, _, _ = rows[i]
        images[k] = to_grey_square(read_image(f), p["npix"])
        labels[k, 0] = -1 if label is None else label
        if aug:
            augmented.append(k)
    if augmented:
        from kzoo.data.augment import rotate_images

        angles = rng.uniform(0, 2 * np.pi, len(augmented)).astype(np.float32)
        flips = rng.random(len(augmented)) < 0.5
        noise = rng.normal(0, p["noise"], (len(augmented), p["npix"], p["npix"])).astype(np.float32)
        rot = rotate_images(images[augmented][..., None], angles).numpy()[..., 0]
        rot = np.where(flips[:, None, None], rot[:, :, ::-1], rot)
        images[augmented] = np.clip(rot + noise, 0.0, 1.0)
    return {"image": images, "labels": labels}


def import_images(list_path, out, classes=None, label: str = "label", npix: int = 256, grow_to: int = 0,
                  val_fraction: float = 0.15, test_fraction: float = 0.15, split_seed: int = 0, noise: float = 0.02,
                  seed: int = 0, shards: int = 4, block: int = 8, workers: int = 1, progress: bool = True) -> dict:
    """Shards of the images a CSV list names (see the module's text), through ``kzoo.data.write_shards``.

    ``classes``: the class names in index order (default: the labels found, sorted; give them to match a
    simulated sky's, e.g. barred, elliptical, spiral for the morphology runs, with ``label="morph_class"``).
    Every row and every file is checked before anything is written: ListError names the list's line. ``seed``
    draws the augmentation. Returns the manifest (with ``written``), ``recipe`` (also in the manifest) and
    ``repeated``: ``{split: rows that name an image listed before}`` (``kzoo import-images`` says so).
    """
    from kzoo.data.shards import write_shards

    where = Path(list_path).resolve()
    if not where.is_file():
        raise ListError(f"{where}: no such list (a CSV file with the columns location, label[, split])")
    sha = _sha256(where)  # read once: a list edited between two imports in one session is read again
    found = read_list(str(where), sha)
    classes = list(classes) if classes else sorted({r[1] for r in found if r[1] is not None})
    params = validate_params({"list": str(where), "list_sha256": sha, "label": label, "classes": classes,
                              "npix": int(npix), "val_fraction": float(val_fraction),
                              "test_fraction": float(test_fraction), "split_seed": int(split_seed),
                              "grow_to": int(grow_to), "noise": float(noise)})
    rows = read_list(params["list"], params["list_sha256"], tuple(classes))  # labels outside classes: refused
    check_files(str(where), rows)
    splits = {s: len(v) for s, v in plan_splits(params).items()}
    recipe = {"sky": "image_folder", "seed": int(seed), "splits": splits, "shards": int(shards), "block": int(block),
              "features": ["image"], "params": params,
              "description": f"the images of {where} ({len(rows)} rows), imported by kzoo import-images"}
    seen, repeated = set(), {}
    for f, _, split, _ in rows:  # an image listed more than once (one split only: read_list refuses two)
        key = os.path.realpath(f)
        if key in seen:
            repeated[split] = repeated.get(split, 0) + 1
        seen.add(key)
    return {**write_shards(recipe, out, workers=workers, progress=progress), "recipe": recipe,
            "repeated": repeated}
