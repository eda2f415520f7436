"""Networks of seed 001, group F: Cherenkov rings in 28 x 28 detector images.

``rings_classifier`` counts the rings (three convolutions and two dense layers, the seed's "NRings
classifier"), ``rings_regressor`` measures one ring (the author's Conv32-pool-Conv64-pool-Conv64, Dense
64-32-5) and ``rings_mlp`` does the same with four dense layers (the seed's "fully connected network").
"""

from __future__ import annotations

import keras

from kzoo.models.galactic_center import image_input
from kzoo.registry import register

SEED_001_F = "001_08a5d74de1e70061.txt: Cherenkov rings (group F): classification, regression, generation"
SEARCH = {
    "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
}


@register(
    task="classification",
    input_shape=(28, 28, 1),
    outputs="`outputs` classes (softmax): the ring counts 1 .. K as classes 0 .. K - 1",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    seed=SEED_001_F,
    reference={"source": "the seed's NRings classifier: 3 convolution layers + 2 fully connected layers, 7,000 "
                         "training and 3,000 test images of 28 x 28, 5 epochs"},
    search_space={**SEARCH, "filters": {"type": "choice", "values": [[16, 32, 64], [32, 64, 64], [32, 64, 128]]}},
    description="Three 3x3 ReLU convolutions (32-64-64, 'same'), each but the last followed by 2x2 max-pooling, "
                "flatten, dense 64 (ReLU) and a softmax over the classes.",
)
def rings_classifier(input_shape=(28, 28, 1), outputs=4, filters=(32, 64, 64), dense=64, normalization=None,
                     name="rings_classifier"):
    """How many rings an image holds.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("rings_classifier", outputs=4)   # 1 .. 4 rings
    """
    inputs, x = image_input(input_shape, normalization)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense, activation="relu", name="dense1")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax", name="output", dtype="float32")(x),
                       name=name)


@register(
    task="regression",
    input_shape=(28, 28, 1),
    outputs="`outputs` values; 5 (cx/28, cy/28, r/28, thickness, deformation) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_F,
    reference={"source": "the author's ring regressor (SEED-NOTES.md): Conv32-pool-Conv64-pool-Conv64, Dense "
                         "64-32-5; 8,000 training and 2,000 test images, 8 epochs"},
    search_space=SEARCH,
    description="Conv32 (3x3 ReLU) - maxpool - Conv64 - maxpool - Conv64, flatten, dense 64 and 32 (ReLU) and a "
                "linear output per ring parameter.",
)
def rings_regressor(input_shape=(28, 28, 1), outputs=5, filters=(32, 64, 64), dense=(64, 32), normalization=None,
                    name="rings_regressor"):
    """The five parameters of one ring.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("rings_regressor")
    """
    inputs, x = image_input(input_shape, normalization)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, activation="relu", name=f"conv{i + 1}")(x)
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)


@register(
    task="regression",
    input_shape=(28, 28, 1),
    outputs="`outputs` values; 5 by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_F,
    reference={"source": "the seed's fully connected ring regressor: 4 fully connected layers, 8 epochs"},
    search_space={**SEARCH, "dense": {"type": "choice", "values": [[512, 256, 64], [256, 128, 32], [1024, 256, 64]]}},
    description="Flatten, three dense ReLU layers (512-256-64) and a linear output: the fourth dense layer.",
)
def rings_mlp(input_shape=(28, 28, 1), outputs=5, dense=(512, 256, 64), normalization=None, name="rings_mlp"):
    """The five parameters of one ring from four dense layers.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("rings_mlp")
    """
    inputs, x = image_input(input_shape, normalization)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)
