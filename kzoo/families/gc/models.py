"""Networks of source notebooks 000 ("Applying ML on simulations of the Milky Way", 2023)."""

from __future__ import annotations

import math

import keras

from kzoo.blocks import image_input
from kzoo.registry import register

SEED_000 = "000_5837b5ed42dd2f8c.txt: Part a, Appendix 1 (single-output CNN)"
# How the source notebooks' regression numbers are read (the source notebooks never gives their formula).
METRIC_DEFINITION = "metric_definition"
SEED_TABLE_METRIC = ("the source notebooks' table calls these numbers 'mean relative error' without a formula; its text judges "
                     "the MAE of targets normalised to [0, 1], which kzoo computes as mae_scaled = mean|pred - true| "
                     "/ (high - low); the literal mean(|pred - true| / true) diverges for A_dm near 0")


@register(
    parameters=1447393,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 1),
    outputs="`outputs` regression values; 1 (A_dm) by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_000,
    reference={"mae_scaled_A_dm": 0.0807, METRIC_DEFINITION: SEED_TABLE_METRIC, "train_images": 8192, "val_images": 1966,
               "test_images": 3072, "parameters": 1447393, "batch_size": 64, "learning_rate": 1e-3},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
        "dense": {"type": "choice", "values": [[512, 128], [256, 64], [128, 32]]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
    },
    description="The source notebooks' single-output CNN: three blocks of two 3x3 ReLU convolutions "
                "(32-64, 128-128, 64-32 filters) each followed by 2x2 max-pooling (64 -> 8 px), "
                "flatten, dense 512-128, linear output. 1,447,393 parameters at 64 x 64 x 1.",
    aliases=("cnn_dm",),
)
def gc_cnn(input_shape=(64, 64, 1), outputs=1, filters=(32, 64, 128, 128, 64, 32), convs_per_block=2,
           kernel_size=3, dense=(512, 128), dropout=0.0, activation="relu", output_activation=None,
           normalization=None, name="gc_cnn"):
    """Single-output (or ``outputs``-output) regression CNN of source notebooks 000.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("gc_cnn")                       # the source notebooks' network
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


@register(
    parameters=400658,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 1),
    outputs="`outputs` regression values (2 by default: A_dm and the total number of point sources)",
    loss="mse",
    metrics=("mae",),
    seed="000_5837b5ed42dd2f8c.txt: Part a, Appendix 1 (multiple-output CNN)",
    reference={"parameters_2_outputs": 400658, "train_images": 8192, "val_images": 1024, "test_images": 1024,
               "mae_scaled_2_outputs": {"A_dm": 0.1093, "n_ps_total": 0.0354},
               METRIC_DEFINITION: SEED_TABLE_METRIC,
               "mae_scaled_3_outputs": {"A_dm": 0.1175, "n_ps_disk": 0.0453, "n_ps_gc": 0.1364}},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
        "dense": {"type": "choice", "values": [[128, 16], [256, 32], [64, 16]]},
    },
    description="The source notebooks' deeper, narrower multi-output CNN: 3x3 convolutions 16-32 | 64-128-128 | 32 and "
                "5x5 convolutions 32-32, a 2x2 max-pool after each group (64 -> 4 px), dense 128-16-N; "
                "400,658 parameters with 2 outputs, as the source notebooks' table shows.",
)
def gc_cnn_multi(input_shape=(64, 64, 1), outputs=2, blocks=((16, 32), (64, 128, 128), (32,), (32, 32)),
                 kernel_sizes=(3, 3, 3, 5), dense=(128, 16), activation="relu", output_activation=None,
                 normalization=None, name="gc_cnn_multi"):
    """Multi-output regression CNN of source notebooks 000 (targets min-max scaled to [0, 1] by the experiments)."""
    if len(blocks) != len(kernel_sizes):
        raise ValueError(f"gc_cnn_multi: blocks ({len(blocks)}) and kernel_sizes ({len(kernel_sizes)}) differ in length")
    inputs, x = image_input(input_shape, normalization)
    for b, (filters, k) in enumerate(zip(blocks, kernel_sizes)):
        for i, f in enumerate(filters):
            x = keras.layers.Conv2D(f, k, padding="same", activation=activation, name=f"block{b + 1}_conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{b + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, activation=activation, name=f"dense{i + 1}")(x)
    out = keras.layers.Dense(outputs, activation=output_activation, name="output", dtype="float32")(x)
    return keras.Model(inputs, out, name=name)


@register(
    parameters=419105,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="segmentation",
    input_shape=(64, 64, 1),
    outputs="(H, W, 1) probability that a pixel holds point-source flux",
    loss="count_penalty_bce",
    metrics=("auc",),
    seed="000_5837b5ed42dd2f8c.txt: Part b, Appendix 2 (U-net)",
    reference={"auc_all_sources": 0.92, "accuracy_all_sources": 0.80, "auc_brightest_n": 0.97,
               "accuracy_brightest_n": 0.94, "batch_size": 128, "learning_rate": 1e-3,
               "train_images": 6592, "val_images": 800, "test_images": 800},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [64, 128, 256]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.4, "step": 0.1},
        "base_filters": {"type": "choice", "values": [4, 8, 16]},
    },
    description="The source notebooks' U-net: four encoder blocks (conv-dropout-conv-BN-LeakyReLU, 2x2 max-pool; "
                "8-16-32-64 filters), a bridge of 128, four decoder blocks (3x3 Conv2DTranspose stride 2, "
                "skip concatenation, BN, LeakyReLU) and a 1x1 sigmoid convolution. Inputs per-image max "
                "normalised.",
    aliases=("unet",),
)
def gc_unet(input_shape=(64, 64, 1), base_filters=8, depth=4, dropout=0.1, negative_slope=0.01,
            normalization="per_image_max", name="gc_unet"):
    """Point-source segmentation U-net of source notebooks 000; ``base_filters * 2**i`` filters at depth ``i``.

    Examples:
        >>> import kzoo
        >>> unet = kzoo.build("unet")                # alias of gc_unet
        >>> mask = unet.predict(counts_maps)         # (B, 64, 64, 1) in [0, 1]
    """
    inputs, x = image_input(input_shape, normalization)

    def act(i, tag):
        return keras.layers.LeakyReLU(negative_slope, name=f"{tag}_act{i}")

    skips = []
    for i in range(depth):
        f = base_filters * 2**i
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"enc{i}_conv1")(x)
        x = act(i, "enc_pre")(x)
        x = keras.layers.Dropout(dropout, name=f"enc{i}_dropout")(x)
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"enc{i}_conv2")(x)
        x = keras.layers.BatchNormalization(name=f"enc{i}_bn")(x)
        x = act(i, "enc")(x)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    f = base_filters * 2**depth
    x = keras.layers.Conv2D(f, 3, padding="same", name="bridge_conv1")(x)
    x = keras.layers.BatchNormalization(name="bridge_bn")(x)
    x = act(0, "bridge")(x)
    x = keras.layers.Dropout(dropout, name="bridge_dropout")(x)
    x = keras.layers.Conv2D(f, 3, padding="same", name="bridge_conv2")(x)
    for i in reversed(range(depth)):
        x = keras.layers.Conv2DTranspose(base_filters * 2**i, 3, strides=2, padding="same", name=f"dec{i}_up")(x)
        x = keras.layers.Concatenate(name=f"dec{i}_concat")([x, skips[i]])
        x = keras.layers.BatchNormalization(name=f"dec{i}_bn")(x)
        x = act(i, "dec")(x)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask", dtype="float32")(x)
    return keras.Model(inputs, out, name=name)


@register(
    parameters=393511,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="denoising",
    input_shape=(64, 64, 1),
    outputs="(H, W, 1) the denoised image (per-image max normalised, like the input)",
    loss="mse",
    metrics=("mae",),
    seed="000_5837b5ed42dd2f8c.txt: Part c, Appendix 3 (denoising autoencoder)",
    reference={"mse_gaussian_0.2": 0.0011, "mse_poisson_1.0": 0.0012, "mse_masked_0.5": 0.0010,
               "mse_salt_and_pepper_0.5": 0.0019, "latent": 6, "batch_size": 64, "learning_rate": 1e-3,
               "train_images": 8192, "val_images": 1024, "test_images": 1024},
    search_space={
        "learning_rate": {"type": "float", "min": 5e-4, "max": 1e-2, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
        "latent": {"type": "int", "min": 2, "max": 10},
    },
    description="The source notebooks' denoising autoencoder: six 3x3 convolutions (8-16-16-32 with stride 2, then "
                "64-64 with stride 1; BN and LeakyReLU) to 4x4x64, dense to a small latent, and the "
                "mirror-image decoder of transposed convolutions; linear output.",
)
def gc_dae(input_shape=(64, 64, 1), latent=6, filters=(8, 16, 16, 32, 64, 64), strides=(2, 2, 2, 2, 1, 1),
           hidden=128, negative_slope=0.01, normalization=None, name="gc_dae"):
    """Denoising autoencoder of source notebooks 000 (inputs and targets per-image max normalised in the pipeline)."""
    if len(filters) != len(strides):
        raise ValueError(f"gc_dae: filters ({len(filters)}) and strides ({len(strides)}) must have the same length")
    inputs, x = image_input(input_shape, normalization)
    for i, (f, s) in enumerate(zip(filters, strides)):
        x = keras.layers.Conv2D(f, 3, strides=s, padding="same", name=f"enc_conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"enc_bn{i + 1}")(x)
        x = keras.layers.LeakyReLU(negative_slope, name=f"enc_act{i + 1}")(x)
    code_shape = tuple(x.shape[1:])
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden, name="enc_dense")(x)
    x = keras.layers.LeakyReLU(negative_slope, name="enc_dense_act")(x)
    x = keras.layers.Dense(latent, name="latent")(x)
    x = keras.layers.LeakyReLU(negative_slope, name="latent_act")(x)
    x = keras.layers.Dense(hidden, name="dec_dense1")(x)
    x = keras.layers.LeakyReLU(negative_slope, name="dec_dense1_act")(x)
    x = keras.layers.Dense(math.prod(code_shape), name="dec_dense2")(x)
    x = keras.layers.LeakyReLU(negative_slope, name="dec_dense2_act")(x)
    x = keras.layers.Reshape(code_shape, name="unflatten")(x)
    outs = list(filters[:-1][::-1]) + [input_shape[-1]]
    for i, (f, s) in enumerate(zip(outs, strides[::-1])):
        last = i == len(outs) - 1
        x = keras.layers.Conv2DTranspose(f, 3, strides=s, padding="same", name=f"dec_conv{i + 1}",
                                         dtype="float32" if last else None)(x)
        if not last:
            x = keras.layers.BatchNormalization(name=f"dec_bn{i + 1}")(x)
            x = keras.layers.LeakyReLU(negative_slope, name=f"dec_act{i + 1}")(x)
    return keras.Model(inputs, x, name=name)
