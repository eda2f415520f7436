"""Networks of source notebooks 002: Deep SVDD anomaly detection of galaxy morphologies (Ruff et al. 2018).

``svdd_encoder`` is the source notebooks' VGG-like network phi (six 5x5 convolution + 2x2 pooling blocks of 2-4-8-16-32-64
filters on 256 x 256 grey images, dense 256 and 64), ``svdd_autoencoder`` adds its mirrored decoder for the
pre-training, and ``deep_svdd`` (``DeepSVDD``, a Keras Model subclass computing its own loss) maps an image to
its anomaly score: the squared distance of phi(x) from the centre c (minus R^2 for the soft boundary).

No layer has a bias and the batch normalisations have no scale or offset: with any learnable constant the
network could map every image to c (a constant phi minimises the one-class loss exactly: the "hypersphere
collapse" of Ruff et al., sec. 3.3), so phi would score everything as normal.

``binning=k`` (all three) averages k x k pixels after the normalisation, before phi's first convolution, and the
autoencoder repeats its output k x k: the source notebooks' network on images of 1/k the resolution that still takes (and
reconstructs) the full-size images. On kzoo's 256 x 256 galaxies, whose pixels carry white noise, the source notebooks'
network at full resolution learned slowly (elliptical normal: AUROC 0.80 after 30 + 30 epochs) where the same
network on the 2 x 2-binned images reached 0.95 in 10 epochs (the README, Deep SVDD).
"""

from __future__ import annotations

import keras

from kzoo.blocks import image_input
from kzoo.registry import register

SEED_002 = "002_71e814634fb5d959.txt: Deep SVDD on barred, elliptical and spiral galaxies"
FILTERS = (2, 4, 8, 16, 32, 64)
DENSE = (256, 64)
# PyTorch's BatchNorm momentum 0.1 (the reference code's) is Keras's 0.9: the moving statistics follow the
# last ~10 batches. Keras's default 0.99 lags ~100 batches behind, and with the source notebooks' batch 200 an epoch of a
# few thousand images is ~15 batches: the scores at inference then came from stale statistics.
BN_MOMENTUM = 0.9
OBJECTIVES = ("one-class", "soft-boundary")
SEARCH = {
    "learning_rate": {"type": "float", "min": 1e-5, "max": 1e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 200]},
}


def _regularizer(weight_decay: float):
    # Adam's coupled weight decay wd (PyTorch, the reference code) adds wd * w to the gradient: an L2 penalty
    # (wd / 2) ||w||^2, the objective's (lambda / 2) sum ||W||^2
    return keras.regularizers.L2(weight_decay / 2) if weight_decay else None


def _check_shape(input_shape, filters, who, binning=1):
    if int(binning) != binning or binning < 1:
        raise ValueError(f"{who}: binning must be a positive integer, got {binning!r}")
    down = 2 ** len(filters) * int(binning)
    if input_shape[0] % down or input_shape[1] % down:
        raise ValueError(f"{who}: input_shape {tuple(input_shape)}: height and width must be multiples of "
                         f"binning x 2^len(filters) = {down}")


def _binned_input(input_shape, normalization, binning):
    """The model input and the tensor phi starts from: normalised, then ``binning`` x ``binning`` averaged."""
    inputs, x = image_input(input_shape, normalization)
    if binning > 1:
        x = keras.layers.AveragePooling2D(int(binning), name="bin")(x)
    return inputs, x


def encoder_layers(x, filters=FILTERS, dense=DENSE, weight_decay=0.5e-6, prefix="enc"):
    """phi: per block a 5x5 convolution (no bias), batch normalisation without scale or offset (epsilon 1e-4),
    leaky ReLU (0.1) and 2x2 max-pooling; flatten; dense (no bias), normalisation, leaky ReLU; a linear dense
    (no bias) to the representation. The layer names are shared by the autoencoder and the SVDD network, so
    pre-trained weights move by name."""
    reg = _regularizer(weight_decay)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 5, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{prefix}_conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(epsilon=1e-4, momentum=BN_MOMENTUM, center=False, scale=False, name=f"{prefix}_bn{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.1, name=f"{prefix}_act{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"{prefix}_pool{i + 1}")(x)
    x = keras.layers.Flatten(name=f"{prefix}_flatten")(x)
    for j, units in enumerate(dense[:-1]):
        x = keras.layers.Dense(units, use_bias=False, kernel_regularizer=reg, name=f"{prefix}_dense{j + 1}")(x)
        x = keras.layers.BatchNormalization(epsilon=1e-4, momentum=BN_MOMENTUM, center=False, scale=False, name=f"{prefix}_dense_bn{j + 1}")(x)
        x = keras.layers.LeakyReLU(0.1, name=f"{prefix}_dense_act{j + 1}")(x)
    return keras.layers.Dense(dense[-1], use_bias=False, kernel_regularizer=reg, name=f"{prefix}_rep",
                              dtype="float32")(x)


@register(
    parameters=422444,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="reconstruction",
    input_shape=(256, 256, 1),
    outputs="the reconstructed image (sigmoid; images min-max scaled to [0, 1])",
    loss="mse",
    metrics=("mae",),
    seed=SEED_002,
    reference={"source": "the source notebooks' Table 3: the Deep SVDD network (Table 4) and a mirror of it: the 64-number "
                         "code reshaped to 4 x 4 x 4, 5x5 deconvolutions 64-32-16-8-4-2 each followed by 2x "
                         "upscaling, a 5x5 deconvolution to one channel and a sigmoid; Adam lr 1e-4, weight decay "
                         "0.5e-6, 100 epochs, batch 200"},
    search_space=SEARCH,
    description="The pre-training network: svdd_encoder, then the representation reshaped to 4 x 4 x (64 / 16), "
                "per block a 5x5 convolution (no bias), normalisation without scale or offset, leaky ReLU and 2x "
                "upsampling, and a 5x5 convolution to one channel with a sigmoid. Its encoder layers initialise "
                "deep_svdd (pretrained=RUN). binning=k: phi sees the k x k-averaged image and the output is repeated k x k.",
)
def svdd_autoencoder(input_shape=(256, 256, 1), filters=FILTERS, dense=DENSE, weight_decay=0.5e-6,
                     normalization=None, binning=1, name="svdd_autoencoder"):
    """Pre-train phi by reconstructing the normal class's images.

    Examples:
        >>> import kzoo
        >>> ae = kzoo.build("svdd_autoencoder", input_shape=(64, 64, 1), filters=(4, 8, 16, 32))
    """
    _check_shape(input_shape, filters, "svdd_autoencoder", binning)
    reg = _regularizer(weight_decay)
    inputs, x = _binned_input(input_shape, normalization, binning)
    x = encoder_layers(x, filters, dense, weight_decay)
    side = input_shape[0] // binning // 2 ** len(filters)
    side_w = input_shape[1] // binning // 2 ** len(filters)
    if dense[-1] % (side * side_w):
        raise ValueError(f"svdd_autoencoder: the representation ({dense[-1]}) does not fill a {side} x {side_w} grid")
    x = keras.layers.Reshape((side, side_w, dense[-1] // (side * side_w)), name="dec_reshape")(x)
    for i, f in enumerate(reversed(filters)):
        x = keras.layers.Conv2DTranspose(f, 5, padding="same", use_bias=False, kernel_regularizer=reg,
                                         name=f"dec_deconv{i + 1}")(x)
        x = keras.layers.BatchNormalization(epsilon=1e-4, momentum=BN_MOMENTUM, center=False, scale=False, name=f"dec_bn{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.1, name=f"dec_act{i + 1}")(x)
        x = keras.layers.UpSampling2D(2, name=f"dec_up{i + 1}")(x)
    x = keras.layers.Conv2DTranspose(input_shape[-1], 5, padding="same", use_bias=False, kernel_regularizer=reg,
                                     name="dec_out")(x)
    if binning > 1:  # each binned pixel's value over its k x k pixels: the loss is the binned image's, plus a constant
        x = keras.layers.UpSampling2D(int(binning), name="unbin")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="output", dtype="float32")(x), name=name)


@keras.saving.register_keras_serializable(package="kzoo")
class DeepSVDD(keras.Model):
    """Deep SVDD (Ruff et al. 2018): ``call`` returns the anomaly score of each image, shape (B,):
    d = ||phi(x) - c||^2 for the one-class objective, d - R^2 for the soft boundary (> 0: outside the sphere).

    The loss (``compute_loss``: compile with ``loss=None``): one-class mean(d); soft-boundary
    R^2 + (1 / nu) mean(max(0, d - R^2)); plus the weight decay of phi's kernels. c and R are weights (saved in
    the .keras, restored with checkpoints): ``init_center(images)`` sets c to the mean representation of the
    training images with every |c_i| < ``eps`` pushed to +-eps (an exactly zero coordinate is reached by
    zero weights); after ``warm_up_epochs`` epochs (counted by ``set_epoch``, which kzoo.train calls through the
    model's ``fit_callbacks``) each training batch sets R to the (1 - nu) quantile of its sqrt(d), as the
    reference code does. ``distance(x)`` returns d itself.
    """

    def __init__(self, image_shape=(256, 256, 1), filters=FILTERS, dense=DENSE, objective="one-class", nu=0.1,
                 warm_up_epochs=10, eps=0.1, weight_decay=0.5e-6, normalization=None, binning=1, **kwargs):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"deep_svdd: objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
        if not 0 < float(nu) <= 1:
            raise ValueError(f"deep_svdd: nu must be in (0, 1], got {nu}")
        self.image_shape, self.filters, self.dense = tuple(int(v) for v in image_shape), tuple(filters), tuple(dense)
        self.objective, self.nu, self.warm_up_epochs = objective, float(nu), int(warm_up_epochs)
        self.eps, self.weight_decay, self.normalization = float(eps), float(weight_decay), normalization
        self.binning = int(binning)
        _check_shape(self.image_shape, self.filters, "deep_svdd", self.binning)
        inputs, x = _binned_input(self.image_shape, normalization, self.binning)
        self.phi = keras.Model(inputs, encoder_layers(x, self.filters, self.dense, self.weight_decay), name="phi")
        self.center = self.add_weight(shape=(self.dense[-1],), initializer="zeros", trainable=False, name="center")
        self.radius = self.add_weight(shape=(), initializer="zeros", trainable=False, name="radius")
        self.epoch = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epoch")

    def distance(self, x, training=False):
        z = keras.ops.cast(self.phi(x, training=training), "float32")  # c and R in float32 (mixed precision too)
        return keras.ops.sum(keras.ops.square(z - keras.ops.cast(self.center, "float32")), axis=-1)

    def call(self, x, training=False):
        d = self.distance(x, training=training)
        return d - keras.ops.square(keras.ops.cast(self.radius, "float32")) if self.objective == "soft-boundary" else d

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.objective == "soft-boundary":
            r2 = keras.ops.square(keras.ops.cast(self.radius, "float32"))
            loss = r2 + keras.ops.mean(keras.ops.relu(y_pred)) / self.nu
            if training:  # R for the next batch: the (1 - nu) quantile of this batch's distances, after warm-up
                d = keras.ops.maximum(y_pred + r2, 0.0)
                new = keras.ops.quantile(keras.ops.sqrt(d), 1.0 - self.nu)
                self.radius.assign(keras.ops.where(self.epoch >= self.warm_up_epochs,
                                                   keras.ops.stop_gradient(new), self.radius))
        else:
            loss = keras.ops.mean(y_pred)
        if self.phi.losses:
            loss = loss + keras.ops.sum(keras.ops.stack([keras.ops.cast(v, "float32") for v in self.phi.losses]))
        return loss

    def init_center(self, images, batch_size: int = 256):
        """c = the mean of phi over ``images`` (an array, or an iterable of batches or (x, y) pairs), with
        coordinates closer to 0 than ``eps`` pushed to +-eps (0 goes to +eps); returns c as numpy."""
        from kzoo.export import infer

        import numpy as np

        batches = images
        if isinstance(images, np.ndarray):
            batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
        total, n = None, 0
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            z = infer(self.phi, x, np.float64)
            total = z.sum(axis=0) if total is None else total + z.sum(axis=0)
            n += len(z)
        c = total / n
        c[(np.abs(c) < self.eps) & (c < 0)] = -self.eps
        c[(np.abs(c) < self.eps) & (c >= 0)] = self.eps
        self.center.assign(c.astype("float32"))
        return c

    @property
    def selectable_from_epoch(self) -> int:
        """The first epoch kzoo's checkpoint may keep as the best (soft boundary: once R is set, as the loss
        jumps by R^2 then)."""
        return self.warm_up_epochs if self.objective == "soft-boundary" else 0

    def example_inputs(self, batch: int = 1):
        """Zeros of the model's input (tracing for export)."""
        import numpy as np

        return np.zeros((batch, *self.image_shape), np.float32)

    def set_epoch(self, epoch: int):
        self.epoch.assign(float(epoch))

    def fit_callbacks(self) -> list:
        """Callbacks kzoo.train adds to ``fit``: the epoch counter for the soft boundary's warm-up."""
        model = self

        class Epoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                model.set_epoch(epoch)

        return [Epoch()]

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "filters": list(self.filters),
                "dense": list(self.dense), "objective": self.objective, "nu": self.nu,
                "warm_up_epochs": self.warm_up_epochs, "eps": self.eps, "weight_decay": self.weight_decay,
                "normalization": self.normalization, "binning": self.binning}


@register(
    parameters=347608,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="anomaly",
    input_shape=(256, 256, 1),
    outputs="the anomaly score of each image: ||phi(x) - c||^2 (one-class), minus R^2 (soft-boundary)",
    loss="model",
    metrics=(),
    seed=SEED_002,
    reference={"accuracy": {"barred": 0.9497, "elliptical": 0.9966, "spiral": 0.9605},
               "source": "the source notebooks' Table 5 (test accuracy per normal class, one-class objective, nu 0.1, Adam lr "
                         "1e-4, 100 + 100 epochs, batch 200, weight decay 0.5e-6; training and test images the "
                         "same)"},
    search_space={**SEARCH, "nu": {"type": "float", "min": 0.01, "max": 0.3, "sampling": "log"}},
    description="Deep SVDD (kzoo.families.svdd.models.DeepSVDD, a Keras Model subclass computing its own loss) on "
                "svdd_encoder's network phi (no biases, normalisation without scale or offset): one-class or "
                "soft-boundary objective, centre c from the initial phi's mean representation, R from the (1 - nu) "
                "quantile after warm-up; pretrained=RUN copies the encoder of a trained svdd_autoencoder; binning=k: phi sees "
                "the k x k-averaged image.",
)
def deep_svdd(input_shape=(256, 256, 1), filters=FILTERS, dense=DENSE, objective="one-class", nu=0.1,
              warm_up_epochs=10, eps=0.1, weight_decay=0.5e-6, pretrained=None, normalization=None, binning=1,
              name="deep_svdd"):
    """A Deep SVDD anomaly scorer; ``pretrained``: a trained ``svdd_autoencoder`` (run directory, .keras or preset)
    whose encoder layers initialise phi (by name; the autoencoder's normalisation too).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("deep_svdd", input_shape=(64, 64, 1), filters=(4, 8, 16, 32), objective="soft-boundary")
    """
    model = DeepSVDD(input_shape, filters, dense, objective, nu, warm_up_epochs, eps, weight_decay, normalization,
                     binning, name=name)
    model(model.example_inputs())
    if pretrained is not None:
        from kzoo.presets import load

        ae = load(pretrained)
        names = {layer.name for layer in ae.layers}
        moved = 0
        for layer in model.phi.layers:
            if layer.weights and layer.name in names:
                layer.set_weights(ae.get_layer(layer.name).get_weights())
                moved += 1
        if not moved:
            raise ValueError(f"deep_svdd: pretrained {pretrained} shares no layer with phi; give a trained "
                             "svdd_autoencoder of the same filters and dense sizes")
    return model
