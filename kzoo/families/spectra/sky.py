"""Galaxy spectra of seed 001, groups A and B (a conditional GAN from physical parameters to a spectrum), from real
empirical templates, and the seed's preprocessing as library functions.

The seed trained on SDSS spectra with their catalogue's age, metallicity, stellar mass and redshift. This sky draws
such a catalogue from a physical description:

* parameters: age uniform in ``age_range`` (Gyr), metallicity Z log-uniform in ``metallicity_range`` (mass fraction,
  solar 0.02), log10 stellar mass uniform in ``log_mass_range``, redshift uniform in ``z_range``;
* the continuum: the Coleman, Wu & Weedman templates that GalSim ships (``CWW_{E,Sbc,Scd,Im}_ext.sed``), mixed
  between neighbours at a position t in [0, 3] (E = 0 .. Im = 3) set by the parameters: older, more massive and more
  metal-rich galaxies look more elliptical, t = 3 (1 - e) with e = sigmoid(2.5 log10(age / 3 Gyr) + 1.2 (log M -
  10.5) + 0.8 log10(Z / 0.02)); a 4000 A break strengthened by age and metallicity beyond the template's own: the
  flux blueward of 4000 A dimmed by 0.25 log10(age / 3 Gyr) + 0.15 log10(Z / 0.02) magnitudes (a tanh step 40 A
  wide);
* emission lines, Gaussians of sigma 3 A (rest; ~200 km/s): H-alpha of equivalent width 80 A exp(-age / 2 Gyr),
  H-beta at 1 / 2.86 of H-alpha's flux (case B), [OII] 3727 at 0.6 (Z / 0.02)^0.3 and [OIII] 5007 at
  3 (0.02 / Z)^0.7 x H-beta (capped at 8), with [OIII] 4959 a third of 5007: a caricature of the trends of star-
  forming galaxies (young: strong lines; metal-poor: high [OIII] / H-beta);
* observation: redshifted, sampled on the SDSS grid (log10 lambda from 3.5798, steps of 1e-4, 3800-9200 A), the
  flux scaled by b = (M / 10^10.5) (D_L(0.1) / D_L(z))^2 (astropy Planck18) and 1 / (1 + z); a flux-limited
  sample as SDSS's (r < 17.77): galaxies with b < ``flux_limit`` are not drawn; Gaussian noise of one sigma per
  pixel, the median signal-to-noise ``snr_ref`` sqrt(b) (source-limited; clipped to [2, 200]);
* outliers of the kinds the seed's catalogue held, at ``outlier_rate``: negative redshift, non-positive age or
  metallicity, masses above 1e13 (log M > 13); :func:`clean_catalogue` drops them and counts why.

Then the seed's preprocessing (:func:`preprocess`): drop invalid rows, shift to the rest frame, keep the range all
spectra cover (3800 / (1 + z_min) .. 9200 / (1 + z_max)), resample onto one grid (linear interpolation), bin to 500
points (means of equal groups), log10, then min-max per spectrum. Stored (FEATURES): ``spectrum`` (500 rest-frame
bins, the seed's input) and ``spectrum_obs`` (the observed frame, 3800-9200 A in 500 bins, log and min-max: a
generator conditioned on z must put the lines where z says). Labels: ``age_gyr``, ``metallicity``, ``log_mass``,
``z``, ``template_t``, ``snr``. Same generator state, same bytes.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("age_gyr", "metallicity", "log_mass", "z", "template_t", "snr")
FEATURES = ("spectrum", "spectrum_obs")
TEMPLATES = ("E", "Sbc", "Scd", "Im")
LINES = {"OII_3727": 3727.4, "Hbeta": 4861.3, "OIII_4959": 4958.9, "OIII_5007": 5006.8, "Halpha": 6562.8}
BREAK = 4000.0
SDSS_LOGLAM0, SDSS_DLOGLAM = 3.5798, 1e-4  # SDSS's log10-lambda grid
PROBE_PIXELS = 1 << 60  # fast: no time estimate

DEFAULTS = dict(
    age_range=(0.1, 13.0),
    metallicity_range=(0.002, 0.04),
    log_mass_range=(8.5, 11.5),
    z_range=(0.02, 0.3),
    obs_range=(3800.0, 9200.0),
    bins=500,
    snr_ref=20.0,
    flux_limit=0.1,
    outlier_rate=0.02,
)

PARAMS = dict(
    age_range=Param(float, 0, 14, pair="<", above=True),
    metallicity_range=Param(float, 0, 0.1, pair="<", above=True),
    log_mass_range=Param(float, 6, 13, pair="<"),
    z_range=Param(float, 0, 2, pair="<", above=True),
    obs_range=Param(float, 1000, 20000, pair="<"),
    bins=Param(int, 16, 4096),
    snr_ref=Param(float, 0, 1000, above=True),
    flux_limit=Param(float, 0),
    outlier_rate=Param(float, 0, 0.5),
)


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    return check_params("spectra", PARAMS, DEFAULTS, params)


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    f32 = lambda r: (float(np.float32(r[0])), float(np.float32(r[1])))  # noqa: E731
    return {"age_gyr": f32(p["age_range"]), "metallicity": f32(p["metallicity_range"]),
            "log_mass": f32(p["log_mass_range"]), "z": f32(p["z_range"]), "template_t": (0.0, 3.0),
            "snr": (2.0, 200.0)}


def feature_shape(name: str, p: dict) -> tuple[int]:
    return (int(p["bins"]),)


@functools.lru_cache(maxsize=1)
def templates() -> tuple[np.ndarray, np.ndarray]:
    """(wavelength in A, f_lambda (4, n)) of the CWW templates on their common wavelengths, each normalised to a
    mean of 1 over 5,000-5,500 A."""
    import galsim

    tabs = [np.loadtxt(os.path.join(galsim.meta_data.share_dir, "SEDs", f"CWW_{t}_ext.sed")) for t in TEMPLATES]
    wave = tabs[0][:, 0]
    flux = np.stack([np.interp(wave, t[:, 0], t[:, 1]) for t in tabs])
    norm = flux[:, (wave >= 5000) & (wave <= 5500)].mean(axis=1, keepdims=True)
    return wave, flux / norm


def sdss_grid(obs_range=(3800.0, 9200.0)) -> np.ndarray:
    """SDSS's observed wavelengths (A): 10^(3.5798 + 1e-4 k) inside ``obs_range``."""
    k0 = int(np.ceil((np.log10(obs_range[0]) - SDSS_LOGLAM0) / SDSS_DLOGLAM))
    k1 = int(np.floor((np.log10(obs_range[1]) - SDSS_LOGLAM0) / SDSS_DLOGLAM))
    return 10.0 ** (SDSS_LOGLAM0 + SDSS_DLOGLAM * np.arange(k0, k1 + 1))


def template_position(age, metallicity, log_mass) -> np.ndarray:
    """t in [0, 3] (E = 0 .. Im = 3): 3 (1 - e), e = sigmoid(2.5 log10(age / 3) + 1.2 (log M - 10.5) +
    0.8 log10(Z / 0.02))."""
    s = 2.5 * np.log10(age / 3.0) + 1.2 * (log_mass - 10.5) + 0.8 * np.log10(metallicity / 0.02)
    return 3.0 * (1.0 - 1.0 / (1.0 + np.exp(-s)))


def rest_spectra(wave, age, metallicity, log_mass) -> tuple[np.ndarray, np.ndarray]:
    """Rest-frame f_lambda (n, len(wave)) of galaxies: the mixed template, the extra 4000 A break and the
    emission lines (see the module's text); and their template positions t."""
    tw, tf = templates()
    t = template_position(age, metallicity, log_mass)
    lo = np.clip(np.floor(t).astype(int), 0, len(TEMPLATES) - 2)
    w = (t - lo)[:, None]
    on = np.stack([np.interp(wave, tw, f) for f in tf])  # (4, n_wave)
    flux = (1.0 - w) * on[lo] + w * on[lo + 1]
    dim = 0.25 * np.log10(age / 3.0) + 0.15 * np.log10(metallicity / 0.02)  # magnitudes blueward of 4000 A
    step = 0.5 * (1.0 - np.tanh((wave - BREAK) / 20.0))  # 1 blueward, 0 redward, 40 A wide
    flux = flux * 10.0 ** (-0.4 * dim[:, None] * step[None, :])
    at_ha = np.array([np.interp(LINES["Halpha"], tw, f) for f in tf])  # each template's continuum under H-alpha
    ha = 80.0 * np.exp(-age / 2.0) * ((1.0 - w[:, 0]) * at_ha[lo] + w[:, 0] * at_ha[lo + 1])  # EW x continuum
    hb = ha / 2.86
    strengths = {"Halpha": ha, "Hbeta": hb, "OII_3727": 0.6 * (metallicity / 0.02) ** 0.3 * ha,
                 "OIII_5007": np.minimum(3.0 * (0.02 / metallicity) ** 0.7, 8.0) * hb}
    strengths["OIII_4959"] = strengths["OIII_5007"] / 3.0
    sigma = 3.0
    for name, centre in LINES.items():
        profile = np.exp(-0.5 * ((wave - centre) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        flux = flux + strengths[name][:, None] * profile[None, :]
    return flux, t


@functools.lru_cache(maxsize=2)
def _distance_modulus_table(z_max: float):
    from astropy.cosmology import Planck18

    z = np.linspace(0.001, z_max * 1.05 + 0.01, 600)
    return z, Planck18.luminosity_distance(z).value


def simulate_catalogue(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """A raw catalogue of ``n`` observed spectra on the SDSS grid with their parameters, outliers included at
    ``outlier_rate``: {"wave": (n_pix,), "flux": (n, n_pix), "age_gyr", "metallicity", "log_mass", "z", "snr",
    "template_t"}. An outlier's spectrum is drawn from its valid parameters before one is spoiled."""
    p = validate_params(params)
    zt, dl = _distance_modulus_table(float(p["z_range"][1]))
    d0 = np.interp(0.1, zt, dl)
    drawn = {k: [] for k in ("age", "met", "logm", "z", "bright")}
    have = 0
    while have < n:  # the flux limit: galaxies fainter than flux_limit x the reference are not in the catalogue
        k = 2 * (n - have) + 8
        age = rng.uniform(*p["age_range"], k)
        met = np.exp(rng.uniform(*np.log(p["metallicity_range"]), k))
        logm = rng.uniform(*p["log_mass_range"], k)
        z = rng.uniform(*p["z_range"], k)
        bright = 10.0 ** (logm - 10.5) * (d0 / np.interp(z, zt, dl)) ** 2
        ok = bright >= p["flux_limit"]
        for key, v in zip(drawn, (age, met, logm, z, bright)):
            drawn[key].append(v[ok])
        have += int(ok.sum())
    age, met, logm, z, bright = (np.concatenate(drawn[k])[:n] for k in drawn)
    wave = sdss_grid(p["obs_range"])
    flux = np.empty((n, len(wave)))
    t = template_position(age, met, logm)
    for i in range(n):  # each galaxy's rest-frame wavelengths differ
        f, _ = rest_spectra(wave / (1.0 + z[i]), age[i:i + 1], met[i:i + 1], logm[i:i + 1])
        flux[i] = f[0]
    flux = flux * (bright / (1.0 + z))[:, None]  # f_lambda dims by (1 + z) beyond D_L^2
    snr = np.clip(p["snr_ref"] * np.sqrt(bright), 2.0, 200.0)
    sigma = np.median(flux, axis=1) / snr
    flux = flux + rng.normal(size=flux.shape) * sigma[:, None]
    cat = {"wave": wave, "flux": flux, "age_gyr": age, "metallicity": met, "log_mass": logm, "z": z, "snr": snr,
           "template_t": t}
    bad = rng.random(n) < p["outlier_rate"]
    kind = rng.integers(0, 4, n)
    cat["z"] = np.where(bad & (kind == 0), -rng.uniform(0.001, 0.1, n), cat["z"])
    cat["age_gyr"] = np.where(bad & (kind == 1), -rng.uniform(0, 1, n) * (rng.random(n) < 0.5), cat["age_gyr"])
    cat["metallicity"] = np.where(bad & (kind == 2), -rng.uniform(0, 0.01, n) * (rng.random(n) < 0.5),
                                  cat["metallicity"])
    cat["log_mass"] = np.where(bad & (kind == 3), rng.uniform(13.01, 14.0, n), cat["log_mass"])
    return cat


def clean_catalogue(cat: dict) -> tuple[np.ndarray, dict[str, int]]:
    """The rows to keep (a boolean mask) and how many were dropped for each reason, as the seed cleaned its
    catalogue: negative redshift, non-positive age, non-positive metallicity, stellar mass above 1e13."""
    reasons = {"negative redshift": cat["z"] < 0, "non-positive age": cat["age_gyr"] <= 0,
               "non-positive metallicity": cat["metallicity"] <= 0, "mass above 1e13": cat["log_mass"] > 13.0}
    bad = np.zeros(len(cat["z"]), bool)
    for v in reasons.values():
        bad |= v
    return ~bad, {k: int(v.sum()) for k, v in reasons.items()}


def common_rest_range(obs_range, z) -> tuple[float, float]:
    """The rest-frame wavelengths every spectrum covers: obs_min / (1 + z_min) .. obs_max / (1 + z_max)."""
    z = np.asarray(z, np.float64)
    lo, hi = obs_range[0] / (1.0 + z.min()), obs_range[1] / (1.0 + z.max())
    if lo >= hi:
        raise ValueError(f"no rest-frame range common to all spectra: {lo:.0f} A >= {hi:.0f} A (narrow z_range)")
    return float(lo), float(hi)


def resample(wave, flux, grid) -> np.ndarray:
    """Flux (n, len(wave)) or (len(wave),) linearly interpolated onto ``grid`` (exact for a linear flux)."""
    flux = np.asarray(flux, np.float64)
    if flux.ndim == 1:
        return np.interp(grid, wave, flux)
    return np.stack([np.interp(grid, w, f) for w, f in zip(np.broadcast_to(wave, flux.shape), flux)])


def bin_spectra(flux, bins: int) -> np.ndarray:
    """Means of ``bins`` equal groups of pixels (the pixel count must be a multiple of ``bins``)."""
    flux = np.asarray(flux, np.float64)
    if flux.shape[-1] % bins:
        raise ValueError(f"bin_spectra: {flux.shape[-1]} pixels do not split into {bins} equal bins")
    return flux.reshape(*flux.shape[:-1], bins, flux.shape[-1] // bins).mean(axis=-1)


def log_minmax(flux, floor: float = 1e-3) -> np.ndarray:
    """log10 of the flux (below ``floor`` x its median taken as that: noise can make a pixel negative), then
    scaled to [0, 1] per spectrum."""
    flux = np.asarray(flux, np.float64)
    med = np.median(np.abs(flux), axis=-1, keepdims=True)
    x = np.log10(np.maximum(flux, floor * np.maximum(med, 1e-30)))
    lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def rest_grid(params: dict) -> np.ndarray:
    """The rest-frame bin centres (A) of ``spectrum``: the common range in ``bins`` bins."""
    p = validate_params(params)
    lo, hi = common_rest_range(p["obs_range"], p["z_range"])
    edges = np.linspace(lo, hi, p["bins"] + 1)
    return 0.5 * (edges[1:] + edges[:-1])


def obs_grid(params: dict) -> np.ndarray:
    """The observed-frame bin centres (A) of ``spectrum_obs``."""
    p = validate_params(params)
    edges = np.linspace(*p["obs_range"], p["bins"] + 1)
    return 0.5 * (edges[1:] + edges[:-1])


def preprocess(cat: dict, params: dict, fine: int = 8) -> tuple[dict, dict[str, int]]:
    """The seed's preprocessing of a raw catalogue: clean, rest frame, common range, resampling onto ``fine`` x
    bins points, binning to ``bins``, log and min-max; the observed frame likewise without the shift. Returns the
    kept rows ({"spectrum", "spectrum_obs", and each parameter}) and the counts dropped per reason."""
    p = validate_params(params)
    keep, dropped = clean_catalogue(cat)
    wave, flux = cat["wave"], cat["flux"][keep]
    z = cat["z"][keep]
    lo, hi = common_rest_range(p["obs_range"], p["z_range"])
    n = p["bins"] * fine
    rest_fine = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    rest = np.stack([np.interp(rest_fine, wave / (1.0 + zi), f) for zi, f in zip(z, flux)])
    obs_fine = p["obs_range"][0] + (p["obs_range"][1] - p["obs_range"][0]) * (np.arange(n) + 0.5) / n
    obs = resample(wave, flux, obs_fine)
    out = {"spectrum": log_minmax(bin_spectra(rest, p["bins"])), "spectrum_obs": log_minmax(bin_spectra(obs, p["bins"]))}
    out.update({k: cat[k][keep] for k in LABELS})
    return out, dropped


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` preprocessed spectra (invalid catalogue rows drawn, then dropped by the cleaning, as the seed's)."""
    p = validate_params(params)
    parts, have = [], 0
    while have < n:
        cat = simulate_catalogue(rng, n - have + max(2, int(np.ceil((n - have) * 2 * p["outlier_rate"]))), **p)
        rows, _ = preprocess(cat, p)
        parts.append(rows)
        have += len(rows["z"])
    rows = {k: np.concatenate([r[k] for r in parts])[:n] for k in parts[0]}
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return {"spectrum": f32(rows["spectrum"]), "spectrum_obs": f32(rows["spectrum_obs"]),
            "labels": f32(np.stack([rows[k] for k in LABELS], axis=1))}


@functools.lru_cache(maxsize=8)
def _template_bank(grid_key: tuple, z_key: tuple) -> np.ndarray:
    """The four templates redshifted to each trial z, on the bin centres ``grid``, log then min-max, centred and
    scaled to unit norm: rows (template, z) flattened."""
    grid, z_grid = np.asarray(grid_key), np.asarray(z_key)
    tw, tf = templates()
    rows = np.stack([np.interp(grid[None, :] / (1.0 + z_grid[:, None]), tw, f) for f in tf])  # (4, nz, bins)
    rows = log_minmax(rows.reshape(-1, len(grid)))
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def cross_correlate(spectra, grid, z_grid) -> dict[str, np.ndarray]:
    """The seed's planned redshift measurement: each spectrum (n, bins), on the bin centres ``grid`` (A),
    correlated (Pearson r) with the four CWW templates redshifted to every trial z in ``z_grid``; returns
    ``template`` (0 E .. 3 Im), ``z`` (the best trial z) and ``r`` (the best correlation) per spectrum."""
    s = np.asarray(spectra, np.float64).reshape(len(spectra), -1)
    s = s - s.mean(axis=1, keepdims=True)
    s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)
    z_grid = np.asarray(z_grid, np.float64)
    bank = _template_bank(tuple(np.asarray(grid, np.float64).round(6)), tuple(z_grid.round(6)))
    best = np.empty(len(s), int)
    r = np.empty(len(s))
    for a in range(0, len(s), 2048):
        corr = s[a:a + 2048] @ bank.T
        best[a:a + 2048] = np.argmax(corr, axis=1)
        r[a:a + 2048] = corr[np.arange(len(corr)), best[a:a + 2048]]
    return {"template": best // len(z_grid), "z": z_grid[best % len(z_grid)], "r": r}
