"""Networks of source notebooks 001, groups E and H: cosmological and feedback parameters from two-field maps (CAMELS-like).

``cosmo_cnn`` is the groups' simple CNN, ``cosmo_resnet18`` the ResNet-18 group E tried (stages can be
dropped, as they did), ``camels_o3`` the public CAMELS benchmark network that predicts a mean and a standard
deviation per parameter, trained with the moment loss (``kzoo.losses.MomentLoss``).
"""

from __future__ import annotations

import keras

from kzoo.families.cosmo.layers import CircularPad2D
from kzoo.blocks import image_input
from kzoo.registry import register

SEED_001_EH = "001_08a5d74de1e70061.txt: cosmological parameters from CAMELS maps (groups E and H)"
SEARCH = {
    "learning_rate": {"type": "float", "min": 1e-5, "max": 1e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
}


@register(
    parameters=4450194,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 2),
    outputs="`outputs` values: 2 (Omega_m, sigma_8) or 6 (and the four feedback amplitudes)",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_EH,
    reference={"source": "groups E and H's simple CNN (its printed summary: 4,450,194 parameters for 2 outputs): "
                         "three convolution + pooling blocks, each with a layer normalisation over the whole feature "
                         "map, dense 1024", "hack_result": "Omega_m and sigma_8 learned, the feedback parameters barely"},
    search_space={**SEARCH, "filters": {"type": "choice", "values": [[32, 64, 128], [16, 32, 64], [64, 128, 256]]},
                  "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1}},
    description="Three blocks of a 3x3 ReLU convolution (16-32-64), a layer normalisation over the whole feature map "
                "(height, width and channels, with a scale and offset per element, as PyTorch's LayerNorm([C, H, W]) "
                "of the seed) and 2x2 max-pooling; flatten, dense 1024 (ReLU, optional dropout), a linear output per "
                "parameter: 4,450,194 parameters for 2 outputs, the source notebooks' count.",
)
def cosmo_cnn(input_shape=(64, 64, 2), outputs=2, filters=(16, 32, 64), dense=1024, dropout=0.0, normalization=None,
              name="cosmo_cnn"):
    """The seeds' simple CNN for CAMELS-like maps.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("cosmo_cnn", outputs=6)
    """
    inputs, x = image_input(input_shape, normalization, name="maps")
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.LayerNormalization(axis=(1, 2, 3), name=f"ln{i + 1}")(x)  # over the whole map, as the seed
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense, activation="relu", name="dense1")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)


@register(
    parameters=11184002,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 2),
    outputs="`outputs` values",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_EH,
    reference={"source": "group E's 'classical ResNet18 structure' (He et al. 2016, as torchvision's) on 2-channel "
                         "maps, with layers removed 'to reduce computational overhead' (here: the last stages)"},
    search_space={**SEARCH, "stages": {"type": "int", "min": 2, "max": 4},
                  "stem": {"type": "choice", "values": ["classical", "small"]}},
    description="ResNet-18 for 2-channel maps: the classical stem (7x7 stride-2 convolution, 3x3 stride-2 max-pool: "
                "64 x 64 maps enter the stages at 16 x 16), or `stem='small'` (a 3x3 convolution, no pooling: 16x "
                "the compute); up to four stages of two basic residual blocks (64-128-256-512, stride 2 from the "
                "second), batch norm, global average pooling, a linear output; `stages` < 4 drops the last ones "
                "(group E).",
)
def cosmo_resnet18(input_shape=(64, 64, 2), outputs=2, stages=4, width=64, stem="classical", normalization=None,
                   name="cosmo_resnet18"):
    """ResNet-18 (two basic blocks per stage) for 64 x 64 two-field maps.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("cosmo_resnet18", stages=3, outputs=6)
    """
    if not 1 <= int(stages) <= 4:
        raise ValueError(f"cosmo_resnet18: stages must be 1 to 4, got {stages}")
    if stem not in ("classical", "small"):
        raise ValueError(f"cosmo_resnet18: stem must be 'classical' or 'small', got {stem!r}")
    inputs, x = image_input(input_shape, normalization, name="maps")
    classical = stem == "classical"
    x = keras.layers.Conv2D(width, 7 if classical else 3, strides=2 if classical else 1, padding="same",
                            use_bias=False, name="stem_conv")(x)
    x = keras.layers.ReLU(name="stem_relu")(keras.layers.BatchNormalization(name="stem_bn")(x))
    if classical:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s in range(int(stages)):
        f = width * 2 ** s
        for b in range(2):
            tag, stride = f"stage{s + 1}_block{b + 1}", 2 if (s > 0 and b == 0) else 1
            shortcut = x
            if stride != 1 or x.shape[-1] != f:
                shortcut = keras.layers.Conv2D(f, 1, strides=stride, use_bias=False, name=f"{tag}_proj")(x)
                shortcut = keras.layers.BatchNormalization(name=f"{tag}_proj_bn")(shortcut)
            h = keras.layers.Conv2D(f, 3, strides=stride, padding="same", use_bias=False, name=f"{tag}_conv1")(x)
            h = keras.layers.ReLU(name=f"{tag}_relu1")(keras.layers.BatchNormalization(name=f"{tag}_bn1")(h))
            h = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{tag}_conv2")(h)
            h = keras.layers.BatchNormalization(name=f"{tag}_bn2")(h)
            x = keras.layers.ReLU(name=f"{tag}_relu")(keras.layers.Add(name=f"{tag}_add")([h, shortcut]))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)


@register(
    parameters=6394164,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 2),
    outputs="`outputs` = 2k: k means then k log standard deviations (loss 'moment')",
    loss="moment",
    seed=SEED_001_EH,
    reference={"source": "the public CAMELS benchmark network (Villaescusa-Navarro et al. 2021, model 'o3'): blocks "
                         "of two 3x3 convolutions and a stride-2 convolution, circular padding, batch norm, "
                         "LeakyReLU 0.2, predicting a mean and a sigma per parameter with the moment loss"},
    search_space={**SEARCH, "hidden": {"type": "choice", "values": [8, 12, 16, 24]},
                  "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1}},
    description="CAMELS 'o3': six blocks, each two 3x3 circular-padded convolutions and a 2x2 stride-2 convolution "
                "(widths hidden x 2, 4, 8, 16, 32, 64), batch norm and LeakyReLU 0.2 (64 x 64 reach 1 x 1), dropout, "
                "dense (LeakyReLU), then k means and k log standard deviations.",
)
def camels_o3(input_shape=(64, 64, 2), outputs=4, hidden=8, blocks=6, dropout=0.2, normalization=None,
              name="camels_o3"):
    """The CAMELS benchmark network for 2-D maps (means and standard deviations, the moment loss).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("camels_o3", outputs=12)   # six parameters: means, then log sigmas
    """
    inputs, x = image_input(input_shape, normalization, name="maps")
    for b in range(int(blocks)):
        f = hidden * 2 ** (b + 1)
        for j in (1, 2):
            x = CircularPad2D(1, name=f"b{b + 1}_pad{j}")(x)
            x = keras.layers.Conv2D(f, 3, padding="valid", name=f"b{b + 1}_conv{j}")(x)
            x = keras.layers.BatchNormalization(name=f"b{b + 1}_bn{j}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"b{b + 1}_act{j}")(x)
        x = keras.layers.Conv2D(f, 2, strides=2, padding="valid", name=f"b{b + 1}_down")(x)
        x = keras.layers.BatchNormalization(name=f"b{b + 1}_bn3")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"b{b + 1}_act3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)  # 1 x 1 after six halvings of 64
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.LeakyReLU(0.2, name="head_act")(keras.layers.Dense(hidden * 64, name="dense1")(x))
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)
