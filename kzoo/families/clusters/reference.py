"""The classical cluster-mass estimator: log10 M500 from the X-ray luminosity within R500 and the recipe's L-M
relation."""

from __future__ import annotations

import numpy as np


def cluster_luminosity_mass(counts: np.ndarray, params: dict, iterations: int = 10) -> np.ndarray:
    """The classical X-ray mass estimate of each cluster image: log10 M500 from its luminosity with the L-M
    relation inverted, found as astronomers do without a temperature (e.g. Pratt et al. 2009): start from
    M500 = 3e14 Msun, measure the counts within the projected R500 of that mass (background subtracted),
    turn them into L_X with the recipe's counts-per-luminosity, invert log L = log L_pivot + slope (log M -
    log 3e14) for M, and repeat with the new R500 until it settles. It knows the recipe's mean relations (the
    calibration a survey would take from the literature), not each cluster's scatter, core or mergers."""
    from kzoo.families.clusters import sky as cl

    p = cl.validate_params(params)
    n, npix = counts.shape[0], counts.shape[1]
    centres = (np.arange(npix) + 0.5) / npix * p["fov_mpc"] - p["fov_mpc"] / 2
    r2 = (centres[None, :] ** 2 + centres[:, None] ** 2)[None]
    log_m = np.full(n, np.log10(cl.M_PIVOT))
    lo, hi = p["log_m500_range"]
    for _ in range(iterations):
        inside = r2 <= cl.r500_mpc(log_m, p["z"])[:, None, None] ** 2
        net = np.sum(counts * inside, axis=(1, 2)) - p["background"] * inside.sum(axis=(1, 2))
        lx = np.maximum(net, 1.0) / (p["counts_per_1e44"] * p["exposure_ks"] / 100.0) * 1e44
        new = np.log10(cl.M_PIVOT) + (np.log10(lx) - np.log10(p["lx_pivot"])) / p["lx_slope"]
        log_m = np.clip(new, lo - 1.0, hi + 1.0)
    return log_m


def cluster_luminosity_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False):
    """``cluster_luminosity_mass`` on every image of a split of the clusters sky; (y_true, y_pred, names, info)."""
    from kzoo.data.reader import load_arrays

    if "log_m500" not in targets:
        raise ValueError(f"the luminosity mass estimate gives log_m500, not {list(targets)}")
    x, y = load_arrays(data_dir, split, inputs="counts", targets=["log_m500"], manifest=manifest, verify=False)
    pred = cluster_luminosity_mass(x[..., 0].astype(np.float64), manifest["recipe"].get("params", {}))
    return y, pred[:, None], ["log_m500"], (
        "log10 M500 from the counts within the projected R500 (background subtracted), turned into L_X and the "
        "recipe's mean L-M relation inverted, R500 iterated to convergence (no core excision)")


REFERENCES = {"luminosity_mass": cluster_luminosity_reference}
ESTIMATES = {"luminosity_mass": ("log_m500",)}
