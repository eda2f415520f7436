"""Seed 001 C's classical photometric redshifts: a random forest, gradient-boosted trees and support-vector
regression, and the template fit that photo-z codes (EAZY, LePhare) are built on."""

from __future__ import annotations

import numpy as np

from kzoo.reference import require_sklearn, train_and_split_images


def tree_photoz_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                          kind: str = "random_forest", feature: str = "mags_colours", trees: int = 200):
    """Seed 001 C's winners: a random forest (scikit-learn RandomForestRegressor, ``trees`` (200) trees, leaves of at least 2,
    all features tried at each split: the seed's PyCaret default) or gradient-boosted trees (scikit-learn
    HistGradientBoostingRegressor, LightGBM's algorithm: 1,000 iterations at most, learning rate 0.05, early
    stopping on 10 % of the training split), fitted on the training split's ``feature`` (magnitudes and all
    colours) for each target; its predictions on ``split``. (y_true, y_pred, names, info)."""
    require_sklearn(kind)
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    x_train, y_train, x, y = train_and_split_images(manifest, data_dir, split, targets, feature)
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


def svr_photoz_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                         feature: str = "mags_colours"):
    """Seed 001 C's support-vector regression: scikit-learn's SVR at its defaults (RBF kernel, C = 1, epsilon = 0.1,
    gamma "scale"; PyCaret's too) on the training split's ``feature`` standardised, fitted on every training galaxy
    (40,000 take ~20 s on 2 cores); its predictions on ``split``. (y_true, y_pred, names, info)."""
    require_sklearn("svr")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    x_train, y_train, x, y = train_and_split_images(manifest, data_dir, split, targets, feature)
    pred = [make_pipeline(StandardScaler(), SVR()).fit(x_train, y_train[:, j]).predict(x)
            for j in range(y_train.shape[1])]
    return y, np.stack(pred, axis=1), list(targets), (
        f"support-vector regression (scikit-learn SVR at its defaults: RBF kernel, C = 1, epsilon = 0.1) on the "
        f"{x.shape[1]} standardised numbers of '{feature}', fitted on the {len(x_train)} training galaxies, as seed "
        "001 C's SVR")


def template_fit_reference(manifest: dict, data_dir, split: str, targets, progress: bool = False,
                           z_step: float = 0.005, type_step: float = 0.05, chunk: int = 200):
    """A chi-square template fit, as photo-z codes do it (EAZY-like, without EAZY's priors): every galaxy's six
    observed fluxes against the CWW templates through the LSST bandpasses (the sky's own K-correction tables,
    :func:`kzoo.families.photoz.sky.band_flux_ratios`) on a grid of redshift (``z_step``) and template mix
    (``type_step``, neighbouring templates mixed in flux as the sky mixes them), the amplitude fitted analytically
    for each grid point; the redshift of the least chi-square. Each band's error is the sky's: the depth's
    background noise and the 0.005 mag calibration floor. A flux reported at its 1-sigma limit (a non-detection)
    is fitted as that flux. Nothing is fitted to the training split: the templates are the model, so this is the
    baseline a network must beat with the same photometry. (y_true, y_pred, names, info)."""
    from kzoo.data.reader import load_arrays
    from kzoo.families.photoz import sky

    if list(targets) != ["z"]:
        raise ValueError(f"the template fit estimates the redshift 'z' only, not {list(targets)}")
    params = sky.validate_params(manifest["recipe"].get("params", {}))
    z0, z1 = (float(v) for v in params["z_range"])
    t0, t1 = (float(v) for v in params["type_range"])
    mags, y = load_arrays(data_dir, split, inputs="mags", targets=["z"], manifest=manifest, verify=False)
    mags = mags.reshape(len(mags), -1)  # (n, 6): the pipeline gives the model's (n, 6, 1)
    zg = np.arange(max(z0, z_step), z1 + z_step / 2, z_step)
    tg = np.arange(t0, t1 + type_step / 2, type_step)
    zz, tt = (a.ravel() for a in np.meshgrid(zg, tg, indexing="ij"))
    model = sky.band_flux_ratios(zz, tt, z1)  # (grid, 6)
    m5 = np.array([sky.DEPTH_10YR[b] for b in sky.BANDS]) + 1.25 * np.log10(params["years"] / 10.0)
    flux = 10.0 ** (-0.4 * mags.astype(np.float64))
    var = (10.0 ** (-0.4 * m5) / 5.0) ** 2 + (flux * 0.4 * np.log(10.0) * sky.CALIBRATION_MAG) ** 2
    best = np.empty(len(flux))
    for a in range(0, len(flux), chunk):
        f, w = flux[a:a + chunk, None, :], 1.0 / var[a:a + chunk, None, :]  # (c, 1, 6)
        amp = (f * model * w).sum(-1) / (model * model * w).sum(-1)  # (c, grid): the best amplitude, analytic
        chi2 = ((f - amp[..., None] * model) ** 2 * w).sum(-1)
        best[a:a + chunk] = zz[np.argmin(chi2, axis=1)]
    return y, best[:, None], ["z"], (
        f"a chi-square fit of the CWW templates through the LSST bandpasses on {len(zg)} redshifts x {len(tg)} "
        f"template mixes (EAZY-like, no prior), on the six magnitudes of the {len(flux)} galaxies; nothing fitted to "
        "the training split")


REFERENCES = {"random_forest": tree_photoz_reference, "template_fit": template_fit_reference,
              "svr": svr_photoz_reference,
              "gradient_boosting": lambda *a, **k: tree_photoz_reference(*a, kind="gradient_boosting", **k)}
ESTIMATES = {"random_forest": {"photometry": ("z",)}, "gradient_boosting": {"photometry": ("z",)},
             "template_fit": {"photometry": ("z",)}, "svr": {"photometry": ("z",)}}
