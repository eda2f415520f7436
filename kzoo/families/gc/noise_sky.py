"""Which noise corrupts a map? The source notebooks' proposed next step for their denoiser (000, Part c: "making it
classify the different types of noise"), as a sky: the randomly rotated Galactic-centre maps of ``sky`` (the source
notebooks' sky, as the denoisers see it), each divided by its own maximum, then corrupted by one of the four noises
of the denoising study at the source notebooks' amounts (``kzoo.layers.NOISE_DEFAULTS``), drawn uniformly; the label
``noise_kind`` is the noise's index in ``NOISES``. Noises drawn with numpy (``kzoo.data.augment_numpy.corrupt``, the
same kinds and amounts as the denoisers' pipeline), so the same seed gives the same bytes."""

from __future__ import annotations

import numpy as np

from kzoo.families.gc import sky
from kzoo.layers import NOISE_DEFAULTS
from kzoo.sims.params import check_params

NOISES = tuple(NOISE_DEFAULTS)  # gaussian, poisson, masked, salt_and_pepper
LABELS = ("noise_kind",)
FEATURES = ("noisy",)
DEFAULTS = {**sky.DEFAULTS, "rotate": True}
PARAMS = sky.PARAMS


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS (the Galactic-centre sky's, rotated); raise ParamError naming every bad one."""
    return check_params("galactic_center_noise", PARAMS, DEFAULTS, params)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    """The noise's index: 0 .. 3."""
    validate_params(params)
    return {"noise_kind": (0.0, float(len(NOISES) - 1))}


def class_names(params: dict, label: str) -> list[str]:
    """The names of the ``noise_kind`` classes (kzoo.evaluate's tables); [] for another label."""
    return [n.replace("_", " ") for n in NOISES] if label == "noise_kind" else []


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` maps: ``noisy`` (n, npix, npix) float32 in [0, 1] and ``labels`` (n, 1), the noise's index."""
    from kzoo.data.augment_numpy import corrupt

    p = validate_params(params)
    maps = sky.simulate(rng, n, **p)["counts"].astype(np.float64)
    peak = maps.reshape(n, -1).max(axis=1).reshape(-1, 1, 1)
    maps = maps / np.where(peak > 0, peak, 1.0)
    kind = rng.integers(0, len(NOISES), n)
    noisy = np.empty(maps.shape, np.float32)
    for i, name in enumerate(NOISES):
        if (kind == i).any():
            noisy[kind == i] = corrupt(maps[kind == i], rng, name)
    return {"noisy": noisy, "labels": kind[:, None].astype(np.float32)}
