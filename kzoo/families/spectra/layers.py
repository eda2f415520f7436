"""The spectra family's own layers, keras-serializable (package "kzoo", so saved models load with safe_mode)."""

from __future__ import annotations


import keras
import numpy as np
from keras import ops


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
