"""Custom layers, all keras-serializable (package "kzoo"), so saved models load with safe_mode."""

from __future__ import annotations

import math

import keras
import numpy as np
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


# Group-equivariant convolutions over p4, the four 90-degree rotations (Cohen & Welling 2016), written with
# keras.ops. A p4 feature map is a (B, H, W, 4 * F) tensor, orientation-major: channel r * F + f is feature f
# at rotation r. Rotating the input by 90 degrees (np.rot90 on axes (1, 2)) rotates every map and shifts its
# orientation index by one, exactly, for odd square kernels with "same" padding; pooling over the group then
# gives features that do not change at all.


def _rot90_kernel(w, r: int):
    """The kernel ``w`` (k, k, ...) turned by ``r`` quarter turns, as np.rot90(w, r, axes=(0, 1))."""
    for _ in range(r % 4):
        w = ops.flip(ops.swapaxes(w, 0, 1), axis=0)
    return w


class _P4Base(keras.layers.Layer):
    def __init__(self, filters: int, kernel_size: int = 3, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"{type(self).__name__}: kernel_size must be odd (exact rotation equivariance with "
                             f"'same' padding), got {kernel_size}")
        self.filters, self.kernel_size, self.use_bias = int(filters), int(kernel_size), bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _add(self, in_channels: int):
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, in_channels, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def _orientations(self, x, kernels):
        outs = [ops.conv(x, w, strides=1, padding="same") for w in kernels]
        if self.bias is not None:  # one bias per feature, the same at every rotation
            outs = [o + self.bias for o in outs]
        return ops.concatenate(outs, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 4 * self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "use_bias": self.use_bias, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="kzoo")
class P4Lift(_P4Base):
    """Lift an image (B, H, W, C) to a p4 feature map (B, H, W, 4 * filters): one kernel, correlated at its four
    rotations. Input rotated by 90 degrees -> each output map rotated and its orientation index shifted by one."""

    def build(self, input_shape):
        self._add(int(input_shape[-1]))

    def call(self, x):
        return self._orientations(x, [_rot90_kernel(self.kernel, r) for r in range(4)])


@keras.saving.register_keras_serializable(package="kzoo")
class P4Conv(_P4Base):
    """A p4 group convolution: p4 map (B, H, W, 4 * C) in, p4 map (B, H, W, 4 * filters) out.

    out_r = sum_s corr(f_s, rot^r W_{(s - r) mod 4}): the kernel turned by r and its input orientations rolled by r,
    so that a rotated input rotates the output and shifts its orientations (equivariance by construction)."""

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % 4:
            raise ValueError(f"P4Conv: input channels must be 4 x C (a p4 feature map), got {channels}")
        self._add(channels)

    def call(self, x):
        k, c4 = self.kernel_size, int(self.kernel.shape[2])
        w = ops.reshape(self.kernel, (k, k, 4, c4 // 4, self.filters))
        kernels = []
        for r in range(4):
            rolled = ops.concatenate([w[:, :, (4 - r) % 4:], w[:, :, :(4 - r) % 4]], axis=2) if r else w  # [s] = w[s - r]
            kernels.append(ops.reshape(_rot90_kernel(rolled, r), (k, k, c4, self.filters)))
        return self._orientations(x, kernels)


@keras.saving.register_keras_serializable(package="kzoo")
class P4Pool(keras.layers.Layer):
    """Pool a p4 feature map (B, H, W, 4 * F) over its four orientations ("max" or "mean") to (B, H, W, F): maps
    that rotate with the input and no longer depend on the orientation index."""

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(f"P4Pool: mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def call(self, x):
        shape = ops.shape(x)
        g = ops.reshape(x, (shape[0], shape[1], shape[2], 4, x.shape[-1] // 4))
        return ops.max(g, axis=3) if self.mode == "max" else ops.mean(g, axis=3)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 4)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kzoo")
class CircularPad2D(keras.layers.Layer):
    """Pad (B, H, W, C) maps by ``pad`` pixels on each side with the opposite edge (periodic boundaries, as the
    CAMELS benchmark networks pad maps of a periodic box)."""

    def __init__(self, pad: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        if p == 0:
            return x
        x = ops.concatenate([x[:, -p:], x, x[:, :p]], axis=1)
        return ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.pad  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package="kzoo")
class CBAM1D(keras.layers.Layer):
    """The convolutional block attention module (Woo et al. 2018) for sequences (B, L, C): channel attention
    sigmoid(MLP(mean over L) + MLP(max over L)) with a shared MLP of C / ``ratio`` hidden units, then spatial
    attention sigmoid(Conv1D(1, ``kernel``) of [mean over C, max over C]); each multiplies the input."""

    def __init__(self, ratio: int = 8, kernel: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.ratio, self.kernel = int(ratio), int(kernel)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.hidden = keras.layers.Dense(max(channels // self.ratio, 1), activation="relu", name="mlp_hidden")
        self.out = keras.layers.Dense(channels, name="mlp_out")
        self.spatial = keras.layers.Conv1D(1, self.kernel, padding="same", name="spatial")
        self.hidden.build((None, channels))
        self.out.build((None, max(channels // self.ratio, 1)))
        self.spatial.build((None, input_shape[1], 2))

    def call(self, x):
        mlp = lambda v: self.out(self.hidden(v))  # noqa: E731
        channel = ops.sigmoid(mlp(ops.mean(x, axis=1)) + mlp(ops.max(x, axis=1)))
        x = x * ops.expand_dims(channel, 1)
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * ops.sigmoid(self.spatial(pooled))

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "kernel": self.kernel}


@keras.saving.register_keras_serializable(package="kzoo")
class ResBlock1D(keras.layers.Layer):
    """A 1-D residual block: two ``kernel`` convolutions of ``filters`` with leaky ReLU (0.2), the CBAM attention
    (``cbam``: channel ratio ``ratio``, spatial kernel ``spatial_kernel``) on the residual, added to the input (a
    1x1 convolution when the channels change), then leaky ReLU. No normalisation: a WGAN critic must not have
    batch normalisation (it couples the examples of a batch; the gradient penalty is per example)."""

    def __init__(self, filters: int, kernel: int = 3, cbam: bool = True, ratio: int = 8, spatial_kernel: int = 7,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel, self.cbam = int(filters), int(kernel), bool(cbam)
        self.ratio, self.spatial_kernel = int(ratio), int(spatial_kernel)

    def build(self, input_shape):
        length, channels = input_shape[1], int(input_shape[-1])
        self.conv1 = keras.layers.Conv1D(self.filters, self.kernel, padding="same", name="conv1")
        self.conv2 = keras.layers.Conv1D(self.filters, self.kernel, padding="same", name="conv2")
        self.conv1.build((None, length, channels))
        self.conv2.build((None, length, self.filters))
        self.attention = CBAM1D(self.ratio, self.spatial_kernel, name="cbam") if self.cbam else None
        if self.attention is not None:
            self.attention.build((None, length, self.filters))
        self.shortcut = None
        if channels != self.filters:
            self.shortcut = keras.layers.Conv1D(self.filters, 1, name="shortcut")
            self.shortcut.build((None, length, channels))

    def call(self, x):
        act = lambda v: ops.leaky_relu(v, 0.2)  # noqa: E731
        r = self.conv2(act(self.conv1(x)))
        if self.attention is not None:
            r = self.attention(r)
        return act((self.shortcut(x) if self.shortcut is not None else x) + r)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel": self.kernel, "cbam": self.cbam,
                "ratio": self.ratio, "spatial_kernel": self.spatial_kernel}


@keras.saving.register_keras_serializable(package="kzoo")
class Redshift1D(keras.layers.Layer):
    """A rest-frame spectrum (B, R, 1) on ``R`` equal bins over ``rest_range`` (A) seen through a redshift: each of
    ``length`` equal observed bins over ``observed_range`` takes the rest spectrum at lambda_obs / (1 + z) (linear
    interpolation between bin centres), then the spectrum is min-max scaled to [0, 1], as the training spectra are
    after their log. Nothing is trained. ``z`` comes from the second input, a (B, k) matrix whose column
    ``z_column`` holds z min-max scaled over ``z_range`` (a conditional generator's latent input), so that the
    layer sits inside a functional generator. A rest wavelength outside ``rest_range`` takes the edge value.
    ``to_rest=True`` goes the other way: an observed spectrum (B, O, 1) on ``O`` equal bins over ``observed_range``
    is shifted back to ``length`` equal rest bins over ``rest_range`` (each takes the observed spectrum at
    lambda_rest (1 + z); outside the observed range, its edge value), so that a line or the 4000 A break sits at
    one bin whatever z."""

    def __init__(self, rest_range, observed_range, length: int, z_column: int, z_range, to_rest: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.rest_range = [float(v) for v in rest_range]
        self.observed_range = [float(v) for v in observed_range]
        self.length, self.z_column = int(length), int(z_column)
        self.z_range = [float(v) for v in z_range]
        self.to_rest = bool(to_rest)
        self._source, (lo, hi) = ((self.observed_range, self.rest_range) if self.to_rest
                                  else (self.rest_range, self.observed_range))
        self._wave = (lo + (hi - lo) * (np.arange(self.length) + 0.5) / self.length).astype("float32")  # output bins

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.length, 1)

    def call(self, inputs):
        spectrum, latent = inputs
        spectrum = ops.cast(spectrum[..., 0], "float32")
        bins = ops.shape(spectrum)[1]
        z = self.z_range[0] + ops.cast(latent[:, self.z_column], "float32") * (self.z_range[1] - self.z_range[0])
        source, wave = self._source, ops.convert_to_tensor(self._wave)
        at = wave[None, :] * (1.0 + z[:, None]) if self.to_rest else wave[None, :] / (1.0 + z[:, None])
        step = (source[1] - source[0]) / ops.cast(bins, "float32")
        pos = (at - source[0]) / step - 0.5  # in source bins, from centre 0
        pos = ops.clip(pos, 0.0, ops.cast(bins - 1, "float32"))
        left = ops.minimum(ops.floor(pos), ops.cast(bins - 2, "float32"))
        w = pos - left
        i = ops.cast(left, "int32")
        x = (1.0 - w) * ops.take_along_axis(spectrum, i, axis=1) + w * ops.take_along_axis(spectrum, i + 1, axis=1)
        x = x - ops.min(x, axis=1, keepdims=True)
        return ops.expand_dims(x / (ops.max(x, axis=1, keepdims=True) + 1e-6), -1)

    def get_config(self):
        return {**super().get_config(), "rest_range": self.rest_range, "observed_range": self.observed_range,
                "length": self.length, "z_column": self.z_column, "z_range": self.z_range, "to_rest": self.to_rest}
