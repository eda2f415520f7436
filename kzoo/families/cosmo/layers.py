"""The cosmo family's own layers, keras-serializable (package "kzoo", so saved models load with safe_mode)."""

from __future__ import annotations


import keras
from keras import ops


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
