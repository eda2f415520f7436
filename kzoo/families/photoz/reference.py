"""Seed 001 C's tree models of photometric redshifts: a random forest and gradient-boosted trees."""

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


REFERENCES = {"random_forest": tree_photoz_reference,
              "gradient_boosting": lambda *a, **k: tree_photoz_reference(*a, kind="gradient_boosting", **k)}
ESTIMATES = {"random_forest": {"photometry": ("z",)}, "gradient_boosting": {"photometry": ("z",)}}
