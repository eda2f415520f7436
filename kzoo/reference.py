"""Classical references that stand next to the networks: what an astronomer would do first, and the
physical limits (Fisher / Cramer-Rao bounds) that no unbiased estimator can beat.

Each family's ``reference`` module (``kzoo/families/<family>/reference.py``) declares ``REFERENCES``, its
methods, and ``ESTIMATES``, the targets each estimates; :func:`references` gathers them with the shared ones
here. A method is a function ``(manifest, data_dir, split, targets, progress=...) -> (y_true, y_pred, names,
description)``, named by an experiment's ``reference_method``; ``ESTIMATES`` maps it to the targets it
estimates (all in one fit), or, for a method that serves several skies, ``{sky: targets}``
(:func:`estimated_targets`).

Shared here: :func:`pca_svm_reference` (PCA + linear SVM of the pixels), the helpers a family's method is
built from, and :func:`fisher_matrix` (the Fisher matrix of any image model, derivatives by central
differences) with :func:`covariance_bound`.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("kzoo")


def central_differences(model_fn, theta, steps):
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
    mu, jac, plus, minus = central_differences(model_fn, theta, steps)
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


def train_and_split_images(manifest: dict, data_dir, split: str, targets, feature: str | None = None):
    """A stored array (``feature``, default the first) and ``targets`` of the training split and of ``split``,
    each example flattened."""
    from kzoo.data.reader import images_that_fit, load_arrays

    image = feature or next(k for k in manifest["schema"] if k != "labels")
    limit = images_that_fit(manifest, "train", image)  # a training split too big for memory: its first images
    if limit is not None:
        if limit == 0:
            from kzoo.data.shards import DataError

            raise DataError(f"{data_dir}: not one record of the training split fits in memory for the classical "
                            "reference; train with --no-reference")
        log.warning(f"kzoo: the classical reference is fitted on the first {limit:,} of the "
                    f"{manifest['splits']['train']['count']:,} training images: all of them would not fit in the "
                    "memory this process may use")
    x_train, y_train = load_arrays(data_dir, "train", inputs=image, targets=list(targets), manifest=manifest,
                                   verify=False, limit=limit)
    x, y = load_arrays(data_dir, split, inputs=image, targets=list(targets), manifest=manifest, verify=False)
    return x_train.reshape(len(x_train), -1), y_train, x.reshape(len(x), -1), y


def classify_each(make, f_train: np.ndarray, y_train: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per column of the class labels ``y_train``: a fresh classifier ``make()`` fitted on ``f_train``, its
    predictions on ``f`` (a label with one class in training is that class, as no classifier fits it)."""
    out = []
    for j in range(y_train.shape[1]):
        y = y_train[:, j].astype(int)
        out.append(np.full(len(f), y[0]) if np.all(y == y[0]) else make().fit(f_train, y).predict(f))
    return np.stack(out, axis=1).astype(np.float64)


def require_sklearn(method: str):
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
    require_sklearn("pca_svm")
    from sklearn.decomposition import PCA
    from sklearn.svm import SVC

    x_train, y_train, x, y = train_and_split_images(manifest, data_dir, split, targets)
    k = min(components, x_train.shape[1], len(x_train))
    pca = PCA(n_components=k, random_state=0).fit(x_train)
    f_train, f = pca.transform(x_train), pca.transform(x)
    pred = classify_each(lambda: SVC(kernel="linear", C=1.0), f_train, y_train, f)
    return y, pred, list(targets), (
        f"the top {pca.n_components_} principal components of the pixels (PCA fitted on the {len(x_train)} training "
        f"images, {float(np.sum(pca.explained_variance_ratio_)):.1%} of the variance) separated by a linear SVM "
        "(scikit-learn SVC, C = 1) trained on the same images, as seed 001 F's PCA + SVM")


REFERENCES = {"pca_svm": pca_svm_reference}  # the shared methods; the families' are in their reference modules
ESTIMATES: dict = {}  # pca_svm's targets are declared by the families that use it, per sky


def references() -> tuple[dict, dict]:
    """``(REFERENCES, ESTIMATES)`` of kzoo and of every family (see kzoo.families): ``{method: function}`` and
    ``{method: targets or {sky: targets}}``."""
    from kzoo.families import parts

    methods, estimates = dict(REFERENCES), dict(ESTIMATES)
    for family, module in parts("reference").items():
        for name, fn in getattr(module, "REFERENCES", {}).items():
            if name in methods:
                raise ImportError(f"the classical reference {name!r} is declared twice (family {family})")
            methods[name] = fn
        for name, found in getattr(module, "ESTIMATES", {}).items():
            if isinstance(found, dict):
                estimates[name] = {**estimates.get(name, {}), **found}
            else:
                estimates[name] = tuple(found)
    return methods, estimates


def estimated_targets(method: str, sky: str) -> tuple[str, ...]:
    """The targets the classical ``method`` estimates on datasets of ``sky`` (the families' ``ESTIMATES``)."""
    found = references()[1][method]
    if isinstance(found, dict):
        if sky not in found:
            raise ValueError(f"the classical reference {method} serves the skies {', '.join(found)}, not {sky}")
        return tuple(found[sky])
    return tuple(found)
