"""Classical references that stand next to the networks: what an astronomer would do first.

``poisson_template_fit`` fits non-negative template amplitudes to a counts map by maximising the
Poisson likelihood (L-BFGS-B with the analytic gradient). ``REFERENCES`` maps an experiment's
``reference_method`` to a function ``(manifest, data_dir, split, targets) -> (y_true, y_pred, info)``.
"""

from __future__ import annotations

import numpy as np


def poisson_template_fit(counts: np.ndarray, templates: dict[str, np.ndarray], progress: bool = False,
                         x0: float = 0.5, background: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Maximum-likelihood amplitudes ``A >= 0`` of ``mu = sum_k A_k T_k + B`` for each image of ``counts``.

    Args:
        counts: (n, H, W) observed counts.
        templates: name -> (H, W) expected counts at amplitude 1 (already PSF-blurred).
        background: optional (n, H, W) known expected counts per image (e.g. resolved point sources).
    Returns:
        name -> (n,) fitted amplitudes.
    """
    from scipy.optimize import minimize
    from tqdm.auto import tqdm

    names = list(templates)
    T = np.stack([np.asarray(templates[k], np.float64).ravel() for k in names], axis=1)  # (P, K)
    if not np.isfinite(T).all() or (T < 0).any():
        raise ValueError("poisson_template_fit: templates must be finite and non-negative")
    scale = T.sum(axis=0)
    Tn = T / scale  # amplitudes in units of total counts: better conditioned
    c = np.asarray(counts, np.float64).reshape(len(counts), -1)
    if c.shape[1] != T.shape[0]:
        raise ValueError(f"poisson_template_fit: images have {c.shape[1]} pixels, templates {T.shape[0]}")
    bg = np.zeros_like(c) if background is None else np.asarray(background, np.float64).reshape(c.shape)
    out = np.zeros((len(c), len(names)))
    for i in tqdm(range(len(c)), disable=not progress, desc="template fit", unit="img"):
        ci, bi = c[i], bg[i]

        def nll(a):
            mu = Tn @ a + bi + 1e-12
            return float(mu.sum() - ci @ np.log(mu)), Tn.sum(axis=0) - Tn.T @ (ci / mu)

        a0 = np.full(len(names), max(ci.sum(), 1.0) / len(names)) * x0 * 2
        res = minimize(nll, a0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(names),
                       options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
        out[i] = res.x / scale
    return {k: out[:, j] for j, k in enumerate(names)}


AMPLITUDES = {"A_dm": "dm", "A_pi0": "pi0", "A_ic": "ic", "A_bubbles": "bubbles"}


def galactic_center_template_fit(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                                 known_sources: bool = False):
    """Fit all diffuse amplitudes at once; the point sources are either absorbed into two smooth
    population templates or (``known_sources``) known: their PSF-blurred flux map is a fixed background.

    Returns (y_true, y_pred, names, description) for the targets that are template amplitudes.
    """
    from kzoo.data.pipeline import load_arrays
    from kzoo.sims import galactic_center as gc

    names = [t for t in targets if t in AMPLITUDES]
    if not names:
        raise ValueError(f"the galactic-centre template fit estimates {sorted(AMPLITUDES)}, not {list(targets)}")
    params = manifest["recipe"]["params"]
    x, y = load_arrays(data_dir, split, inputs="counts", targets=names, manifest=manifest, verify=False)
    templates = gc.mean_templates(**params)
    background = None
    if known_sources:
        if "ps_flux" not in manifest["schema"]:
            raise ValueError("the known-source template fit needs a dataset that stores ps_flux")
        flux, _ = load_arrays(data_dir, split, inputs="ps_flux", targets=names, manifest=manifest, verify=False)
        background = gc.separable_filter(flux[..., 0].astype(np.float64), gc.psf_kernel_1d(gc.validate_params(params)))
        templates = {k: v for k, v in templates.items() if not k.startswith("ps_")}
    fit = poisson_template_fit(x[..., 0], templates, progress=progress, background=background)
    y_pred = np.stack([fit[AMPLITUDES[t]] for t in names], axis=1)
    info = ("Poisson maximum-likelihood fit of the dm, pi0 (the gas envelope times the mean of its log-normal factor), "
            "ic and bubbles templates, "
            "all amplitudes free and >= 0, "
            + ("the point sources known (their blurred flux map as a fixed background)" if known_sources
               else "plus two smooth point-source population templates with free amplitudes"))
    return y, y_pred, names, info


REFERENCES = {
    "poisson_template_fit": galactic_center_template_fit,
    "poisson_template_fit_known_sources": lambda *a, **k: galactic_center_template_fit(*a, known_sources=True, **k),
}


def poisson_cramer_rao(templates: np.ndarray, amplitudes: np.ndarray, background: np.ndarray | float = 0.0) -> np.ndarray:
    """Cramer-Rao standard errors of the amplitudes ``A`` of ``mu = A @ templates + background`` from
    one Poisson counts map: ``sqrt(diag(F^-1))`` with ``F = T diag(1/mu) T^T``.

    Args: templates (K, P) or (K, H, W); amplitudes (K,) the true values; background (P,) or scalar.
    """
    T = np.asarray(templates, np.float64).reshape(len(templates), -1)
    mu = np.asarray(amplitudes, np.float64) @ T + np.asarray(background, np.float64).ravel()
    if (mu <= 0).any():
        raise ValueError("poisson_cramer_rao: the expected counts must be positive in every pixel")
    return np.sqrt(np.diag(np.linalg.inv((T / mu) @ T.T)))


def galactic_center_fisher(n_images: int = 200, n_cov: int = 16384, seed: int = 0, chunk: int = 1024,
                           progress: bool = False, **params) -> dict:
    """Fisher (Cramer-Rao) errors on the galactic-centre amplitudes, in three states of knowledge.

    * ``known_maps``: the exact Poisson Cramer-Rao bound when every map is known except the four
      diffuse amplitudes (the image's own gas realisation and point-source map given): F = T diag(1/mu) T^T.
      No unbiased estimator can do better; it is the floor set by photon noise alone.
    * ``gaussian_unknown_gas``: the point sources known (the image's own blurred flux map), the gas
      field unknown: the gas template is its mean and its pixel covariance (estimated from ``n_cov``
      simulated maps, Hartlap-corrected) joins the Poisson variance: C = diag(mu) + A_pi0^2 S_gas,
      F = T C^-1 T^T.
    * ``gaussian_unknown_fields``: the gas field and the point sources unknown: C = diag(mu) +
      A_pi0^2 S_gas + S_ps, with the point sources' mean map in mu.

    The last two are Gaussian approximations, not bounds: a network may use the fields' non-Gaussian
    shape (log-normal gas, discrete sources) to do better. All are evaluated for ``n_images`` fresh
    images drawn from the simulator's prior. Returns, per state and amplitude, the mean standard error
    ``sigma_mean`` and what an efficient unbiased estimator would reach: ``mae`` = E|d| = sqrt(2/pi)
    mean(sigma); ``mae_scaled`` = mae / (high - low) with the amplitude's prior range (the metric set
    beside the seed's numbers, ``kzoo.evaluate.regression_metrics``); ``relative_error`` = mae / mean(A).
    """
    from scipy.linalg import cholesky, solve_triangular
    from tqdm.auto import tqdm

    from kzoo.sims import galactic_center as gc

    p = gc.validate_params(params)
    if p["rotate"]:
        raise ValueError("galactic_center_fisher: rotate must be False (fixed templates are needed)")
    npix = int(p["npix"])
    P = npix * npix
    sums = {k: np.zeros(P) for k in ("gas", "ps")}
    prods = {k: np.zeros((P, P)) for k in ("gas", "ps")}
    done = 0
    with tqdm(total=n_cov, disable=not progress, desc="field covariance", unit="img") as bar:
        for i, start in enumerate(range(0, n_cov, chunk)):
            m = min(chunk, n_cov - start)
            comp = gc.simulate(np.random.default_rng([seed, 0, i]), m, components=True, **params)["components"]
            for k, j in (("gas", 1), ("ps", 4)):
                x = comp[:, j].reshape(m, P).astype(np.float64)
                sums[k] += x.sum(axis=0)
                prods[k] += x.T @ x
            done += m
            bar.update(m)
    mean = {k: sums[k] / done for k in sums}
    hartlap = (done - P - 2) / (done - 1)
    if hartlap <= 0:
        raise ValueError(f"galactic_center_fisher: n_cov must exceed the {P} pixels (got {n_cov})")
    cov = {k: (prods[k] - done * np.outer(mean[k], mean[k])) / (done - 1) for k in prods}
    del prods

    sim = gc.simulate(np.random.default_rng([seed, 1]), n_images, components=True, **params)
    comp, amps = sim["components"].reshape(n_images, 5, P).astype(np.float64), sim["labels"][:, :4].astype(np.float64)
    mean_t = gc.mean_templates(**params)
    T_mean = np.stack([mean_t["dm"].ravel(), mean["gas"], mean_t["ic"].ravel(), mean_t["bubbles"].ravel()])
    states = ("known_maps", "gaussian_unknown_gas", "gaussian_unknown_fields")
    sigma = {state: np.zeros((n_images, 4)) for state in states}

    def gaussian_sigma(C):
        W = solve_triangular(cholesky(C, lower=True, overwrite_a=True), T_mean.T, lower=True)  # L^-1 T^T
        return np.sqrt(np.diag(np.linalg.inv(hartlap * (W.T @ W))))

    for i in tqdm(range(n_images), disable=not progress, desc="fisher", unit="img"):
        sigma["known_maps"][i] = poisson_cramer_rao(comp[i, :4], amps[i], comp[i, 4])
        sigma["gaussian_unknown_gas"][i] = gaussian_sigma(
            np.diag(amps[i] @ T_mean + comp[i, 4]) + amps[i, 1] ** 2 * cov["gas"])
        sigma["gaussian_unknown_fields"][i] = gaussian_sigma(
            np.diag(amps[i] @ T_mean + mean["ps"]) + amps[i, 1] ** 2 * cov["gas"] + cov["ps"])
    width = float(np.subtract(*p["amplitude_range"][::-1]))
    out = {"n_images": n_images, "n_cov": done, "hartlap_factor": hartlap, "seed": seed, "params": params,
           "amplitude_range": list(map(float, p["amplitude_range"]))}
    for state, s in sigma.items():
        mae = np.sqrt(2 / np.pi) * s.mean(axis=0)  # E|d| of an unbiased Gaussian estimator
        out[state] = {name: {"sigma_mean": float(s[:, j].mean()), "mae": float(mae[j]),
                             "mae_scaled": float(mae[j] / width) if width > 0 else float("nan"),
                             "relative_error": float(mae[j] / amps[:, j].mean())}
                      for j, name in enumerate(AMPLITUDES)}  # dm, pi0, ic, bubbles: the components' order
    return out
