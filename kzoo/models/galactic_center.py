"""Networks of seed 000 ("Applying ML on simulations of the Milky Way", 2023)."""

from __future__ import annotations

import keras

from kzoo.layers import normalization_layer
from kzoo.registry import register

SEED_000 = "000_5837b5ed42dd2f8c.txt: Part a, Appendix 1 (single-output CNN)"


def image_input(input_shape, normalization, name="image"):
    """The model input and the tensor after the input normalisation layer."""
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    norm = normalization_layer(normalization)
    return inputs, (norm(inputs) if norm is not None else inputs)


@register(
    task="regression",
    input_shape=(64, 64, 1),
    outputs="`outputs` regression values; 1 (A_dm) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_000,
    reference={"mean_relative_error_A_dm": 0.0807, "train_images": 8192, "val_images": 1966,
               "test_images": 3072, "parameters": 1447393, "batch_size": 64, "learning_rate": 1e-3},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
        "dense": {"type": "choice", "values": [[512, 128], [256, 64], [128, 32]]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
    },
    description="The seed's single-output CNN: three blocks of two 3x3 ReLU convolutions "
                "(32-64, 128-128, 64-32 filters) each followed by 2x2 max-pooling (64 -> 8 px), "
                "flatten, dense 512-128, linear output. 1,447,393 parameters at 64 x 64 x 1.",
    aliases=("cnn_dm",),
)
def gc_cnn(input_shape=(64, 64, 1), outputs=1, filters=(32, 64, 128, 128, 64, 32), convs_per_block=2,
           kernel_size=3, dense=(512, 128), dropout=0.0, activation="relu", output_activation=None,
           normalization=None, name="gc_cnn"):
    """Single-output (or ``outputs``-output) regression CNN of seed 000.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("gc_cnn")                       # the seed's network
        >>> small = kzoo.build("gc_cnn", filters=(8, 8, 16, 16), dense=(32,), input_shape=(32, 32, 1))
    """
    if len(filters) % convs_per_block:
        raise ValueError(f"gc_cnn: len(filters)={len(filters)} must be a multiple of convs_per_block={convs_per_block}")
    inputs, x = image_input(input_shape, normalization)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation, name=f"conv{i + 1}")(x)
        if (i + 1) % convs_per_block == 0:
            x = keras.layers.MaxPooling2D(2, name=f"pool{(i + 1) // convs_per_block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, activation=activation, name=f"dense{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    out = keras.layers.Dense(outputs, activation=output_activation, name="output", dtype="float32")(x)
    return keras.Model(inputs, out, name=name)
