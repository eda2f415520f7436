"""Building blocks that models of several families share: the image input with its normalisation layer."""

from __future__ import annotations

import keras

from kzoo.layers import normalization_layer


def image_input(input_shape, normalization, name="image"):
    """The model input and the tensor after the input normalisation layer."""
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    norm = normalization_layer(normalization)
    return inputs, (norm(inputs) if norm is not None else inputs)
