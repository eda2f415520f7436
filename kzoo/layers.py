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


class _Noise(keras.layers.Layer):
    """Base of the noise layers: always active (they make training inputs, in a model or in tf.data).

    Inputs are per-image max normalised images in [0, 1]; outputs are clipped to [0, 1], as in the seed.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return ops.clip(self.corrupt(x), 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="kzoo")
class GaussianNoise(_Noise):
    """``x + factor * N(0, 1)`` per pixel (seed: factor 0.2)."""

    def __init__(self, factor: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def corrupt(self, x):
        return x + self.factor * keras.random.normal(ops.shape(x), seed=self.generator, dtype=x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="kzoo")
class PoissonNoise(_Noise):
    """``Poisson(x * factor) / factor`` per pixel (seed: factor 1.0; larger factor, less noise)."""

    def __init__(self, factor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not factor > 0:
            raise ValueError(f"PoissonNoise: factor must be > 0, got {factor}")
        self.factor = float(factor)

    def corrupt(self, x):
        import tensorflow as tf

        seed = tf.cast(self.generator.next(), tf.int32)
        return tf.random.stateless_poisson(ops.shape(x), seed, x * self.factor, dtype=x.dtype) / self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="kzoo")
class MaskNoise(_Noise):
    """A random ``fraction`` of the pixels set to 0 (seed: fraction 0.5)."""

    def __init__(self, fraction: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= fraction <= 1:
            raise ValueError(f"{type(self).__name__}: fraction must be in [0, 1], got {fraction}")
        self.fraction = float(fraction)

    def corrupt(self, x):
        hit = keras.random.uniform(ops.shape(x), seed=self.generator) < self.fraction
        return ops.where(hit, ops.zeros_like(x), x)

    def get_config(self):
        return {**super().get_config(), "fraction": self.fraction}


@keras.saving.register_keras_serializable(package="kzoo")
class SaltPepperNoise(MaskNoise):
    """A random ``fraction`` of the pixels set to the image's minimum or maximum, half each (seed: 0.5)."""

    def corrupt(self, x):
        axes = tuple(range(1, len(x.shape)))
        u = keras.random.uniform((2, *ops.shape(x)), seed=self.generator)
        lo, hi = ops.min(x, axis=axes, keepdims=True), ops.max(x, axis=axes, keepdims=True)
        return ops.where(u[0] < self.fraction, ops.where(u[1] < 0.5, lo + 0 * x, hi + 0 * x), x)


NOISES = {"gaussian": GaussianNoise, "poisson": PoissonNoise, "masked": MaskNoise, "salt_and_pepper": SaltPepperNoise}
