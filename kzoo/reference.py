"""Classical references that stand next to the networks: what an astronomer would do first, and the
physical limits (Fisher / Cramer-Rao bounds) that no unbiased estimator can beat.

``poisson_template_fit`` fits non-negative template amplitudes to counts maps by maximising the
Poisson likelihood (a projected Newton method, vectorised over the images). ``sersic_lbfgs_fit`` fits the GalSim
Sersic model of seed 003 to one image (L-BFGS-B, chi^2 weighted by the data as the seed did).
``REFERENCES`` maps an experiment's ``reference_method`` to a function
``(manifest, data_dir, split, targets, progress=...) -> (y_true, y_pred, names, description)``;
``ESTIMATES`` lists the targets each one estimates (``estimated_targets(method, sky)``).

Bounds: ``poisson_cramer_rao`` and ``galactic_center_fisher`` (galactic centre); ``fisher_matrix``
(any model, derivatives by central differences), ``sersic_fisher`` and ``sersic_crb_for`` (Sersic).
"""

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
    from tqdm.auto import tqdm

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
    with tqdm(total=len(c), disable=not progress, desc="template fit", unit="img") as bar, \
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
    from kzoo.data.pipeline import load_arrays
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
    from tqdm.auto import tqdm

    from kzoo.families.gc import sky as gc

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


# Sersic galaxies (seed 003): Fisher / Cramer-Rao bound of GalSim's model and the seed's L-BFGS-B fit.

SERSIC_PARAMS = ("flux", "n", "re", "g1", "g2")
# The simulator's prior box: flux 1e5 x U(0.3, 4), n U(0.5, 6), re U(0.1, 0.6) arcsec, |g| < 0.67.
SERSIC_PRIOR = {"flux": (3e4, 4e5), "n": (0.5, 6.0), "re": (0.1, 0.6), "g1": (-0.67, 0.67), "g2": (-0.67, 0.67)}
# The seed's fixed test galaxy and its Cramer-Rao table at SNR 60 (typed into the seed, not computed; SNR 30: twice).
SERSIC_FIXED_GALAXY = {"flux": 1e5, "n": 3.0, "re": 0.3, "g1": -0.069, "g2": 0.15, "psf_fwhm": 0.5}
SERSIC_SEED_CRB_SNR60 = {"flux": 0.056e5, "n": 0.78, "re": 0.028, "g1": 0.054, "g2": 0.054}


def _central_differences(model_fn, theta, steps):
    """``mu = model_fn(theta)`` and its derivatives ``(k, ...)`` by central differences, plus the
    model at ``theta +- steps`` (``(k, ...)`` each): 2k + 1 calls of ``model_fn``."""
    theta = np.asarray(theta, np.float64)
    steps = np.asarray(steps, np.float64)
    mu = np.asarray(model_fn(theta), np.float64)
    plus, minus = [], []
    for a, h in enumerate(steps):
        e = np.zeros_like(theta)
        e[a] = h
        plus.append(np.asarray(model_fn(theta + e), np.float64))
        minus.append(np.asarray(model_fn(theta - e), np.float64))
    plus, minus = np.stack(plus), np.stack(minus)
    h = (2 * steps).reshape((-1,) + (1,) * mu.ndim)
    return mu, (plus - minus) / h, plus, minus


def fisher_matrix(model_fn, theta, variance, steps) -> dict:
    """Fisher matrix of the parameters ``theta`` of a mean image ``mu = model_fn(theta)`` observed with
    independent Gaussian pixel noise of variance ``variance``: an array or a scalar (fixed), or a
    function of ``mu`` (e.g. ``lambda mu: mu + sigma**2`` for Poisson counts plus read-out noise).

    ``fisher``: F_ab = sum_i (d mu_i/d a)(d mu_i/d b) / v_i, derivatives by central differences of
    step ``steps[a]`` (2k + 1 calls of ``model_fn``). ``fisher_variance_term``: the Gaussian
    likelihood's second term 0.5 tr(C^-1 dC/da C^-1 dC/db) = 0.5 sum_i (d v_i/d a)(d v_i/d b) / v_i^2,
    zero for a fixed variance. For Poisson counts (v = mu) the first term alone is the exact Fisher
    matrix: the second is information a Gaussian of that variance would carry and Poisson does not.

    Returns a dict: fisher, fisher_variance_term (k, k), mu, jacobian (k, ...), variance.
    """
    mu, jac, plus, minus = _central_differences(model_fn, theta, steps)
    k = len(jac)
    J = jac.reshape(k, -1)
    if callable(variance):
        v = np.asarray(variance(mu), np.float64).ravel()
        dv = np.stack([np.asarray(variance(p), np.float64).ravel() - np.asarray(variance(m), np.float64).ravel()
                       for p, m in zip(plus, minus)]) / (2 * np.asarray(steps, np.float64))[:, None]
        extra = 0.5 * (dv / v**2) @ dv.T
    else:
        v = np.broadcast_to(np.asarray(variance, np.float64), mu.shape).ravel()
        extra = np.zeros((k, k))
    if (v <= 0).any():
        raise ValueError("fisher_matrix: the pixel variance must be positive everywhere")
    return {"fisher": (J / v) @ J.T, "fisher_variance_term": extra, "mu": mu, "jacobian": jac,
            "variance": v.reshape(mu.shape)}


def covariance_bound(fisher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(covariance, sigma): the Cramer-Rao covariance F^-1 and sqrt(diag(F^-1)), inverted with the
    diagonal scaled out (the parameters' units differ by 1e6: flux in counts, shear ~ 0.1)."""
    d = 1 / np.sqrt(np.diag(fisher))
    cov = np.linalg.inv(fisher * d[:, None] * d[None, :]) * d[:, None] * d[None, :]
    return cov, np.sqrt(np.diag(cov))


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
    from tqdm.auto import tqdm

    if not hasattr(labels, "keys"):
        if names is None:
            from kzoo.families.sersic.sky import LABELS as names
        arr = np.asarray(labels, np.float64)
        labels = {k: arr[:, j] for j, k in enumerate(names)}
    cols = {k: np.asarray(labels[k], np.float64) for k in (*SERSIC_PARAMS, "psf_fwhm", "sigma")}
    out = np.zeros((len(cols["flux"]), len(SERSIC_PARAMS)))
    for i in tqdm(range(len(out)), disable=not progress, desc="sersic CRB", unit="img"):
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
        mu, jac, _, _ = _central_differences(model, theta, sersic_steps(theta))
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
    from tqdm.auto import tqdm

    from kzoo.data.pipeline import dataset

    names = [t for t in targets if t in SERSIC_PARAMS]
    if not names:
        raise ValueError(f"the Sersic L-BFGS-B fit estimates {list(SERSIC_PARAMS)}, not {list(targets)}")
    params = manifest["recipe"].get("params", {})
    labels = [*SERSIC_PARAMS, "psf_fwhm", "sigma"]
    xs, ys = [], []
    for x, y in dataset(data_dir, split, inputs="image", targets=labels, shuffle=False, manifest=manifest,
                        verify=False, batch_size=max(1, min(64, max_images))):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        if sum(map(len, xs)) >= max_images:
            break
    x, y = np.concatenate(xs)[:max_images, ..., 0], np.concatenate(ys)[:max_images].astype(np.float64)
    fits = [sersic_lbfgs_fit(x[i], y[i, 6], y[i, 5], pixel_scale=params.get("pixel_scale"),
                             psf_beta=params.get("psf_beta"), maxiter=maxiter)
            for i in tqdm(range(len(x)), disable=not progress, desc="sersic L-BFGS-B", unit="img")]
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
    from kzoo.data.pipeline import load_arrays

    if "log_m500" not in targets:
        raise ValueError(f"the luminosity mass estimate gives log_m500, not {list(targets)}")
    x, y = load_arrays(data_dir, split, inputs="counts", targets=["log_m500"], manifest=manifest, verify=False)
    pred = cluster_luminosity_mass(x[..., 0].astype(np.float64), manifest["recipe"].get("params", {}))
    return y, pred[:, None], ["log_m500"], (
        "log10 M500 from the counts within the projected R500 (background subtracted), turned into L_X and the "
        "recipe's mean L-M relation inverted, R500 iterated to convergence (no core excision)")


def _train_and_split_images(manifest: dict, data_dir, split: str, targets, feature: str | None = None):
    """A stored array (``feature``, default the first) and ``targets`` of the training split and of ``split``,
    each example flattened."""
    from kzoo.data.pipeline import load_arrays

    image = feature or next(k for k in manifest["schema"] if k != "labels")
    x_train, y_train = load_arrays(data_dir, "train", inputs=image, targets=list(targets), manifest=manifest,
                                   verify=False)
    x, y = load_arrays(data_dir, split, inputs=image, targets=list(targets), manifest=manifest, verify=False)
    return x_train.reshape(len(x_train), -1), y_train, x.reshape(len(x), -1), y


def _classify_each(make, f_train: np.ndarray, y_train: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per column of the class labels ``y_train``: a fresh classifier ``make()`` fitted on ``f_train``, its
    predictions on ``f`` (a label with one class in training is that class, as no classifier fits it)."""
    out = []
    for j in range(y_train.shape[1]):
        y = y_train[:, j].astype(int)
        out.append(np.full(len(f), y[0]) if np.all(y == y[0]) else make().fit(f_train, y).predict(f))
    return np.stack(out, axis=1).astype(np.float64)


def _sklearn(method: str):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(f"the classical reference {method} needs scikit-learn: pip install scikit-learn (or "
                          "kzoo[tune]); kzoo train --no-reference skips it") from None


def pca_svm_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False, components: int = 50):
    """Seed 001 F's classical ring counter (and seed 004's first attempt): the images' top ``components``
    principal components (PCA fitted on the training split) separated by a linear support-vector machine
    (scikit-learn's SVC, linear kernel, C = 1) trained on the training split, one per class label in
    ``targets``; its class predictions on ``split``. (y_true, y_pred, names, info)."""
    _sklearn("pca_svm")
    from sklearn.decomposition import PCA
    from sklearn.svm import SVC

    x_train, y_train, x, y = _train_and_split_images(manifest, data_dir, split, targets)
    k = min(components, x_train.shape[1], len(x_train))
    pca = PCA(n_components=k, random_state=0).fit(x_train)
    f_train, f = pca.transform(x_train), pca.transform(x)
    pred = _classify_each(lambda: SVC(kernel="linear", C=1.0), f_train, y_train, f)
    return y, pred, list(targets), (
        f"the top {pca.n_components_} principal components of the pixels (PCA fitted on the {len(x_train)} training "
        f"images, {float(np.sum(pca.explained_variance_ratio_)):.1%} of the variance) separated by a linear SVM "
        "(scikit-learn SVC, C = 1) trained on the same images, as seed 001 F's PCA + SVM")


def power_spectrum_features(maps: np.ndarray, bins: int = 12) -> np.ndarray:
    """Per map (n, H, W): its mean and log10 of its azimuthally averaged power spectrum P(k) = <|FFT(map -
    mean)|^2> / (H W) in ``bins`` linear bins of |k| from the fundamental to the Nyquist frequency; (n, 1 + bins).
    A map without fluctuations (a fully ionised box) has P = 0, written as log10 of 1e-12."""
    maps = np.asarray(maps, np.float64)
    n, h, w = maps.shape[:3]
    maps = maps.reshape(n, h, w)
    mean = maps.mean(axis=(1, 2))
    power = np.abs(np.fft.fft2(maps - mean[:, None, None])) ** 2 / (h * w)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij"))
    edges = np.linspace(1.0, min(h, w) / 2, bins + 1)
    which = np.digitize(k, edges) - 1
    spec = np.stack([power[:, (which == b)].mean(axis=1) for b in range(bins)], axis=1)
    return np.concatenate([mean[:, None], np.log10(spec + 1e-12)], axis=1)


def power_spectrum_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False, bins: int = 12):
    """Is the information in the power spectrum? The map's mean and log10 P(k) in ``bins`` bins
    (:func:`power_spectrum_features`), standardised, classified by a multinomial logistic regression
    (scikit-learn, C = 1) trained on the training split, one per class label in ``targets``; its predictions on
    ``split``. (y_true, y_pred, names, info)."""
    _sklearn("power_spectrum_logreg")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, x, y = _train_and_split_images(manifest, data_dir, split, targets)
    side = int(round(np.sqrt(x_train.shape[1])))
    f_train = power_spectrum_features(x_train.reshape(-1, side, side), bins)
    f = power_spectrum_features(x.reshape(-1, side, side), bins)
    pred = _classify_each(lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
                          f_train, y_train, f)
    return y, pred, list(targets), (
        f"the map's mean and log10 of its azimuthally averaged power spectrum in {bins} bins of |k| (fundamental to "
        f"Nyquist), standardised, classified by a multinomial logistic regression (scikit-learn, C = 1) trained on "
        f"the {len(x_train)} training maps: how much of the answer the mean and the power spectrum alone hold")


def tree_photoz_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                          kind: str = "random_forest", feature: str = "mags_colours", trees: int = 200):
    """Seed 001 C's winners: a random forest (scikit-learn RandomForestRegressor, ``trees`` (200) trees, leaves of at least 2,
    all features tried at each split: the seed's PyCaret default) or gradient-boosted trees (scikit-learn
    HistGradientBoostingRegressor, LightGBM's algorithm: 1,000 iterations at most, learning rate 0.05, early
    stopping on 10 % of the training split), fitted on the training split's ``feature`` (magnitudes and all
    colours) for each target; its predictions on ``split``. (y_true, y_pred, names, info)."""
    _sklearn(kind)
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    x_train, y_train, x, y = _train_and_split_images(manifest, data_dir, split, targets, feature)
    pred = []
    for j in range(y_train.shape[1]):
        if kind == "random_forest":
            m = RandomForestRegressor(n_estimators=trees, min_samples_leaf=2, n_jobs=-1, random_state=0)
        else:
            m = HistGradientBoostingRegressor(max_iter=1000, learning_rate=0.05, early_stopping=True,
                                              validation_fraction=0.1, random_state=0)
        pred.append(m.fit(x_train, y_train[:, j]).predict(x))
    what = (f"a random forest ({trees} trees, min 2 per leaf)" if kind == "random_forest" else
            "gradient-boosted trees (HistGradientBoostingRegressor, lr 0.05, early stopping)")
    return y, np.stack(pred, axis=1), list(targets), (
        f"{what} on the {x.shape[1]} numbers of '{feature}' (scikit-learn), fitted on the {len(x_train)} training "
        "galaxies, as seed 001 C's best models")


def pca_anomaly_scorer(x_train: np.ndarray, components: int = 32, block: int = 4):
    """Seed 002's classical counterpart of a Deep SVDD: each image globally contrast-normalised (L1, as the network
    sees it) and block-averaged ``block`` x ``block`` (256 x 256 -> 64 x 64), a PCA of ``components`` fitted on
    the normal class's training images ``x_train``. Returns ``score(x)``: each image's squared reconstruction
    error from those components (higher: less like the normal class); ``components=0``: the squared distance to
    the normal class's mean image (the reconstruction that keeps no component)."""
    _sklearn("pca_anomaly")
    import keras
    from sklearn.decomposition import PCA

    from kzoo.layers import GlobalContrastNormalization

    def features(a):
        a = np.asarray(a, np.float32)
        a = a.reshape(len(a), a.shape[1], a.shape[2], -1)[..., :1]
        g = keras.ops.convert_to_numpy(GlobalContrastNormalization()(a))[..., 0].astype(np.float64)
        n, h, w = g.shape
        g = g[:, :h - h % block, :w - w % block].reshape(n, h // block, block, w // block, block).mean(axis=(2, 4))
        return g.reshape(n, -1)

    f_train = features(x_train)
    pca = PCA(n_components=min(components, *f_train.shape), random_state=0).fit(f_train) if components else None
    mean = f_train.mean(axis=0)

    def score(x: np.ndarray) -> np.ndarray:
        f = features(x)
        return np.sum((f - (pca.inverse_transform(pca.transform(f)) if pca else mean)) ** 2, axis=1)

    return score


REFERENCES = {
    "pca_svm": pca_svm_reference,  # kzoo.families.rings.experiments, kzoo.families.reionization.experiments
    "power_spectrum_logreg": power_spectrum_reference,  # kzoo.families.reionization.experiments
    "poisson_template_fit": galactic_center_template_fit,
    "poisson_template_fit_known_sources": lambda *a, **k: galactic_center_template_fit(*a, known_sources=True, **k),
    "sersic_lbfgs": sersic_lbfgs_reference,  # kzoo.families.sersic.experiments
    "luminosity_mass": cluster_luminosity_reference,  # kzoo.families.clusters.experiments
    "random_forest": tree_photoz_reference,  # kzoo.families.photoz.experiments
    "gradient_boosting": lambda *a, **k: tree_photoz_reference(*a, kind="gradient_boosting", **k),
}
# The targets each method estimates (all in one fit), by sky where it serves several: kzoo.evaluate caches them
# all per dataset and split, so that every experiment on the dataset reuses one fit whatever targets it names.
ESTIMATES = {"poisson_template_fit": tuple(AMPLITUDES), "poisson_template_fit_known_sources": tuple(AMPLITUDES),
             "sersic_lbfgs": SERSIC_PARAMS, "luminosity_mass": ("log_m500",),
             "pca_svm": {"rings": ("ring_class",), "reionization": ("z_class", "fesc_class")},
             "power_spectrum_logreg": {"reionization": ("z_class", "fesc_class")},
             "random_forest": {"photometry": ("z",)}, "gradient_boosting": {"photometry": ("z",)}}


def estimated_targets(method: str, sky: str) -> tuple[str, ...]:
    """The targets the classical ``method`` estimates on datasets of ``sky`` (``ESTIMATES``)."""
    found = ESTIMATES[method]
    if isinstance(found, dict):
        if sky not in found:
            raise ValueError(f"the classical reference {method} serves the skies {', '.join(found)}, not {sky}")
        return tuple(found[sky])
    return tuple(found)
