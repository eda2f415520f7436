"""Classical references of the Sersic sky (seed 003): the Fisher / Cramer-Rao bound of the five parameters (derivatives
of the GalSim model by central differences) and the seed's L-BFGS-B fit of the GalSim model."""

from __future__ import annotations

import numpy as np

from kzoo.reference import central_differences, covariance_bound, fisher_matrix


SERSIC_PARAMS = ("flux", "n", "re", "g1", "g2")
# The seed's typed-in Cramer-Rao sigmas of its fixed galaxy at SNR 60.
SERSIC_SEED_CRB_SNR60 = {"flux": 0.056e5, "n": 0.78, "re": 0.028, "g1": 0.054, "g2": 0.054}


# The simulator's prior box: flux 1e5 x U(0.3, 4), n U(0.5, 6), re U(0.1, 0.6) arcsec, |g| < 0.67.
SERSIC_PRIOR = {"flux": (3e4, 4e5), "n": (0.5, 6.0), "re": (0.1, 0.6), "g1": (-0.67, 0.67), "g2": (-0.67, 0.67)}


# The seed's fixed test galaxy and its Cramer-Rao table at SNR 60 (typed into the seed, not computed; SNR 30: twice).
SERSIC_FIXED_GALAXY = {"flux": 1e5, "n": 3.0, "re": 0.3, "g1": -0.069, "g2": 0.15, "psf_fwhm": 0.5}


def sersic_steps(params, scale: float = 1.0) -> np.ndarray:
    """Default central-difference steps for (flux, n, re, g1, g2): 1 % of the flux and of re, 0.02 in n,
    0.005 in g1 and g2, times ``scale``. On the seed's fixed galaxy the derivative images change by
    < 1e-4 (relative L2) when these are halved or doubled; at 1/100 of them float32 rounding of
    GalSim's images shows (~3e-3 in n). ``sersic_step_stability`` checks the bound itself."""
    flux, n, re, g1, g2 = np.asarray(params, np.float64)
    return scale * np.array([0.01 * flux, 0.02, 0.01 * re, 0.005, 0.005])


def _sersic_model(psf_fwhm: float, npix: int, pixel_scale: float | None, psf_beta: float | None, counter=None):
    """theta = (flux, n, re, g1, g2) -> GalSim's noiseless image; ``counter`` (a list) counts the draws."""
    from kzoo.families.sersic import sky as sersic

    kw = {"npix": int(npix), "pixel_scale": pixel_scale or sersic.PIXEL_SCALE, "psf_beta": psf_beta or sersic.PSF_BETA}

    def model(theta):
        if counter is not None:
            counter[0] += 1
        return sersic.draw_noiseless(*theta, psf_fwhm, **kw)
    return model


def sersic_sigma_for_snr(params, psf_fwhm: float, snr: float, npix: int = 64, pixel_scale: float | None = None,
                         psf_beta: float | None = None) -> float:
    """The Gaussian noise sigma that gives ``snr`` = sqrt(sum mu^2) / sigma (the seed's definition)."""
    mu = _sersic_model(psf_fwhm, npix, pixel_scale, psf_beta)(params)
    return float(np.sqrt((mu**2).sum()) / snr)


def sersic_fisher(params, psf_fwhm: float, sigma: float, npix: int = 64, step=None, poisson: bool = True,
                  pixel_scale: float | None = None, psf_beta: float | None = None) -> dict:
    """Fisher matrix and Cramer-Rao bound of (flux, n, re, g1, g2) for one Sersic galaxy of seed 003.

    Noise: Poisson on the noiseless image (sky 0) plus Gaussian of standard deviation ``sigma``, in the
    Gaussian approximation of pixel variance v = mu + sigma^2 (``poisson=False``: v = sigma^2, the
    bound then scales exactly as 1/SNR). ``crb``/``covariance``/``fisher`` leave out the variance's own
    parameter dependence, the term 0.5 tr(C^-1 dC C^-1 dC) (exact for Poisson counts alone, exact for
    Gaussian noise alone); ``crb_variance_term`` includes it (a Gaussian whose variance follows mu
    carries that extra information, Poisson does not). Per pixel the term is ~1 / (2 v) of the first
    (v ~ 4e4 counts^2 at sigma 200): on the seed's fixed galaxy it lowers the bound by 6e-6 (relative)
    at SNR 60 and 2e-6 at SNR 30 (benchmarks/results/sersic_crb.md).

    Derivatives of GalSim's noiseless image by central differences: 11 draws, 3 of them with a new n
    (~0.05-0.4 s each; the others ~5 ms). ``step``: None (``sersic_steps``), a number (that times the
    default steps) or five steps.

    Returns a dict: names, params, psf_fwhm, sigma, snr, poisson, steps, fisher, fisher_variance_term,
    covariance, crb (5,), crb_variance_term (5,).
    """
    params = np.asarray(params, np.float64)
    if step is None or np.ndim(step) == 0:
        steps = sersic_steps(params, 1.0 if step is None else float(step))
    else:
        steps = np.asarray(step, np.float64)
    model = _sersic_model(psf_fwhm, npix, pixel_scale, psf_beta)
    variance = (lambda mu: mu + sigma**2) if poisson else sigma**2
    f = fisher_matrix(model, params, variance, steps)
    cov, crb = covariance_bound(f["fisher"])
    _, crb_var = covariance_bound(f["fisher"] + f["fisher_variance_term"])
    return {"names": SERSIC_PARAMS, "params": params, "psf_fwhm": float(psf_fwhm), "sigma": float(sigma),
            "snr": float(np.sqrt((f["mu"] ** 2).sum()) / sigma), "poisson": poisson, "steps": steps,
            "fisher": f["fisher"], "fisher_variance_term": f["fisher_variance_term"], "covariance": cov,
            "crb": crb, "crb_variance_term": crb_var}


def sersic_step_stability(params, psf_fwhm: float, sigma: float, factors=(0.5, 2.0), **kwargs) -> dict:
    """The bound's sensitivity to the finite-difference steps: ``sersic_fisher`` with the default steps
    and with them times each of ``factors``. Returns crb (the default's), crb_by_factor and
    max_relative_change (5,): the largest |crb(factor) / crb - 1| over the factors."""
    base = sersic_fisher(params, psf_fwhm, sigma, **kwargs)["crb"]
    other = {float(f): sersic_fisher(params, psf_fwhm, sigma, step=f, **kwargs)["crb"] for f in factors}
    change = np.max([np.abs(c / base - 1) for c in other.values()], axis=0)
    return {"crb": base, "crb_by_factor": other, "max_relative_change": change}


def sersic_crb_for(labels, names=None, progress: bool = False, poisson: bool = True, npix: int = 64,
                   pixel_scale: float | None = None, psf_beta: float | None = None) -> np.ndarray:
    """Per-image Cramer-Rao sigmas (n, 5) of (flux, n, re, g1, g2) for rows of the simulator's labels.

    ``labels``: a mapping name -> (n,) array, or an (n, k) array whose columns are ``names`` (default
    ``kzoo.families.sersic.sky.LABELS``); it needs flux, n, re, g1, g2, psf_fwhm and sigma. ~0.1-1 s per image.
    """
    from kzoo.progress import bar

    if not hasattr(labels, "keys"):
        if names is None:
            from kzoo.families.sersic.sky import LABELS as names
        arr = np.asarray(labels, np.float64)
        labels = {k: arr[:, j] for j, k in enumerate(names)}
    cols = {k: np.asarray(labels[k], np.float64) for k in (*SERSIC_PARAMS, "psf_fwhm", "sigma")}
    out = np.zeros((len(cols["flux"]), len(SERSIC_PARAMS)))
    for i in bar(range(len(out)), disable=not progress, desc="sersic CRB", unit="img"):
        out[i] = sersic_fisher([cols[k][i] for k in SERSIC_PARAMS], cols["psf_fwhm"][i], cols["sigma"][i],
                               npix=npix, poisson=poisson, pixel_scale=pixel_scale, psf_beta=psf_beta)["crb"]
    return out


def _moments_start(image: np.ndarray, psf_fwhm: float, pixel_scale: float, psf_beta: float, bounds) -> np.ndarray:
    """A starting point: flux = image sum, n = 2, re and (g1, g2) from GalSim's adaptive moments of the
    image with the PSF's size removed (Gaussian approximations); re 0.3 and g 0 where HSM fails."""
    import galsim

    from kzoo.families.sersic.sky import draw_psf

    flux, re, g1, g2 = float(image.sum()), 0.3, 0.0, 0.0
    try:
        gal = galsim.hsm.FindAdaptiveMom(galsim.Image(np.asarray(image, np.float64), scale=pixel_scale))
        psf = galsim.hsm.FindAdaptiveMom(galsim.Image(draw_psf(psf_fwhm, npix=image.shape[0], pixel_scale=pixel_scale,
                                                                psf_beta=psf_beta), scale=pixel_scale))
        t_gal, t_psf = gal.moments_sigma**2, psf.moments_sigma**2
        t_int = max(t_gal - t_psf, 0.1 * t_gal)
        re = 1.1774 * np.sqrt(t_int) * pixel_scale  # half-light radius of a Gaussian of that sigma
        e = np.array([gal.observed_shape.e1, gal.observed_shape.e2]) * t_gal / t_int  # undo the PSF's dilution
        e *= min(1.0, 0.8 / max(np.hypot(*e), 1e-12))
        shear = galsim.Shear(e1=e[0], e2=e[1])
        g1, g2 = shear.g1, shear.g2
    except (galsim.GalSimError, RuntimeError, ValueError):
        pass
    lo, hi = bounds[:, 0], bounds[:, 1]
    return np.clip([flux, 2.0, re, g1, g2], lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))


def sersic_lbfgs_fit(image, sigma: float, psf_fwhm: float, x0=None, bounds=None, pixel_scale: float | None = None,
                     psf_beta: float | None = None, maxiter: int = 200, ftol: float = 1e-7) -> dict:
    """The seed's classical baseline: fit GalSim's Sersic model to one image by L-BFGS-B.

    chi^2 = sum (image - mu(theta))^2 / (image + sigma^2) (weights from the data, as the seed did;
    floored at 1), theta = (flux, n, re, g1, g2) within ``bounds`` (default: the simulator's prior box
    ``SERSIC_PRIOR``; |g| < 1 holds inside it), PSF and sigma known. The optimiser works in units of
    the box's widths; the gradient is by central differences (``sersic_steps``): 11 GalSim draws per
    evaluation, 3 with a new n (GalSim builds a Sersic table per new n: that is most of the time).
    Start ``x0``: by default ``_moments_start``. It stops when an iteration lowers chi^2 by less than
    ``ftol`` of itself (1e-7: ~4e-4 for 4096 pixels at SNR 10-100): on the fixed galaxy at SNR 60 the
    estimates then lie within 0.02 CRB sigma of those at 1e-10, with ~30 % fewer evaluations.
    The data weights are what the seed used; they bias the fit only where the pixel noise is a sizeable
    part of image + sigma^2 (at sigma ~ 2 counts the chi^2 at the truth exceeds the fitted one by ~150
    and n comes out ~15 % low); at the seed's sigma 200-400 their noise is ~0.5 %.

    Returns a dict: params (5,), start (5,), chi2, nfev (objective + gradient evaluations), ndraws
    (GalSim images drawn), nit, success, message, seconds.
    """
    import time

    from scipy.optimize import minimize

    from kzoo.families.sersic import sky as sersic

    t0 = time.perf_counter()
    image = np.asarray(image, np.float64)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"sersic_lbfgs_fit: a square image is needed, got shape {image.shape}")
    pixel_scale, psf_beta = pixel_scale or sersic.PIXEL_SCALE, psf_beta or sersic.PSF_BETA
    box = np.array([SERSIC_PRIOR[k] for k in SERSIC_PARAMS] if bounds is None else bounds, np.float64)
    lo, width = box[:, 0], box[:, 1] - box[:, 0]
    start = _moments_start(image, psf_fwhm, pixel_scale, psf_beta, box) if x0 is None else np.asarray(x0, np.float64)
    counter = [0]
    model = _sersic_model(psf_fwhm, image.shape[0], pixel_scale, psf_beta, counter)
    weight = 1 / np.maximum(image + sigma**2, 1.0)

    def chi2(u):
        theta = lo + u * width
        mu, jac, _, _ = central_differences(model, theta, sersic_steps(theta))
        r = (image - mu) * weight
        return float(((image - mu) * r).sum()), -2 * (jac * r).sum(axis=(1, 2)) * width

    res = minimize(chi2, (start - lo) / width, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(lo),
                   options={"maxiter": maxiter, "ftol": ftol, "gtol": 1e-6})
    return {"params": lo + res.x * width, "start": start, "chi2": float(res.fun), "nfev": int(res.nfev),
            "ndraws": counter[0], "nit": int(res.nit), "success": bool(res.success), "message": str(res.message),
            "seconds": time.perf_counter() - t0}


def sersic_lbfgs_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                           max_images: int = 100, maxiter: int = 200):
    """``sersic_lbfgs_fit`` on the first ``max_images`` images of a split of the Sersic sky (a full test
    split would take hours: 2-30 s per image, 7 s on average for the seed's fixed galaxy at SNR 60, more
    where n is high; benchmarks/results/sersic_crb.md). The PSF FWHM and sigma are read from each image's labels.

    Returns (y_true, y_pred, names, description) for the targets among flux, n, re, g1, g2; the
    description states how many images were fitted and the time per image.
    """
    from kzoo.progress import bar

    from kzoo.data.reader import batches

    names = [t for t in targets if t in SERSIC_PARAMS]
    if not names:
        raise ValueError(f"the Sersic L-BFGS-B fit estimates {list(SERSIC_PARAMS)}, not {list(targets)}")
    params = manifest["recipe"].get("params", {})
    labels = [*SERSIC_PARAMS, "psf_fwhm", "sigma"]
    xs, ys = [], []
    for x, y in batches(data_dir, split, inputs="image", targets=labels, shuffle=False, manifest=manifest,
                        verify=False, batch_size=max(1, min(64, max_images))):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        if sum(map(len, xs)) >= max_images:
            break
    x, y = np.concatenate(xs)[:max_images, ..., 0], np.concatenate(ys)[:max_images].astype(np.float64)
    fits = [sersic_lbfgs_fit(x[i], y[i, 6], y[i, 5], pixel_scale=params.get("pixel_scale"),
                             psf_beta=params.get("psf_beta"), maxiter=maxiter)
            for i in bar(range(len(x)), disable=not progress, desc="sersic L-BFGS-B", unit="img")]
    y_pred = np.stack([f["params"] for f in fits])
    seconds = np.array([f["seconds"] for f in fits])
    cols = [SERSIC_PARAMS.index(t) for t in names]
    total = manifest["splits"][split]["count"]
    info = (f"L-BFGS-B fit of GalSim's Sersic model (flux, n, re, g1, g2 in the prior box; PSF and sigma known), "
            f"chi^2 weighted by image + sigma^2 as the seed did, on the first {len(x)} of the {total} {split} images: "
            f"{seconds.mean():.1f} s per image (median {np.median(seconds):.1f}, max {seconds.max():.1f}), "
            f"{np.mean([f['ndraws'] for f in fits]):.0f} GalSim draws per fit, "
            f"{sum(not f['success'] for f in fits)} stopped without the optimiser's convergence flag")
    return y[:, cols], y_pred[:, cols], names, info


REFERENCES = {"sersic_lbfgs": sersic_lbfgs_reference}
ESTIMATES = {"sersic_lbfgs": SERSIC_PARAMS}
