"""Networks of source notebooks 001, group F: Cherenkov rings in 28 x 28 detector images.

``rings_classifier`` counts the rings (three convolutions and two dense layers, the source notebooks' "NRings
classifier"), ``rings_regressor`` measures one ring (the author's Conv32-pool-Conv64-pool-Conv64, Dense
64-32-5) and ``rings_mlp`` does the same with four dense layers (the source notebooks' "fully connected network").
"""

from __future__ import annotations

import keras

from kzoo.blocks import image_input
from kzoo.registry import register

SEED_001_F = "001_08a5d74de1e70061.txt: Cherenkov rings (group F): classification, regression, generation"
SEARCH = {
    "learning_rate": {"type": "float", "min": 1e-4, "max": 3e-3, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
}


@register(
    parameters=256772,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="classification",
    input_shape=(28, 28, 1),
    outputs="`outputs` classes (softmax): the ring counts 1 .. K as classes 0 .. K - 1",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    seed=SEED_001_F,
    reference={"source": "the source notebooks' NRings classifier: 3 convolution layers + 2 fully connected layers, 7,000 "
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
    parameters=94917,  # at the defaults (kzoo list; checked by tests/test_models.py)
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
    parameters=550021,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(28, 28, 1),
    outputs="`outputs` values; 5 by default",
    loss="mse",
    metrics=("mae",),
    seed=SEED_001_F,
    reference={"source": "the source notebooks' fully connected ring regressor: 4 fully connected layers, 8 epochs"},
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


@keras.saving.register_keras_serializable(package="kzoo")
class ConditionalVAE(keras.Model):
    """A conditional variational autoencoder: an encoder q(z | image, c), a decoder p(image | z, c).

    Inputs ``{"image": (B, H, W, 1) in [0, 1], "conditions": (B, k)}``; ``call`` returns the reconstruction
    (from a sampled z in training, from the mean of q at inference). The model computes its own loss
    (``compute_loss``, backend-agnostic Keras 3: compile it with ``loss=None``): the binary cross-entropy of
    the reconstruction summed over pixels plus ``beta`` x the KL divergence of q from N(0, 1), averaged over
    the batch; ``reconstruction_loss`` and ``kl_loss`` are tracked as metrics beside the total.
    ``generate(conditions)`` draws z ~ N(0, 1) and decodes images for the requested conditions.
    """

    def __init__(self, image_shape=(28, 28, 1), conditions=5, latent_dim=2, filters=(32, 64), dense=128, beta=8.0,
                 normalization=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.conditions = tuple(int(v) for v in image_shape), int(conditions)
        self.latent_dim, self.filters, self.dense = int(latent_dim), tuple(int(f) for f in filters), int(dense)
        self.beta, self.normalization, self.seed = float(beta), normalization, seed
        h, w, ch = self.image_shape
        down = 2 ** len(self.filters)
        if h % down or w % down:
            raise ValueError(f"ConditionalVAE: image_shape {list(self.image_shape)} must be divisible by "
                             f"2^len(filters) = {down}")
        image, x = image_input(self.image_shape, normalization)
        cond = keras.Input((self.conditions,), name="conditions")
        for i, f in enumerate(self.filters):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"enc_conv{i + 1}")(x)
        x = keras.layers.Concatenate(name="enc_join")([keras.layers.Flatten(name="enc_flatten")(x), cond])
        x = keras.layers.Dense(self.dense, activation="relu", name="enc_dense")(x)
        self.encoder = keras.Model([image, cond], [keras.layers.Dense(self.latent_dim, name="z_mean")(x),
                                                   keras.layers.Dense(self.latent_dim, name="z_log_var")(x)],
                                   name="encoder")
        z, c = keras.Input((self.latent_dim,), name="z"), keras.Input((self.conditions,), name="conditions")
        y = keras.layers.Concatenate(name="dec_join")([z, c])
        y = keras.layers.Dense(self.dense, activation="relu", name="dec_dense")(y)
        y = keras.layers.Dense((h // down) * (w // down) * self.filters[-1], activation="relu", name="dec_grid")(y)
        y = keras.layers.Reshape((h // down, w // down, self.filters[-1]), name="dec_reshape")(y)
        for i, f in enumerate(reversed(self.filters)):
            y = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                             name=f"dec_deconv{i + 1}")(y)
        y = keras.layers.Conv2D(ch, 3, padding="same", activation="sigmoid", name="dec_out", dtype="float32")(y)
        self.decoder = keras.Model([z, c], y, name="decoder")
        self.sampler = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def _parts(self, inputs):
        if isinstance(inputs, dict):
            return inputs["image"], inputs["conditions"]
        return inputs[0], inputs[1]

    def call(self, inputs, training=False):
        image, cond = self._parts(inputs)
        z_mean, z_log_var = self.encoder([image, cond], training=training)
        z = z_mean
        if training:
            eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.sampler)
            z = z_mean + keras.ops.exp(0.5 * z_log_var) * keras.ops.cast(eps, z_mean.dtype)
        return self.decoder([z, cond], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        image, cond = self._parts(x)
        target = image if y is None else y
        z_mean, z_log_var = (keras.ops.cast(t, "float32") for t in self.encoder([image, cond], training=training))
        bce = keras.losses.binary_crossentropy(keras.ops.cast(target, "float32")[..., None],
                                               keras.ops.cast(y_pred, "float32")[..., None])
        reconstruction = keras.ops.mean(keras.ops.sum(bce, axis=(1, 2, 3)))
        kl = keras.ops.mean(-0.5 * keras.ops.sum(1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var),
                                                 axis=-1))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return reconstruction + self.beta * kl

    @property
    def metrics(self):
        return [*super().metrics, self.reconstruction_tracker, self.kl_tracker]

    def example_inputs(self, batch: int = 1) -> dict:
        """Zeros of the model's inputs (tracing for export)."""
        import numpy as np

        return {"image": np.zeros((batch, *self.image_shape), np.float32),
                "conditions": np.zeros((batch, self.conditions), np.float32)}

    def generate(self, conditions, seed: int = 0):
        """Images (B, H, W, 1) decoded from z ~ N(0, 1) for ``conditions`` (B, k)."""
        from kzoo.export import infer

        import numpy as np

        conditions = np.asarray(conditions, np.float32)
        z = np.random.default_rng(seed).standard_normal((len(conditions), self.latent_dim)).astype(np.float32)
        return infer(self.decoder, [z, conditions])

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "conditions": self.conditions,
                "latent_dim": self.latent_dim, "filters": list(self.filters), "dense": self.dense, "beta": self.beta,
                "normalization": self.normalization, "seed": self.seed}


@register(
    parameters=882757,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="generation",
    input_shape=(28, 28, 1),
    outputs="the reconstructed image; generate(conditions) draws new ones",
    loss="model",
    metrics=(),
    seed=SEED_001_F,
    reference={"source": "the source notebooks' conditional VAE: 4,000 training and 1,000 validation images, ~150 epochs; "
                         "images generated for requested (centre, radius, thickness, deformation)"},
    search_space={**SEARCH, "latent_dim": {"type": "choice", "values": [2, 4, 8, 16]},
                  "beta": {"type": "float", "min": 0.25, "max": 4.0, "sampling": "log"}},
    description="A conditional VAE (kzoo.families.rings.models.ConditionalVAE, a Keras Model subclass computing its own "
                "loss): encoder of two stride-2 3x3 convolutions (32, 64) joined with the five ring parameters, "
                "dense 128, a 2-dimensional Gaussian latent; decoder from (z, parameters) through dense layers "
                "and two transposed convolutions to a sigmoid image. Loss: pixel-summed binary cross-entropy + "
                "beta KL (beta 8), each tracked as a metric. With beta 1 and 8 latent dimensions the latent "
                "carried the ring's position and generated rings ignored the requested centre (RMSE of cx 0.21, "
                "as good as random); beta 8 with 2 dimensions leaves the position to the conditions (0.039; "
                "measured with the rings-regress network on 2,000 test rings).",
)
def rings_cvae(input_shape=(28, 28, 1), conditions=5, latent_dim=2, filters=(32, 64), dense=128, beta=8.0,
               normalization=None, name="rings_cvae"):
    """A conditional VAE that draws a ring image for requested ring parameters.

    Examples:
        >>> import kzoo
        >>> vae = kzoo.build("rings_cvae")
        >>> images = vae.generate([[0.5, 0.5, 0.2, 0.8, 1.5]])   # cx/28, cy/28, r/28, thickness, deformation
    """
    model = ConditionalVAE(input_shape, conditions, latent_dim, filters, dense, beta, normalization, name=name)
    model(model.example_inputs())
    return model
