"""Networks of source notebooks 003 ("Measuring the Shape and Brightness of Galaxies with Neural Networks", CS109B 2020).

Both estimate the five Sersic-galaxy parameters [flux, n, re, g1, g2] from a 64 x 64 noisy image. The
seed's text describes them in words; the layer arrangements below follow the course project's public
code (github.com/dvukolov/cs109b-project: ``experiments/gridsearch/xception.ipynb`` on KerasTuner's
Xception blocks, whose printed summary gives 109,304 parameters, and ``Project/autoencoder.ipynb``).
"""

from __future__ import annotations

import keras

from kzoo.families.sersic.layers import NoiseWeightedChannels
from kzoo.blocks import image_input
from kzoo.registry import register

SEED_003 = "003_1092a4b99fd26c02.txt: Modeling: Architectures"

PARAMETERS = ("flux", "n", "re", "g1", "g2")
# The source notebooks' autoencoder loss weights, encoder (parameters) 5 : decoder (reconstruction) 1.
AUTOENCODER_LOSS_WEIGHTS = {"params": 5.0, "noiseless": 1.0}


@register(
    parameters=109301,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 1),
    outputs="`outputs` values: [flux, n, re, g1, g2] (5), or 5 means then 5 log sigmas (10, gaussian_nll)",
    loss="mse",
    metrics=("mae",),
    seed=SEED_003,
    reference={
        "parameters": 109304, "trainable_parameters": 109301, "separable_convs": 18,
        "batch_size": 32, "optimizer": "adam", "early_stopping_patience": 20,
        "label_scaling": "min-max to [-1, 1], fitted on the whole dataset", "train_images": 180000,
        "val_images": 20000,
        "val_rmse_noiseless_v1": {"flux": 383, "n": 0.029, "re": 0.0022, "g1": 0.0041, "g2": 0.0036},
        "val_rmse_noisy_v1": {"flux": 5913, "n": 0.78, "re": 0.046, "g1": 0.074, "g2": 0.074},
        "val_rmse_v2": {"flux": 8993, "n": 0.84, "re": 0.051, "g1": 0.084, "g2": 0.083},
        "std_snr60_fixed_galaxy": {"flux": 6300, "n": 0.765, "re": 0.035, "g1": 0.048, "g2": 0.055},
    },
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
        "conv_filters": {"type": "choice", "values": [8, 16, 32, 64]},
        "sep_filters": {"type": "choice", "values": [16, 32, 64, 128]},
        "residual_blocks": {"type": "int", "min": 2, "max": 8},
    },
    description="The source notebooks' small Xception: a 5x5 stride-2 SELU convolution (16 filters), 8 residual blocks "
                "of two 3x3 SELU separable convolutions (64 filters; a 1x1 projection shortcut in the first, "
                "identity after), an exit block of two separable convolutions (128) and a 3x3 stride-2 "
                "max-pool beside a 1x1 stride-2 convolution shortcut, global average pooling, a linear "
                "Dense head. 18 separable convolutions; 109,301 weights, the source notebooks' 109,304 less its "
                "Normalization layer's 3 (mean, variance, count), which kzoo keeps as constants.",
    aliases=("xception",),
)
def xception_sersic(input_shape=(64, 64, 1), outputs=5, conv_filters=16, kernel_size=5, sep_filters=64,
                    residual_blocks=8, activation="selu", dropout=0.0, conditions=0, normalization=None,
                    name="xception_sersic"):
    """Parameter-regression Xception of source notebooks 003 (the grid search's best "tiny" model, c16-s64).

    Built as KerasTuner's Xception blocks that the source notebooks used: every convolution has a bias, the shortcut
    convolutions are linear, the residual sums have no activation. The separable convolutions keep
    Keras's glorot_uniform initialisers: the source notebooks passed ``kernel_initializer="lecun_normal"`` to them,
    which tf.keras 2.1 accepted and ignored (only the stem convolution got lecun_normal).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("xception_sersic")                   # the source notebooks' network (alias "xception")
        >>> nll = kzoo.build("xception_sersic", outputs=10)         # 5 means then 5 log sigmas
        >>> psf_aware = kzoo.build("xception_sersic", conditions=2)  # inputs {"image", "conditions"}

    ``conditions=k`` adds a second input "conditions" (B, k) of raw per-image observing conditions (e.g.
    [sigma, psf_fwhm]), batch-normalised and joined to the pooled features before the head: the source notebooks'
    advice that the PSF and the noise level "should be used as inputs to the model" where they vary.
    """
    inputs, x = image_input(input_shape, normalization)
    x = keras.layers.Conv2D(conv_filters, kernel_size, strides=2, padding="same", activation=activation,
                            kernel_initializer="lecun_normal", name="stem_conv")(x)

    def block(x, filters, tag, pool=False):
        if pool:
            shortcut = keras.layers.Conv2D(filters, 1, strides=2, padding="same", name=f"{tag}_shortcut")(x)
        elif x.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, padding="same", name=f"{tag}_shortcut")(x)
        else:
            shortcut = x
        for i in (1, 2):
            x = keras.layers.SeparableConv2D(filters, 3, padding="same", activation=activation,
                                             name=f"{tag}_sepconv{i}")(x)
        if pool:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{tag}_pool")(x)
        return keras.layers.Add(name=f"{tag}_add")([x, shortcut])

    for b in range(residual_blocks):
        x = block(x, sep_filters, f"block{b + 1}")
    x = block(x, 2 * sep_filters, "exit", pool=True)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if conditions:
        cond = keras.Input(shape=(int(conditions),), name="conditions")
        x = keras.layers.Concatenate(name="concat_conditions")(
            [x, keras.layers.BatchNormalization(name="conditions_bn")(cond)])
        inputs = {"image": inputs, "conditions": cond}
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    out = keras.layers.Dense(outputs, name="output", dtype="float32")(x)
    return keras.Model(inputs, out, name=name)


@register(
    parameters=30427378,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 1),
    outputs="dict: 'params' (B, 5) the scaled parameters in [0, 1]; 'noiseless' (B, H, W, 1) the scaled image",
    loss="binary_crossentropy",
    seed=SEED_003,
    reference={
        "loss": {"params": "binary_crossentropy", "noiseless": "binary_crossentropy"},
        "loss_weights": AUTOENCODER_LOSS_WEIGHTS,
        "batch_size": 256, "epochs": 50, "optimizer": "adam",
        "learning_rate": "1e-3 for 5 epochs, then 1e-3 * exp(0.1 * (5 - epoch))",
        "early_stopping_patience": 10, "train_images": 180000, "val_images": 20000,
        "label_scaling": "min-max to [0, 1] per parameter, fitted on the training split",
        "target_scaling": "(noiseless - min) / (max - min), min and max over all training-split pixels "
                          "(the source notebooks' norm_image; that it scaled the targets is read from its shapes)",
        "metrics": "none reported for the autoencoder",
    },
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [64, 128, 256]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
        "dense": {"type": "choice", "values": [[2048, 1024], [1024, 512], [512, 256]]},
    },
    description="Inputs 'image' and 'psf' (B, H, W, 1) raw, 'conditions' (B, 2) = [sigma, psf_fwhm]; outputs "
                "'params' = [flux, n, re, g1, g2] min-max scaled to [0, 1] on the training split and "
                "'noiseless' = (noiseless - min) / (max - min) with min and max over all pixels of the training "
                "split's noiseless images (the source notebooks' scalings; see reference). "
                "The source notebooks' autoencoder whose 5-unit sigmoid latent is the parameters: seven channels "
                "(the image, four noise-weighted versions, the PSF and its square) and the statistics "
                "[sigma, psf_fwhm, std, mean], each batch-normalised; six 3x3 stride-2 convolutions "
                "(32-64-128-256-512-2048, LeakyReLU 0.3) to 1 x 1, the statistics concatenated, dense "
                "2048 (LeakyReLU) and 1024 (linear) with dropout 0.5, the sigmoid latent; the decoder "
                "mirrors it (dense 1024 and 2048, five 3x3 stride-2 transposed convolutions 512-32, a "
                "sigmoid one to 64 x 64 x 1). Losses BCE on both outputs, weighted params 5 : noiseless 1.",
)
def sersic_autoencoder(input_shape=(64, 64, 1), outputs=5, filters=(32, 64, 128, 256, 512, 2048),
                       dense=(2048, 1024), dropout=0.5, negative_slope=0.3, square_factor=1.41,
                       normalization=None, name="sersic_autoencoder"):
    """The parameter autoencoder of source notebooks 003: noisy image, PSF and conditions in; parameters and image out.

    Compile with the source notebooks' losses and weights, e.g.
    ``model.compile("adam", loss={"params": "binary_crossentropy", "noiseless": "binary_crossentropy"},
    loss_weights=AUTOENCODER_LOSS_WEIGHTS)``. Targets, scaled as the source notebooks scaled them (both fit on the
    training split): ``"params"`` each label min-max scaled to [0, 1]; ``"noiseless"`` the noiseless image
    as ``(img - lo) / (hi - lo)`` with ``lo``, ``hi`` the minimum and maximum over all pixels of all
    training noiseless images (one pair for the dataset, not per image); invert both to read the outputs
    in physical units. Inputs are raw: the noise-weighted channels are computed inside
    (:class:`kzoo.families.sersic.layers.NoiseWeightedChannels`) and normalised by BatchNormalization, as the source notebooks did,
    so there is no ``normalization`` to choose.

    Examples:
        >>> import kzoo
        >>> ae = kzoo.build("sersic_autoencoder")
        >>> out = ae({"image": noisy, "psf": psf_images, "conditions": sigma_and_fwhm})
        >>> out["params"], out["noiseless"]                          # (B, 5), (B, 64, 64, 1)
    """
    if normalization not in (None, "none") and normalization != {"mode": "none"}:
        raise ValueError(f"sersic_autoencoder: normalization must be 'none' (the model computes its noise-weighted "
                         f"channels from raw counts and batch-normalises them, as the source notebooks did), got {normalization!r}")
    if len(dense) != 2:
        raise ValueError(f"sersic_autoencoder: dense must be two widths (hidden, bottleneck), got {dense!r}")
    h, w, c = input_shape
    step = 2 ** len(filters)
    if c != 1 or h % step or w % step:
        raise ValueError(f"sersic_autoencoder: input_shape must be (H, W, 1) with H and W multiples of "
                         f"2**len(filters) = {step}, got {tuple(input_shape)}")
    image = keras.Input(shape=(h, w, 1), name="image")
    psf = keras.Input(shape=(h, w, 1), name="psf")
    conditions = keras.Input(shape=(2,), name="conditions")
    channels, stats = NoiseWeightedChannels(square_factor, name="noise_weighted_channels", dtype="float32")(
        [image, psf, conditions])
    x = keras.layers.BatchNormalization(name="channels_bn")(channels)
    s = keras.layers.BatchNormalization(name="stats_bn")(stats)

    def act(tag):
        return keras.layers.LeakyReLU(negative_slope, name=tag)

    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, strides=2, padding="same", name=f"enc_conv{i + 1}")(x)
        x = act(f"enc_act{i + 1}")(x)
    code_shape = tuple(x.shape[1:])
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Concatenate(name="concat_stats")([x, s])
    x = keras.layers.Dense(dense[0], name="enc_dense1")(x)
    x = act("enc_dense1_act")(x)
    x = keras.layers.Dropout(dropout, name="enc_dropout1")(x)
    x = keras.layers.Dense(dense[1], name="enc_dense2")(x)  # linear, as the source notebooks'
    x = keras.layers.Dropout(dropout, name="enc_dropout2")(x)
    params = keras.layers.Dense(outputs, activation="sigmoid", name="params", dtype="float32")(x)

    x = keras.layers.Dense(dense[1], name="dec_dense1")(params)  # linear, as the source notebooks'
    x = keras.layers.Dropout(dropout, name="dec_dropout1")(x)
    x = keras.layers.Dense(code_shape[0] * code_shape[1] * code_shape[2], name="dec_dense2")(x)
    x = act("dec_dense2_act")(x)
    x = keras.layers.Dropout(dropout, name="dec_dropout2")(x)
    x = keras.layers.Reshape(code_shape, name="unflatten")(x)
    for i, f in enumerate(filters[-2::-1]):
        x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", name=f"dec_conv{i + 1}")(x)
        x = act(f"dec_act{i + 1}")(x)
    noiseless = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid",
                                             name="noiseless", dtype="float32")(x)
    return keras.Model({"image": image, "psf": psf, "conditions": conditions},
                       {"params": params, "noiseless": noiseless}, name=name)


@register(
    parameters=528406,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(64, 64, 1),
    outputs="`outputs` values: [flux, n, re, g1, g2] (5), as xception_sersic",
    loss="mse",
    metrics=("mae",),
    seed="003_1092a4b99fd26c02.txt: Modeling Experiments, denoising pipeline (after Madireddy et al. 2019)",
    reference={"stages": "a denoising network (noisy -> noiseless), then the parameter estimator on its output",
               "metrics": "none reported by the source notebooks for the pipeline"},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [32, 64, 128]},
    },
    description="Denoise, then measure: a denoiser (by default a zoo U-net; or the trained model of a denoising "
                "run, frozen) maps the raw noisy image to the noiseless one scaled to [0, 1], and the source notebooks' "
                "Xception estimates [flux, n, re, g1, g2] from that. With denoiser=RUN only the estimator trains.",
)
def denoise_then_measure(input_shape=(64, 64, 1), outputs=5, denoiser=None, denoiser_args=None,
                         estimator="xception_sersic", estimator_args=None, normalization=None,
                         name="denoise_then_measure"):
    """The source notebooks' two-stage pipeline: a denoising network first, the parameter estimator on its output.

    ``denoiser``: a run directory, ``.keras`` file or preset of a denoiser trained noisy -> noiseless (e.g.
    the experiment ``sersic-v1-denoise``), loaded with safe_mode and frozen (its normalisation inside); or
    None for a fresh ``gc_unet`` (alias ``unet``, with ``denoiser_args``) that trains with the estimator, end to
    end, under ``normalization``. ``estimator``: a zoo model taking the denoiser's output image, built without input
    normalisation (the denoiser's output is already scaled), with ``estimator_args``.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("denoise_then_measure", denoiser="runs/sersic-v1-denoise")
    """
    from kzoo.registry import spec

    if denoiser is None:
        stage1 = spec("gc_unet").builder(input_shape=input_shape, normalization=normalization, name="denoiser",
                                         **(denoiser_args or {}))
    else:
        from kzoo.presets import load_frozen

        if denoiser_args:
            raise ValueError("denoise_then_measure: denoiser_args shape a fresh denoiser; a trained one (denoiser="
                             f"{denoiser!r}) is used as it is")
        stage1 = load_frozen(denoiser, "denoise_then_measure", "denoiser", input_shape, normalization)
    image_shape = tuple(stage1.output.shape[1:])
    stage2 = spec(estimator).builder(input_shape=image_shape, outputs=outputs, normalization=None,
                                     name="estimator", **(estimator_args or {}))
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    return keras.Model(inputs, stage2(stage1(inputs)), name=name)
