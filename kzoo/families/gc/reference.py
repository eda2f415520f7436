"""Classical references of the Galactic-centre sky: the Poisson template fit of the amplitudes (a projected Newton
method, vectorised over the images) and the Fisher / Cramer-Rao bounds of the amplitudes."""

from __future__ import annotations

import numpy as np


def poisson_template_fit(counts: np.ndarray, templates: dict[str, np.ndarray], progress: bool = False,
                         x0: float = 0.5, background: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Maximum-likelihood amplitudes ``A >= 0`` of ``mu = sum_k A_k T_k + B`` for each image of ``counts``.

    The Poisson NLL ``sum(mu - counts log mu)`` is convex in ``A``; a projected Newton method
    (:func:`_poisson_newton`) minimises it for a block of ``FIT_BLOCK`` images at once, to round-off.
    No image's fit depends on another's; the same input gives the same bytes.

    Args:
        counts: (n, H, W) observed counts.
        templates: name -> (H, W) expected counts at amplitude 1 (already PSF-blurred).
        progress: a tqdm bar over the images.
        x0: each amplitude starts at ``2 x0 / K`` of the image's total counts (in units of its template's total).
        background: optional (n, H, W) known expected counts per image (e.g. resolved point sources).
    Returns:
        name -> (n,) fitted amplitudes.
    """
    from threadpoolctl import threadpool_limits
    from kzoo.progress import bar as progress_bar

    if not x0 > 0:
        raise ValueError(f"poisson_template_fit: x0 must be > 0 (the start, a fraction of each image's counts), got {x0}")
    names = list(templates)
    T = np.stack([np.asarray(templates[k], np.float64).ravel() for k in names], axis=1)  # (P, K)
    if not np.isfinite(T).all() or (T < 0).any():
        raise ValueError("poisson_template_fit: templates must be finite and non-negative")
    scale = T.sum(axis=0)
    if (scale <= 0).any():
        raise ValueError(f"poisson_template_fit: templates {[k for k, s in zip(names, scale) if s <= 0]} are zero "
                         f"everywhere; each needs positive expected counts somewhere")
    Tn = T / scale  # amplitudes in units of total counts: better conditioned
    c = np.asarray(counts, np.float64).reshape(len(counts), -1)
    if c.shape[1] != T.shape[0]:
        raise ValueError(f"poisson_template_fit: images have {c.shape[1]} pixels, templates {T.shape[0]}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("poisson_template_fit: counts must be finite and non-negative")
    if background is not None:
        background = np.asarray(background, np.float64).reshape(c.shape)
        if not np.isfinite(background).all() or (background < 0).any():
            raise ValueError("poisson_template_fit: background must be finite and non-negative expected counts")
    out = np.zeros((len(c), len(names)))
    # One BLAS thread: the products are thin (K columns); more threads gain nothing alone and cost 3-4x
    # beside a training job (measured on 2 cores).
    with progress_bar(total=len(c), disable=not progress, desc="template fit", unit="img") as bar, \
            threadpool_limits(1, user_api="blas"):
        for start in range(0, len(c), FIT_BLOCK):
            sl = slice(start, start + FIT_BLOCK)
            b = POISSON_EPS if background is None else background[sl] + POISSON_EPS
            a0 = np.repeat(np.maximum(c[sl].sum(axis=1, keepdims=True), 1.0) / len(names) * x0 * 2, len(names), 1)
            out[sl] = _poisson_newton(c[sl], b, Tn, a0)
            bar.update(len(a0))
    out /= scale
    return {k: out[:, j] for j, k in enumerate(names)}


FIT_BLOCK = 128  # images fitted at once by poisson_template_fit (~8 arrays of FIT_BLOCK x pixels in memory)


POISSON_EPS = 1e-12  # added to mu, so that a pixel of zero expected counts has a finite log


def poisson_nll(a: np.ndarray, counts: np.ndarray, templates: np.ndarray, background=0.0) -> np.ndarray:
    """The Poisson negative log-likelihood ``sum(mu - counts log mu)`` of each image (row), up to the
    constant ``sum log(counts!)``: ``mu = a @ templates.T + background + POISSON_EPS`` with a (n, K),
    counts (n, P), templates (P, K), background (n, P) or a scalar."""
    mu = a @ np.asarray(templates).T + background + POISSON_EPS
    return mu.sum(axis=1) - np.einsum("np,np->n", counts, np.log(mu))


def _poisson_newton(c, b, T, a, max_iter: int = 100):
    """Minimise the Poisson NLL of ``mu = a @ T.T + b`` over ``a >= 0`` for every image (row) of ``c`` at once.

    Projected Newton (Bertsekas 1982): amplitudes at (within eps of) 0 whose gradient pushes them
    below it form the active set and go to 0; the others take a Newton step; ``a + t d`` is projected
    on ``a >= 0`` and ``t`` lowered, per image, until the Armijo condition holds (:func:`_armijo`).
    Gradient and Hessian of all images in one matrix product each: g = sum_p T (1 - c / mu),
    H = T^T diag(c / mu^2) T. An image stops when its Newton decrement (g_F . H_FF^-1 g_F, plus g . a
    on the active set: twice the decrease the quadratic model predicts) falls below 1e-14 |NLL| (the
    sum's round-off), or when no step lowers the NLL (where the Newton step fails to, a diagonally
    scaled gradient step is tried first). ``b`` > 0 (it carries POISSON_EPS): (n, P) or a scalar.
    """
    K = a.shape[1]
    ones = T.sum(axis=0)  # the NLL's sum(mu) is a . ones + sum(b): no pass over the pixels
    iu = np.triu_indices(K)
    TT = T[:, iu[0]] * T[:, iu[1]]  # (P, K(K+1)/2): the Hessian's distinct entries in one product
    out, rows, a = np.empty_like(a), np.arange(len(a)), a.copy()
    bsum = b.sum(axis=1) if np.ndim(b) else np.full(len(a), b * T.shape[0])
    mu = a @ T.T
    mu += b
    f = a @ ones + bsum - np.einsum("np,np->n", c, np.log(mu))

    def take(*arrays, keep):
        return [x[keep] if np.ndim(x) else x for x in arrays]

    def retire(done, *more):
        """Write out the images that are done; go on with the others (and their rows of ``more``)."""
        nonlocal rows, a, f, mu, c, b, bsum
        out[rows[done]] = a[done]
        rows, a, f, mu, c, b, bsum = take(rows, a, f, mu, c, b, bsum, keep=~done)
        return take(*more, keep=~done)

    for _ in range(max_iter):
        r = c / mu
        g = ones - r @ T
        r /= mu
        h = r @ TT
        H = np.empty((len(a), K, K))
        H[:, iu[0], iu[1]] = h
        H[:, iu[1], iu[0]] = h
        w = np.linalg.norm(a - np.maximum(a - g, 0.0), axis=1, keepdims=True)  # the projected gradient's size
        active = (a <= np.minimum(w, 1e-9 * (1.0 + a.sum(axis=1, keepdims=True)))) & (g > 0)
        d = _newton_direction(H, g, active)
        d[active] = -a[active]  # the active amplitudes go to the bound at once
        # converged: the Newton decrement is round-off
        g, d, H = retire(-np.einsum("nk,nk->n", g, d) <= 1e-14 * np.abs(f), g, d, H)
        if not len(a):
            break
        a_new, f_new, mu_new, ok = _armijo(a, f, g, d, c, b, bsum, T, ones)
        if not ok.all():  # a projected Newton step that does not descend: a scaled gradient step instead
            bad = np.flatnonzero(~ok)
            hd = np.diagonal(H[bad], axis1=1, axis2=2)
            ab, fb, gb, cb, bb, bsb = take(a, f, g, c, b, bsum, keep=bad)
            a_new[bad], f_new[bad], mu_new[bad], ok[bad] = _armijo(ab, fb, gb, -gb / np.where(hd > 0, hd, 1.0),
                                                                   cb, bb, bsb, T, ones)
        a[ok], f[ok], mu[ok] = a_new[ok], f_new[ok], mu_new[ok]
        retire(~ok)  # no step lowers the NLL: a minimum to round-off
        if not len(a):
            break
    out[rows] = a
    return out


def _newton_direction(H, g, active):
    """Newton steps ``-H_FF^-1 g_F`` on each image's free amplitudes (0 on the active ones); a template
    under which the image gives no curvature (no counts) is stepped along minus its gradient."""
    K = H.shape[-1]
    eye = np.eye(K, dtype=bool)
    Hf = np.where(active[:, :, None] | active[:, None, :], 0.0, H)
    diag = np.diagonal(Hf, axis1=1, axis2=2)
    flat = diag <= 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
    Hf = np.where(eye & (active | flat)[:, :, None], 1.0, Hf)
    gf = np.where(active, 0.0, g)
    try:
        return -np.linalg.solve(Hf, gf[..., None])[..., 0]
    except np.linalg.LinAlgError:  # singular for some image: least squares, one image at a time
        return -np.stack([np.linalg.lstsq(Hi, gi, rcond=None)[0] for Hi, gi in zip(Hf, gf)])


def _armijo(a, f, g, d, c, b, bsum, T, ones, sigma: float = 1e-4, tries: int = 60):
    """Backtracking along the projected path ``max(a + t d, 0)`` per image: t = 1, then at least halved,
    and lowered further to the path's largest breakpoint below (where the next amplitude reaches 0; a
    long Newton step along two nearly degenerate templates would otherwise take many halvings to get
    back inside), until ``f(new) <= f + sigma g . (new - a)`` with ``g . (new - a) < 0``.
    Returns (a_new, f_new, mu_new, found); rows not found keep ``a`` and ``f`` (mu_new undefined there)."""
    a_new, f_new, mu_new = a.copy(), f.copy(), np.empty_like(c)
    found = np.zeros(len(a), bool)
    rows = np.arange(len(a))
    with np.errstate(divide="ignore", invalid="ignore"):
        breaks = np.where((d < 0) & (a > 0), a / -d, 0.0)  # t at which each amplitude reaches 0
    t = np.ones((len(a), 1))
    for _ in range(tries):
        trial = np.maximum(a + t * d, 0.0)
        mu = trial @ T.T
        mu += b
        ft = trial @ ones + bsum - np.einsum("np,np->n", c, np.log(mu))
        slope = np.einsum("nk,nk->n", g, trial - a)
        good = (ft <= f + sigma * slope) & (slope < 0)
        a_new[rows[good]], f_new[rows[good]], mu_new[rows[good]] = trial[good], ft[good], mu[good]
        found[rows[good]] = True
        if good.all():
            break
        keep = ~good  # only the images still searching go on
        rows, a, f, g, d, c, bsum, breaks, t = (x[keep] for x in (rows, a, f, g, d, c, bsum, breaks, t))
        b = b[keep] if np.ndim(b) else b
        below = np.where(breaks < t * (1 - 1e-12), breaks, 0.0).max(axis=1, keepdims=True)
        t = np.where((below > 0) & (below < 0.5 * t), below, 0.5 * t)
    return a_new, f_new, mu_new, found


AMPLITUDES = {"A_dm": "dm", "A_pi0": "pi0", "A_ic": "ic", "A_bubbles": "bubbles"}


def galactic_center_template_fit(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                                 known_sources: bool = False):
    """Fit all diffuse amplitudes at once; the point sources are either absorbed into two smooth
    population templates or (``known_sources``) known: their PSF-blurred flux map is a fixed background.

    Returns (y_true, y_pred, names, description) for the targets that are template amplitudes.
    """
    from kzoo.data.reader import load_arrays
    from kzoo.families.gc import sky as gc

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
    beside the seed's numbers, ``kzoo.metrics.regression_metrics``); ``relative_error`` = mae / mean(A).
    """
    from scipy.linalg import cholesky, solve_triangular
    from kzoo.progress import bar as progress_bar

    from kzoo.families.gc import sky as gc

    p = gc.validate_params(params)
    if p["rotate"]:
        raise ValueError("galactic_center_fisher: rotate must be False (fixed templates are needed)")
    npix = int(p["npix"])
    P = npix * npix
    sums = {k: np.zeros(P) for k in ("gas", "ps")}
    prods = {k: np.zeros((P, P)) for k in ("gas", "ps")}
    done = 0
    with progress_bar(total=n_cov, disable=not progress, desc="field covariance", unit="img") as bar:
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

    for i in progress_bar(range(n_images), disable=not progress, desc="fisher", unit="img"):
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


REFERENCES = {
    "poisson_template_fit": galactic_center_template_fit,
    "poisson_template_fit_known_sources": lambda *a, **k: galactic_center_template_fit(*a, known_sources=True, **k),
}
ESTIMATES = {"poisson_template_fit": tuple(AMPLITUDES), "poisson_template_fit_known_sources": tuple(AMPLITUDES),
             "pca_svm": {"galactic_center_noise": ("noise_kind",)}}  # the shared PCA + SVM on the noise classifier's maps
