"""Seed 002's classical counterpart of a Deep SVDD: the reconstruction error of a PCA of the normal class."""

from __future__ import annotations

import numpy as np

from kzoo.reference import require_sklearn


def pca_anomaly_scorer(x_train: np.ndarray, components: int = 32, block: int = 4):
    """Seed 002's classical counterpart of a Deep SVDD: each image globally contrast-normalised (L1, as the network
    sees it) and block-averaged ``block`` x ``block`` (256 x 256 -> 64 x 64), a PCA of ``components`` fitted on
    the normal class's training images ``x_train``. Returns ``score(x)``: each image's squared reconstruction
    error from those components (higher: less like the normal class); ``components=0``: the squared distance to
    the normal class's mean image (the reconstruction that keeps no component)."""
    require_sklearn("pca_anomaly")
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
