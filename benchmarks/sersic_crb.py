"""Seed 003's physical limit and classical baseline on its fixed galaxy: the Cramer-Rao bound of
(flux, n, re, g1, g2) beside the seed's typed-in table, and the L-BFGS-B fit's accuracy and time per image.

* ``kzoo.families.sersic.reference.sersic_fisher`` on the fixed galaxy (flux 1e5, n 3, re 0.3, g1 -0.069, g2 0.15,
  PSF FWHM 0.5) at SNR 60 and 30 (sigma = sqrt(sum mu^2) / SNR): the bound without the variance's
  own parameter dependence (the default), with it, and for Gaussian noise alone; the seed's table and
  our / seed; the largest change of the bound when the steps are halved or doubled.
* ``kzoo.families.sersic.reference.sersic_lbfgs_fit`` on ``--fits`` noise realisations of that galaxy at SNR 60
  (Poisson + Gaussian sigma, the seed's noise): seconds and CPU seconds per image, GalSim draws,
  and the estimates' bias and std beside the bound (std from few fits: +-1/sqrt(2 fits) relative).

    python benchmarks/sersic_crb.py               # 40 fits, ~5 minutes on a busy 2-core machine
    python benchmarks/sersic_crb.py --quick       # smoke test: 2 fits
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, md_table, output_args, report  # noqa: E402

from kzoo.families.sersic import reference as R  # noqa: E402
from kzoo.families.sersic.sky import draw_noiseless  # noqa: E402

NAMES = list(R.SERSIC_PARAMS)


def bounds(galaxy, psf_fwhm) -> dict:
    out = {}
    seed60 = np.array([R.SERSIC_SEED_CRB_SNR60[k] for k in NAMES])
    for snr in (60, 30):
        sigma = R.sersic_sigma_for_snr(galaxy, psf_fwhm, snr)
        f = R.sersic_fisher(galaxy, psf_fwhm, sigma)
        gauss = R.sersic_fisher(galaxy, psf_fwhm, sigma, poisson=False)["crb"]
        stab = R.sersic_step_stability(galaxy, psf_fwhm, sigma, factors=(0.5, 2.0))["max_relative_change"]
        seed = seed60 * 60 / snr
        out[str(snr)] = {"sigma": sigma, "crb": f["crb"].tolist(), "crb_variance_term": f["crb_variance_term"].tolist(),
                         "crb_gaussian_only": gauss.tolist(), "seed_crb": seed.tolist(),
                         "ratio_to_seed": (f["crb"] / seed).tolist(),
                         "variance_term_change": (f["crb_variance_term"] / f["crb"] - 1).tolist(),
                         "step_stability_max_change": stab.tolist(), "steps": f["steps"].tolist(),
                         "correlation": (f["covariance"] / np.outer(f["crb"], f["crb"])).round(3).tolist()}
    return out


def fits(galaxy, psf_fwhm, n: int, seed: int = 0) -> dict:
    mu = draw_noiseless(*galaxy, psf_fwhm)
    sigma = float(np.sqrt((mu**2).sum()) / 60)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        image = rng.poisson(np.clip(mu, 0, None)) + rng.normal(0, sigma, mu.shape)
        c0 = time.process_time()
        f = R.sersic_lbfgs_fit(image, sigma, psf_fwhm)
        rows.append({"params": f["params"].tolist(), "start": f["start"].tolist(), "seconds": f["seconds"],
                     "cpu_seconds": time.process_time() - c0, "nfev": f["nfev"], "ndraws": f["ndraws"],
                     "success": f["success"], "chi2": f["chi2"]})
        print(f"fit {i + 1}/{n}: {f['seconds']:.1f} s, {f['ndraws']} draws, {np.round(f['params'], 4).tolist()}",
              flush=True)
    est = np.array([r["params"] for r in rows])
    sec = np.array([r["seconds"] for r in rows])
    return {"snr": 60, "sigma": sigma, "n_fits": n, "fits": rows,
            "bias": (est.mean(axis=0) - galaxy).tolist(),
            "std": (est.std(axis=0, ddof=1) if n > 1 else np.full(len(NAMES), np.nan)).tolist(),
            "seconds_mean": float(sec.mean()), "seconds_median": float(np.median(sec)), "seconds_max": float(sec.max()),
            "cpu_seconds_mean": float(np.mean([r["cpu_seconds"] for r in rows])),
            "ndraws_mean": float(np.mean([r["ndraws"] for r in rows])),
            "converged": int(sum(r["success"] for r in rows))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fits", type=int, default=40, help="L-BFGS-B fits of noise realisations at SNR 60 (default 40)")
    output_args(ap, "sersic_crb", "2 fits")
    args = ap.parse_args(argv)
    if args.quick:
        args.fits = 2
    if args.fits <= 0:
        ap.error("--fits must be positive")
    machine = machine_info()
    g = R.SERSIC_FIXED_GALAXY
    galaxy, psf = np.array([g[k] for k in NAMES]), g["psf_fwhm"]
    crb = bounds(galaxy, psf)
    fit = fits(galaxy, psf, args.fits)
    result = {"benchmark": "sersic_crb", "machine": machine, "galaxy": g, "crb": crb, "lbfgs": fit}

    def row(label, values, fmt="{:.4g}"):
        return [label] + [fmt.format(v) for v in values]

    rows = []
    for snr, b in crb.items():
        rows += [row(f"SNR {snr}: CRB sigma", b["crb"]), row(f"SNR {snr}: with the variance term", b["crb_variance_term"]),
                 row(f"SNR {snr}: Gaussian noise only", b["crb_gaussian_only"]), row(f"SNR {snr}: seed's table", b["seed_crb"]),
                 row(f"SNR {snr}: ours / seed", b["ratio_to_seed"], "{:.3f}"),
                 row(f"SNR {snr}: variance term, relative change", b["variance_term_change"], "{:.1e}"),
                 row(f"SNR {snr}: step x0.5 or x2, max change", b["step_stability_max_change"], "{:.1e}")]
    t1 = md_table(["", *NAMES], rows)
    crb60 = np.array(crb["60"]["crb"])
    t2 = md_table(["", *NAMES], [row("bias", fit["bias"]), row("std", fit["std"]),
                                 row("std / CRB", np.array(fit["std"]) / crb60, "{:.2f}"),
                                 row("|bias| / CRB", np.abs(fit["bias"]) / crb60, "{:.2f}")])
    body = (f"## Cramer-Rao bound (`kzoo.families.sersic.reference.sersic_fisher`)\n\nsigma = {crb['60']['sigma']:.2f} at SNR 60, "
            f"{crb['30']['sigma']:.2f} at SNR 30; pixel variance mu + sigma^2 (Poisson + Gaussian).\n\n{t1}\n"
            f"## L-BFGS-B fit (`kzoo.families.sersic.reference.sersic_lbfgs_fit`), {fit['n_fits']} noise realisations at SNR 60\n\n"
            f"{fit['seconds_mean']:.1f} s per image (median {fit['seconds_median']:.1f}, max {fit['seconds_max']:.1f}; "
            f"{fit['cpu_seconds_mean']:.1f} CPU seconds), {fit['ndraws_mean']:.0f} GalSim draws per fit, "
            f"{fit['converged']} of {fit['n_fits']} with the optimiser's convergence flag.\n\n{t2}")
    report(args, result, "Sersic galaxy (seed 003): Cramer-Rao bound and L-BFGS-B fit",
           f"The seed's fixed galaxy (flux, n, re, g1, g2) = {galaxy.tolist()}, PSF FWHM {psf} arcsec, 64 x 64 "
           f"pixels of 0.23 arcsec", body)


if __name__ == "__main__":
    main()
