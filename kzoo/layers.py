"""Custom layers, all keras-serializable (package "kzoo"), so saved models load with safe_mode."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class PerImageMaxScale(keras.layers.Layer):
    """Divide each image by its own maximum (the seed's choice for U-net and autoencoder inputs).

    Throws the absolute count scale away: do not use it where an amplitude is the target.
    """

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        return x / (ops.max(x, axis=axes, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kzoo")
class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` with fixed scalars (the training split's statistics), kept in the config.

    Constants, not variables or captured tensors: they fold into SavedModel and ONNX graphs as is.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not std > 0:
            raise ValueError(f"Standardize: std must be > 0, got {std}")
        self.mean, self.std = float(mean), float(std)

    def call(self, x):
        return (x - self.mean) * (1.0 / self.std)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


NORMALIZATIONS = ("none", "global", "per_image_max")


def normalization_layer(normalization) -> keras.layers.Layer | None:
    """The input-normalisation layer a builder puts first, so the saved model takes raw data.

    ``normalization`` is ``None``/"none", "per_image_max", or ``{"mode": "global", "mean": m, "std": s}``
    (the fit path fills mean and std from the manifest's training-split statistics).
    """
    if normalization is None:
        return None
    if isinstance(normalization, str):
        normalization = {"mode": normalization}
    mode = normalization.get("mode")
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalization mode must be one of {NORMALIZATIONS}, got {mode!r}")
    if mode == "none":
        return None
    if mode == "per_image_max":
        return PerImageMaxScale(name="normalize")
    return Standardize(float(normalization.get("mean", 0.0)), float(normalization.get("std", 1.0)), name="normalize")
