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
        p = gc.validate_params(params)
        psf = gc.gaussian_kernel_1d(p["psf_sigma_deg"] / (2 * p["half_width_deg"] / p["npix"]), int(p["psf_size"]))
        background = gc.separable_filter(flux[..., 0].astype(np.float64), psf)
        templates = {k: v for k, v in templates.items() if not k.startswith("ps_")}
    fit = poisson_template_fit(x[..., 0], templates, progress=progress, background=background)
    y_pred = np.stack([fit[AMPLITUDES[t]] for t in names], axis=1)
    info = ("Poisson maximum-likelihood fit of the dm, pi0 (mean log-normal gas), ic and bubbles templates, "
            "all amplitudes free and >= 0, "
            + ("the point sources known (their blurred flux map as a fixed background)" if known_sources
               else "plus two smooth point-source population templates with free amplitudes"))
    return y, y_pred, names, info


REFERENCES = {
    "poisson_template_fit": galactic_center_template_fit,
    "poisson_template_fit_known_sources": lambda *a, **k: galactic_center_template_fit(*a, known_sources=True, **k),
}
