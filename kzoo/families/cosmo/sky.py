"""Two-field maps of a 25 Mpc/h box, a stand-in for CAMELS (seed 001, groups E and H): total mass and gas pressure.

CAMELS maps come from hydrodynamic simulations that cannot run here. This sky keeps what the seeds' question
needs: two fields of one box whose statistics depend on two cosmological and four feedback parameters, in
two "suites" that encode feedback differently, so a network trained on one can be tested on the other.

* Parameters, each map set drawn from the CAMELS ranges (their Latin hypercube's marginals): Omega_m U(0.1, 0.5),
  sigma_8 U(0.6, 1.0), A_SN1 and A_AGN1 log-uniform in (0.25, 4), A_SN2 and A_AGN2 log-uniform in (0.5, 2).
  ``maps_per_set`` (15, as CAMELS's 15 maps per simulation) consecutive maps share one parameter set; a
  shard holds whole sets (its size is a multiple of ``maps_per_set``), so the splits, which are different
  shards, are split by parameter set, never by map.
* Total mass: the linear matter power spectrum P(k) at z = 0 of the flat cosmology (Omega_m, sigma_8,
  Omega_b 0.049, h 0.6711, n_s 0.9624: the CAMELS fiducials) from colossus (Diemer 2018; pure Python, the
  Eisenstein & Hu transfer function) gives a Gaussian field g of the overdensity projected through the whole
  periodic box (whose 2-D spectrum is P(k) / L), drawn on ``npix`` x ``npix`` pixels; the mass map is the
  log-normal Omega_m / 0.3 x exp(g - sigma_g^2 / 2) (Coles & Jones 1991), mean 1 at the fiducial Omega_m.
  Linear theory and a log-normal, not N-body: the maps carry the parameters through their amplitude and
  spectrum, not through halos.
* Gas pressure, a toy of feedback, stated as such (not fitted to CAMELS): the mass map smoothed by a Gaussian
  of radius R_fb, raised to a slope gamma and scaled by a temperature T0, each a power of the feedback
  amplitudes: ``tng``: R_fb = 0.3 Mpc/h A_SN1^0.3 A_AGN1^0.2, gamma = 1.6 + 0.15 ln A_SN2 - 0.1 ln A_AGN2,
  T0 = A_AGN1^0.25 A_SN1^0.1; ``simba``: R_fb = 0.3 Mpc/h A_SN1^0.1 A_AGN1^0.5, gamma = 1.6 + 0.05 ln A_SN2 -
  0.25 ln A_AGN2, T0 = A_AGN1^0.4 (SIMBA's jets move gas further; its SN winds matter less).
* Stored: ``maps`` (npix, npix, 2) float32 = [log10 mass, log10 pressure] (the seeds took the log, then
  min-max scaled; kzoo's models standardise inside). Labels: the six parameters, then ``set`` (the parameter
  set's index within its shard).

numpy and colossus only; the same generator state gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("omega_m", "sigma_8", "a_sn1", "a_agn1", "a_sn2", "a_agn2", "set")
FEATURES = ("maps",)
PARAMETERS = LABELS[:6]
CAMELS = {"omega_b": 0.049, "h": 0.6711, "n_s": 0.9624}
SUITES = {  # R_fb exponents (A_SN1, A_AGN1), gamma coefficients (ln A_SN2, ln A_AGN2), T0 exponents (A_SN1, A_AGN1)
    "tng": {"r_fb": (0.3, 0.2), "gamma": (0.15, -0.1), "t0": (0.1, 0.25)},
    "simba": {"r_fb": (0.1, 0.5), "gamma": (0.05, -0.25), "t0": (0.0, 0.4)},
}

DEFAULTS = dict(
    npix=64,
    box_mpc_h=25.0,
    suite="tng",
    maps_per_set=15,
    omega_m_range=(0.1, 0.5),
    sigma_8_range=(0.6, 1.0),
    a_sn1_range=(0.25, 4.0),
    a_agn1_range=(0.25, 4.0),
    a_sn2_range=(0.5, 2.0),
    a_agn2_range=(0.5, 2.0),
    r_fb_mpc_h=0.3,
    gamma=1.6,
)

PARAMS = dict(
    npix=Param(int, 8, 512),
    box_mpc_h=Param(float, 0, above=True),
    suite=Param(str, choices=tuple(SUITES)),
    maps_per_set=Param(int, 1, 1000),
    omega_m_range=Param(float, 0.05, 1.0, pair="<="),
    sigma_8_range=Param(float, 0.1, 2.0, pair="<="),
    a_sn1_range=Param(float, 0, 100, pair="<=", above=True),
    a_agn1_range=Param(float, 0, 100, pair="<=", above=True),
    a_sn2_range=Param(float, 0, 100, pair="<=", above=True),
    a_agn2_range=Param(float, 0, 100, pair="<=", above=True),
    r_fb_mpc_h=Param(float, 0),
    gamma=Param(float, 0, 5, above=True),
)
PROBE_PIXELS = 1 << 24


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    return check_params("cosmo_maps", PARAMS, DEFAULTS, params)


def group_size(p: dict) -> int:
    """Images drawn together (one parameter set): kzoo.data.shards keeps splits, blocks and shards in whole groups."""
    return int(p["maps_per_set"])


def feature_shape(name: str, p: dict) -> tuple[int, int, int]:
    return (int(p["npix"]), int(p["npix"]), 2)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    out = {name: tuple(float(np.float32(v)) for v in p[f"{name}_range"]) for name in PARAMETERS}
    return {**out, "set": (0.0, 1e6)}


def linear_power(k: np.ndarray, omega_m: float, sigma_8: float) -> np.ndarray:
    """The linear matter power spectrum P(k) at z = 0, (Mpc/h)^3, k in h/Mpc (colossus, Eisenstein & Hu)."""
    from colossus.cosmology import cosmology

    cosmo = cosmology.setCosmology(
        "kzoo", params={"flat": True, "H0": 100 * CAMELS["h"], "Om0": float(omega_m), "Ob0": CAMELS["omega_b"],
                        "sigma8": float(sigma_8), "ns": CAMELS["n_s"], "relspecies": False},
        persistence="")  # no cache files in the user's home
    out = np.zeros_like(k, dtype=np.float64)
    pos = k > 0
    out[pos] = cosmo.matterPowerSpectrum(k[pos], z=0.0, model="eisenstein98")
    return out


def _draw_sets(rng, m: int, p: dict) -> np.ndarray:
    uni = lambda r: rng.uniform(*r, m)  # noqa: E731
    logu = lambda r: np.exp(rng.uniform(np.log(r[0]), np.log(r[1]), m))  # noqa: E731
    return np.stack([uni(p["omega_m_range"]), uni(p["sigma_8_range"]), logu(p["a_sn1_range"]),
                     logu(p["a_agn1_range"]), logu(p["a_sn2_range"]), logu(p["a_agn2_range"])], axis=1)


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` two-field maps (``maps``: (n, npix, npix, 2) float32) in whole parameter sets of ``maps_per_set``."""
    from scipy.ndimage import gaussian_filter

    p = validate_params(params)
    per = int(p["maps_per_set"])
    if n % per:
        raise ValueError(f"cosmo_maps: {n} maps is not a whole number of parameter sets of maps_per_set={per}; make "
                         f"the recipe's block and split sizes multiples of {per}")
    npix, box = int(p["npix"]), float(p["box_mpc_h"])
    cell = box / npix
    k1 = 2 * np.pi * np.fft.fftfreq(npix, d=cell)
    kk = np.sqrt(k1[:, None] ** 2 + k1[None, :] ** 2)
    suite = SUITES[p["suite"]]
    sets = _draw_sets(rng, n // per, p)
    maps = np.empty((n, npix, npix, 2), np.float32)
    labels = np.empty((n, len(LABELS)), np.float32)
    for s, (om, s8, sn1, agn1, sn2, agn2) in enumerate(sets):
        p2d = linear_power(kk, om, s8) / box  # the spectrum of the overdensity projected through the periodic box
        amp = np.sqrt(p2d / cell**2)
        var = float(np.sum(p2d)) / box**2
        noise = rng.standard_normal((per, npix, npix))
        g = np.fft.ifft2(np.fft.fft2(noise) * amp).real
        mass = om / 0.3 * np.exp(g - var / 2)
        r_fb = p["r_fb_mpc_h"] * sn1 ** suite["r_fb"][0] * agn1 ** suite["r_fb"][1]
        gamma = p["gamma"] + suite["gamma"][0] * np.log(sn2) + suite["gamma"][1] * np.log(agn2)
        t0 = sn1 ** suite["t0"][0] * agn1 ** suite["t0"][1]
        smooth = gaussian_filter(mass, sigma=(0, r_fb / cell, r_fb / cell), mode="wrap") if r_fb > 0 else mass
        pressure = t0 * np.maximum(smooth, 1e-30) ** gamma
        rows = slice(s * per, (s + 1) * per)
        maps[rows, ..., 0] = np.log10(mass)
        maps[rows, ..., 1] = np.log10(pressure)
        labels[rows] = [om, s8, sn1, agn1, sn2, agn2, s]
    return {"maps": maps, "labels": labels}
