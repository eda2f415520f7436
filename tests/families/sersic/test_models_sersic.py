"""Seed 003's networks: the Xception's parameter count, the autoencoder's inputs, outputs and training step."""

import numpy as np
import pytest

import kzoo
from kzoo.export import load_model
from kzoo.families.sersic.layers import NoiseWeightedChannels
from kzoo.losses import get as get_loss
from kzoo.families.sersic.models import AUTOENCODER_LOSS_WEIGHTS

TINY_AE = {"input_shape": (16, 16, 1), "filters": (4, 8), "dense": (16, 8)}  # 16 -> 4 x 4 x 8: fast


def ae_inputs(n, size=16, seed=0):
    """Raw arrays as the simulator gives them: noisy counts, a unit-flux PSF image, [sigma, psf_fwhm]."""
    rng = np.random.default_rng(seed)
    sigma = rng.integers(200, 400, n).astype("float32")
    image = (rng.poisson(50.0, (n, size, size, 1)) + rng.normal(0, 1, (n, size, size, 1)) * sigma[:, None, None, None])
    psf = rng.uniform(0, 1, (n, size, size, 1))
    psf /= psf.sum(axis=(1, 2, 3), keepdims=True)
    conditions = np.stack([sigma, rng.uniform(0.5, 1.0, n)], axis=1)
    return {"image": image.astype("float32"), "psf": psf.astype("float32"), "conditions": conditions.astype("float32")}


def test_xception_has_the_seeds_parameter_count_and_18_separable_convolutions():
    import keras

    model = kzoo.build("xception_sersic")
    # The seed's summary: Total params 109,304 = 109,301 trainable + 3 non-trainable, the adapted
    # Normalization layer's mean, variance and count. kzoo's normalisation is constants in the config.
    assert model.count_params() == 109_301
    standardized = kzoo.build("xception_sersic", normalization={"mode": "global", "mean": 3.0, "std": 2.0})
    assert standardized.count_params() == 109_301
    seed_like = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Normalization(), model])
    assert seed_like.count_params() == 109_304
    assert sum(isinstance(l, keras.layers.SeparableConv2D) for l in model.layers) == 18
    assert kzoo.spec("xception") is kzoo.spec("xception_sersic")
    assert kzoo.spec("xception_sersic").reference["parameters"] == 109_304


@pytest.mark.parametrize("outputs", [5, 10])
def test_xception_output_shapes_and_forward_pass(outputs):
    model = kzoo.build("xception_sersic", outputs=outputs)
    assert model.output_shape == (None, outputs)
    x = np.random.default_rng(0).normal(0, 300, (2, 64, 64, 1)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, outputs) and np.isfinite(y).all()


def test_xception_gaussian_nll_head_trains_one_step():
    model = kzoo.build("xception_sersic", input_shape=(16, 16, 1), outputs=10, residual_blocks=1,
                       normalization={"mode": "global", "mean": 0.0, "std": 300.0})
    model.compile("adam", loss=get_loss("gaussian_nll"))
    rng = np.random.default_rng(1)
    history = model.fit(rng.normal(0, 300, (8, 16, 16, 1)).astype("float32"), rng.uniform(-1, 1, (8, 5)),
                        batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_xception_save_and_safe_load_predict_the_same(tmp_path):
    model = kzoo.build("xception_sersic", normalization={"mode": "global", "mean": 10.0, "std": 300.0})
    x = np.random.default_rng(2).normal(0, 300, (3, 64, 64, 1)).astype("float32")
    model.save(tmp_path / "x.keras")
    again = load_model(tmp_path / "x.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_autoencoder_full_size_outputs_and_latent_in_unit_interval():
    model = kzoo.build("sersic_autoencoder")
    assert model.count_params() == 30_427_378  # six convolutions to 1 x 1 x 2048, the seed's dense 2048-1024
    out = model(ae_inputs(2, size=64), training=False)
    assert set(out) == {"params", "noiseless"}
    params, noiseless = np.asarray(out["params"]), np.asarray(out["noiseless"])
    assert params.shape == (2, 5) and noiseless.shape == (2, 64, 64, 1)
    assert (params >= 0).all() and (params <= 1).all()
    assert (noiseless >= 0).all() and (noiseless <= 1).all()


def test_noise_weighted_channels_are_the_seeds():
    x = ae_inputs(3)
    channels, stats = (np.asarray(t) for t in NoiseWeightedChannels()([x["image"], x["psf"], x["conditions"]]))
    img, psf = x["image"][..., 0].astype("float64"), x["psf"][..., 0].astype("float64")
    sigma, fwhm = x["conditions"][:, 0, None, None], x["conditions"][:, 1]
    std, mean = img.std(axis=(1, 2)), img.mean(axis=(1, 2))
    var = (std ** 2)[:, None, None]
    want = np.stack([img, img / sigma, img ** 2 / (1.41 * sigma ** 2), img / var, img / (var ** 2 * sigma),
                     psf, psf ** 2], axis=-1)
    assert channels.shape == (3, 16, 16, 7) and stats.shape == (3, 4)
    np.testing.assert_allclose(channels, want, rtol=2e-4, atol=1e-30)
    np.testing.assert_allclose(stats, np.stack([sigma[:, 0, 0], fwhm, std, mean], axis=1), rtol=2e-4)
    blank = NoiseWeightedChannels()([np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1)), np.zeros((1, 2))])
    assert all(np.isfinite(np.asarray(t)).all() for t in blank)


def test_autoencoder_trains_one_step_with_the_seeds_weighted_losses():
    model = kzoo.build("sersic_autoencoder", **TINY_AE)
    assert kzoo.spec("sersic_autoencoder").reference["loss_weights"] == AUTOENCODER_LOSS_WEIGHTS == {
        "params": 5.0, "noiseless": 1.0}
    model.compile("adam", loss={"params": "binary_crossentropy", "noiseless": "binary_crossentropy"},
                  loss_weights=AUTOENCODER_LOSS_WEIGHTS)
    rng = np.random.default_rng(3)
    targets = {"params": rng.uniform(0, 1, (8, 5)).astype("float32"),
               "noiseless": rng.uniform(0, 1, (8, 16, 16, 1)).astype("float32")}
    history = model.fit(ae_inputs(8), targets, batch_size=8, epochs=1, verbose=0)
    assert history.params["steps"] == 1
    assert np.isfinite(history.history["loss"][0])
    assert {"params_loss", "noiseless_loss"} <= set(history.history)


def test_autoencoder_save_and_safe_load_predict_the_same(tmp_path):
    model = kzoo.build("sersic_autoencoder", **TINY_AE)
    x = ae_inputs(4, seed=4)
    model.save(tmp_path / "ae.keras")
    again = load_model(tmp_path / "ae.keras")
    want, got = model(x, training=False), again(x, training=False)
    for key in ("params", "noiseless"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-5, atol=1e-6)


def test_autoencoder_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="normalization must be 'none'"):
        kzoo.build("sersic_autoencoder", normalization={"mode": "global", "mean": 0.0, "std": 1.0})
    with pytest.raises(ValueError, match="multiples of"):
        kzoo.build("sersic_autoencoder", input_shape=(48, 48, 1))
    model = kzoo.build("sersic_autoencoder", normalization={"mode": "none"}, **TINY_AE)
    from kzoo.layers import Standardize

    assert not any(isinstance(layer, Standardize) for layer in model._flatten_layers())  # raw counts in


def test_xception_takes_observing_conditions_as_a_second_input(tmp_path):
    model = kzoo.build("xception_sersic", input_shape=(16, 16, 1), sep_filters=4, residual_blocks=1, conditions=2)
    assert sorted(t.name for t in model.inputs) == ["conditions", "image"]
    x = ae_inputs(4)
    x = {"image": x["image"], "conditions": x["conditions"]}
    y = np.asarray(model(x, training=False))
    other = np.asarray(model({**x, "conditions": x["conditions"] * 2.0}, training=False))
    assert y.shape == (4, 5) and not np.allclose(y, other)  # the conditions reach the head
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(load_model(tmp_path / "m.keras")(x, training=False)), y, rtol=1e-6, atol=1e-6)
    assert kzoo.build("xception_sersic").count_params() == 109301  # the seed's network is unchanged without them
