"""One Gaussian dot of random brightness and position per image, with Gaussian noise."""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("brightness", "x", "y")
FEATURES = ("image",)
DEFAULTS = dict(npix=16, brightness_range=(1.0, 10.0), width=1.5, noise=0.1)
PARAMS = dict(npix=Param(int, 8, 64), brightness_range=Param(float, 0, 1e6, pair="<="),
              width=Param(float, 0, 16, above=True), noise=Param(float, 0))


def validate_params(params: dict) -> dict:
    return check_params("dots", PARAMS, DEFAULTS, params)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    return {"brightness": tuple(map(float, p["brightness_range"])), "x": (2.0, p["npix"] - 3.0),
            "y": (2.0, p["npix"] - 3.0)}


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    p = validate_params(params)
    lo, hi = p["brightness_range"]
    b = rng.uniform(lo, hi, n)
    x, y = rng.uniform(2.0, p["npix"] - 3.0, (2, n))
    grid = np.arange(p["npix"], dtype=np.float64)
    image = b[:, None, None] * np.exp(-((grid[None, :, None] - y[:, None, None]) ** 2
                                        + (grid[None, None, :] - x[:, None, None]) ** 2) / (2 * p["width"] ** 2))
    image += rng.normal(0.0, p["noise"], image.shape)
    return {"image": image.astype(np.float32), "labels": np.stack([b, x, y], axis=1).astype(np.float32)}
