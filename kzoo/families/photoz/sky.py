"""Broad-band photometry of galaxies for photometric redshifts (seed 001, group C), from real templates.

The seed's group C estimated redshifts from the HST photometry of the 3D-HST catalogue (Skelton et al. 2014)
with random forests, gradient-boosted trees and an MLP, and learned that colours matter more than raw
magnitudes. This sky draws such a catalogue from a physical description, in the six LSST bands:

* the spectral energy distribution: the empirical templates of Coleman, Wu & Weedman (1980), extended by
  Bolzonella et al. (2000), that GalSim ships (``galsim/share/SEDs/CWW_{E,Sbc,Scd,Im}_ext.sed``); a galaxy's
  ``sed_type`` t in [0, 3] mixes the two neighbouring templates (E = 0, Sbc = 1, Scd = 2, Im = 3) in flux,
  each normalised to the same rest-frame i-band flux; t is uniform over ``type_range``;
* the redshift: uniform in comoving volume over ``z_range`` (astropy.cosmology.Planck18), the absolute
  rest-frame i-band magnitude Gaussian (``abs_mag_mean``, ``abs_mag_sigma``, about the knee of the galaxy
  luminosity function, clipped at +-3 sigma), and only galaxies brighter than ``mag_limit`` in observed i kept
  (the LSST "gold" sample cut, i < 25.3): so the redshift distribution follows from volume, luminosity and the
  flux limit rather than being put in by hand;
* the magnitudes: m_b = M_i + DM(z) - 2.5 log10 F_b(z), with DM the distance modulus (Planck18 luminosity
  distance) and F_b(z) the template's flux through the band ``galsim/share/bandpasses/LSST_<b>.dat`` at
  redshift z relative to its rest-frame i-band flux (the K-correction, f_nu-weighted as AB magnitudes are:
  integral f_lambda(lambda / (1 + z)) lambda T dlambda / ((1 + z) integral T / lambda dlambda));
* the noise: background-limited fluxes with the LSST 10-year 5-sigma depths of Ivezic et al. (2019, table 1)
  scaled by ``years`` (depth + 1.25 log10(years / 10)), flux sigma = f5 / 5, plus a 0.005 mag calibration
  floor; a flux below 1 sigma is reported at the 1-sigma limit (m5 + 1.75), as catalogues report non-detections.
  No intergalactic absorption, dust or emission lines: the templates as they are.

Stored (FEATURES): ``mags`` (6: u g r i z y), ``colours`` (the 15 differences m_a - m_b, a before b) and
``mags_colours`` (the 21 together), the three inputs the seed compared. Labels: ``z``, ``sed_type``,
``abs_mag_i`` and ``mag_i_true`` (before noise). Same generator state, same bytes.
"""

from __future__ import annotations

import functools
import itertools
import os

import numpy as np

from kzoo.sims.params import Param, check_params

BANDS = ("u", "g", "r", "i", "z", "y")
TEMPLATES = ("E", "Sbc", "Scd", "Im")
COLOURS = tuple(f"{a}-{b}" for a, b in itertools.combinations(BANDS, 2))
DEPTH_10YR = {"u": 26.1, "g": 27.4, "r": 27.5, "i": 26.8, "z": 26.1, "y": 24.9}  # Ivezic et al. 2019, table 1
CALIBRATION_MAG = 0.005
LABELS = ("z", "sed_type", "abs_mag_i", "mag_i_true")
FEATURES = ("mags", "colours", "mags_colours")
Z_STEP = 0.005  # the grid on which the K-corrections and distances are tabulated (interpolated between)
PROBE_PIXELS = 1 << 60  # fast: no time estimate

DEFAULTS = dict(
    z_range=(0.0, 3.0),
    type_range=(0.0, 3.0),
    abs_mag_mean=-21.0,
    abs_mag_sigma=1.2,
    mag_limit=25.3,
    years=10.0,
)

PARAMS = dict(
    z_range=Param(float, 0, 6, pair="<"),
    type_range=Param(float, 0, 3, pair="<="),
    abs_mag_mean=Param(float, -26, -14),
    abs_mag_sigma=Param(float, 0, 3, above=True),
    mag_limit=Param(float, 18, 30),
    years=Param(float, 0.1, 100),
)


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    return check_params("photometry", PARAMS, DEFAULTS, params)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    lo, hi = p["abs_mag_mean"] - 3 * p["abs_mag_sigma"], p["abs_mag_mean"] + 3 * p["abs_mag_sigma"]
    return {"z": (f32(p["z_range"][0]), f32(p["z_range"][1])), "sed_type": (f32(p["type_range"][0]), f32(p["type_range"][1])),
            "abs_mag_i": (f32(lo), f32(hi)), "mag_i_true": (0.0, f32(p["mag_limit"]))}


def feature_shape(name: str, p: dict) -> tuple[int]:
    return ({"mags": len(BANDS), "colours": len(COLOURS), "mags_colours": len(BANDS) + len(COLOURS)}[name],)


def _share() -> str:
    import galsim

    return galsim.meta_data.share_dir


def _table(path: str) -> np.ndarray:
    return np.loadtxt(path, comments="#")


@functools.lru_cache(maxsize=4)
def k_tables(z_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(z grid, F) with F[t, b, k] = the flux of template t through band b at redshift z_k relative to its
    rest-frame i-band flux (f_nu-weighted, as AB magnitudes)."""
    z = np.arange(0.0, z_max + Z_STEP / 2, Z_STEP)
    seds = [_table(os.path.join(_share(), "SEDs", f"CWW_{t}_ext.sed")) for t in TEMPLATES]  # Angstrom, f_lambda
    out = np.empty((len(TEMPLATES), len(BANDS), len(z)))
    for b, band in enumerate(BANDS):
        tab = _table(os.path.join(_share(), "bandpasses", f"LSST_{band}.dat"))  # nm, throughput
        lam = np.linspace(tab[0, 0], tab[-1, 0], 600) * 10.0  # Angstrom, steps of 2-4 A (the SEDs: 10-100 A)
        thr = np.interp(lam, tab[:, 0] * 10.0, tab[:, 1])
        norm = np.trapezoid(thr / lam, lam)
        for t, sed in enumerate(seds):
            rest = lam[None, :] / (1.0 + z[:, None])
            f = np.interp(rest, sed[:, 0], sed[:, 1], left=0.0, right=0.0)
            out[t, b] = np.trapezoid(f * lam * thr, lam, axis=1) / ((1.0 + z) * norm)
    i = BANDS.index("i")
    return z, out / out[:, i, :1][:, None, :]  # relative to each template's rest-frame (z = 0) i-band flux


@functools.lru_cache(maxsize=4)
def distance_tables(z_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z grid, distance modulus, cumulative comoving volume fraction) under Planck18 (astropy.cosmology)."""
    from astropy.cosmology import Planck18

    z = np.arange(0.0, z_max + Z_STEP / 2, Z_STEP)
    dm = np.full_like(z, -np.inf)
    dm[1:] = Planck18.distmod(z[1:]).value
    volume = Planck18.comoving_volume(z).value
    return z, dm, volume / volume[-1]


def band_flux_ratios(z: np.ndarray, sed_type: np.ndarray, z_max: float) -> np.ndarray:
    """F_b(z) of each galaxy (n, 6): the neighbouring templates mixed in flux by sed_type."""
    grid, table = k_tables(float(z_max))
    lo = np.clip(np.floor(sed_type).astype(int), 0, len(TEMPLATES) - 2)
    w = (sed_type - lo)[:, None]
    per = np.stack([np.stack([np.interp(z, grid, table[t, b]) for b in range(len(BANDS))], axis=1)
                    for t in range(len(TEMPLATES))])  # (templates, n, bands)
    n = np.arange(len(z))
    return (1.0 - w) * per[lo, n] + w * per[lo + 1, n]


def magnitudes(z, sed_type, abs_mag_i, z_max: float) -> np.ndarray:
    """Noiseless AB magnitudes (n, 6) of galaxies of redshift z, type and absolute rest-frame i magnitude."""
    grid, dm, _ = distance_tables(float(z_max))
    mu = np.interp(np.maximum(z, grid[1]), grid, dm)  # z = 0 exactly would be at infinite brightness
    return abs_mag_i[:, None] + mu[:, None] - 2.5 * np.log10(np.maximum(band_flux_ratios(z, sed_type, z_max), 1e-30))


def observe(rng: np.random.Generator, mags: np.ndarray, years: float) -> np.ndarray:
    """Noisy magnitudes: background-limited flux noise at the LSST depths scaled to ``years``, a calibration
    floor, and fluxes below 1 sigma reported at the 1-sigma limit."""
    m5 = np.array([DEPTH_10YR[b] for b in BANDS]) + 1.25 * np.log10(years / 10.0)
    flux, sigma = 10.0 ** (-0.4 * mags), 10.0 ** (-0.4 * m5) / 5.0
    flux = flux + rng.normal(size=mags.shape) * sigma
    out = -2.5 * np.log10(np.maximum(flux, sigma))
    return out + rng.normal(size=mags.shape) * CALIBRATION_MAG


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` galaxies brighter than the flux limit, with their noisy magnitudes and colours."""
    p = validate_params(params)
    z0, z1 = (float(v) for v in p["z_range"])
    grid, _, cum = distance_tables(z1)
    c0 = np.interp(z0, grid, cum)
    kept = {k: [] for k in ("z", "t", "M", "m")}
    have = 0
    while have < n:
        k = max(4 * (n - have), 64)
        z = np.interp(rng.uniform(c0, 1.0, k), cum, grid)  # uniform in comoving volume
        t = rng.uniform(p["type_range"][0], p["type_range"][1], k)
        mabs = np.clip(rng.normal(p["abs_mag_mean"], p["abs_mag_sigma"], k),
                       p["abs_mag_mean"] - 3 * p["abs_mag_sigma"], p["abs_mag_mean"] + 3 * p["abs_mag_sigma"])
        m = magnitudes(z, t, mabs, z1)
        ok = m[:, BANDS.index("i")] <= p["mag_limit"]
        for key, v in (("z", z), ("t", t), ("M", mabs), ("m", m)):
            kept[key].append(v[ok])
        have += int(ok.sum())
    z, t, mabs, m = (np.concatenate(kept[k])[:n] for k in ("z", "t", "M", "m"))
    obs = observe(rng, m, p["years"])
    colours = np.stack([obs[:, BANDS.index(a)] - obs[:, BANDS.index(b)] for a, b in itertools.combinations(BANDS, 2)],
                       axis=1)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return {"mags": f32(obs), "colours": f32(colours), "mags_colours": f32(np.concatenate([obs, colours], axis=1)),
            "labels": f32(np.stack([z, t, mabs, m[:, BANDS.index("i")]], axis=1))}
