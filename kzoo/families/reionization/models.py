"""Networks of source notebooks 004: 21-cm brightness maps of the epoch of reionization.

``reion_autoencoder`` is the source notebooks' 4,385-parameter convolutional autoencoder (200 x 200 -> 25 x 25 x 8 and
back); ``reion_classifier`` is its classifier (Conv16-pool-Conv8-pool-Dense), on the maps themselves or on the
frozen encoder of a trained autoencoder (``encoder=RUN``: the source notebooks' "CNN on the encoded images");
``reion_mlp`` is the source notebooks' first attempt, one hidden layer of 350 on 50 x 50 crops.
"""

from __future__ import annotations

import keras

from kzoo.blocks import image_input
from kzoo.registry import register

SEED_004 = "004_8f2d4ba38ebb956d.txt: 21-cm ionisation maps (MAIS 202 Deliverable 3)"
SEARCH = {
    "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [16, 32, 64]},
}
CODE = "code"  # the autoencoder's bottleneck layer


@register(
    parameters=4385,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="reconstruction",
    input_shape=(200, 200, 1),
    outputs="the reconstructed map, sigmoid (maps scaled to about [0, 1], the source notebooks' delta T_b / 70 mK)",
    loss="mse",
    metrics=("mae",),
    seed=SEED_004,
    reference={"parameters": 4385, "source": "the source notebooks' printed summary: Conv16-pool-Conv8-pool-Conv8-pool to "
                                             "25 x 25 x 8, Conv8-up-Conv8-up-Conv16-up-Conv1; 6,528 slices of "
                                             "200 x 200; reconstruction error ~0.1 (Euclidean)"},
    search_space=SEARCH,
    description="The source notebooks' autoencoder: three 3x3 ReLU convolutions (16-8-8, 'same') each followed by 2x2 "
                "max-pooling down to the code (H/8 x W/8 x 8; 25 x 25 x 8 at 200 x 200), then 3x3 convolutions "
                "8-8-16 each followed by 2x upsampling and a 3x3 sigmoid convolution to one channel. 4,385 "
                "parameters at any image size. The layer named 'code' is the encoding.",
)
def reion_autoencoder(input_shape=(200, 200, 1), filters=(16, 8, 8), normalization=None, name="reion_autoencoder"):
    """Compress a 21-cm map 8-fold (H x W -> H/8 x W/8 x 8) and reconstruct it.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("reion_autoencoder", input_shape=(64, 64, 1))
        >>> model.count_params()
        4385
    """
    if input_shape[0] % 8 or input_shape[1] % 8:
        raise ValueError(f"reion_autoencoder: input_shape {tuple(input_shape)}: height and width must be multiples "
                         "of 8 (three 2x2 poolings, mirrored by three upsamplings)")
    inputs, x = image_input(input_shape, normalization)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc_conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=CODE if i == len(filters) - 1 else f"enc_pool{i + 1}")(x)
    for i, f in enumerate(reversed(filters)):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec_conv{i + 1}")(x)
        x = keras.layers.UpSampling2D(2, name=f"dec_up{i + 1}")(x)
    out = keras.layers.Conv2D(input_shape[-1], 3, padding="same", activation="sigmoid", name="output",
                              dtype="float32")(x)
    return keras.Model(inputs, out, name=name)


def trained_encoder(encoder, input_shape, normalization=None):
    """The frozen encoder (input -> the 'code' layer) of a trained ``reion_autoencoder``: a run directory,
    ``.keras`` file or preset (loaded with safe_mode)."""
    from kzoo.presets import load_frozen

    ae = load_frozen(encoder, "reion_classifier", "encoder", input_shape, normalization)
    try:
        code = ae.get_layer(CODE).output
    except ValueError:
        raise ValueError(f"reion_classifier: encoder {encoder} has no layer named {CODE!r}; give a trained "
                         "reion_autoencoder") from None
    enc = keras.Model(ae.input, code, name="encoder")
    enc.trainable = False
    return enc


@register(
    parameters=341337,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="classification",
    input_shape=(200, 200, 1),
    outputs="`outputs` classes (softmax): the recipe's redshifts or escape fractions, in order",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    seed=SEED_004,
    reference={"accuracy_redshift_encoded": 0.83, "accuracy_escape_fraction": 0.2,
               "source": "the source notebooks' CNN on the encoded 25 x 25 x 8 maps: redshift (17 classes) ~0.83 validation "
                         "accuracy, escape fraction (12 classes) near chance"},
    search_space={**SEARCH, "filters": {"type": "choice", "values": [[16, 8], [32, 16], [32, 32]]}},
    description="The source notebooks' classifier: 3x3 ReLU convolutions 16 and 8 ('same'), each followed by 2x2 "
                "max-pooling, flatten and a softmax over the classes; on the maps, or on the code of a trained "
                "reion_autoencoder (encoder=RUN_DIR, frozen, its own normalisation inside).",
)
def reion_classifier(input_shape=(200, 200, 1), outputs=17, filters=(16, 8), encoder=None, normalization=None,
                     name="reion_classifier"):
    """The redshift or escape-fraction class of a 21-cm map.

    ``encoder``: None to classify the maps themselves, or a trained ``reion_autoencoder`` (run directory,
    ``.keras`` file or preset) whose encoder, frozen, turns the map into its code first (then ``normalization``
    must be none: the autoencoder holds its own).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("reion_classifier", input_shape=(64, 64, 1), outputs=17)
    """
    if encoder is None:
        inputs, x = image_input(input_shape, normalization)
    else:
        inputs = keras.Input(shape=tuple(input_shape), name="image")
        x = trained_encoder(encoder, input_shape, normalization)(inputs)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax", name="output", dtype="float32")(x),
                       name=name)


@register(
    parameters=881317,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="classification",
    input_shape=(200, 200, 1),
    outputs="`outputs` classes (softmax)",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    seed=SEED_004,
    reference={"accuracy_redshift": 0.48, "source": "the source notebooks' first network: 50 x 50 images flattened (2,500), "
                                                    "one hidden layer of 350, 17 redshift classes at escape "
                                                    "fraction 0.07; 0.48 validation accuracy after 250 epochs"},
    search_space={**SEARCH, "hidden": {"type": "choice", "values": [128, 350, 1024]}},
    description="The source notebooks' first attempt: the central crop x crop pixels (50 x 50) flattened, one dense ReLU "
                "layer of 350 and a softmax over the classes.",
)
def reion_mlp(input_shape=(200, 200, 1), outputs=17, crop=50, hidden=350, normalization=None, name="reion_mlp"):
    """One hidden layer on a 50 x 50 crop of the map.

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("reion_mlp", input_shape=(64, 64, 1), outputs=17)
    """
    if crop > min(input_shape[:2]):
        raise ValueError(f"reion_mlp: crop {crop} is larger than the maps {tuple(input_shape)}")
    inputs, x = image_input(input_shape, normalization)
    if crop < max(input_shape[:2]):
        x = keras.layers.CenterCrop(crop, crop, name="crop")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax", name="output", dtype="float32")(x),
                       name=name)
