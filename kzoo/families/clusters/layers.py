"""The clusters family's own layers, keras-serializable (package "kzoo", so saved models load with safe_mode)."""

from __future__ import annotations


import keras
from keras import ops


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
