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
class GlobalContrastNormalization(keras.layers.Layer):
    """Per image, ``(x - mean(x)) / mean|x - mean(x)|``: global contrast normalisation with the L1 norm, as
    the Deep SVDD reference code (Ruff et al. 2018) prepares its images. (The reference code then min-max
    scales with the normal class's extremes: an affine map that the bias-free network's first batch
    normalisation undoes, so kzoo leaves it out.)"""

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        centred = x - ops.mean(x, axis=axes, keepdims=True)
        return centred / (ops.mean(ops.abs(centred), axis=axes, keepdims=True) + self.epsilon)

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


NORMALIZATIONS = ("none", "global", "per_image_max", "gcn_l1")


def normalization_layer(normalization) -> keras.layers.Layer | None:
    """The input-normalisation layer a builder puts first, so the saved model takes raw data.

    ``normalization`` is ``None``/"none", "per_image_max", "gcn_l1" (global contrast normalisation, Deep
    SVDD) or ``{"mode": "global", "mean": m, "std": s}`` (the fit path fills mean and std from the
    manifest's training-split statistics).
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
    if mode == "gcn_l1":
        return GlobalContrastNormalization(name="normalize")
    return Standardize(float(normalization.get("mean", 0.0)), float(normalization.get("std", 1.0)), name="normalize")


NOISES = ("gaussian", "poisson", "masked", "salt_and_pepper", "mixed")
NOISE_DEFAULTS = {"gaussian": 0.2, "poisson": 1.0, "masked": 0.5, "salt_and_pepper": 0.5}  # the seed's


def noise_amount(kind: str, amount: float | None) -> float:
    """The amount of a noise of ``NOISES`` (its seed's default where None), checked; a ValueError names
    what would be right."""
    if kind not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {kind!r}")
    amount = NOISE_DEFAULTS.get(kind) if amount is None else float(amount)
    if kind in ("masked", "salt_and_pepper") and not 0 <= amount <= 1:
        raise ValueError(f"{kind} noise: the fraction must be in [0, 1], got {amount}")
    if kind == "poisson" and not amount > 0:
        raise ValueError(f"poisson noise: the factor must be > 0, got {amount}")
    return amount


def corrupt(x, seed, kind: str, amount: float | None = None):
    """Stateless noise of seed 000's denoising study on images in [0, 1] (output clipped to [0, 1]).

    ``gaussian``: x + amount * N(0, 1); ``poisson``: Poisson(x * amount) / amount; ``masked``: a
    fraction ``amount`` of the pixels set to 0; ``salt_and_pepper``: a fraction ``amount`` set to the
    image's minimum or maximum (half each); ``mixed``: each image gets one of the four at the seed's
    amounts. ``seed`` is a shape-[2] integer tensor: the same seed gives the same noise.

    TensorFlow ops, for tf.data maps (``kzoo.data.dataset(..., input_noise=...)``), which run in
    TensorFlow whatever the Keras backend; the ``Noise`` layer draws the same noises with keras.ops.
    """
    import tensorflow as tf

    amount = noise_amount(kind, amount)
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


def poisson(rate, seed, max_rate: float):
    """Poisson draws of mean ``rate`` (a float tensor, 0 <= rate <= ``max_rate``) in keras.ops, exact.

    keras.random has no Poisson sampler, so it is built from its gamma and binomial ones (Ahrens and
    Dieter 1974): with m = floor(7/8 * rate) and X ~ Gamma(m), the m-th event of a unit-rate Poisson
    process, N = m + Poisson(rate - X) when X < rate (the process starts afresh), else N ~
    Binomial(m - 1, rate / X) (the m - 1 earlier events lie uniformly in [0, X]). Each step leaves ~1/8
    of the rate; enough steps for ``max_rate`` bring it below 16, and the rest is drawn by inverting the
    cumulative distribution over 64 terms (P(N >= 64) < 1e-17 at a rate of 16). ``seed``: a
    ``keras.random.SeedGenerator`` (or an int).
    """
    rate = ops.cast(rate, "float32")
    shape = ops.shape(rate)
    count, rest = ops.zeros_like(rate), rate
    done = ops.zeros(shape, dtype="bool")
    switch, steps = 16.0, max(0, math.ceil(math.log(max(float(max_rate), 1.0) / 16.0, 8))) + 2
    for _ in range(steps if max_rate >= switch else 0):
        big = ops.logical_and(ops.logical_not(done), rest >= switch)
        m = ops.where(big, ops.floor(0.875 * rest), ops.ones_like(rest))
        x = keras.random.gamma(shape, alpha=m, dtype="float32", seed=seed)
        below = ops.logical_and(big, x < rest)
        above = ops.logical_and(big, ops.logical_not(below))
        b = keras.random.binomial(shape, counts=m - 1, probabilities=ops.clip(rest / ops.maximum(x, 1e-30), 0, 1),
                                  dtype="float32", seed=seed)
        count = ops.where(below, count + m, ops.where(above, count + b, count))
        rest = ops.where(below, rest - x, rest)
        done = ops.logical_or(done, above)
    u = keras.random.uniform(shape, dtype="float32", seed=seed)
    p = ops.exp(-rest)
    cdf, k = p, ops.zeros_like(rest)
    for i in range(1, 64):
        k = k + ops.cast(u > cdf, "float32")
        p = p * rest / i
        cdf = cdf + p
    return ops.where(done, count, count + k)


@keras.saving.register_keras_serializable(package="kzoo")
class Noise(keras.layers.Layer):
    """One of the ``NOISES`` as a layer, active only in training (``training=True``) unless ``always``;
    images in [0, 1], the output clipped to [0, 1].

    The noises of ``corrupt`` (which serves tf.data pipelines), drawn with keras.ops and keras.random from
    the layer's own seed generator, so that the layer runs on every Keras backend; ``poisson`` draws
    Poisson(clip(x, 0, 1) * amount) / amount with :func:`poisson`.
    """

    def __init__(self, kind: str = "gaussian", amount: float | None = None, always: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in NOISES:
            raise ValueError(f"Noise: kind must be one of {NOISES}, got {kind!r}")
        noise_amount(kind, amount)
        self.kind, self.amount, self.always, self.seed = kind, amount, bool(always), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not (training or self.always):
            return x
        return ops.cast(self._noisy(ops.cast(x, "float32"), self.kind, self.amount), x.dtype)

    def _noisy(self, x, kind, amount):
        amount, shape, seed = noise_amount(kind, amount), ops.shape(x), self.generator
        if kind == "gaussian":
            y = x + amount * keras.random.normal(shape, dtype="float32", seed=seed)
        elif kind == "poisson":
            y = poisson(ops.clip(x, 0.0, 1.0) * amount, seed, amount) / amount
        elif kind == "masked":
            y = ops.where(keras.random.uniform(shape, dtype="float32", seed=seed) < amount, ops.zeros_like(x), x)
        elif kind == "salt_and_pepper":
            axes = tuple(range(1, len(x.shape)))
            lo, hi = ops.min(x, axes, keepdims=True), ops.max(x, axes, keepdims=True)
            hit = keras.random.uniform(shape, dtype="float32", seed=seed) < amount
            salt = keras.random.uniform(shape, dtype="float32", seed=seed) < 0.5
            y = ops.where(hit, ops.where(salt, hi + 0 * x, lo + 0 * x), x)
        else:
            kinds = list(NOISE_DEFAULTS)
            pick = keras.random.randint((shape[0],), 0, len(kinds), seed=seed)
            y = x
            for i, k in enumerate(kinds):
                chosen = ops.reshape(pick == i, (-1,) + (1,) * (len(x.shape) - 1))
                y = ops.where(chosen, self._noisy(x, k, None), y)
            return y
        return ops.clip(y, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "amount": self.amount, "always": self.always,
                "seed": self.seed}
