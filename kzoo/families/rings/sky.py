"""Cherenkov rings of seed 001, group F: small detector images holding one or more rings of light.

The seed's generative process (../shared/design/SEED-NOTES.md, "Cherenkov rings"):

* a 28 x 28 image; a ring of centre (cx, cy), each an integer drawn uniformly in ``centre_range`` (5, 23)
  (both ends included, as Python's ``random.randint``), radius r uniform between ``r_min`` (2 pixels) and the
  distance to the nearest edge of the image (so the ring stays inside);
* the ring drawn as 360 dots, one per degree, each at radius r + U(-deformation, deformation), of dot size
  ``thickness`` U(0.2, 1.5) pixels; ``deformation`` U(0.5, 3) pixels;
* labels (the seed's five regression outputs): cx / 28, cy / 28, r / 28, thickness, deformation;
* the classification set: 1 .. ``max_rings`` rings per image (uniform count; the seed used 1 or 2 "or more",
  the issue's default is 4), combined by the pixel-wise maximum, labelled by their number.

Our rasterisation (the seed's drawing library is not in its notes): a dot is a Gaussian spot of standard
deviation ``thickness`` pixels and peak 1, and a pixel takes the brightest dot over it, so the image lies in
[0, 1], a thin ring is faint where its dots miss the pixel centres, and rings combine by the maximum as the
seed's did. Realism beyond the seed, off by default (a named recipe variant turns it on): ``photons`` > 0
makes each pixel Poisson counts of mean ``photons`` x intensity + ``dark`` (dark noise), divided by
``photons`` (so the image stays in the units of intensity).

Labels (LABELS): ``cx``, ``cy``, ``r`` (of the first ring, divided by npix as the seed did), ``thickness``,
``deformation`` (the first ring's), ``n_rings`` (1 .. max_rings) and ``ring_class`` (n_rings - 1, the
class index a classifier predicts). numpy only, vectorised over images and dots; the same generator state
gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, ParamError, check_params

LABELS = ("cx", "cy", "r", "thickness", "deformation", "n_rings", "ring_class")
FEATURES = ("image",)
DOTS = 360  # one dot per degree, as the seed
CHUNK = 64  # images per vectorised step (64 x 360 dots x 784 pixels of float32: 72 MB)

DEFAULTS = dict(
    npix=28,
    centre_range=(5, 23),
    r_min=2.0,
    thickness_range=(0.2, 1.5),
    deformation_range=(0.5, 3.0),
    max_rings=1,
    photons=0.0,
    dark=0.0,
)

PARAMS = dict(
    npix=Param(int, 8, 256),
    centre_range=Param(int, 0, 256, pair="<="),
    r_min=Param(float, 0, 128, above=True),
    thickness_range=Param(float, 0, 20, pair="<=", above=True),
    deformation_range=Param(float, 0, 20, pair="<="),
    max_rings=Param(int, 1, 16),
    photons=Param(float, 0),
    dark=Param(float, 0),
)


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    p = check_params("rings", PARAMS, DEFAULTS, params)
    lo, hi = p["centre_range"]
    problems = []
    if hi > p["npix"] - 1:
        problems.append(("centre_range", f"must lie inside the image (0 .. npix - 1 = {p['npix'] - 1}), got "
                                         f"{list(p['centre_range'])}"))
    elif min(lo, p["npix"] - 1 - hi) < p["r_min"]:
        problems.append(("r_min", f"must be at most the smallest distance from a centre to the edge "
                                  f"({min(lo, p['npix'] - 1 - hi)} pixels for centre_range {list(p['centre_range'])}), "
                                  f"got {p['r_min']}"))
    if p["dark"] > 0 and p["photons"] == 0:
        problems.append(("dark", "needs photons > 0 (dark counts are Poisson counts beside the ring's photons)"))
    if problems:
        raise ParamError("rings", problems)
    return p


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    lo, hi, n = p["centre_range"][0], p["centre_range"][1], p["npix"]
    r_max = max(min(c, n - 1 - c) for c in range(lo, hi + 1))
    return {"cx": (lo / n, hi / n), "cy": (lo / n, hi / n), "r": (p["r_min"] / n, r_max / n),
            "thickness": tuple(map(float, p["thickness_range"])),
            "deformation": tuple(map(float, p["deformation_range"])),
            "n_rings": (1.0, float(p["max_rings"])), "ring_class": (0.0, float(p["max_rings"] - 1))}


def draw_rings(rng: np.random.Generator, k: int, p: dict) -> np.ndarray:
    """The parameters of ``k`` rings, (k, 5): cx, cy, r (pixels), thickness, deformation."""
    lo, hi, n = p["centre_range"][0], p["centre_range"][1], p["npix"]
    cx = rng.integers(lo, hi, size=k, endpoint=True).astype(np.float64)
    cy = rng.integers(lo, hi, size=k, endpoint=True).astype(np.float64)
    edge = np.minimum(np.minimum(cx, cy), np.minimum(n - 1 - cx, n - 1 - cy))
    r = rng.uniform(p["r_min"], edge)
    thickness = rng.uniform(*p["thickness_range"], size=k)
    deformation = rng.uniform(*p["deformation_range"], size=k)
    return np.stack([cx, cy, r, thickness, deformation], axis=1)


def render(rings: np.ndarray, npix: int, jitter: np.ndarray) -> np.ndarray:
    """Intensity images (k, npix, npix) of rings (k, 5) whose dots sit at radius r + ``jitter`` (k, DOTS)
    pixels: each pixel the brightest Gaussian dot (standard deviation ``thickness``, peak 1) over it."""
    theta = np.deg2rad(np.arange(DOTS))
    c = np.arange(npix, dtype=np.float32)
    out = np.empty((len(rings), npix, npix), np.float32)
    for s in range(0, len(rings), CHUNK):
        g = rings[s:s + CHUNK]
        rad = (g[:, 2:3] + jitter[s:s + CHUNK]).astype(np.float32)  # (b, DOTS)
        x = g[:, 0:1].astype(np.float32) + rad * np.cos(theta).astype(np.float32)
        y = g[:, 1:2].astype(np.float32) + rad * np.sin(theta).astype(np.float32)
        dx2 = (c[None, None, :] - x[:, :, None]) ** 2  # (b, DOTS, npix) along x (columns)
        dy2 = (c[None, None, :] - y[:, :, None]) ** 2  # (b, DOTS, npix) along y (rows)
        d2 = np.min(dy2[:, :, :, None] + dx2[:, :, None, :], axis=1)  # (b, npix rows, npix columns)
        t = g[:, 3].astype(np.float32)[:, None, None]
        out[s:s + CHUNK] = np.exp(-d2 / (2 * t * t))
    return out


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` ring images: ``image`` (n, npix, npix) float32 and ``labels`` (n, 7) float32 (LABELS)."""
    if int(n) != n or n <= 0:
        raise ValueError(f"rings.simulate: n must be a positive integer, got {n!r}")
    n = int(n)
    p = validate_params(params)
    npix, kmax = int(p["npix"]), int(p["max_rings"])
    count = rng.integers(1, kmax, size=n, endpoint=True) if kmax > 1 else np.ones(n, np.int64)
    rings = draw_rings(rng, n * kmax, p).reshape(n, kmax, 5)
    jitter = rng.uniform(-1.0, 1.0, (n, kmax, DOTS)) * rings[:, :, 4:5]  # U(-deformation, deformation)
    image = render(rings.reshape(-1, 5), npix, jitter.reshape(-1, DOTS)).reshape(n, kmax, npix, npix)
    image = np.where((np.arange(kmax)[None, :] < count[:, None])[:, :, None, None], image, 0.0).max(axis=1)
    if p["photons"] > 0:
        image = rng.poisson(p["photons"] * image + p["dark"]) / p["photons"]
    first = rings[:, 0]
    labels = np.column_stack([first[:, 0] / npix, first[:, 1] / npix, first[:, 2] / npix, first[:, 3], first[:, 4],
                              count, count - 1])
    return {"image": image.astype(np.float32), "labels": labels.astype(np.float32)}
