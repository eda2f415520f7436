"""A user's images and catalogue as a sky: a table whose rows name an image file (FITS, .npy, PNG, JPEG) or a sky
position in one large FITS image, and whose columns hold the targets (``kzoo import``; ``kzoo import-images`` is
its classification form of seed 002, which trained on photographs of galaxies this way).

The table is read with astropy.table: CSV (.csv), ECSV (.ecsv), a FITS table (.fits, .fit, .fits.gz, the first
table HDU) or a VOTable (.vot, .xml). Its columns:

- ``location``: the image file, relative to the table's folder or absolute; or, with ``cutout_image`` (one large
  FITS image with a celestial WCS), ``ra`` and ``dec`` in degrees instead: each row's image is cut out of it with
  astropy's Cutout2D, npix x npix around the position (the part outside the image becomes missing pixels).
- ``label`` (classification): a class name, empty for an unlabelled image (split ``apply``: scored, never judged);
  stored as the class index in ``classes`` under the name ``params["label"]``.
- the ``targets`` columns (regression): numbers, stored under the columns' names, each row must have them all.
- ``mask_column`` (segmentation): a mask image file per row, of the image's size, stored as the feature ``mask``.
- ``split`` (optional): train, val, test or apply; the other rows go, in a shuffle seeded by ``split_seed``
  (within each class for classification), a ``test_fraction`` to test, a ``val_fraction`` to val, the rest to
  train, so that no image is in two splits.

Pixels: a FITS file's HDU is ``hdu`` (an index, or -1: the first image HDU); a colour image becomes grey (the mean
of its channels). With ``rescale`` "none" the values keep their physical units (the model's first layer
normalises, as for simulated data); "minmax" scales each image to [0, 1] by its own extremes (the seed's loader of
photographs). An image of another size than npix x npix is refused unless ``resize`` (area averaging, bilinear
when enlarged; the aspect ratio is not kept, as the seed's ``transforms.Resize((256, 256))`` did not). Missing
pixels (NaN, inf, or outside a cutout's image) are set to ``fill`` and counted at import; with ``nan_mask`` the
image gets a second channel, 1 where the pixel was measured and 0 where it was filled, so that the model sees
which are which. They are never kept as NaN nor silently dropped. FITS images record their BUNIT and pixel scale
(from the WCS); every row must agree, and both go into the manifest's params (``bunit``, ``pixel_scale``), where
an experiment that declares ``units`` is checked against them.

With ``grow_to`` > 0 (classification of [0, 1]-scaled images only) the train split is grown to that many images
per class by copies with the seed's augmentation: a rotation by a uniform angle, a left-right flip half the time
and Gaussian noise of standard deviation ``noise`` (the images it was made from come first, unchanged).

Every row and every file is checked before anything is written (``check_files``); a bad one is named by its line
(CSV) or row (other formats). The defaults of ``DEFAULTS`` are those of the first ``kzoo import-images`` (grey,
resized, min-max scaled), so the datasets it made still read as they were; ``kzoo import`` keeps units by default.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kzoo.io import sha256_file
from kzoo.sims.params import Param, ParamError, check_params

FEATURES = ("image", "mask")  # mask: with mask_column only (kzoo import writes the recipe's features to match)
READS_FILES = True  # kzoo.data.shards passes each shard's split and first image: the images are rows, not draws
PROBE_PIXELS = 1 << 60  # reading needs no time estimate
COLUMNS = ("location", "label", "split")
SPLITS = ("train", "val", "test", "apply")
SUFFIXES = (".png", ".jpg", ".jpeg", ".fits", ".fit", ".fts", ".npy")
TABLE_FORMATS = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fits.gz": "fits",
                 ".vot": "votable", ".xml": "votable"}
RESCALES = ("none", "minmax")
MAX_ROWS = 10_000_000

DEFAULTS = dict(
    list="",  # the table (an absolute path: the recipe is written by kzoo import)
    list_sha256="",  # its sha256 when imported: a table edited since is refused
    label="label",  # the name the class label gets in the dataset (e.g. morph_class, to judge a morphology run on it)
    classes=[],  # the class names in index order
    targets=[],  # regression: the table's columns of numbers, stored as labels of the same names
    mask_column="",  # segmentation: the table's column naming a mask image per row (stored as the feature mask)
    cutout_image="",  # one large FITS image the rows' ra, dec are cut out of (an absolute path)
    cutout_sha256="",
    hdu=-1,  # the FITS HDU read (-1: the first image HDU)
    npix=256,
    resize=True,
    rescale="minmax",
    fill=0.0,
    nan_mask=False,
    bunit="",  # found at import: the FITS images' BUNIT, and their pixel scale in arcsec (0: not known)
    pixel_scale=0.0,
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
    targets=Param(list),
    mask_column=Param(str),
    cutout_image=Param(str),
    cutout_sha256=Param(str),
    hdu=Param(int, -1, 10_000),
    npix=Param(int, 8, 4096),
    resize=Param(bool),
    rescale=Param(str, choices=RESCALES),
    fill=Param(float),
    nan_mask=Param(bool),
    bunit=Param(str),
    pixel_scale=Param(float, 0),
    val_fraction=Param(float, 0, 0.9),
    test_fraction=Param(float, 0, 0.9),
    split_seed=Param(int, 0),
    grow_to=Param(int, 0, 10 ** 7),
    noise=Param(float, 0, 1),
)


class ListError(ValueError):
    """A table that cannot be imported; the message names the file, line (or row) and column."""


class Row(NamedTuple):
    source: str | tuple  # the image file, or (ra, dec) in degrees for a cutout
    label: int | str | None  # the class (index once classes are known), None: unlabelled
    split: str | None
    where: str  # "line N" (CSV) or "row N"
    targets: tuple | None  # the regression values, in the order of params["targets"]
    mask: str | None  # the mask image file


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; ParamError names every bad parameter."""
    p = check_params("image_folder", PARAMS, DEFAULTS, params)
    problems = []
    if p["val_fraction"] + p["test_fraction"] >= 1:
        problems.append(("val_fraction", "plus test_fraction must be below 1 (some images must be left to train)"))
    if p["grow_to"] and (p["rescale"] != "minmax" or p["targets"] or p["mask_column"]):
        problems.append(("grow_to", "grows classification sets of [0, 1]-scaled images only (rescale minmax, no "
                                    "targets, no mask): its noise and clipping assume that scale"))
    if p["cutout_image"] and p["resize"]:
        problems.append(("resize", "does not apply to cutouts: they are cut at npix x npix"))
    if problems:
        raise ParamError("image_folder", problems)
    return p


def _hdu(p):
    """The FITS HDU to read: an index, or None for the first image HDU."""
    return None if p["hdu"] < 0 else p["hdu"]


def _classification(p) -> bool:
    return not p["targets"] and not p["mask_column"] or bool(p["classes"])


def _rows(p) -> tuple:
    return read_list(p["list"], p["list_sha256"], tuple(p["classes"]), tuple(p["targets"]), p["mask_column"],
                     bool(p["cutout_image"]), _classification(p))


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    ranges = {}
    if _classification(p):
        lo = -1.0 if p["list"] and any(r.label is None for r in _rows(p)) else 0.0
        ranges[p["label"]] = (lo, float(max(len(p["classes"]) - 1, 0)))
    if p["targets"]:
        values = np.array([r.targets for r in _rows(p) if r.targets is not None], np.float64) if p["list"] else None
        for j, t in enumerate(p["targets"]):
            ranges[t] = (float(values[:, j].min()), float(values[:, j].max())) if values is not None else (0.0, 1.0)
    return ranges


def feature_shape(name: str, params: dict) -> list[int]:
    """(npix, npix), with a second channel (measured / filled) for the image when ``nan_mask``."""
    n = int(params["npix"])
    return [n, n, 2] if name == "image" and params.get("nan_mask") else [n, n]


def class_names(params: dict, label: str) -> list[str]:
    """The names of the labels from the range's low end: "unlabelled" (-1) when the list has unlabelled rows."""
    p = validate_params(params)
    if label != p["label"] or not _classification(p):
        return []
    lo = label_ranges(**p)[label][0]
    return (["unlabelled"] if lo < 0 else []) + list(p["classes"])


def to_grey_square(img: np.ndarray, npix: int, rescale: str = "minmax", resize: bool = True) -> np.ndarray:
    """An (H, W) or (H, W, C) image as (npix, npix) float32: the mean of its channels, resized by area averaging
    (bilinear when enlarged) when ``resize``, then min-max scaled to [0, 1] for ``rescale`` "minmax" (a constant
    image becomes zeros) or kept in its units for "none". Missing pixels must be filled before."""
    img = np.asarray(img, np.float32)
    grey = img.mean(axis=-1) if img.ndim == 3 else img
    if grey.shape != (npix, npix):
        if not resize:
            raise ValueError(f"image is {grey.shape[0]} x {grey.shape[1]}, not {npix} x {npix}")
        import tensorflow as tf

        method = "area" if min(grey.shape) >= npix else "bilinear"
        grey = tf.image.resize(grey[..., None], (npix, npix), method=method, antialias=True).numpy()[..., 0]
    if rescale == "minmax":
        lo, hi = float(grey.min()), float(grey.max())
        grey = (grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)
    return grey.astype(np.float32)


def _table_format(where: Path) -> str:
    name = where.name.lower()
    for suffix, fmt in sorted(TABLE_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise ListError(f"{where}: not a table kzoo reads ({', '.join(TABLE_FORMATS)}: CSV, ECSV, a FITS table, a "
                    f"VOTable)")


def _read_table(where: Path):
    """``(astropy Table, [where of each row])``: CSV rows named by their line in the file, others as "row N"."""
    import warnings

    from astropy.table import Table

    fmt = _table_format(where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a unit astropy does not know, a VOTable's W-warnings: not ours to judge
            table = Table.read(where, format=fmt)  # a CSV's empty fields come masked
    except Exception as e:  # astropy raises many kinds for a bad table; one line names the file
        raise ListError(f"{where}: cannot read it as a {fmt} table ({' '.join(str(e).split())[:200]})") from None
    if len(table) > MAX_ROWS:
        raise ListError(f"{where}: {len(table):,} rows; kzoo imports at most {MAX_ROWS:,} per table")
    if fmt == "ascii.csv":
        text = where.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        lines = [i + 1 for i, line in enumerate(text) if line.strip() and not line.lstrip().startswith("#")][1:]
        places = [f"line {n}" for n in lines] if len(lines) == len(table) else [f"row {i + 1}" for i in range(len(table))]
    else:
        places = [f"row {i + 1}" for i in range(len(table))]
    return table, places


def _cell(table, column: str, i: int):
    """The table's value, or None where it is masked or an empty string."""
    col = table[column]
    if getattr(col, "mask", None) is not None and bool(np.ma.getmaskarray(col)[i]):
        return None
    v = col[i]
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v.item() if hasattr(v, "item") else v


@functools.lru_cache(maxsize=8)
def read_list(path: str, sha256: str = "", classes: tuple = (), targets: tuple = (), mask_column: str = "",
              cutouts: bool = False, classify: bool = True) -> tuple:
    """The rows of a table as :class:`Row` s, every problem checked that the table shows (columns, empty
    locations, unknown suffixes, labels outside ``classes``, targets that are not finite numbers, splits, an image
    listed in two splits); the files themselves are checked by :func:`check_files`."""
    where = Path(path)
    if not where.is_file():
        raise ListError(f"{where}: no such table (a CSV, ECSV, FITS or VOTable file with a location column)")
    if sha256 and sha256_file(where) != sha256:
        raise ListError(f"{where}: changed since it was imported (its sha256 differs); import it again")
    table, places = _read_table(where)
    header = list(table.colnames)
    need = (["ra", "dec"] if cutouts else ["location"]) + (["label"] if classify and not targets and not mask_column
                                                          else []) + list(targets) + ([mask_column] if mask_column else [])
    if classify and (targets or mask_column) and classes:
        need.append("label")
    missing = [c for c in need if c not in header]
    if missing:
        hint = ("; for regression name the columns to predict with --targets, for segmentation the mask's with "
                "--mask-column" if missing == ["label"] else "")
        raise ListError(f"{where}: missing column(s) {', '.join(map(repr, missing))}; the table has "
                        f"{', '.join(header) or 'no columns'} (an image needs {'ra, dec' if cutouts else 'location'}"
                        f"{', a class needs label' if classify else ''}){hint}")
    rows, seen = [], {}
    for i, place in enumerate(places):
        get = functools.partial(_cell, table, i=i)
        if cutouts:
            ra, dec = get("ra"), get("dec")
            try:
                ra, dec = float(ra), float(dec)
                ok = np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ListError(f"{where} {place}: ra {get('ra')!r}, dec {get('dec')!r}: give both in degrees "
                                f"(dec in [-90, 90])")
            source, key = (ra, dec), ("pos", ra, dec)
        else:
            loc = get("location")
            if loc is None:
                raise ListError(f"{where} {place}: column location is empty; give the image's file")
            loc = str(loc)
            f = Path(loc) if Path(loc).is_absolute() else where.parent / loc
            if not f.name.lower().endswith(SUFFIXES + (".fits.gz",)):
                raise ListError(f"{where} {place}: {loc}: not an image file name (kzoo reads {', '.join(SUFFIXES)} "
                                f"and .fits.gz)")
            source, key = str(f), os.path.realpath(f)
        label = get("label") if "label" in header and classify else None
        label = None if label is None else str(label)
        if label is not None and classes and label not in classes:
            raise ListError(f"{where} {place}: label {label!r} is not one of the classes ({', '.join(classes)}); "
                            f"leave it empty for an unlabelled image")
        values = None
        if targets:
            values = []
            for t in targets:
                v = get(t)
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise ListError(f"{where} {place}: column {t} is {'empty' if v is None else repr(v)}; a "
                                    f"regression target must be a finite number in every row") from None
                if not np.isfinite(v) or abs(v) > 3.4e38:
                    raise ListError(f"{where} {place}: column {t} is {v}; a regression target must be a finite "
                                    f"float32 number")
                values.append(v)
            values = tuple(values)
        mask = None
        if mask_column:
            m = get(mask_column)
            if m is None:
                raise ListError(f"{where} {place}: column {mask_column} is empty; give the mask image's file")
            mask = str(Path(str(m)) if Path(str(m)).is_absolute() else where.parent / str(m))
        split = get("split") if "split" in header else None
        split = None if split is None else str(split)
        if split is not None and split not in SPLITS:
            raise ListError(f"{where} {place}: split {split!r}: use one of {', '.join(SPLITS)} (or leave it empty)")
        judged = label is not None or values is not None or mask is not None
        if split == "apply" and judged or split not in (None, "apply") and not judged:
            raise ListError(f"{where} {place}: split {split} {'with' if judged else 'without'} a label or target: "
                            "labelled images go to train, val or test, unlabelled ones to apply")
        if key in seen:  # one image in two splits would be judged on what it was trained on
            first, first_split = seen[key]
            if split is None or split != first_split:
                what = f"ra {source[0]}, dec {source[1]}" if cutouts else get("location")
                raise ListError(f"{where} {place}: {what} is also on {first}: an image may be in one split only; "
                                f"list it once, or give every row of it the same split")
        seen.setdefault(key, (place, split))
        label = None if label is None else (classes.index(label) if classes else label)
        rows.append(Row(source, label, split, place, values, mask))
    if not rows:
        raise ListError(f"{where}: no image rows in the table")
    if targets:
        for j, t in enumerate(targets):
            column = [r.targets[j] for r in rows]
            if min(column) == max(column):
                raise ListError(f"{where}: column {t} holds {column[0]} in every row; a regression target must vary")
    return tuple(rows)


@functools.lru_cache(maxsize=2)
def _field(path: str, hdu, sha256: str = ""):
    """``(pixels, celestial WCS)`` of the large FITS image the rows' positions are cut out of: opened (memory-mapped)
    and checked against the sha256 it was imported with once per process, not once per row."""
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS

    from kzoo.io import _fits_image_hdu

    if sha256 and sha256_file(path) != sha256:
        raise ListError(f"{path}: changed since it was imported (its sha256 differs); import it again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdus = fits.open(path, memmap=True)  # kept open with the cache: the pixels are read where cut
        h = _fits_image_hdu(path, hdus, hdu)
        return h.data, WCS(h.header).celestial


def _cutout(p, ra: float, dec: float) -> np.ndarray:
    """The npix x npix cutout of ``cutout_image`` around (ra, dec), NaN outside the image."""
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D, NoOverlapError

    data, wcs = _field(p["cutout_image"], _hdu(p), p["cutout_sha256"])
    try:
        cut = Cutout2D(data, SkyCoord(ra, dec, unit="deg"), (p["npix"], p["npix"]), wcs=wcs, mode="partial",
                       fill_value=np.nan)
    except (NoOverlapError, ValueError):  # far away, or on the other side of the projection (NaN pixels)
        raise ValueError(f"ra {ra}, dec {dec} is outside {p['cutout_image']}") from None
    return np.asarray(cut.data, np.float32)


def _pixels(p, row: Row) -> tuple[np.ndarray, int]:
    """The row's image as stored (npix, npix[, 2]) and how many of its pixels were missing (filled)."""
    from kzoo.io import read_image

    img = _cutout(p, *row.source) if p["cutout_image"] else read_image(row.source, hdu=_hdu(p), finite=False)
    img = np.asarray(img, np.float32)
    if img.ndim == 3:
        valid = np.isfinite(img).all(axis=-1)
        img = np.where(valid[..., None], img, 0.0).mean(axis=-1)
    else:
        valid = np.isfinite(img)
    missing = int((~valid).sum())
    img = np.where(valid, img, 0.0)
    if img.shape != (p["npix"],) * 2 and p["resize"]:  # missing pixels do not leak into their neighbours' means
        img = to_grey_square(img, p["npix"], "none", True)
        valid = to_grey_square(valid.astype(np.float32), p["npix"], "none", True) > 0.999
    elif img.shape != (p["npix"],) * 2:
        raise ValueError(f"image is {img.shape[0]} x {img.shape[1]} pixels, not {p['npix']} x {p['npix']}; pass "
                         f"--npix {img.shape[0] if img.shape[0] == img.shape[1] else 'N'} or --resize")
    if p["rescale"] == "minmax":
        img = to_grey_square(np.where(valid, img, img[valid].min() if valid.any() else 0.0), p["npix"], "minmax")
    img = np.where(valid, img, np.float32(p["fill"])).astype(np.float32)
    if p["nan_mask"]:
        img = np.stack([img, valid.astype(np.float32)], axis=-1)
    return img, missing


PREPARATION = ("hdu", "npix", "resize", "rescale", "fill", "nan_mask", "bunit", "pixel_scale")


def preparation(params: dict) -> dict:
    """How an imported dataset made each image from its file (what ``kzoo predict`` repeats on new files)."""
    p = validate_params(params)
    return {k: p[k] for k in PREPARATION}


def prepare(path, prep: dict) -> np.ndarray:
    """An image file made as the import of ``prep`` (:func:`preparation`) made its images: the same HDU, grey,
    size, scaling and filling of missing pixels (and their mask channel); InputError names the file."""
    from kzoo.io import InputError

    p = validate_params({k: v for k, v in prep.items() if k in PREPARATION})
    try:
        return _pixels(p, Row(str(path), None, None, "", None, None))[0]
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None


def _mask(p, row: Row) -> np.ndarray:
    from kzoo.io import read_image

    m = np.asarray(read_image(row.mask), np.float32)
    m = m.mean(axis=-1) if m.ndim == 3 else m
    if m.shape != (p["npix"],) * 2:
        if not p["resize"]:
            raise ValueError(f"mask {row.mask} is {m.shape[0]} x {m.shape[1]} pixels, not {p['npix']} x {p['npix']}")
        import tensorflow as tf

        m = tf.image.resize(m[..., None], (p["npix"], p["npix"]), method="nearest").numpy()[..., 0]
    return m.astype(np.float32)


def check_files(path: str, rows: tuple, p: dict) -> dict:
    """Read every row's image (and mask) once, as it will be stored; ListError names the line of the first that is
    missing, unreadable, of another size, or of other units than the first FITS image. Returns ``shapes`` (counts
    of the files' shapes), ``missing`` (pixels filled, and in how many images), ``bunit`` and ``pixel_scale``."""
    from kzoo.io import InputError, fits_units, is_fits

    shapes, missing, images, units = {}, 0, 0, None
    for r in rows:
        try:
            if not p["cutout_image"] and is_fits(r.source):
                u = fits_units(r.source, _hdu(p))
                if units is None:
                    units = (u, r.where)
                elif u[0] != units[0][0] or abs(u[1] - units[0][1]) > 0.01 * max(u[1], units[0][1]):
                    said = [f"BUNIT {b!r}, {f'{s:g} arcsec/pixel' if s else 'no pixel scale'}" for b, s in (u, units[0])]
                    raise InputError(f"{said[0]}, but {units[1]} has {said[1]}; import images of one unit and pixel "
                                     f"scale together")
            img, n = _pixels(p, r)
            missing, images = missing + n, images + bool(n)
            if r.mask is not None:
                _mask(p, r)
        except (InputError, FileNotFoundError, OSError, ValueError) as e:
            raise ListError(f"{path} {r.where}: {e}") from None
        key = "x".join(map(str, np.shape(img)))
        shapes[key] = shapes.get(key, 0) + 1
    if p["cutout_image"]:
        units = (fits_units(p["cutout_image"], _hdu(p)), "")
    bunit, scale = units[0] if units else ("", 0.0)
    return {"shapes": shapes, "missing": {"pixels": missing, "images": images}, "bunit": bunit,
            "pixel_scale": scale}


@functools.lru_cache(maxsize=8)
def _plan_cached(path, sha256, classes, targets, mask_column, cutouts, classify, val_fraction, test_fraction,
                 split_seed, grow_to) -> dict:
    rows = read_list(path, sha256, classes, targets, mask_column, cutouts, classify)
    rng = np.random.default_rng(split_seed)
    plan = {s: [] for s in SPLITS}
    judged = [i for i, r in enumerate(rows) if r.label is not None or r.targets is not None or r.mask is not None]
    groups = sorted({rows[i].label for i in judged if rows[i].label is not None}) if classify else [None]
    for group in groups:
        mine = [i for i in judged if not classify or rows[i].label == group]
        given = {s: [i for i in mine if rows[i].split == s] for s in ("train", "val", "test")}
        free = [i for i in mine if rows[i].split is None]
        free = [free[k] for k in rng.permutation(len(free))]
        n_test, n_val = int(round(test_fraction * len(free))), int(round(val_fraction * len(free)))
        plan["test"] += [(i, False) for i in given["test"] + free[:n_test]]
        plan["val"] += [(i, False) for i in given["val"] + free[n_test:n_test + n_val]]
        train = given["train"] + free[n_test + n_val:]
        plan["train"] += [(i, False) for i in train]
        if grow_to and train:  # augmented copies, cycling through the class's training images
            plan["train"] += [(train[k % len(train)], True) for k in range(max(grow_to - len(train), 0))]
    plan["apply"] = [(i, False) for i, r in enumerate(rows) if i not in set(judged)]
    order = rng.permutation(len(plan["train"]))  # the classes mixed across the train shards
    plan["train"] = [plan["train"][k] for k in order]
    return {s: v for s, v in plan.items() if v}


def plan_splits(params: dict) -> dict[str, list[tuple[int, bool]]]:
    """{split: [(row, augmented), ...]} for a validated ``params``: what each split's images are."""
    p = validate_params(params)
    return _plan_cached(p["list"], p["list_sha256"], tuple(p["classes"]), tuple(p["targets"]), p["mask_column"],
                        bool(p["cutout_image"]), _classification(p), p["val_fraction"], p["test_fraction"],
                        p["split_seed"], p["grow_to"])


def simulate(rng: np.random.Generator, n: int, split: str = "train", start: int = 0, **params) -> dict[str, np.ndarray]:
    """Images ``start`` .. ``start + n - 1`` of ``split`` (rows of the table; augmented copies draw their rotation,
    flip and noise from ``rng``)."""
    p = validate_params(params)
    rows = _rows(p)
    items = plan_splits(p).get(split, [])[start:start + n]
    if len(items) != n:
        raise ValueError(f"image_folder: split {split!r} has {len(plan_splits(p).get(split, []))} images, asked for "
                         f"{start} .. {start + n - 1}")
    images = np.empty([n, *feature_shape("image", p)], np.float32)
    names = list(label_ranges(**p))
    labels = np.empty((n, len(names)), np.float32)
    masks = np.empty((n, p["npix"], p["npix"]), np.float32) if p["mask_column"] else None
    augmented = []
    for k, (i, aug) in enumerate(items):
        r = rows[i]
        images[k] = _pixels(p, r)[0]
        values = []
        if _classification(p):
            values.append(-1 if r.label is None else r.label)
        values += list(r.targets or ())
        labels[k] = values
        if masks is not None:
            masks[k] = _mask(p, r)
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
    out = {"image": images, "labels": labels}
    if masks is not None:
        out["mask"] = masks
    return out


def import_images(list_path, out, classes=None, label: str = "label", npix: int | None = 256, grow_to: int = 0,
                  val_fraction: float = 0.15, test_fraction: float = 0.15, split_seed: int = 0, noise: float = 0.02,
                  seed: int = 0, shards: int = 4, block: int = 8, workers: int = 1, progress: bool = True,
                  targets=(), mask_column: str = "", cutout_image: str = "", hdu: int = -1, resize: bool = True,
                  rescale: str = "minmax", fill: float = 0.0, nan_mask: bool = False) -> dict:
    """Shards of the images a table names (see the module's text), through ``kzoo.data.write_shards``.

    ``classes``: the class names in index order (default: the labels found, sorted; give them to match a
    simulated sky's, e.g. barred, elliptical, spiral for the morphology runs, with ``label="morph_class"``).
    ``targets``: regression columns; ``mask_column``: a segmentation mask per row; ``cutout_image``: cut the rows'
    ra, dec out of this FITS image. ``npix`` None: the images' own size (they must all have it). Every row and
    every file is checked before anything is written: ListError names the table's line. ``seed`` draws the
    augmentation. Returns the manifest (with ``written``), ``recipe`` (also in the manifest), ``repeated``:
    ``{split: rows that name an image listed before}`` and ``missing``: pixels filled (and in how many images).
    """
    from kzoo.data.shards import write_shards

    where = Path(list_path).resolve()
    if not where.is_file():
        raise ListError(f"{where}: no such table (a CSV, ECSV, FITS or VOTable file with a location column)")
    cut = Path(cutout_image).resolve() if cutout_image else None
    if cut is not None and not cut.is_file():
        raise ListError(f"{cut}: no such FITS image to cut the rows' positions out of")
    sha = sha256_file(where)  # read once: a table edited between two imports in one session is read again
    targets, classify = tuple(targets or ()), bool(classes) or not targets and not mask_column
    found = read_list(str(where), sha, (), targets, mask_column, cut is not None, classify)
    classes = list(classes) if classes else sorted({r.label for r in found if r.label is not None}) if classify else []
    if npix is None:
        if cut is not None:
            raise ListError(f"{where}: cutouts need --npix, the side of the square cut around each position")
        from kzoo.io import InputError, read_image

        try:
            first = read_image(found[0].source, hdu=None if hdu < 0 else hdu, finite=False)
        except (InputError, OSError) as e:
            raise ListError(f"{where} {found[0].where}: {e}") from None
        npix = int(first.shape[0])
    params = {"list": str(where), "list_sha256": sha, "label": label, "classes": classes, "targets": list(targets),
              "mask_column": mask_column, "cutout_image": str(cut or ""), "cutout_sha256": sha256_file(cut) if cut else "",
              "hdu": int(hdu), "npix": int(npix), "resize": bool(resize), "rescale": rescale, "fill": float(fill),
              "nan_mask": bool(nan_mask), "val_fraction": float(val_fraction), "test_fraction": float(test_fraction),
              "split_seed": int(split_seed), "grow_to": int(grow_to), "noise": float(noise)}
    params = validate_params(params)
    rows = _rows(params)  # labels outside classes: refused
    checked = check_files(str(where), rows, params)
    params = validate_params({**params, "bunit": checked["bunit"], "pixel_scale": checked["pixel_scale"]})
    splits = {s: len(v) for s, v in plan_splits(params).items()}
    features = ["image"] + (["mask"] if mask_column else [])
    recipe = {"sky": "image_folder", "seed": int(seed), "splits": splits, "shards": int(shards), "block": int(block),
              "features": features, "params": params,
              "description": f"the images of {where} ({len(rows)} rows), imported by kzoo import"}
    seen, repeated = set(), {}
    for r in rows:  # an image listed more than once (one split only: read_list refuses two)
        key = os.path.realpath(r.source) if isinstance(r.source, str) else r.source
        if key in seen:
            repeated[r.split] = repeated.get(r.split, 0) + 1
        seen.add(key)
    return {**write_shards(recipe, out, workers=workers, progress=progress), "recipe": recipe,
            "repeated": repeated, "missing": checked["missing"]}
