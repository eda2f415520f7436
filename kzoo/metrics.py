"""Metrics of every task, as numpy functions of arrays: regression (with the seed's scaled MAE), coverage of
predicted sigmas, binned errors, ROC AUC, segmentation, denoising and classification."""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, names, ranges=None) -> dict:
    """Per target: the MAE of the [0, 1]-scaled target (the number set beside the seed's), MAE, RMSE,
    bias, the standard deviation of the errors, R^2 and three relative errors.

    * ``mae_scaled`` = mean|pred - true| / (high - low): the MAE of the targets min-max scaled to
      [0, 1] with the recipe's label range [low, high] (``kzoo.data.records.target_ranges``, as
      ``scale_targets`` scales them; a sum of labels adds the ranges). The seed's table says "mean
      relative error" without defining it, while its text judges the same results by their MAE on
      targets "normalized to be between 0 and 1"; the literal mean(|pred - true| / true) cannot give
      its numbers with A_dm uniform on [0, 1] (it diverges near 0). Its numbers are compared with this
      one. Only when ``ranges`` ((k, 2) lows and highs, in the order of ``names``) is given;
    * ``rmse`` = sqrt(mean (pred - true)^2) (seed 003's number), ``bias`` = mean(pred - true),
      ``std`` = the standard deviation of pred - true (so rmse^2 = bias^2 + std^2);
    * ``relative_error`` = mean|pred - true| / mean|true| (stable when true ~ 0);
    * ``mean_relative_error`` = mean(|pred - true| / |true|) over true != 0 (the literal formula,
      dominated by the smallest true values);
    * ``mean_relative_error_top90`` = the same over the upper 90 % of the true values' range;
    * for a redshift (a target named ``z``): :func:`photoz_metrics` (``nmad``, ``outlier_fraction``, ``bias_dz``).

    A model with a Gaussian-NLL head (a mean and a sigma per target) adds ``coverage_68`` and
    ``coverage_95`` (see :func:`coverage`) and, once calibrated on the validation split, the same before
    calibration (``coverage_68_uncalibrated``, ``coverage_95_uncalibrated``) and the ``sigma_scale``.
    """
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    if ranges is not None:
        ranges = np.asarray(ranges, np.float64).reshape(-1, 2)
        if len(ranges) != len(names) or not np.all(ranges[:, 1] > ranges[:, 0]):
            raise ValueError(f"regression_metrics: ranges must be one [low, high] with high > low per target "
                             f"({len(names)}), got {ranges.tolist()}")
    out = {}
    for j, name in enumerate(names):
        t, p = y_true[:, j], y_pred[:, j]
        d = p - t
        nz = t != 0
        cut = t.min() + 0.1 * (t.max() - t.min())
        top = nz & (t > cut)
        out[name] = {"n": int(t.size)}
        if ranges is not None:
            out[name]["mae_scaled"] = float(np.mean(np.abs(d)) / (ranges[j, 1] - ranges[j, 0]))
        out[name].update({
            "mae": float(np.mean(np.abs(d))),
            "rmse": float(np.sqrt(np.mean(d**2))),
            "bias": float(np.mean(d)),
            "std": float(np.std(d)),
            "relative_error": float(np.mean(np.abs(d)) / max(np.mean(np.abs(t)), 1e-30)),
            "mean_relative_error": float(np.mean(np.abs(d[nz]) / np.abs(t[nz]))) if nz.any() else float("nan"),
            "mean_relative_error_top90": float(np.mean(np.abs(d[top]) / np.abs(t[top]))) if top.any() else float("nan"),
            "r2": float(1.0 - np.sum(d**2) / max(np.sum((t - t.mean()) ** 2), 1e-30)),
        })
        if name == "z":  # a redshift: the photo-z community's numbers too
            out[name].update(photoz_metrics(t, p))
    return out


def coverage(y_true, mean, sigma) -> dict:
    """The fraction of ``y_true`` inside the intervals ``mean +- sigma`` (``coverage_68``; 68.27 % for a
    calibrated Gaussian) and ``mean +- 1.96 sigma`` (``coverage_95``)."""
    z = np.abs(np.asarray(mean, np.float64) - np.asarray(y_true, np.float64)) / np.asarray(sigma, np.float64)
    return {"coverage_68": float(np.mean(z <= 1.0)), "coverage_95": float(np.mean(z <= 1.96))}


def binned_errors(y_true, y_pred, values, name: str, edges) -> dict:
    """RMSE, bias and standard deviation of ``y_pred - y_true`` in bins of ``values`` (e.g. each image's SNR)
    with the given bin ``edges``: ``{"by": name, "edges": [...], "n": [...], "rmse": [...], ...}``."""
    d, v = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64), np.asarray(values, np.float64)
    out = {"by": name, "edges": [float(e) for e in edges], "n": [], "rmse": [], "bias": [], "std": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = d[(v >= lo) & (v < hi)] if hi != edges[-1] else d[(v >= lo) & (v <= hi)]
        out["n"].append(int(sel.size))
        for key, f in (("rmse", lambda x: np.sqrt(np.mean(x**2))), ("bias", np.mean), ("std", np.std)):
            out[key].append(float(f(sel)) if sel.size else float("nan"))
    return out


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when only one class is present."""
    from scipy.stats import rankdata

    truth = np.asarray(truth, bool).ravel()
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, np.float64).ravel())
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def segmentation_metrics(flux: np.ndarray, prob: np.ndarray, cut: float = 0.02) -> tuple[dict, dict]:
    """The seed's two evaluations of a point-source mask, per image, then mean and spread.

    * A, the seed's target "all": every pixel with true point-source flux > 0 is a source; predicted
      sources are ``prob > cut``.
    * B, the seed's target "selected": the N pixels predicted above the cut against the N brightest
      true pixels (N per image).

    Returns (metrics, curves) where curves holds pooled (truth, score) pairs for ROC plots.
    """
    flux = flux.reshape(len(flux), -1)
    prob = prob.reshape(len(prob), -1)
    acc = {"A": [], "B": []}
    auc = {"A": [], "B": []}
    pooled = {"A": ([], []), "B": ([], [])}
    for f, p in zip(flux, prob):
        truth_a = f > 0
        acc["A"].append(float(np.mean((p > cut) == truth_a)))
        auc["A"].append(roc_auc(truth_a, p))
        pooled["A"][0].append(truth_a)
        pooled["A"][1].append(p)
        n = int((p > cut).sum())
        if n == 0:
            continue
        truth_b = np.zeros_like(truth_a)
        truth_b[np.argsort(-f, kind="stable")[:n]] = True
        acc["B"].append(float(np.mean((p > cut) == truth_b)))
        auc["B"].append(roc_auc(truth_b, p))
        pooled["B"][0].append(truth_b)
        pooled["B"][1].append(p)
    out = {}
    for k in ("A", "B"):
        a, u = np.array(acc[k]), np.array(auc[k])
        u = u[np.isfinite(u)]
        out[k] = {"n_images": int(len(a)), "accuracy_mean": float(a.mean()) if a.size else float("nan"),
                  "accuracy_std": float(a.std()) if a.size else float("nan"),
                  "auc_mean": float(u.mean()) if u.size else float("nan"),
                  "auc_std": float(u.std()) if u.size else float("nan")}
    curves = {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in pooled.items() if v[0]}
    return out, curves


def denoising_metrics(noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray) -> dict:
    """Test MSE and MAE of the network's output and, for scale, of the noisy input itself and of two
    classical filters on it (3 x 3 median, Gaussian of 1 pixel), all against the clean image."""
    from scipy.ndimage import gaussian_filter, median_filter

    candidates = {"denoised": denoised, "noisy_input": noisy,
                  "median_3x3": median_filter(noisy, size=(1, 3, 3, 1)),
                  "gaussian_1px": gaussian_filter(noisy, sigma=(0, 1, 1, 0))}
    return {name: {"mse": float(np.mean((img - clean) ** 2)), "mae": float(np.mean(np.abs(img - clean)))}
            for name, img in candidates.items()}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, name: str, classes: int,
                           class_names=None) -> dict:
    """For class indices ``y_true`` and predicted indices ``y_pred`` (0 .. classes - 1), under ``name``:
    ``accuracy`` = the fraction predicted right; ``accuracy_within_one`` = the fraction predicted at most one
    class away (for ordered classes: ring counts, a grid of redshifts or escape fractions); ``accuracy_per_class``
    = the fraction right among the images of each true class (the recall); ``confusion`` = counts [true
    class][predicted class]; ``class_names``."""
    t, p = np.asarray(y_true).astype(int).ravel(), np.asarray(y_pred).astype(int).ravel()
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (np.clip(t, 0, classes - 1), np.clip(p, 0, classes - 1)), 1)
    per = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {name: {"n": int(t.size), "accuracy": float(np.mean(t == p)),
                   "accuracy_within_one": float(np.mean(np.abs(t - p) <= 1)),
                   "accuracy_per_class": [float(v) for v in per], "confusion": confusion.tolist(),
                   "class_names": list(class_names) if class_names is not None else [str(i) for i in range(classes)]}}


def photoz_metrics(z_true, z_pred) -> dict:
    """Photometric-redshift quality with dz = (z_pred - z_true) / (1 + z_true): ``nmad`` = 1.4826 median|dz -
    median(dz)| (the normalised median absolute deviation), ``outlier_fraction`` = the fraction with |dz| > 0.15,
    ``bias_dz`` = median(dz)."""
    t, p = np.asarray(z_true, np.float64).ravel(), np.asarray(z_pred, np.float64).ravel()
    dz = (p - t) / (1.0 + t)
    med = float(np.median(dz))
    return {"nmad": float(1.4826 * np.median(np.abs(dz - med))), "outlier_fraction": float(np.mean(np.abs(dz) > 0.15)),
            "bias_dz": med}
