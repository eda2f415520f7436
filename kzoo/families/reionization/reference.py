"""Classical references of the 21-cm maps: the power spectrum classified by a logistic regression (and PCA + SVM,
shared)."""

from __future__ import annotations

import numpy as np

from kzoo.reference import classify_each, require_sklearn, train_and_split_images


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
    require_sklearn("power_spectrum_logreg")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, x, y = train_and_split_images(manifest, data_dir, split, targets)
    side = int(round(np.sqrt(x_train.shape[1])))
    f_train = power_spectrum_features(x_train.reshape(-1, side, side), bins)
    f = power_spectrum_features(x.reshape(-1, side, side), bins)
    pred = classify_each(lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
                          f_train, y_train, f)
    return y, pred, list(targets), (
        f"the map's mean and log10 of its azimuthally averaged power spectrum in {bins} bins of |k| (fundamental to "
        f"Nyquist), standardised, classified by a multinomial logistic regression (scikit-learn, C = 1) trained on "
        f"the {len(x_train)} training maps: how much of the answer the mean and the power spectrum alone hold")


REFERENCES = {"power_spectrum_logreg": power_spectrum_reference}
ESTIMATES = {"pca_svm": {"reionization": ("z_class", "fesc_class")},
             "power_spectrum_logreg": {"reionization": ("z_class", "fesc_class")}}
