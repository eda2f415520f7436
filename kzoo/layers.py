"""Custom layers, all keras-serializable (package "kzoo"), so saved models load with safe_mode."""

from __future__ import annotations

import math

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


@keras.saving.register_keras_serializable(package="kzoo")
class SigmaScale(keras.layers.Layer):
    """Multiply the standard deviations of a Gaussian-NLL head by fixed per-target scales ``s_k``.

    Input and output (B, 2k): k means then k log standard deviations (``kzoo.losses.split_mean_sigma``);
    ``log s_k`` is added to the k-th log sigma, the means pass unchanged. ``kzoo.train.calibrate_uncertainty``
    fits the scales on the validation split and puts this layer last, so saved and exported models give
    calibrated sigmas. The scales are constants in the config (they fold into SavedModel and ONNX graphs).
    """

    def __init__(self, scales=(1.0,), **kwargs):
        super().__init__(**kwargs)
        scales = [float(s) for s in scales]
        if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"SigmaScale: scales must be finite numbers > 0, got {scales}")
        self.scales = scales

    def build(self, input_shape):
        if input_shape[-1] != 2 * len(self.scales):
            raise ValueError(f"SigmaScale: {len(self.scales)} scale(s) need an input of 2 x {len(self.scales)} "
                             f"(means, log sigmas), got {input_shape[-1]}")

    def call(self, y):
        offset = [0.0] * len(self.scales) + [math.log(s) for s in self.scales]
        return y + ops.convert_to_tensor(offset, dtype=y.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scales": self.scales}


@keras.saving.register_keras_serializable(package="kzoo")
class NoiseWeightedChannels(keras.layers.Layer):
    """Seed 003's autoencoder inputs, computed from raw arrays so the saved model takes them as they are.

    Inputs ``[image, psf, conditions]``: the noisy image (B, H, W, 1) in counts, the PSF image (B, H, W, 1)
    and ``conditions`` (B, 2) = [sigma, psf_fwhm] (Gaussian noise sigma in counts, PSF FWHM in arcsec).
    Outputs ``[channels, stats]``: channels (B, H, W, 7) = [x, x / s, x^2 / (1.41 s^2), x / v, x / (v^2 s),
    psf, psf^2] with s = sigma and v the variance of the image's own pixels, and stats (B, 4) =
    [sigma, psf_fwhm, std(x), mean(x)] (population std over all pixels), as the seed's pipeline made them.
    Denominators are floored at ``epsilon`` so blank test inputs give zeros, not NaNs.
    """

    def __init__(self, square_factor: float = 1.41, epsilon: float = 1e-30, **kwargs):
        super().__init__(**kwargs)
        self.square_factor, self.epsilon = float(square_factor), float(epsilon)

    def call(self, inputs):
        image, psf, conditions = (ops.cast(t, "float32") for t in inputs)
        sigma = conditions[:, 0:1]
        s = ops.reshape(sigma, (-1, 1, 1, 1))
        axes = tuple(range(1, len(image.shape)))
        mean = ops.mean(image, axis=axes, keepdims=True)
        std = ops.std(image, axis=axes, keepdims=True)
        var = ops.square(std)

        def over(den):
            return ops.maximum(den, self.epsilon)

        channels = ops.concatenate([
            image, image / over(s), ops.square(image) / over(self.square_factor * ops.square(s)),
            image / over(var), image / over(ops.square(var) * s), psf, ops.square(psf)], axis=-1)
        stats = ops.concatenate([sigma, conditions[:, 1:2], ops.reshape(std, (-1, 1)), ops.reshape(mean, (-1, 1))],
                                axis=-1)
        return channels, stats

    def compute_output_shape(self, input_shape):
        image_shape = tuple(input_shape[0])
        return image_shape[:-1] + (7,), (image_shape[0], 4)

    def get_config(self):
        return {**super().get_config(), "square_factor": self.square_factor, "epsilon": self.epsilon}


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


NOISES = ("gaussian", "poisson", "masked", "salt_and_pepper", "mixed")
NOISE_DEFAULTS = {"gaussian": 0.2, "poisson": 1.0, "masked": 0.5, "salt_and_pepper": 0.5}  # the seed's


def corrupt(x, seed, kind: str, amount: float | None = None):
    """Stateless noise of seed 000's denoising study on images in [0, 1] (output clipped to [0, 1]).

    ``gaussian``: x + amount * N(0, 1); ``poisson``: Poisson(x * amount) / amount; ``masked``: a
    fraction ``amount`` of the pixels set to 0; ``salt_and_pepper``: a fraction ``amount`` set to the
    image's minimum or maximum (half each); ``mixed``: each image gets one of the four at the seed's
    amounts. ``seed`` is a shape-[2] integer tensor: the same seed gives the same noise.
    """
    import tensorflow as tf

    if kind not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {kind!r}")
    amount = NOISE_DEFAULTS.get(kind) if amount is None else float(amount)
    if kind in ("masked", "salt_and_pepper") and not 0 <= amount <= 1:
        raise ValueError(f"{kind} noise: the fraction must be in [0, 1], got {amount}")
    if kind == "poisson" and not amount > 0:
        raise ValueError(f"poisson noise: the factor must be > 0, got {amount}")
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    shape = tf.shape(x)
    if kind == "gaussian":
        y = x + amount * tf.random.stateless_normal(shape, seeds[0], dtype=x.dtype)
    elif kind == "poisson":
        y = tf.random.stateless_poisson(shape, tf.cast(seeds[0], tf.int32), x * amount, dtype=x.dtype) / amount
    elif kind == "masked":
        y = tf.where(tf.random.stateless_uniform(shape, seeds[0]) < amount, tf.zeros_like(x), x)
    elif kind == "salt_and_pepper":
        axes = list(range(1, len(x.shape)))
        lo, hi = tf.reduce_min(x, axes, keepdims=True), tf.reduce_max(x, axes, keepdims=True)
        hit = tf.random.stateless_uniform(shape, seeds[0]) < amount
        salt = tf.random.stateless_uniform(shape, seeds[1]) < 0.5
        y = tf.where(hit, tf.where(salt, hi + 0 * x, lo + 0 * x), x)
    else:
        kinds = list(NOISE_DEFAULTS)
        pick = tf.random.stateless_uniform([shape[0]], seeds[2], 0, len(kinds), dtype=tf.int32)
        y = x
        for i, k in enumerate(kinds):
            chosen = tf.reshape(pick == i, [-1] + [1] * (len(x.shape) - 1))
            y = tf.where(chosen, corrupt(x, seeds[3] + i, k), y)
        return y
    return tf.clip_by_value(y, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="kzoo")
class Noise(keras.layers.Layer):
    """One of the ``NOISES`` as a layer, active only in training (``training=True``) unless ``always``.

    The same stateless function serves ``kzoo.data.dataset(..., input_noise=...)``.
    """

    def __init__(self, kind: str = "gaussian", amount: float | None = None, always: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in NOISES:
            raise ValueError(f"Noise: kind must be one of {NOISES}, got {kind!r}")
        self.kind, self.amount, self.always, self.seed = kind, amount, bool(always), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not (training or self.always):
            return x
        return corrupt(x, self.generator.next(), self.kind, self.amount)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "amount": self.amount, "always": self.always,
                "seed": self.seed}
