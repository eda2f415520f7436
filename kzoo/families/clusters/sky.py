"""Mock Chandra-like X-ray images of galaxy clusters (seed 001, groups D and G; after Ntampaka et al. 2019).

The seeds trained on mock 0.5-2 keV Chandra images of IllustrisTNG clusters, label log M500. Those mocks are
not public here, so this sky draws clusters from a physical model whose every scaling is stated, with units:

* Mass: log10(M500 / Msun) in ``log_m500_range`` (13.5, 15.3), from a mass function ``mass_function``:
  ``"steep"`` (default) dn/dlog10 M ~ M^-``mass_slope`` (1.5: a power-law stand-in for the halo mass
  function's fall above 1e14 Msun, e.g. Tinker et al. 2008, where the number per dex drops ~30x from
  1e13.5 to 1e15; real samples are dominated by low masses), or ``"flat"`` (uniform in log M). With
  ``stratify`` the masses of each chunk of images are drawn in equal-probability strata of that
  distribution and shuffled (seed G's stratified split: every split covers the mass range evenly).
* Size: R500 = (3 M500 / (4 pi 500 rho_c))^(1/3), rho_c = 1.36e11 E(z)^2 Msun / Mpc^3 (h = 0.7) at the
  redshift ``z`` (0.1; E(z)^2 = 0.3 (1+z)^3 + 0.7); R500 = 0.98 Mpc at 3e14 Msun.
* Luminosity, 0.5-2 keV within R500: log10(L_X / erg s^-1) = log10(``lx_pivot``) + ``lx_slope`` (log10 M500 -
  log10 3e14) + N(0, ``lx_scatter_dex``): slope 1.6 and scatter 0.17 dex as REXCESS (Pratt et al. 2009,
  their soft-band L-M with Malmquist-bias correction: slope 1.6-1.8, scatter ~0.2 dex without core
  excision), normalisation 1e44 erg/s at 3e14 Msun.
* Counts: the expected counts within the projected R500 = ``counts_per_1e44`` x L_X / 1e44 erg/s x
  ``exposure_ks`` / 100. Default 8e4: 1e44 erg/s at z = 0.1 (d_L = 460 Mpc) is 3.9e-12 erg/s/cm^2,
  ~2e-3 photons/s/cm^2 at ~1.2 keV, times ~400 cm^2 (ACIS-I, 0.5-2 keV) and 100 ks.
* Surface brightness: an elliptical beta model (Cavaliere & Fusco-Femiano 1976), S ~ (1 + (r/rc)^2)^(1/2 - 3
  beta), beta uniform in ``beta_range`` (0.55, 0.8; Mohr et al. 1999 find 0.5-0.9), core radius rc = x_c R500
  with x_c log-normal (scatter 0.15 dex) around 0.12 for a relaxed cluster, 0.06 for a cool core and 0.2 for
  a disturbed one; axis ratio 1 - e with e uniform in (0, 0.15) (relaxed) or (0.1, 0.4) (disturbed), at a
  random angle.
* Cool cores (fraction ``cool_core_fraction`` 0.35; Hudson et al. 2010 find ~44 % strong and weak cool
  cores): a central spike, a second beta model (beta 0.67, rc = 0.015 R500) holding 10-30 % of the counts.
* Disturbed clusters (fraction ``disturbed_fraction`` 0.3, exclusive of cool cores): one or two merging
  subclumps, each a round beta model (beta 0.67, rc = 0.1 R500) with 5-30 % of the counts, offset 0.3-1.0
  R500 at a random angle.
* ``orientation``: "random" (the default: every angle above uniform) or "aligned" (every major axis along x
  and every subclump on the x axis, left or right): a sample with a preferred direction in the frame, a
  stand-in for the seeds' few simulated clusters seen in few projections, on which a network can learn the
  orientation that the rotation test then exposes.
* The image: ``npix`` x ``npix`` pixels (140, the seed's input size) spanning ``fov_mpc`` (4 Mpc, +-2 Mpc:
  2 R500 of a 1e15 Msun cluster) around the cluster centre, blurred by a Gaussian PSF of ``psf_pixels``
  (0.5) pixels, plus a flat ``background`` of counts per pixel (2; a free choice, not an instrument's
  calibration), then Poisson counts.

The central components (the main profile and the spike) are normalised on the pixel grid so that their
share of the R500 counts falls on the pixels inside the projected R500; a subclump (core wider than a
pixel) analytically, so that its share falls within R500 of its own centre, on or off the frame. Labels: ``log_m500`` (the target), ``log_lx``, ``x_c`` (rc / R500),
``cool_core`` and ``disturbed`` (0 or 1), ``counts_r500`` (the expected counts within R500, background
excluded). numpy only, vectorised over the images; the same generator state gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("log_m500", "log_lx", "x_c", "cool_core", "disturbed", "counts_r500")
FEATURES = ("counts",)
RHO_C0 = 1.36e11  # critical density today, Msun / Mpc^3, h = 0.7
M_PIVOT = 3e14  # Msun, the L-M pivot

DEFAULTS = dict(
    npix=140,
    fov_mpc=4.0,
    z=0.1,
    log_m500_range=(13.5, 15.3),
    mass_function="steep",
    mass_slope=1.5,
    stratify=True,
    lx_pivot=1e44,
    lx_slope=1.6,
    lx_scatter_dex=0.17,
    counts_per_1e44=8e4,
    exposure_ks=100.0,
    beta_range=(0.55, 0.8),
    cool_core_fraction=0.35,
    disturbed_fraction=0.3,
    psf_pixels=0.5,
    background=2.0,
    orientation="random",
)

PARAMS = dict(
    npix=Param(int, 16, 512),
    fov_mpc=Param(float, 0, above=True),
    z=Param(float, 0, 3, above=True),
    log_m500_range=Param(float, 12.0, 16.0, pair="<"),
    mass_function=Param(str, choices=("steep", "flat")),
    mass_slope=Param(float, 0, 5, above=True),
    stratify=Param(bool),
    lx_pivot=Param(float, 0, above=True),
    lx_slope=Param(float, 0, 4),
    lx_scatter_dex=Param(float, 0, 1),
    counts_per_1e44=Param(float, 0, above=True),
    exposure_ks=Param(float, 0, above=True),
    beta_range=Param(float, 0.5, 2.0, pair="<=", above=True),
    cool_core_fraction=Param(float, 0, 1),
    disturbed_fraction=Param(float, 0, 1),
    psf_pixels=Param(float, 0, 20),
    background=Param(float, 0),
    orientation=Param(str, choices=("random", "aligned")),
)
LX_SIGMAS = 6.0  # label range of log_lx: the L-M relation over the mass range +- this many scatters


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    from kzoo.sims.params import ParamError

    p = check_params("clusters", PARAMS, DEFAULTS, params)
    if p["cool_core_fraction"] + p["disturbed_fraction"] > 1:
        raise ParamError("clusters", [("disturbed_fraction", f"plus cool_core_fraction must be <= 1 (a cluster is one "
                                                             f"of relaxed, cool core or disturbed), got "
                                                             f"{p['disturbed_fraction']} + {p['cool_core_fraction']}")])
    return p


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    lo, hi = p["log_m500_range"]
    base = np.log10(p["lx_pivot"]) + p["lx_slope"] * (np.array([lo, hi]) - np.log10(M_PIVOT))
    spread = LX_SIGMAS * p["lx_scatter_dex"]
    lx = (float(base[0] - spread), float(base[1] + spread))
    counts_hi = p["counts_per_1e44"] * p["exposure_ks"] / 100.0 * 10 ** (lx[1] - 44.0)
    return {"log_m500": (float(lo), float(hi)), "log_lx": lx, "x_c": (0.0, 10.0), "cool_core": (0.0, 1.0),
            "disturbed": (0.0, 1.0), "counts_r500": (0.0, float(counts_hi))}


def r500_mpc(log_m500, z: float = 0.1) -> np.ndarray:
    """R500 in Mpc of clusters of log10(M500 / Msun) at redshift z (h = 0.7, Omega_m = 0.3)."""
    rho_c = RHO_C0 * (0.3 * (1 + z) ** 3 + 0.7)
    return (3 * 10 ** np.asarray(log_m500, np.float64) / (4 * np.pi * 500 * rho_c)) ** (1 / 3)


def draw_masses(rng: np.random.Generator, n: int, log_m500_range, mass_function: str = "steep",
                mass_slope: float = 1.5, stratify: bool = True) -> np.ndarray:
    """log10 M500 of ``n`` clusters from the mass function (inverse CDF of dn/dlog10 M ~ M^-slope, or flat);
    stratified: one draw in each of ``n`` equal-probability strata, shuffled."""
    lo, hi = log_m500_range
    u = (np.arange(n) + rng.uniform(size=n)) / n if stratify else rng.uniform(size=n)
    if stratify:
        u = rng.permutation(u)
    if mass_function == "flat":
        return lo + (hi - lo) * u
    a = mass_slope * np.log(10.0)  # density ~ exp(-a x) on [lo, hi]
    return lo - np.log1p(-u * (1 - np.exp(-a * (hi - lo)))) / a


def _beta_profile(xx, yy, cx, cy, rc, beta, q=None, angle=None) -> np.ndarray:
    """(n, H, W) beta-model surface brightness (unnormalised) of clusters at (cx, cy), in the grid's units."""
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    if q is not None:  # elliptical radius of axis ratio q, area-preserving
        c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        u, v = c * dx + s * dy, -s * dx + c * dy
        qq = q[:, None, None]
        r2 = u * u * qq + v * v / qq
    else:
        r2 = dx * dx + dy * dy
    return (1 + r2 / rc[:, None, None] ** 2) ** (0.5 - 3 * beta[:, None, None])


def _normalised(profile, inside, counts) -> np.ndarray:
    """Scale each image's profile so that its sum over the pixels ``inside`` (the projected R500) is ``counts``."""
    within = np.sum(profile * inside, axis=(1, 2))
    return profile * (counts / np.maximum(within, 1e-300))[:, None, None]


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` mock cluster images: ``counts`` (n, npix, npix) float32 and ``labels`` (n, 6) float32 (LABELS)."""
    from scipy.ndimage import gaussian_filter

    p = validate_params(params)
    npix, half = int(p["npix"]), p["fov_mpc"] / 2
    centres = (np.arange(npix) + 0.5) / npix * p["fov_mpc"] - half  # pixel centres, Mpc
    xx, yy = np.meshgrid(centres, centres)
    log_m = draw_masses(rng, n, p["log_m500_range"], p["mass_function"], p["mass_slope"], p["stratify"])
    r500 = r500_mpc(log_m, p["z"])
    log_lx = (np.log10(p["lx_pivot"]) + p["lx_slope"] * (log_m - np.log10(M_PIVOT))
              + rng.normal(0.0, p["lx_scatter_dex"], n))
    counts = p["counts_per_1e44"] * p["exposure_ks"] / 100.0 * 10 ** (log_lx - 44.0)
    kind = rng.uniform(size=n)
    cool = kind < p["cool_core_fraction"]
    disturbed = (kind >= p["cool_core_fraction"]) & (kind < p["cool_core_fraction"] + p["disturbed_fraction"])
    x_c = np.where(cool, 0.06, np.where(disturbed, 0.2, 0.12)) * 10 ** rng.normal(0.0, 0.15, n)
    beta = rng.uniform(*p["beta_range"], size=n)
    e = np.where(disturbed, rng.uniform(0.1, 0.4, n), rng.uniform(0.0, 0.15, n))
    angle = rng.uniform(0.0, np.pi, n)
    spike_share = np.where(cool, rng.uniform(0.1, 0.3, n), 0.0)
    n_sub = np.where(disturbed, rng.integers(1, 3, n), 0)
    sub_share = rng.uniform(0.05, 0.3, (n, 2)) * (np.arange(2)[None] < n_sub[:, None])
    sub_r = rng.uniform(0.3, 1.0, (n, 2)) * r500[:, None]
    sub_phi = rng.uniform(0.0, 2 * np.pi, (n, 2))
    if p["orientation"] == "aligned":  # the same draws, turned onto the x axis (so "random" keeps its bytes)
        angle, sub_phi = np.zeros(n), np.where(np.cos(sub_phi) >= 0, 0.0, np.pi)
    zero = np.zeros(n)
    inside = (xx[None] ** 2 + yy[None] ** 2) <= r500[:, None, None] ** 2
    main_share = 1.0 - spike_share - sub_share.sum(axis=1)
    image = _normalised(_beta_profile(xx, yy, zero, zero, x_c * r500, beta, 1 - e, angle), inside, main_share * counts)
    if cool.any():
        image += _normalised(_beta_profile(xx, yy, zero, zero, 0.015 * r500, np.full(n, 2 / 3)), inside,
                             spike_share * counts)
    for k in range(2):
        if (sub_share[:, k] > 0).any():
            cx, cy = sub_r[:, k] * np.cos(sub_phi[:, k]), sub_r[:, k] * np.sin(sub_phi[:, k])
            rc = 0.1 * r500  # wider than a pixel: sampled at pixel centres, normalised analytically (it may
            sub = _beta_profile(xx, yy, cx, cy, rc, np.full(n, 2 / 3))  # reach beyond the frame)
            within = 2 * np.pi * rc**2 / (6 * (2 / 3) - 3) * (1 - (1 + (r500 / rc) ** 2) ** (1.5 - 3 * (2 / 3)))
            image += sub * (sub_share[:, k] * counts * (p["fov_mpc"] / npix) ** 2 / within)[:, None, None]
    if p["psf_pixels"] > 0:
        image = gaussian_filter(image, sigma=(0, p["psf_pixels"], p["psf_pixels"]), mode="constant")
    observed = rng.poisson(image + p["background"]).astype(np.float32)
    labels = np.stack([log_m, log_lx, x_c, cool.astype(float), disturbed.astype(float), counts], axis=1)
    return {"counts": observed, "labels": labels.astype(np.float32)}
