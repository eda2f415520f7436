"""The augmentations and input noises of :mod:`kzoo.data.augment` and :func:`kzoo.layers.corrupt` in numpy, for
kzoo's reader without TensorFlow (:mod:`kzoo.data.reader`): the same kinds and amounts, drawn from a numpy
Generator (so other draws than TensorFlow's stateless ones). Rotations by any angle are bilinear with zero fill
about the image centre (``scipy.ndimage.affine_transform``), as ``ImageProjectiveTransformV3`` does."""

from __future__ import annotations

import math

import numpy as np

AUGMENTATIONS = ("flip", "rot90", "rotate")


def parse_augment(augment) -> dict:
    """Normalise ``augment`` (None, a list of names, or ``{"flip": True, "rot90": True, "rotate": 180}``)."""
    if not augment:
        return {}
    if isinstance(augment, str):
        augment = [augment]
    if isinstance(augment, (list, tuple)):
        augment = {name: True for name in augment}
    unknown = sorted(set(augment) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"augment: unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)}")
    out = {k: v for k, v in augment.items() if v}
    if out.get("rotate") is True:
        out["rotate"] = 180.0  # degrees: any angle
    return out


def rotate_images(images: np.ndarray, angles) -> np.ndarray:
    """Each image of ``(B, H, W, C)`` turned by its angle (radians, counter-clockwise as kzoo.data.augment's), bilinear,
    zero outside."""
    from scipy.ndimage import affine_transform

    out = np.empty_like(images)
    h, w = images.shape[1:3]
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    for b, a in enumerate(np.asarray(angles, np.float64)):
        c, s = math.cos(a), math.sin(a)
        # output (row y, col x) samples the input at x_in = c x - s y + tx, y_in = s x + c y + ty
        matrix = np.array([[c, s], [-s, c]])
        offset = np.array([cy - s * cx - c * cy, cx - c * cx + s * cy])
        for ch in range(images.shape[3]):
            out[b, ..., ch] = affine_transform(images[b, ..., ch], matrix, offset, order=1, mode="grid-constant",
                                               cval=0.0)
    return out


def augment_batch(x, y, rng: np.random.Generator, flip=False, rot90=False, rotate=0.0):
    """Augment images ``x`` (B, H, W, C) (and the image target ``y``, if not None) with per-image random draws."""
    b = len(x)

    def both(fn):
        return fn(x), (fn(y) if y is not None else None)

    if flip:
        for axis in (2, 1):
            do = (rng.random(b) < 0.5).reshape(-1, 1, 1, 1)
            x, y = both(lambda t: np.where(do, np.flip(t, axis), t))
    if rot90:
        k = rng.integers(0, 4, b)
        x, y = both(lambda t: np.stack([np.rot90(t[i], k[i], axes=(0, 1)) for i in range(b)]) if b else t)
    if rotate:
        angle = rng.uniform(-1.0, 1.0, b) * (float(rotate) * math.pi / 180.0)
        x, y = both(lambda t: rotate_images(t, angle))
    return np.ascontiguousarray(x, np.float32), (None if y is None else np.ascontiguousarray(y, np.float32))


def corrupt(x: np.ndarray, rng: np.random.Generator, kind: str, amount: float | None = None) -> np.ndarray:
    """:func:`kzoo.layers.corrupt`'s noises in numpy, on images in [0, 1], clipped to [0, 1]."""
    from kzoo.layers import NOISE_DEFAULTS, noise_amount

    amount = noise_amount(kind, amount) if kind != "mixed" else None
    if kind == "gaussian":
        y = x + amount * rng.standard_normal(x.shape)
    elif kind == "poisson":
        y = rng.poisson(np.clip(x, 0, None) * amount) / amount
    elif kind == "masked":
        y = np.where(rng.random(x.shape) < amount, 0.0, x)
    elif kind == "salt_and_pepper":
        axes = tuple(range(1, x.ndim))
        lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
        hit, salt = rng.random(x.shape) < amount, rng.random(x.shape) < 0.5
        y = np.where(hit, np.where(salt, hi, lo), x)
    else:  # mixed: each image one of the four at the seed's amounts
        kinds = list(NOISE_DEFAULTS)
        pick = rng.integers(0, len(kinds), len(x))
        y = x.copy()
        for i, k in enumerate(kinds):
            if (pick == i).any():
                y[pick == i] = corrupt(x[pick == i], rng, k)
        return y
    return np.clip(y, 0.0, 1.0).astype(np.float32)
