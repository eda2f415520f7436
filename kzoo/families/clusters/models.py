"""Networks of source notebooks 001, groups D and G: galaxy-cluster masses from X-ray images (after Ntampaka et al. 2019).

``cluster_cnn`` is the Ntampaka et al. network the groups started from, ``cluster_cnn_deep`` group D's
improved one, and ``cluster_p4cnn`` what group G wanted from e2cnn: a group-equivariant CNN over the four
90-degree rotations whose prediction does not change, to float precision, when the image is turned by 90
degrees (``kzoo.families.clusters.layers.P4Lift``, ``P4Conv``, ``P4Pool``), and which stays small.
"""

from __future__ import annotations

import keras

from kzoo.families.clusters.layers import P4Conv, P4Lift, P4Pool
from kzoo.blocks import image_input
from kzoo.registry import register

SEED_001_D = "001_08a5d74de1e70061.txt: Galaxy Cluster Masses with CNNs (groups D and G)"
SEARCH = {
    "learning_rate": {"type": "float", "min": 3e-5, "max": 1e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [16, 32, 64]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.4, "step": 0.1},
}


def _rotation_layers(x, rotation_layers: int, rotation_factor: float):
    """Group D's "rotational layers": keras RandomRotation in the model (active in training only)."""
    for i in range(int(rotation_layers)):
        x = keras.layers.RandomRotation(rotation_factor, fill_mode="nearest", name=f"random_rotation{i + 1}")(x)
    return x


def _head(x, dense, dropout, outputs, dropout_after_first=False):
    """Dropout, dense ReLU layers (dropout again after the first, as group D's), a linear float32 output."""
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        if dropout and dropout_after_first and i == 0:
            x = keras.layers.Dropout(dropout, name="dropout_dense1")(x)
    return keras.layers.Dense(outputs, name="output", dtype="float32")(x)


@register(
    parameters=58437,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(140, 140, 1),
    outputs="`outputs` values; 1 (log10 M500) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_D,
    reference={"paper": "Ntampaka et al. 2019: 7,896 mocks of 329 TNG clusters, bias -0.02 dex, scatter 8-12 % "
                        "(core-excised L_X scaling 15-18 %)",
               "hack_test_mse": 0.00265, "hack_test_mse_stratified": 0.00242, "optimizer": "adam",
               "learning_rate": 2e-4, "batch_size": 16, "epochs": 100},
    search_space={**SEARCH, "dense": {"type": "choice", "values": [[200, 100, 20], [128, 64, 16], [64, 32]]}},
    description="Ntampaka et al.'s cluster CNN: three 3x3 valid ReLU convolutions (16, 32, 64) each followed by 2x2 "
                "max-pooling, global average pooling, dropout 0.1, dense 200-100-20 (ReLU) and a linear output. "
                "rotation_layers=k puts group D's k keras RandomRotation layers first (training only).",
)
def cluster_cnn(input_shape=(140, 140, 1), outputs=1, filters=(16, 32, 64), dense=(200, 100, 20), dropout=0.1,
                rotation_layers=0, rotation_factor=0.1, normalization=None, name="cluster_cnn"):
    """The cluster-mass CNN of Ntampaka et al. (2019) as seed 001's groups D and G used it.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("cluster_cnn")                           # 140 x 140 x 1 -> log10 M500
        >>> rot = kzoo.build("cluster_cnn", rotation_layers=1)          # group D's RandomRotation inside
    """
    inputs, x = image_input(input_shape, normalization)
    x = _rotation_layers(x, rotation_layers, rotation_factor)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="valid", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, _head(x, dense, dropout, outputs), name=name)


@register(
    parameters=313313,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(140, 140, 1),
    outputs="`outputs` values; 1 (log10 M500) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_D,
    reference={"source": "group D, method 2: more and wider convolutions, average pooling at the end",
               "hack_rotated_vs_unrotated_test_loss": "0.0025 vs 0.092 for the plain CNN trained without augmentation"},
    search_space={**SEARCH, "dense": {"type": "choice", "values": [[128, 64, 32], [64, 32], [256, 128, 32]]}},
    description="Group D's improved CNN: 3x3 valid ReLU convolutions 32-32, 2x2 max-pool, 64-64, 2x2 max-pool, "
                "128-128, 4x4 average pooling, global average pooling, dropout 0.2, dense 128 (dropout 0.2), 64, 32 "
                "(ReLU), linear output (140 x 140 inputs reach 28 x 28 x 128 before the average pooling, as its "
                "layer table says).",
)
def cluster_cnn_deep(input_shape=(140, 140, 1), outputs=1, filters=(32, 64, 128), dense=(128, 64, 32), dropout=0.2,
                     rotation_layers=0, rotation_factor=0.1, normalization=None, name="cluster_cnn_deep"):
    """Group D's deeper cluster-mass CNN (seed 001).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("cluster_cnn_deep")
    """
    inputs, x = image_input(input_shape, normalization)
    x = _rotation_layers(x, rotation_layers, rotation_factor)
    for i, f in enumerate(filters):
        for j in (1, 2):
            x = keras.layers.Conv2D(f, 3, padding="valid", activation="relu", name=f"conv{i + 1}_{j}")(x)
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.AveragePooling2D(4, name="avg_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, _head(x, dense, dropout, outputs, dropout_after_first=True), name=name)


@register(
    parameters=26337,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(140, 140, 1),
    outputs="`outputs` values; 1 (log10 M500) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_D,
    reference={"source": "group G wanted a rotation-invariant CNN (they used e2cnn in PyTorch: a 1.8 GB model)",
               "invariance": "exact under 90-degree rotations of a square input whose side is a multiple of 4"},
    search_space={**SEARCH, "filters": {"type": "choice", "values": [[8, 16, 32], [16, 32, 64], [8, 16, 16]]}},
    description="A p4 group-equivariant CNN: a lifting convolution and group convolutions over the four 90-degree "
                "rotations (3x3, 'same', ReLU; filters 8-16-32 per rotation) with 2x2 max-pooling between them, "
                "max-pooling over the rotations, global average pooling, dropout, dense 64-16 and a linear output. "
                "Its output is invariant to 90-degree rotations by construction; other angles are learned.",
)
def cluster_p4cnn(input_shape=(140, 140, 1), outputs=1, filters=(8, 16, 32), dense=(64, 16), dropout=0.1,
                  group_pool="max", normalization=None, name="cluster_p4cnn"):
    """A p4-equivariant cluster-mass CNN (``kzoo.families.clusters.layers.P4Lift`` / ``P4Conv`` / ``P4Pool``).

    Examples:
        >>> import kzoo, numpy as np
        >>> m = kzoo.build("cluster_p4cnn")
        >>> x = np.random.rand(2, 140, 140, 1).astype("float32")
        >>> np.allclose(m(x), m(np.rot90(x, 1, axes=(1, 2)).copy()), atol=1e-5)
        True
    """
    inputs, x = image_input(input_shape, normalization)
    for i, f in enumerate(filters):
        layer = P4Lift(f, 3, name="p4_lift") if i == 0 else P4Conv(f, 3, name=f"p4_conv{i}")
        x = keras.layers.ReLU(name=f"relu{i + 1}")(layer(x))
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = P4Pool(group_pool, name="p4_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, _head(x, dense, dropout, outputs), name=name)
