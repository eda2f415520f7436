"""Seed 001 A/B: the WGAN of spectra, its CBAM residual blocks, losses and training step."""

import keras
import numpy as np
import pytest

import kzoo
from kzoo.families.spectra.layers import CBAM1D, Redshift1D, ResBlock1D
from kzoo.reproduce import compiled_optimizer

TINY = {"input_shape": (32, 1), "hidden": 8, "latent_dim": 4, "n_critic": 2,
        "condition_ranges": [[0.1, 13.0], [0.002, 0.04], [8.5, 11.5], [0.02, 0.3]]}


def _batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    c = np.stack([rng.uniform(0.1, 13, n), rng.uniform(0.002, 0.04, n), rng.uniform(8.5, 11.5, n),
                  rng.uniform(0.02, 0.3, n)], axis=1).astype("float32")
    return {"spectrum": rng.uniform(0, 1, (n, 32, 1)).astype("float32"), "conditions": c}


def test_cbam_and_the_residual_block_keep_shapes_and_reload():
    x = np.random.default_rng(0).normal(size=(2, 40, 16)).astype("float32")
    att = CBAM1D(ratio=8, kernel=7)
    assert att(x).shape == (2, 40, 16) and att.hidden.units == 2 and att.spatial.kernel_size == (7,)
    block = ResBlock1D(24)
    y = block(x)
    assert y.shape == (2, 40, 24) and block.shortcut is not None
    inp = keras.Input((40, 16))
    m = keras.Model(inp, ResBlock1D(16, name="b")(CBAM1D(name="a")(inp)))
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m), safe_mode=True)
    back.set_weights(m.get_weights())
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(m(x)), rtol=1e-6)


def test_the_wasserstein_loss_and_the_gradient_penalty_on_hand_made_cases():
    gan = kzoo.build("spectra_wgan", **TINY, penalty="gp")
    assert float(gan.wasserstein_critic_loss(np.array([1.0, 3.0]), np.array([0.0, 2.0]))) == pytest.approx(-1.0)
    b = _batch()
    cs = gan._scale(b["conditions"])
    fake = gan.generator(gan._latent(cs))
    for v in gan.critic.trainable_variables:  # a constant critic: gradient 0, penalty (0 - 1)^2 = 1
        v.assign(np.zeros(v.shape, "float32"))
    assert float(gan.gradient_penalty(b["spectrum"], fake, cs)) == pytest.approx(1.0, abs=1e-5)
    # a critic with one nonzero weight on one input channel of its first convolution is linear there: its gradient
    # is that weight's kernel at every pixel it reaches; checked against the penalty through finite differences
    w = gan.critic.get_layer("crit_in").kernel
    k = np.zeros(w.shape, "float32")
    k[3, 0, 0] = 0.5
    w.assign(k)
    gp = float(gan.gradient_penalty(b["spectrum"], fake, cs, alpha=np.full((8, 1, 1), 0.5, "float32")))
    assert np.isfinite(gp) and gp >= 0


@pytest.mark.parametrize("penalty", ["clip", "gp"])
def test_one_training_step_changes_both_networks_and_clipping_holds(penalty):
    keras.utils.set_random_seed(0)
    gan = kzoo.build("spectra_wgan", **{**TINY, "n_critic": 2 if penalty == "clip" else 1}, penalty=penalty, seed=1)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=penalty == "clip")  # gp: traced, as kzoo fits
    assert isinstance(gan.optimizer, keras.optimizers.RMSprop)
    g0 = [np.array(v) for v in gan.generator.trainable_variables]
    c0 = [np.array(v) for v in gan.critic.trainable_variables]
    b = _batch()
    logs = gan.fit(b, epochs=1, batch_size=8, verbose=0).history
    assert {"loss", "critic_loss", "generator_loss"} <= set(logs)
    assert any(not np.array_equal(a, np.array(v)) for a, v in zip(g0, gan.generator.trainable_variables))
    assert any(not np.array_equal(a, np.array(v)) for a, v in zip(c0, gan.critic.trainable_variables))
    if penalty == "clip":
        assert max(float(np.abs(np.array(v)).max()) for v in gan.critic.trainable_variables) <= 0.01 + 1e-7
    assert np.isfinite(gan.evaluate(b, batch_size=8, verbose=0))


def test_generation_reloads_and_group_b_variants_build(tmp_path):
    gan = kzoo.build("spectra_wgan", **TINY, seed=3)
    c = _batch()["conditions"]
    a = gan.generate(c, seed=5)
    assert a.shape == (8, 32, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, gan.generate(c, seed=5))
    gan.save(tmp_path / "gan.keras")
    back = keras.saving.load_model(tmp_path / "gan.keras", safe_mode=True)
    np.testing.assert_allclose(back.generate(c, seed=5), a, rtol=1e-6)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3))  # the GAN keeps the seed's RMSprop at the given rate
    gan.save(tmp_path / "compiled.keras")
    assert compiled_optimizer(tmp_path / "compiled.keras") == "RMSprop"
    walk = gan.interpolate(c[0], np.zeros(4), np.ones(4), steps=5)
    assert walk.shape == (5, 32, 1)
    assert kzoo.build("spectra_wgan", **{**TINY, "latent_dim": 0}).generator.input.shape[-1] == 4
    assert kzoo.build("spectra_wgan", **TINY, conditional=False, noise="uniform").generator.input.shape[-1] == 4
    with pytest.raises(ValueError, match="latent_dim"):
        kzoo.build("spectra_wgan", **{**TINY, "latent_dim": 0}, conditional=False)


def test_the_redshift_layer_puts_a_line_at_one_plus_z_times_its_rest_wavelength_and_reloads(tmp_path):
    rest_range, obs, n_rest, n_obs = [2500.0, 8000.0], [4000.0, 8000.0], 440, 200  # rest covers obs / (1 + z)
    centres = 2500 + 5500 * (np.arange(n_rest) + 0.5) / n_rest
    obs_centres = 4000 + 4000 * (np.arange(n_obs) + 0.5) / n_obs
    z = np.array([0.05, 0.17, 0.33], "float32")
    latent = np.stack([np.full(3, 0.7), z / 0.4], axis=1).astype("float32")  # column 1: z scaled over [0, 0.4]
    layer = Redshift1D(rest_range, obs, n_obs, 1, [0.0, 0.4])
    line = np.exp(-0.5 * ((centres - 5007.0) / 8.0) ** 2)[None, :, None].repeat(3, 0).astype("float32")
    out = np.asarray(layer([line, latent]))[..., 0]
    assert out.shape == (3, n_obs) and out.min() == 0 and out.max() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(obs_centres[out.argmax(axis=1)], 5007.0 * (1 + z), atol=10.0)  # half a 20-A bin
    # a flux linear in wavelength stays linear (interpolation is exact on it), then min-max scaled
    ramp = np.broadcast_to(centres[None, :, None], (3, n_rest, 1)).astype("float32")
    got = np.asarray(layer([ramp, latent]))[..., 0]
    lam = obs_centres[None, :] / (1 + z[:, None])
    np.testing.assert_allclose(got, (lam - lam.min(1, keepdims=True)) / np.ptp(lam, axis=1, keepdims=True), atol=1e-4)
    # and back: the observed line returns to 5007 A on a rest grid, whatever z (to_rest)
    back_layer = Redshift1D(rest_range, obs, n_rest, 1, [0.0, 0.4], to_rest=True)
    rest_again = np.asarray(back_layer([out[..., None], latent]))[..., 0]
    assert rest_again.shape == (3, n_rest)
    np.testing.assert_allclose(centres[rest_again.argmax(axis=1)], 5007.0, atol=20.0)  # an observed bin / (1 + z)
    assert Redshift1D.from_config(back_layer.get_config()).to_rest
    # a generator with the redshift built in, its critic seeing the rest frame too, trains (one step) and reloads
    gan = kzoo.build("spectra_wgan", **{**TINY, "blocks": 1}, penalty="clip", observed_range=[3800, 9200], seed=2,
                     rest_view=True)
    assert gan.generator.get_layer("gen_rest").output.shape[1] == 64 and gan.generator.output.shape[1] == 32
    assert gan.critic.get_layer("crit_join").output.shape[-1] == 2 + 4  # spectrum, its rest view, 4 conditions
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    g0 = np.array(gan.generator.get_layer("gen_rest").kernel)
    gan.fit(_batch(), epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(g0, np.array(gan.generator.get_layer("gen_rest").kernel))
    c = _batch()["conditions"]
    a = gan.generate(c, seed=5)
    assert a.shape == (8, 32, 1) and a.min() == 0 and a.max() <= 1
    gan.save(tmp_path / "observed.keras")
    back = keras.saving.load_model(tmp_path / "observed.keras", safe_mode=True)
    np.testing.assert_allclose(back.generate(c, seed=5), a, atol=1e-6)
    with pytest.raises(ValueError, match="conditional"):
        kzoo.build("spectra_wgan", **TINY, conditional=False, observed_range=[3800, 9200])
    with pytest.raises(ValueError, match="rest_view"):
        kzoo.build("spectra_wgan", **TINY, rest_view=True)


PENALTY_STEPS = """
import json, keras, numpy as np, kzoo
TINY = {"input_shape": (32, 1), "hidden": 8, "latent_dim": 4, "blocks": 1, "condition_ranges": [[0.1, 13.0], [0.002, 0.04], [8.5, 11.5], [0.02, 0.3]]}
rng = np.random.default_rng(0)
c = np.stack([rng.uniform(0.1, 13, 8), rng.uniform(0.002, 0.04, 8), rng.uniform(8.5, 11.5, 8), rng.uniform(0.02, 0.3, 8)], axis=1).astype("float32")
b = {"spectrum": rng.uniform(0, 1, (8, 32, 1)).astype("float32"), "conditions": c}
out = {"backend": keras.backend.backend()}
gan = kzoo.build("spectra_wgan", **TINY, penalty="gp")
cs = gan._scale(b["conditions"]); fake = gan.generator(gan._latent(cs))
for v in gan.critic.trainable_variables:
    v.assign(np.zeros(v.shape, "float32"))
out["gp_constant_critic"] = float(keras.ops.convert_to_numpy(gan.gradient_penalty(b["spectrum"], fake, cs)))
after = []
for w in (0.0, 10.0):  # the penalty's gradient reaches the critic: with weight 0 the same step lands elsewhere
    keras.utils.set_random_seed(0)
    gan = kzoo.build("spectra_wgan", **TINY, n_critic=1, penalty="gp", gp_weight=w, seed=1)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3))
    gan.fit(b, epochs=1, batch_size=8, verbose=0)
    after.append(np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in gan.critic.trainable_variables]))
out["gp_moves_critic"] = float(np.abs(after[0] - after[1]).max())
"""
FIT_STEPS = """
for penalty in ("clip", "gp"):  # "auto": JAX compiles the penalty's step (a gradient of a gradient); clipping's runs uncompiled
    keras.utils.set_random_seed(0)
    gan = kzoo.build("spectra_wgan", **TINY, n_critic=2, penalty=penalty, seed=1)
    gan.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile="auto" if penalty == "gp" else False)
    g0 = [np.array(keras.ops.convert_to_numpy(v)) for v in gan.generator.trainable_variables]
    c0 = [np.array(keras.ops.convert_to_numpy(v)) for v in gan.critic.trainable_variables]
    logs = gan.fit(b, epochs=2, batch_size=8, verbose=0).history
    out[penalty] = {"logs": sorted(logs), "finite": bool(all(np.isfinite(v).all() for v in logs.values())),
        "gen_changed": any(not np.array_equal(a, keras.ops.convert_to_numpy(v)) for a, v in zip(g0, gan.generator.trainable_variables)),
        "critic_changed": any(not np.array_equal(a, keras.ops.convert_to_numpy(v)) for a, v in zip(c0, gan.critic.trainable_variables)),
        "max_critic_weight": max(float(np.abs(keras.ops.convert_to_numpy(v)).max()) for v in gan.critic.trainable_variables),
        "generated_shape": list(gan.generate(c[:3], seed=1).shape)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def steps_here():
    """The penalty's steps on this process's backend (TensorFlow), once for the module (TensorFlow's own fit is
    tested by test_one_training_step_changes_both_networks_and_clipping_holds)."""
    here = {}
    exec(PENALTY_STEPS, here)
    return here["out"]


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_gan_trains_on_torch_and_jax_as_on_tensorflow(backend, steps_here):
    """The same train_step on PyTorch (eager) and on JAX (pure; XLA-compiled with the penalty, uncompiled with
    clipping) in a subprocess (Keras picks its backend once per process): both networks move, clipping holds, the
    penalty of a constant critic is 1 and its gradient reaches the critic by as much as on TensorFlow, and the
    trained GAN generates."""
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip(backend)
    done = subprocess.run([sys.executable, "-c", PENALTY_STEPS + FIT_STEPS], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "KERAS_BACKEND": backend})
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["backend"] == backend and steps_here["backend"] == "tensorflow"
    for penalty in ("clip", "gp"):
        r = run[penalty]
        assert r["logs"] == ["critic_loss", "generator_loss", "loss"] and r["finite"]
        assert r["gen_changed"] and r["critic_changed"]
        assert r["generated_shape"] == [3, 32, 1]
    assert run["clip"]["max_critic_weight"] <= 0.01 + 1e-7
    assert run["gp"]["max_critic_weight"] > 0.02  # the penalty does not clip
    assert run["gp_constant_critic"] == pytest.approx(1.0, abs=1e-5)
    assert run["gp_moves_critic"] > 1e-4
    assert run["gp_moves_critic"] == pytest.approx(steps_here["gp_moves_critic"], rel=1e-3)
    assert run["gp_constant_critic"] == pytest.approx(steps_here["gp_constant_critic"], abs=1e-5)


@pytest.mark.parametrize("latent_dim", [4, 0])
def test_the_evaluation_measures_the_redshift_and_what_the_noise_does(tmp_path, latent_dim):
    """One epoch of a tiny observed-frame GAN through the fit path: the redshift measured on the real spectra is
    the floor (within 0.01), a generated one is measured too, and group B's noise spread and latent walk exist
    only where there is noise."""
    from kzoo.data import write_shards
    from kzoo.train import fit

    write_shards("spectra", tmp_path / "data", n=300, workers=1, progress=False)
    res = fit("spectra-wgan-observed", tmp_path / "data", tmp_path / "run", epochs=1, verbose=0,
              model_args={"hidden": 8, "latent_dim": latent_dim, "n_critic": 1, "blocks": 1})
    xc = res["metrics"]["cross_correlation"]
    assert xc["z_error_real"] < 0.01 and 0 <= xc["z_error_generated"] and 0 <= xc["z_outliers_generated"] <= 1
    assert res["metrics"]["frechet"]["generated"] > res["metrics"]["frechet"]["real_vs_real"]
    if latent_dim:
        assert res["metrics"]["noise"]["draw_std"] > 0 and (tmp_path / "run" / "latent_walk.png").exists()
        # another training seed is judged in the same features (one real-vs-real floor), its generator not the same
        other = fit("spectra-wgan-observed", tmp_path / "data", tmp_path / "run-seed2", epochs=1, verbose=0, seed=2,
                    model_args={"hidden": 8, "latent_dim": latent_dim, "n_critic": 1, "blocks": 1})
        assert other["metrics"]["frechet"]["real_vs_real"] == res["metrics"]["frechet"]["real_vs_real"]
        assert other["metrics"]["frechet"]["generated"] != res["metrics"]["frechet"]["generated"]
    else:
        assert "noise" not in res["metrics"] and not (tmp_path / "run" / "latent_walk.png").exists()
