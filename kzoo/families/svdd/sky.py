"""Grey galaxy images of three morphologies for seed 002's Deep SVDD: barred (0), elliptical (1), spiral (2).

The seed trained on ~200 photographs from Google Images (its labels: barred 0, elliptical 1, spiral 2) and
applied the models to images from simulations. This sky draws the three classes from a physical description
instead, so that the normal class and the anomalies are known exactly and the amount of data is free:

* **elliptical**: a Sersic profile I ~ exp(-b_n ((r / r_e)^(1/n) - 1)), n ~ U(``sersic_n_range``) (de
  Vaucouleurs-like), axis ratio q ~ U(0.5, 1);
* **spiral**: a bulge (Sersic n ~ U(1.5, 3), r_e 0.2 h) holding a fraction B/T ~ U(``bulge_fraction_range``)
  of the light, and an exponential disk of scale length h modulated by m logarithmic arms,
  1 + A cos(m (theta - ln(r / r_0) / tan p)), with m in {2, 3, 4} (2 half the time), pitch angle p ~
  U(``pitch_deg_range``), arm contrast A ~ U(``arm_contrast_range``), arms fading in inside r_0;
* **barred**: a two-armed spiral whose arms start at the ends of a bar: a Ferrers profile (1 - m^2)^2 for
  m^2 = (x / L)^2 + (y / q_b L)^2 < 1, half-length L ~ U(0.6, 1.2) h, axis ratio q_b ~ U(0.2, 0.35), holding a
  fraction ~ U(``bar_fraction_range``) of the galaxy's light (bars of SB galaxies hold ~0.1-0.3: Gadotti 2011),
  the arms starting at r_0 = L, at the bar's ends. (kzoo 0.1's bar, a Gaussian ridge holding ~0.1 of the disk
  light, was hidden under the bulge after the stretch: a barred and a spiral galaxy drawn with the same
  numbers looked alike, and no Deep SVDD told them apart.)

Each galaxy is inclined (disks: cos i ~ U(``cos_incl_range``)), turned to a random position angle, sized
(h or r_e ~ U(``size_range``) x npix), convolved with a Gaussian PSF of FWHM ~ U(``psf_fwhm_range``) pixels,
scaled to a peak of 1, stretched as a photograph is (asinh(I / s) / asinh(1 / s), s = ``stretch``; 0: linear)
and given Gaussian noise of sigma ~ U(``noise_range``) (a fraction of the peak). The
"simulation-like" recipe changes the PSF, noise and arm contrast, playing the seed's unlabelled set.

Labels: ``morph_class`` (0 barred, 1 elliptical, 2 spiral, the seed's order), ``size_px``, ``cos_incl``,
``position_angle``, ``arms`` (0 for ellipticals), ``pitch_deg``, ``arm_contrast``, ``psf_fwhm``, ``noise``,
``bar_fraction`` (0 without a bar).
numpy only, vectorised over a chunk of images; the same generator state gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("morph_class", "size_px", "cos_incl", "position_angle", "arms", "pitch_deg", "arm_contrast", "psf_fwhm",
          "noise", "bar_fraction")
FEATURES = ("image",)
CLASSES = ("barred", "elliptical", "spiral")
CHUNK = 16  # images per vectorised step (16 x 256 x 256 float64 grids)

DEFAULTS = dict(
    npix=256,
    classes=(0, 2),  # the drawn classes, an inclusive range of class indices: all three by default
    size_range=(0.10, 0.18),
    sersic_n_range=(3.0, 5.0),
    bulge_fraction_range=(0.1, 0.4),
    pitch_deg_range=(10.0, 30.0),
    arm_contrast_range=(0.5, 0.9),
    bar_fraction_range=(0.1, 0.25),
    cos_incl_range=(0.5, 1.0),
    psf_fwhm_range=(2.0, 4.0),
    noise_range=(0.01, 0.03),
    stretch=0.05,
)

PARAMS = dict(
    npix=Param(int, 16, 1024),
    classes=Param(int, 0, 2, pair="<="),
    size_range=Param(float, 0, 0.5, pair="<=", above=True),
    sersic_n_range=Param(float, 0.3, 8, pair="<="),
    bulge_fraction_range=Param(float, 0, 1, pair="<="),
    pitch_deg_range=Param(float, 1, 80, pair="<="),
    arm_contrast_range=Param(float, 0, 1, pair="<="),
    bar_fraction_range=Param(float, 0, 0.6, pair="<="),
    cos_incl_range=Param(float, 0, 1, pair="<=", above=True),
    psf_fwhm_range=Param(float, 0, 50, pair="<="),
    noise_range=Param(float, 0, 10, pair="<="),
    stretch=Param(float, 0),
)


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    return check_params("morphology", PARAMS, DEFAULTS, params)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    f32 = lambda r: (float(np.float32(r[0])), float(np.float32(r[1])))  # noqa: E731
    return {"morph_class": (float(p["classes"][0]), float(p["classes"][1])),
            "size_px": f32((p["size_range"][0] * p["npix"], p["size_range"][1] * p["npix"])),
            "cos_incl": (0.0, 1.0), "position_angle": (0.0, float(np.float32(np.pi))), "arms": (0.0, 4.0),
            "pitch_deg": (0.0, f32(p["pitch_deg_range"])[1]), "arm_contrast": (0.0, f32(p["arm_contrast_range"])[1]),
            "psf_fwhm": f32(p["psf_fwhm_range"]), "noise": f32(p["noise_range"]),
            "bar_fraction": (0.0, f32(p["bar_fraction_range"])[1])}


def class_names(params: dict, label: str) -> list[str]:
    """The names of the ``morph_class`` classes drawn (kzoo.evaluate's tables); [] for another label."""
    if label != "morph_class":
        return []
    lo, hi = validate_params(params)["classes"]
    return list(CLASSES[lo:hi + 1])


def _sersic_b(n):
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n)  # Ciotti & Bertin (1999), good for n > 0.36


def _sersic(r, re, n):
    return np.exp(-_sersic_b(n) * ((r / re) ** (1.0 / n) - 1.0))


def _psf_blur(images, fwhm):
    """Each image convolved with a Gaussian of FWHM ``fwhm[i]`` pixels (FFT, periodic; galaxies sit well inside)."""
    n, h, w = images.shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    sigma = np.asarray(fwhm, np.float64)[:, None, None] / 2.3548
    kernel = np.exp(-2.0 * np.pi ** 2 * sigma ** 2 * (kx ** 2 + ky ** 2))
    return np.fft.irfft2(np.fft.rfft2(images) * kernel, s=(h, w))


def _draw(rng, m, p):
    npix = int(p["npix"])
    u = lambda r: rng.uniform(r[0], r[1], m)  # noqa: E731
    cls = rng.integers(p["classes"][0], p["classes"][1] + 1, m)
    size = u(p["size_range"]) * npix
    disk = cls != 1
    cos_i = np.where(disk, u(p["cos_incl_range"]), rng.uniform(0.5, 1.0, m))  # ellipticals: an axis ratio q
    pa = rng.uniform(0.0, np.pi, m)
    arms = np.where(disk, np.where(rng.uniform(size=m) < 0.5, 2, rng.integers(3, 5, m)), 0)
    pitch = np.where(disk, u(p["pitch_deg_range"]), 0.0)
    contrast = np.where(disk, u(p["arm_contrast_range"]), 0.0)
    n_sersic = u(p["sersic_n_range"])
    bulge = u(p["bulge_fraction_range"])
    bulge_n = rng.uniform(1.5, 3.0, m)
    bar_len = rng.uniform(0.6, 1.2, m)
    phase = rng.uniform(0.0, 2.0 * np.pi, m)
    fwhm = u(p["psf_fwhm_range"])
    noise = u(p["noise_range"])
    offset = rng.uniform(-0.02, 0.02, (m, 2)) * npix
    barred = cls == 0
    bar_q = rng.uniform(0.2, 0.35, m)
    bar_frac = np.where(barred, u(p["bar_fraction_range"]), 0.0)
    arms = np.where(barred, 2, arms)  # a bar feeds two arms, from its ends (phase 0: the arms' crests at theta 0, pi)
    phase = np.where(barred, 0.0, phase)
    labels = np.stack([cls, size, cos_i, pa, arms, pitch, contrast, fwhm, noise, bar_frac], axis=1)

    c = (np.arange(npix) - (npix - 1) / 2.0)
    y, x = np.meshgrid(c, c, indexing="ij")
    x = x[None] - offset[:, 0, None, None]
    y = y[None] - offset[:, 1, None, None]
    cp, sp = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
    xr = x * cp + y * sp  # along the major axis
    yr = (-x * sp + y * cp) / cos_i[:, None, None]  # the minor axis stretched back to the disk plane
    r = np.hypot(xr, yr) + 1e-6
    theta = np.arctan2(yr, xr)
    h = size[:, None, None]
    # ellipticals: the Sersic profile with r_e = size
    ell = _sersic(r, h, n_sersic[:, None, None])
    # disks: bulge + arms (+ bar)
    barred = barred[:, None, None]
    L = bar_len[:, None, None] * h
    r0 = np.where(barred, L, 0.5 * h)
    k = arms[:, None, None].astype(np.float64)
    tan_p = np.tan(np.radians(np.maximum(pitch, 1.0)))[:, None, None]
    spiral = np.cos(k * (theta - np.log(np.maximum(r, 1e-3) / r0) / tan_p) + phase[:, None, None])
    fade = 1.0 / (1.0 + np.exp(-(r - r0) / (0.15 * h)))  # the arms start at r_0
    disk_light = np.exp(-r / h) * (1.0 + contrast[:, None, None] * fade * spiral)
    m2 = (xr / L) ** 2 + (yr / (bar_q[:, None, None] * L)) ** 2
    bar = np.where(m2 < 1.0, (1.0 - np.minimum(m2, 1.0)) ** 2, 0.0)  # Ferrers, n = 2
    bulge_light = _sersic(r, 0.2 * h, bulge_n[:, None, None])
    disk_total = disk_light.sum(axis=(1, 2), keepdims=True)
    bulge_total = bulge_light.sum(axis=(1, 2), keepdims=True)
    bar_total = np.maximum(bar.sum(axis=(1, 2), keepdims=True), 1e-12)
    b, f = bulge[:, None, None], bar_frac[:, None, None]
    spiral_img = (1 - b - f) * disk_light / disk_total + b * bulge_light / bulge_total + f * bar / bar_total
    img = np.where((cls == 1)[:, None, None], ell / ell.sum(axis=(1, 2), keepdims=True), spiral_img)
    img = _psf_blur(img, fwhm)
    img = img / img.max(axis=(1, 2), keepdims=True)
    if p["stretch"] > 0:  # as a photograph shows a galaxy: asinh-stretched, the faint disk brought up
        img = np.arcsinh(img / p["stretch"]) / np.arcsinh(1.0 / p["stretch"])
    img = img + noise[:, None, None] * rng.standard_normal(img.shape)
    return img.astype(np.float32), labels.astype(np.float32)


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` galaxy images (``image``: (n, npix, npix) float32, peak ~1 before noise) and their labels."""
    p = validate_params(params)
    images, labels = [], []
    for start in range(0, n, CHUNK):
        img, lab = _draw(rng, min(CHUNK, n - start), p)
        images.append(img)
        labels.append(lab)
    return {"image": np.concatenate(images), "labels": np.concatenate(labels)}
