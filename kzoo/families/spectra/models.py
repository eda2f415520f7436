"""Seed 001 A/B: a Wasserstein GAN that draws a galaxy spectrum for requested physical parameters.

``spectra_wgan`` (``SpectraWGAN``, a Keras Model subclass with its own ``train_step``) holds a generator from
(physical parameters [+ noise]) to a 500-point spectrum and a critic from (spectrum [+ parameters]) to a score,
both built from 1-D residual blocks with CBAM attention (``kzoo.families.spectra.layers.ResBlock1D``, channel ratio 8, spatial kernel
7, the source notebooks'). Each training step does ``n_critic`` (5) critic updates on the Wasserstein loss
E[D(fake)] - E[D(real)], kept 1-Lipschitz by weight clipping (the source notebooks', +-``clip_value``) or by a gradient
penalty (WGAN-GP, Gulrajani et al. 2017: ``gp_weight`` E[(||grad D(x_hat)|| - 1)^2] at random interpolates), then
one generator update on -E[D(fake)]. One optimizer (RMSprop, the source notebooks'; it keeps no step count) updates both
networks, so a checkpoint holds all of the training state and a resumed run continues exactly.

Group B's questions are arguments: ``latent_dim`` (0: the physical parameters are the whole latent), ``noise``
("gaussian" or "uniform"), ``hidden`` (the width), ``conditional`` (False: an unconditional GAN whose critic
never sees the parameters); :meth:`SpectraWGAN.interpolate` walks between two latent vectors.

``observed_range`` ([low, high] A; the observed frame) builds the redshift into the generator: it draws a rest-frame
spectrum on ``rest_length`` (default 2 x length) bins covering every rest wavelength the observed range sees at some
z of the z condition's range, and a fixed layer (``kzoo.families.spectra.layers.Redshift1D``) samples it at lambda_obs / (1 + z) onto
the ``length`` observed bins and min-max scales it; z is condition ``z_condition`` (default the last). The network
then learns one rest-frame spectrum per set of parameters and never has to learn where a line moves with z.
``rest_view=True`` lets the critic see it too: beside each spectrum (real or generated) it gets the same spectrum
shifted back to the rest frame by its z (``Redshift1D(to_rest=True)``, ``length`` bins over the same rest range,
as a second channel), where a line or the 4000 A break sits at one bin whatever z, as in the rest-frame runs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kzoo.families.spectra.layers import Redshift1D, ResBlock1D
from kzoo.registry import register

SEED_001A = "001_08a5d74de1e70061.txt, Generating galaxy spectra with a conditional WGAN (groups A and B)"
PENALTIES = ("clip", "gp")
NOISES = ("gaussian", "uniform")


@keras.saving.register_keras_serializable(package="kzoo")
class SpectraWGAN(keras.Model):
    """Inputs ``{"spectrum": (B, L, 1) in [0, 1], "conditions": (B, k) physical units}``; ``call`` returns spectra
    generated for the conditions (the real spectrum is not used), (B, L, 1): from drawn noise in training, from the
    noise's centre (0) at inference, so that a prediction is repeatable (``generate`` draws). ``condition_ranges`` ((k, 2) lows and
    highs) min-max scales the conditions inside the model, so it takes physical units. ``train_step`` (TensorFlow, PyTorch or JAX
    backend) trains the critic and the generator; ``test_step`` reports the critic's Wasserstein estimate
    E[D(real)] - E[D(fake)] as the loss (lower: generated spectra closer to the real ones, as far as the critic
    tells). ``generate(conditions, seed)`` draws spectra as numpy."""

    def __init__(self, length=500, conditions=4, condition_ranges=None, latent_dim=16, hidden=64, blocks=2,
                 n_critic=5, penalty="clip", clip_value=0.01, gp_weight=10.0, noise="gaussian", conditional=True,
                 seed=None, observed_range=None, z_condition=-1, rest_length=None, rest_view=False, **kwargs):
        super().__init__(**kwargs)
        if penalty not in PENALTIES:
            raise ValueError(f"spectra_wgan: penalty {penalty!r}: use one of {', '.join(PENALTIES)}")
        if noise not in NOISES:
            raise ValueError(f"spectra_wgan: noise {noise!r}: use one of {', '.join(NOISES)}")
        up = 2 ** int(blocks)
        if int(length) % up:
            raise ValueError(f"spectra_wgan: length {length} must be divisible by 2^blocks = {up}")
        if not conditional and not latent_dim:
            raise ValueError("spectra_wgan: an unconditional GAN needs latent_dim > 0 (its only input is the noise)")
        self.length, self.n_conditions, self.latent_dim = int(length), int(conditions), int(latent_dim)
        self.hidden, self.blocks, self.n_critic = int(hidden), int(blocks), int(n_critic)
        self.penalty, self.clip_value, self.gp_weight = penalty, float(clip_value), float(gp_weight)
        self.noise, self.conditional, self.seed = noise, bool(conditional), seed
        ranges = np.asarray(condition_ranges if condition_ranges is not None else [[0.0, 1.0]] * self.n_conditions,
                            np.float64).reshape(-1, 2)
        if len(ranges) != self.n_conditions or not np.all(ranges[:, 1] > ranges[:, 0]):
            raise ValueError(f"spectra_wgan: condition_ranges must be {self.n_conditions} [low, high] pairs with "
                             f"high > low, got {ranges.tolist()}")
        self.condition_ranges = ranges.tolist()
        self.observed_range = None if observed_range is None else [float(v) for v in observed_range]
        self.z_condition = int(z_condition) % self.n_conditions
        self.rest_length = int(rest_length) if rest_length else 2 * self.length
        self.rest_view = bool(rest_view)
        if self.rest_view and self.observed_range is None:
            raise ValueError("spectra_wgan: rest_view (the critic also sees the spectrum shifted back to the rest "
                             "frame) needs observed_range")
        if self.observed_range is not None:
            if not self.conditional:
                raise ValueError("spectra_wgan: observed_range (a rest-frame generator redshifted by its z "
                                 "condition) needs conditional=True")
            if len(self.observed_range) != 2 or not 0 < self.observed_range[0] < self.observed_range[1]:
                raise ValueError(f"spectra_wgan: observed_range must be [low, high] wavelengths (A) with "
                                 f"0 < low < high, got {observed_range}")
            if self.rest_length % up:
                raise ValueError(f"spectra_wgan: rest_length {self.rest_length} must be divisible by 2^blocks = {up}")
        self.generator = self._generator()
        self.critic = self._critic()
        self.sampler = keras.random.SeedGenerator(seed)
        self.critic_tracker = keras.metrics.Mean(name="critic_loss")
        self.generator_tracker = keras.metrics.Mean(name="generator_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")

    def _scale(self, c):
        r = np.asarray(self.condition_ranges, np.float32)  # as tensors: a numpy operand pulls a GPU tensor to the host
        low, width = ops.convert_to_tensor(r[:, 0]), ops.convert_to_tensor(r[:, 1] - r[:, 0])
        return (ops.cast(c, "float32") - low) / width

    def _generator(self):
        observed = self.observed_range is not None
        start = (self.rest_length if observed else self.length) // 2 ** self.blocks
        z = keras.Input((self.latent_dim + (self.n_conditions if self.conditional else 0),), name="latent")
        x = keras.layers.Dense(start * self.hidden, name="gen_dense")(z)
        x = keras.layers.Reshape((start, self.hidden), name="gen_reshape")(x)
        for i in range(self.blocks):
            x = keras.layers.UpSampling1D(2, name=f"gen_up{i + 1}")(x)
            x = ResBlock1D(self.hidden, name=f"gen_block{i + 1}")(x)
        if not observed:
            x = keras.layers.Conv1D(1, 7, padding="same", activation="sigmoid", name="gen_out", dtype="float32")(x)
            return keras.Model(z, x, name="generator")
        # the rest-frame spectrum (log flux, any scale) on rest_length bins over every rest wavelength that the
        # observed range sees at some z of the condition range, then redshifted by the z condition (not trained)
        x = keras.layers.Conv1D(1, 7, padding="same", name="gen_rest", dtype="float32")(x)
        x = self._shift(self.latent_dim + self.z_condition, name="gen_redshift")([x, z])
        return keras.Model(z, x, name="generator")

    def _shift(self, z_column, to_rest=False, name=None):
        """The fixed redshift between the rest range (every rest wavelength the observed range sees at some z of
        the z condition's range) and the observed range, z read from column ``z_column`` of its second input."""
        z_lo, z_hi = self.condition_ranges[self.z_condition]
        lo, hi = self.observed_range
        return Redshift1D([lo / (1 + z_hi), hi / (1 + z_lo)], self.observed_range, self.length, z_column,
                          [z_lo, z_hi], to_rest=to_rest, name=name, dtype="float32")

    def _critic(self):
        s = keras.Input((self.length, 1), name="spectrum")
        x = s
        if self.conditional:  # the parameters as extra channels along the spectrum
            c = keras.Input((self.n_conditions,), name="conditions")
            tiled = keras.layers.RepeatVector(self.length, name="crit_tile")(c)
            views = [s]
            if self.rest_view:  # the same spectrum shifted back to the rest frame by its z, as a second channel
                views.append(self._shift(self.z_condition, to_rest=True, name="crit_rest_view")([s, c]))
            x = keras.layers.Concatenate(name="crit_join")([*views, tiled])
        x = keras.layers.Conv1D(self.hidden, 7, padding="same", name="crit_in")(x)
        for i in range(self.blocks):
            x = ResBlock1D(self.hidden, name=f"crit_block{i + 1}")(x)
            x = keras.layers.AveragePooling1D(2, name=f"crit_pool{i + 1}")(x)
        x = keras.layers.Flatten(name="crit_flatten")(x)
        out = keras.layers.Dense(1, name="crit_out", dtype="float32")(x)
        return keras.Model([s, c] if self.conditional else s, out, name="critic")

    def _parts(self, inputs):
        if isinstance(inputs, dict):
            return inputs.get("spectrum"), inputs["conditions"]
        return inputs[0], inputs[1]

    def _latent(self, c_scaled, draw=True):
        b = ops.shape(c_scaled)[0]
        parts = []
        if self.latent_dim:
            if not draw:  # the centre of the noise distribution
                parts.append(ops.zeros((b, self.latent_dim)))
            elif self.noise == "gaussian":
                parts.append(keras.random.normal((b, self.latent_dim), seed=self.sampler))
            else:
                parts.append(keras.random.uniform((b, self.latent_dim), -1.0, 1.0, seed=self.sampler))
        if self.conditional:
            parts.append(c_scaled)
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def _score(self, spectra, c_scaled, training=False):
        return self.critic([spectra, c_scaled] if self.conditional else spectra, training=training)

    def call(self, inputs, training=False):
        _, c = self._parts(inputs)  # at inference the noise's centre (0): the typical spectrum, the same each call
        return self.generator(self._latent(self._scale(c), draw=training), training=training)

    def wasserstein_critic_loss(self, d_real, d_fake):
        """E[D(fake)] - E[D(real)]: what the critic minimises (minus its Wasserstein estimate)."""
        return ops.mean(d_fake) - ops.mean(d_real)

    def gradient_losses(self, inputs) -> list:
        """``[(loss, variables), ...]``: each network's loss of one training step on ``inputs`` (without the
        gradient penalty) with the weights it trains, as ``_train_body`` pairs them; for the check that every
        weight gets a gradient."""
        real, c = self._parts(inputs)
        cs = self._scale(c)
        fake = self.generator(self._latent(cs), training=True)
        d_real, d_fake = self._score(ops.cast(real, "float32"), cs, training=True), self._score(fake, cs, training=True)
        return [(self.wasserstein_critic_loss(d_real, d_fake), self.critic.trainable_variables),
                (-ops.mean(d_fake), self.generator.trainable_variables)]

    def gradient_penalty(self, real, fake, c_scaled, alpha=None):
        """WGAN-GP's E[(||grad_x D(x)|| - 1)^2] at x = alpha real + (1 - alpha) fake, alpha ~ U(0, 1) per example
        (given: for tests). TensorFlow, PyTorch or JAX backend (the gradient of a gradient, each its own way)."""
        real, fake = ops.cast(real, "float32"), ops.cast(fake, "float32")
        if alpha is None:
            alpha = keras.random.uniform((ops.shape(real)[0], 1, 1), seed=self.sampler)
        x = alpha * real + (1.0 - alpha) * fake
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                tape.watch(x)
                score = self._score(x, c_scaled, training=True)
            grad = tape.gradient(score, x)
        elif backend == "torch":
            import torch

            x = x.detach().requires_grad_(True)
            score = self._score(x, c_scaled, training=True)
            grad = torch.autograd.grad(score.sum(), x, create_graph=True)[0]
        elif backend == "jax":
            import jax

            grad = jax.grad(lambda x: ops.sum(self._score(x, c_scaled, training=True)))(x)
        else:
            raise NotImplementedError(f"SpectraWGAN.gradient_penalty: the tensorflow, torch or jax backend, not {backend}")
        norm = ops.sqrt(ops.sum(ops.square(grad), axis=[1, 2]) + 1e-12)
        return ops.mean(ops.square(norm - 1.0))

    def train_step(self, *args):
        """n_critic critic updates (clipped, or with the gradient penalty), then one generator update; TensorFlow
        (traced), PyTorch (eager) or JAX (``train_step(state, data)``, pure; compiled, Keras's default there, the whole
        step, the n_critic critic updates included, is one XLA program); ``compile`` refuses any other backend."""
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_steps(args[0], lambda run, step: self._train_body(args[1], run, step), train=True)
        return self._train_body(args[0], lambda f: f(), self._torch_update if backend == "torch" else self._tf_update)

    def _train_body(self, data, run, step):
        """The step, written once: ``step(loss_fn, variables)`` takes one optimizer step down ``loss_fn()[0]``'s
        gradient and returns what loss_fn returned; ``run(f)`` runs code that reads or assigns variables (JAX
        threads the variables' values through both; the other backends run f as it is)."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        real, c = self._parts(x)
        real = ops.cast(real, "float32")
        cs = self._scale(c)
        critic_vars, gen_vars = self.critic.trainable_variables, self.generator.trainable_variables
        for _ in range(self.n_critic):
            fake = run(lambda: ops.stop_gradient(self.generator(self._latent(cs), training=True)))

            def critic_loss():
                d_real = self._score(real, cs, training=True)
                d_fake = self._score(fake, cs, training=True)
                loss = self.wasserstein_critic_loss(d_real, d_fake)
                if self.penalty == "gp":
                    loss = loss + self.gp_weight * self.gradient_penalty(real, fake, cs)
                return loss, (d_real, d_fake)

            loss_c, (d_real, d_fake) = step(critic_loss, critic_vars)
            if self.penalty == "clip":
                run(lambda: [v.assign(ops.clip(v, -self.clip_value, self.clip_value)) for v in critic_vars])

        def generator_loss():
            return -ops.mean(self._score(self.generator(self._latent(cs), training=True), cs, training=True)), None

        loss_g, _ = step(generator_loss, gen_vars)

        def log():
            self.critic_tracker.update_state(loss_c)
            self.generator_tracker.update_state(loss_g)
            self.wasserstein_tracker.update_state(-self.wasserstein_critic_loss(d_real, d_fake))
            return {"loss": self.wasserstein_tracker.result(), "critic_loss": self.critic_tracker.result(),
                    "generator_loss": self.generator_tracker.result()}

        return run(log)

    def _jax_steps(self, state, body, train):
        """Run ``body(run, step)`` on JAX as a pure function of ``state`` (the trainer's lists of trainable,
        non-trainable, [optimizer,] metrics variables' values); return (its logs, the new state)."""
        import jax

        groups = [self.trainable_variables, self.non_trainable_variables]
        groups += [self.optimizer.variables] if train else []
        groups += [self.metrics_variables]
        refs = [r for g in groups for r in g]
        values = {id(r): v for g, vals in zip(groups, state) for r, v in zip(g, vals)}

        def scoped(vals, f):
            with keras.StatelessScope(state_mapping=[(r, vals[id(r)]) for r in refs]) as scope:
                out = f()
            return out, {id(r): scope.get_current_value(r) for r in refs}  # assigned or as mapped

        def run(f):
            nonlocal values
            out, values = scoped(values, f)
            return out

        def step(loss_fn, variables):
            nonlocal values
            ids = [id(v) for v in variables]

            def pure(wrt, vals):
                (loss, extra), vals = scoped({**vals, **dict(zip(ids, wrt))}, loss_fn)
                return loss, (extra, vals)

            (loss, (extra, values)), grads = jax.value_and_grad(pure, has_aux=True)([values[i] for i in ids], values)
            run(lambda: self.optimizer.apply(grads, variables))
            return loss, extra

        logs = body(run, step)
        return logs, tuple([values[id(r)] for r in g] for g in groups)

    def _tf_update(self, loss_fn, variables):
        """One optimizer step on ``variables`` down the gradient of ``loss_fn()[0]``; returns what loss_fn did."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, extra = loss_fn()
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, extra

    def _torch_update(self, loss_fn, variables):
        import torch

        self.zero_grad()
        loss, extra = loss_fn()
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(grads, variables)
        if extra is not None:
            extra = tuple(e.detach() for e in extra)
        return loss.detach(), extra

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_steps(args[0], lambda run, step: run(lambda: self._test_body(args[1])), train=False)
        return self._test_body(args[0])

    def _test_body(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        real, c = self._parts(x)
        cs = self._scale(c)
        fake = self.generator(self._latent(cs), training=False)
        w = -self.wasserstein_critic_loss(self._score(ops.cast(real, "float32"), cs), self._score(fake, cs))
        self.wasserstein_tracker.update_state(w)
        return {"loss": self.wasserstein_tracker.result()}

    @property
    def metrics(self):
        return [self.wasserstein_tracker, self.critic_tracker, self.generator_tracker]

    def compile(self, optimizer="rmsprop", **kwargs):
        """Compile with one RMSprop (the source notebooks') at the given optimizer's learning rate; the loss is the model's.
        Training needs the TensorFlow, PyTorch or JAX backend (refused here on another, before fit); inference runs on
        any."""
        if keras.backend.backend() not in ("tensorflow", "torch", "jax"):
            raise NotImplementedError(f"spectra_wgan trains on the tensorflow, torch or jax backend (its train_step takes "
                                      f"the gradients itself), not {keras.backend.backend()}: use --backend jax")
        lr = optimizer.learning_rate if isinstance(optimizer, keras.optimizers.Optimizer) else 5e-5
        lr = float(keras.ops.convert_to_numpy(lr)) if not callable(lr) else lr
        kwargs.pop("loss", None)
        super().compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr), loss=None, **kwargs)
        # one optimizer, built over both networks, so that each update may apply to either
        self.optimizer.build(self.generator.trainable_variables + self.critic.trainable_variables)

    def generate(self, conditions, seed: int = 0, batch_size: int = 256) -> np.ndarray:
        """Spectra (n, L, 1) generated for ``conditions`` (n, k) in physical units, from noise seeded by ``seed``."""
        from kzoo.export import infer

        cs = ops.convert_to_numpy(self._scale(np.asarray(conditions, np.float32))).astype(np.float32)
        rng = np.random.default_rng(seed)
        out = []
        for s in range(0, len(cs), batch_size):
            part = [cs[s:s + batch_size]] if self.conditional else []
            if self.latent_dim:
                part.insert(0, self.draw_noise(rng, len(cs[s:s + batch_size])))
            out.append(infer(self.generator, np.concatenate(part, axis=1)))
        return np.concatenate(out)

    def draw_noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` noise vectors (n, latent_dim), float32, from the model's distribution (``noise``)."""
        z = rng.normal(size=(n, self.latent_dim)) if self.noise == "gaussian" else rng.uniform(-1, 1, (n, self.latent_dim))
        return z.astype(np.float32)

    def interpolate(self, conditions, z0, z1, steps: int = 8) -> np.ndarray:
        """Group B's walk: spectra (steps, L, 1) for one set of ``conditions`` as the noise goes from ``z0`` to
        ``z1`` in a straight line."""
        from kzoo.export import infer

        t = np.linspace(0.0, 1.0, steps)[:, None]
        z = (1 - t) * np.asarray(z0, np.float32)[None] + t * np.asarray(z1, np.float32)[None]
        c = np.repeat(ops.convert_to_numpy(self._scale(np.asarray(conditions, np.float32)[None])).astype(np.float32),
                      steps, axis=0)
        latent = np.concatenate([z, c], axis=1) if self.conditional else z
        return infer(self.generator, latent.astype(np.float32))

    def example_inputs(self, batch: int = 1) -> dict:
        """Zeros of the model's inputs (tracing for export)."""
        return {"spectrum": np.zeros((batch, self.length, 1), np.float32),
                "conditions": np.asarray([[lo for lo, _ in self.condition_ranges]] * batch, np.float32)}

    def get_config(self):
        return {**super().get_config(), "length": self.length, "conditions": self.n_conditions,
                "condition_ranges": self.condition_ranges, "latent_dim": self.latent_dim, "hidden": self.hidden,
                "blocks": self.blocks, "n_critic": self.n_critic, "penalty": self.penalty,
                "clip_value": self.clip_value, "gp_weight": self.gp_weight, "noise": self.noise,
                "conditional": self.conditional, "seed": self.seed, "observed_range": self.observed_range,
                "z_condition": self.z_condition, "rest_length": self.rest_length, "rest_view": self.rest_view}


@register(
    parameters=282014,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="generation",
    input_shape=(500, 1),
    outputs="a generated spectrum (500 points in [0, 1], log then min-max as the training spectra)",
    loss="model",
    metrics=(),
    seed=SEED_001A,
    reference={"source": "the source notebooks' conditional WGAN: a 1-D ResNet generator and critic with CBAM attention "
                         "(channel ratio 8, spatial kernel 7), 5 critic steps per generator step, weight clipping, "
                         "RMSprop; spectra binned to 500 points, log then min-max"},
    search_space={"learning_rate": {"type": "float", "min": 1e-5, "max": 1e-3, "sampling": "log"},
                  "latent_dim": {"type": "choice", "values": [0, 8, 16, 32]},
                  "hidden": {"type": "choice", "values": [32, 64, 128]}},
    description="SpectraWGAN (kzoo.families.spectra.models): generator Dense -> (L/4, hidden) -> 2 x [upsample, ResBlock1D "
                "with CBAM] -> Conv1D sigmoid; critic Conv1D -> 2 x [ResBlock1D with CBAM, average pool] -> Dense(1); "
                "conditions tiled along the spectrum for the critic and joined to the noise for the generator; "
                "weight clipping or gradient penalty; observed_range: a rest-frame generator redshifted by a fixed "
                "Redshift1D layer to its z condition; rest_view: the critic also sees each spectrum shifted back to "
                "the rest frame.",
)
def spectra_wgan(input_shape=(500, 1), conditions=4, condition_ranges=None, latent_dim=16, hidden=64, blocks=2,
                 n_critic=5, penalty="clip", clip_value=0.01, gp_weight=10.0, noise="gaussian", conditional=True,
                 seed=None, observed_range=None, z_condition=-1, rest_length=None, rest_view=False,
                 normalization=None, name="spectra_wgan"):
    """A (conditional) Wasserstein GAN of spectra of ``input_shape[0]`` points.

    Examples:
        >>> import kzoo
        >>> gan = kzoo.build("spectra_wgan", input_shape=(64, 1), hidden=8, penalty="gp")
    """
    if (normalization.get("mode") if isinstance(normalization, dict) else normalization) not in (None, "none"):
        raise ValueError("spectra_wgan: spectra come min-max scaled; normalization must be none")
    model = SpectraWGAN(int(input_shape[0]), conditions, condition_ranges, latent_dim, hidden, blocks, n_critic,
                        penalty, clip_value, gp_weight, noise, conditional, seed, observed_range, z_condition,
                        rest_length, rest_view, name=name)
    model(model.example_inputs())
    return model
