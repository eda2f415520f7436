"""Classical references that stand next to the networks: what an astronomer would do first.

``poisson_template_fit`` fits non-negative template amplitudes to a counts map by maximising the
Poisson likelihood (L-BFGS-B with the analytic gradient). ``REFERENCES`` maps an experiment's
``reference_method`` to a function ``(manifest, data_dir, split, targets) -> (y_true, y_pred, info)``.
"""

from __future__ import annotations

import numpy as np


def poisson_template_fit(counts: np.ndarray, templates: dict[str, np.ndarray], progress: bool = False,
                         x0: float = 0.5) -> dict[str, np.ndarray]:
    """Maximum-likelihood amplitudes ``A >= 0`` of ``mu = sum_k A_k T_k`` for each image of ``counts``.

    Args:
        counts: (n, H, W) observed counts.
        templates: name -> (H, W) expected counts at amplitude 1 (already PSF-blurred).
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
    out = np.zeros((len(c), len(names)))
    for i in tqdm(range(len(c)), disable=not progress, desc="template fit", unit="img"):
        ci = c[i]

        def nll(a):
            mu = Tn @ a + 1e-12
            return float(mu.sum() - ci @ np.log(mu)), Tn.sum(axis=0) - Tn.T @ (ci / mu)

        a0 = np.full(len(names), max(ci.sum(), 1.0) / len(names)) * x0 * 2
        res = minimize(nll, a0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(names),
                       options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
        out[i] = res.x / scale
    return {k: out[:, j] for j, k in enumerate(names)}


def galactic_center_template_fit(manifest: dict, data_dir, split: str, targets, progress: bool = False):
    """Fit all diffuse amplitudes at once, point sources absorbed into two smooth population templates."""
    from kzoo.data.pipeline import load_arrays
    from kzoo.sims import galactic_center as gc

    names = {"A_dm": "dm", "A_pi0": "pi0", "A_ic": "ic", "A_bubbles": "bubbles"}
    bad = [t for t in targets if t not in names]
    if bad:
        raise ValueError(f"the galactic-centre template fit estimates {sorted(names)}, not {bad}")
    x, y = load_arrays(data_dir, split, inputs="counts", targets=list(targets), manifest=manifest, verify=False)
    fit = poisson_template_fit(x[..., 0], gc.mean_templates(**manifest["recipe"]["params"]), progress=progress)
    y_pred = np.stack([fit[names[t]] for t in targets], axis=1)
    info = ("Poisson maximum-likelihood fit of the dm, pi0 (mean log-normal gas), ic and bubbles templates "
            "plus two smooth point-source population templates, all amplitudes free and >= 0")
    return y, y_pred, info


REFERENCES = {"poisson_template_fit": galactic_center_template_fit}
