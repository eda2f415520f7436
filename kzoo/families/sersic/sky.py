"""Sersic galaxies of seed 003 drawn with GalSim: noisy 64 x 64 images, their five parameters and conditions.

The seed's generative process (../shared/design/SEED-NOTES.md, "Sersic galaxies"; its code is
``data/generator.py`` of github.com/dvukolov/cs109b-project and, for the fixed test galaxy,
``data/gen_test.py``):

* A Sersic profile of index ``n`` and half-light radius ``re`` (arcsec), total flux ``flux``
  (counts), sheared by the reduced shear (g1, g2), convolved with a Moffat(beta=2) PSF of FWHM
  ``psf_fwhm`` (arcsec) and drawn by GalSim's default method (FFT, integrated over 0.23 arcsec
  pixels) on 64 x 64 pixels: the ``noiseless`` image, in counts per pixel. Light beyond the stamp
  is lost: under 0.3 % for a compact galaxy at PSF 0.5, 1 % for the test galaxy at PSF 1.0, up to
  9 % for n = 6, re = 0.6 (Sersic wings), as in the seed.
* The prior (each uniform): n in ``n_range`` (0.5, 6), re in ``re_range`` (0.1, 0.6), flux in
  ``flux_range`` (the seed's 1e5 x U(0.3, 4) counts), shear |g| in (0, ``g_max`` = 0.67) at the
  angle beta in (0, 3.14) radians (the seed's code draws ``random.uniform(0, 3.14)``, not pi):
  g1 = |g| cos 2 beta, g2 = |g| sin 2 beta. PSF FWHM in ``psf_fwhm_range`` (fixed 0.5, or 0.5 to
  1.0) and the Gaussian noise level sigma an integer in ``sigma_range``, both ends included (the
  seed's ``random.randint(200, 400)``).
* SNR = sqrt(sum noiseless^2) / sigma. Galaxies whose SNR falls outside ``snr_range`` (10, 100) are
  redrawn (n, re, |g|, beta, flux), keeping the image's PSF and sigma: the seed draws those two once,
  before its redraw loop, so they stay uniform whatever the cut rejects.
* The noisy ``image``: Poisson counts of the noiseless image (sky 0; negative FFT ringing clipped
  to 0, as GalSim's PoissonNoise does) plus Gaussian noise of standard deviation sigma.

Fixed-galaxy mode (the seed's Cramer-Rao test galaxy): ``fixed_galaxy = [flux, n, re, g1, g2]`` at a
fixed PSF and ``fixed_snr``: every image is a noise realisation of that one noiseless image, with
sigma = sqrt(sum noiseless^2) / fixed_snr. No SNR cut applies (the seed's gen_test.py has none).

Randomness comes from the numpy Generator alone (GalSim only draws the noiseless images), so a
seed gives the same bytes. ``galsim_accuracy="fast"`` (default) loosens GalSim's Hankel-transform
integration (integration_relerr 1e-5, integration_abserr 1e-6 instead of 1e-6 and 1e-8) and halves its
k-table's density (table_spacing 2): a new n per image costs a new Sersic k-space table, which dominates
the time, and this builds it ~4x faster than GalSim's defaults (a draw of a new n: 17 ms against 32 ms with
the looser integration alone, measured on one core here; benchmarks/sersic_sims.py); the images stay within 8.1e-6 of their peak, their totals within 1.3e-4
and their SNR within 1.2e-5 of GalSim's defaults (the worst of 60 draws of the v3 prior, the corners n = 0.5
and 6, re = 0.1 and 0.6 included), far below the noise (the Poisson
noise alone is 1 % of a 1e4-count peak). ``"default"`` uses GalSim's defaults (as ``draw_noiseless`` does).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kzoo.sims.params import Param, ParamError, check_params

PIXEL_SCALE = 0.23  # arcsec per pixel
PSF_BETA = 2.0      # Moffat slope of the seed's PSF
SHEAR_ANGLE_MAX = 3.14  # the seed's random.uniform(0, 3.14) for the shear angle (radians), kept as it is
GALSIM_N_RANGE = (0.3, 6.2)  # the Sersic indices GalSim can draw
# GalSim integration settings of galsim_accuracy="fast" (see the module docstring for their accuracy).
FAST_GSPARAMS = {"integration_relerr": 1e-5, "integration_abserr": 1e-6, "table_spacing": 2}
MAX_DRAWS = 1000  # galaxies drawn for one image before snr_range is declared out of reach
# kzoo.data.shards._check_job times jobs of more pixels than this (the default would skip jobs of up to
# 32768 images, which take ~20 minutes here): GalSim draws only ~25 images/s per core.
PROBE_PIXELS = 1 << 22

LABELS = ("flux", "n", "re", "g1", "g2", "psf_fwhm", "sigma", "snr")
FEATURES = ("image", "noiseless", "psf")

# The seed's v1 (recipes/sersic_v1.yaml); v2 and v3 widen sigma_range and psf_fwhm_range.
DEFAULTS = dict(
    npix=64,
    pixel_scale=PIXEL_SCALE,
    psf_beta=PSF_BETA,
    flux_range=(3e4, 4e5),
    n_range=(0.5, 6.0),
    re_range=(0.1, 0.6),
    g_max=0.67,
    psf_fwhm_range=(0.5, 0.5),
    sigma_range=(200, 200),
    snr_range=(10.0, 100.0),
    fixed_galaxy=None,
    fixed_snr=None,
    galsim_accuracy="fast",
)


class _NullOr(Param):
    """A parameter that may also be null (off)."""

    def describe(self) -> str:
        return "null or " + super().describe()

    def ok(self, value) -> bool:
        return value is None or super().ok(value)


class _Galaxy(Param):
    """null or the five parameters [flux, n, re, g1, g2] of one galaxy GalSim can draw."""

    def describe(self) -> str:
        return ("null or [flux, n, re, g1, g2] with flux > 0, n in [0.3, 6.2], re > 0 and "
                "g1^2 + g2^2 < 1")

    def ok(self, value) -> bool:
        if value is None:
            return True
        if not isinstance(value, (list, tuple)) or len(value) != 5 or not all(map(Param(float)._ok, value)):
            return False
        flux, n, re, g1, g2 = value
        return flux > 0 and GALSIM_N_RANGE[0] <= n <= GALSIM_N_RANGE[1] and re > 0 and g1 * g1 + g2 * g2 < 1


# The type and allowed range of each parameter (kzoo.sims.params). npix is capped because GalSim's FFT
# and the (n, npix, npix) arrays grow as npix^2; g_max < 1 because GalSim's shear needs |g| < 1.
PARAMS = dict(
    npix=Param(int, 8, 512),
    pixel_scale=Param(float, 0, above=True),
    psf_beta=Param(float, 1.1, 100, above=True),
    flux_range=Param(float, 0, pair="<=", above=True),
    n_range=Param(float, *GALSIM_N_RANGE, pair="<="),
    re_range=Param(float, 0, pair="<=", above=True),
    g_max=Param(float, 0, 0.95),
    psf_fwhm_range=Param(float, 0, pair="<=", above=True),
    sigma_range=Param(int, 1, 10**9, pair="<="),
    snr_range=Param(float, 0, pair="<=", above=True),
    fixed_galaxy=_Galaxy(float),
    fixed_snr=_NullOr(float, 0, above=True),
    galsim_accuracy=Param(str, choices=("fast", "default")),
)


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    p = check_params("sersic", PARAMS, DEFAULTS, params)
    problems = []
    if p["fixed_galaxy"] is None and p["fixed_snr"] is not None:
        problems.append(("fixed_snr", f"needs fixed_galaxy [flux, n, re, g1, g2] (the galaxy whose noise "
                                      f"realisations it sets), got fixed_galaxy null"))
    if p["fixed_galaxy"] is not None:
        if p["fixed_snr"] is None:
            problems.append(("fixed_snr", "must be set with fixed_galaxy (sigma = sqrt(sum noiseless^2) / "
                                          "fixed_snr), got null"))
        lo, hi = p["psf_fwhm_range"]
        if lo != hi:
            problems.append(("psf_fwhm_range", f"must be one value [f, f] with fixed_galaxy (one noiseless "
                                               f"image), got {[lo, hi]!r}"))
    if problems:
        raise ParamError("sersic", problems)
    return p


def _f32(lo: float, hi: float) -> tuple[float, float]:
    """[lo, hi] rounded as float32 labels are: rounding is monotonic, so a label drawn in [lo, hi] and
    stored as float32 lies in the rounded interval (the shard writer checks exactly that)."""
    return float(np.float32(lo)), float(np.float32(hi))


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    """The interval each label is drawn from (as float32); low == high for a fixed value."""
    p = validate_params(params)
    if p["fixed_galaxy"] is not None:
        _, sigma = _fixed_image(p)
        values = [*p["fixed_galaxy"], p["psf_fwhm_range"][0], sigma, p["fixed_snr"]]
        return {name: _f32(v, v) for name, v in zip(LABELS, values)}
    g = p["g_max"]
    return {"flux": _f32(*p["flux_range"]), "n": _f32(*p["n_range"]), "re": _f32(*p["re_range"]),
            "g1": _f32(-g, g), "g2": _f32(-g, g), "psf_fwhm": _f32(*p["psf_fwhm_range"]),
            "sigma": _f32(*p["sigma_range"]), "snr": _f32(*p["snr_range"])}


def _draw_galaxy(flux, n, re, g1, g2, psf_fwhm, npix, pixel_scale, psf_beta, gsparams=None) -> np.ndarray:
    """draw_noiseless with GalSim's GSParams ``gsparams`` (a dict; None: GalSim's defaults)."""
    import galsim

    gsp = None if gsparams is None else galsim.GSParams(**gsparams)
    gal = galsim.Sersic(n=float(n), half_light_radius=float(re), flux=float(flux), gsparams=gsp)
    gal = gal.shear(g1=float(g1), g2=float(g2))
    psf = galsim.Moffat(beta=psf_beta, fwhm=float(psf_fwhm), gsparams=gsp)
    image = galsim.Convolve(gal, psf).drawImage(nx=npix, ny=npix, scale=pixel_scale)
    return image.array.astype(np.float64)


def draw_noiseless(flux: float, n: float, re: float, g1: float, g2: float, psf_fwhm: float, npix: int = 64,
                   pixel_scale: float = PIXEL_SCALE, psf_beta: float = PSF_BETA) -> np.ndarray:
    """One noiseless galaxy image (npix, npix), float64, in counts per pixel, drawn by GalSim."""
    return _draw_galaxy(flux, n, re, g1, g2, psf_fwhm, npix, pixel_scale, psf_beta)


def draw_psf(psf_fwhm: float, npix: int = 64, pixel_scale: float = PIXEL_SCALE, psf_beta: float = PSF_BETA) -> np.ndarray:
    """The PSF image (npix, npix), float64, of unit total flux (pixel-integrated, as the galaxy is)."""
    import galsim

    psf = galsim.Moffat(beta=psf_beta, fwhm=float(psf_fwhm))
    return psf.drawImage(nx=npix, ny=npix, scale=pixel_scale).array.astype(np.float64)


@functools.lru_cache(maxsize=16)
def _psf_image(psf_fwhm: float, npix: int, pixel_scale: float, psf_beta: float) -> np.ndarray:
    """draw_psf as float32, cached: a fixed PSF is drawn once per process."""
    return draw_psf(psf_fwhm, npix, pixel_scale, psf_beta).astype(np.float32)


def _gsparams(p: dict) -> dict | None:
    return FAST_GSPARAMS if p["galsim_accuracy"] == "fast" else None


@functools.lru_cache(maxsize=8)
def _fixed_image_cached(galaxy: tuple, psf_fwhm: float, npix: int, pixel_scale: float, psf_beta: float,
                        accuracy: str, snr: float) -> tuple[np.ndarray, float]:
    image = _draw_galaxy(*galaxy, psf_fwhm, npix, pixel_scale, psf_beta, FAST_GSPARAMS if accuracy == "fast" else None)
    image.flags.writeable = False
    return image, float(np.sqrt(np.sum(image**2)) / snr)


def _fixed_image(p: dict) -> tuple[np.ndarray, float]:
    """The fixed galaxy's noiseless image (float64, read-only) and its sigma, drawn once per process."""
    return _fixed_image_cached(tuple(map(float, p["fixed_galaxy"])), float(p["psf_fwhm_range"][0]), int(p["npix"]),
                               float(p["pixel_scale"]), float(p["psf_beta"]), p["galsim_accuracy"], float(p["fixed_snr"]))


def _draw_accepted(rng: np.random.Generator, p: dict) -> tuple[list[float], np.ndarray]:
    """One image's labels (LABELS order) and noiseless image: its PSF and sigma, then galaxies of the
    prior until one's SNR is inside snr_range (the seed's loop; the PSF and sigma are kept)."""
    psf_fwhm = float(rng.uniform(*p["psf_fwhm_range"]))
    sigma = float(rng.integers(*p["sigma_range"], endpoint=True))
    snr_lo, snr_hi = p["snr_range"]
    for _ in range(MAX_DRAWS):
        n = float(rng.uniform(*p["n_range"]))
        re = float(rng.uniform(*p["re_range"]))
        g = float(rng.uniform(0.0, p["g_max"]))
        beta = float(rng.uniform(0.0, SHEAR_ANGLE_MAX))
        flux = float(rng.uniform(*p["flux_range"]))
        g1, g2 = g * math.cos(2 * beta), g * math.sin(2 * beta)
        image = _draw_galaxy(flux, n, re, g1, g2, psf_fwhm, int(p["npix"]), p["pixel_scale"], p["psf_beta"],
                             _gsparams(p))
        snr = float(np.sqrt(np.sum(image**2)) / sigma)
        if snr_lo <= snr <= snr_hi:
            return [flux, n, re, g1, g2, psf_fwhm, sigma, snr], image
    raise ValueError(f"sersic.simulate: snr_range {list(p['snr_range'])} out of reach: {MAX_DRAWS} galaxies of the "
                     f"prior at sigma {sigma:g} and PSF {psf_fwhm:g} all fell outside it; widen snr_range or "
                     f"change flux_range, sigma_range or re_range")


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """Simulate ``n`` galaxy images (see the module docstring for the process).

    Returns a dict of float32 arrays: ``image`` (n, npix, npix) the noisy image, ``noiseless``
    (n, npix, npix), ``psf`` (n, npix, npix) the PSF image (unit sum but for the wings beyond the
    stamp) and ``labels`` (n, 8) in the order of ``LABELS``: flux (counts), n, re (arcsec), g1, g2,
    psf_fwhm (arcsec), sigma (counts per pixel) and snr.

    Raises ValueError naming the parameter when a parameter is invalid or ``n <= 0``, and when
    snr_range cannot be reached (MAX_DRAWS galaxies in a row outside it).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"sersic.simulate: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(n) != n or n <= 0:
        raise ValueError(f"sersic.simulate: n must be a positive integer, got {n!r}")
    n = int(n)
    p = validate_params(params)
    npix = int(p["npix"])
    shape_args = (npix, float(p["pixel_scale"]), float(p["psf_beta"]))
    labels = np.empty((n, len(LABELS)))
    noiseless = np.empty((n, npix, npix))
    psf = np.empty((n, npix, npix), np.float32)
    if p["fixed_galaxy"] is not None:
        image, sigma = _fixed_image(p)
        noiseless[:] = image
        labels[:] = [*p["fixed_galaxy"], p["psf_fwhm_range"][0], sigma, p["fixed_snr"]]
        psf[:] = _psf_image(float(p["psf_fwhm_range"][0]), *shape_args)
    else:
        for i in range(n):
            labels[i], noiseless[i] = _draw_accepted(rng, p)
            psf[i] = _psf_image(labels[i, 5], *shape_args)
    sigma = labels[:, LABELS.index("sigma"), None, None]
    image = rng.poisson(np.clip(noiseless, 0.0, None)) + rng.normal(0.0, sigma, size=noiseless.shape)
    return {
        "image": image.astype(np.float32),
        "noiseless": noiseless.astype(np.float32),
        "psf": psf,
        "labels": labels.astype(np.float32),
    }
