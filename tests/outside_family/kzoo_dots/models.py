"""A small CNN for the dots family."""

from __future__ import annotations

import keras

from kzoo.blocks import image_input
from kzoo.registry import register


@register(parameters=673, task="regression", input_shape=(16, 16, 1), outputs="`outputs` values; 1 (brightness)",
          loss="mse", metrics=("mae",), seed="none", description="Two convolutions and a dense head.",
          search_space={"filters": {"type": "choice", "values": [4, 8]}})
def dots_cnn(input_shape=(16, 16, 1), outputs=1, normalization="global", filters=8):
    inputs, x = image_input(input_shape, normalization)
    x = keras.layers.Conv2D(filters, 3, activation="relu", padding="same", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(filters, 3, activation="relu", padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output")(x), name="dots_cnn")
