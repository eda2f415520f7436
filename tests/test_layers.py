import numpy as np
import pytest

from kzoo.layers import NOISES, Noise, PerImageMaxScale, SigmaScale, Standardize, corrupt

X = np.random.default_rng(0).uniform(0.05, 1.0, (8, 32, 32, 1)).astype("float32")
SEED = np.array([1, 2])


@pytest.mark.parametrize("kind", NOISES)
def test_noise_keeps_range_is_stateless_and_round_trips(kind):
    import keras

    y = np.asarray(corrupt(X, SEED, kind))
    assert y.shape == X.shape and y.min() >= 0 and y.max() <= 1 and not np.array_equal(y, X)
    np.testing.assert_array_equal(y, np.asarray(corrupt(X, SEED, kind)))
    assert not np.array_equal(y, np.asarray(corrupt(X, SEED + 1, kind)))
    layer = Noise(kind, seed=3)
    np.testing.assert_array_equal(np.asarray(layer(X)), X)  # inactive outside training
    assert not np.array_equal(np.asarray(layer(X, training=True)), X)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(again, Noise) and again.get_config() == layer.get_config()


@pytest.mark.parametrize("kind", ["masked", "salt_and_pepper"])
@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_pixel_noise_hits_the_requested_fraction(kind, fraction):
    y = np.asarray(corrupt(X, SEED, kind, fraction))
    assert abs((y != X).mean() - fraction) < 0.02


def test_gaussian_and_poisson_noise_statistics():
    flat = np.full((4, 64, 64, 1), 0.5, "float32")
    d = np.asarray(corrupt(flat, SEED, "gaussian", 0.1)) - flat
    assert abs(d.std() - 0.1) < 0.005 and abs(d.mean()) < 0.005
    p = np.asarray(corrupt(flat, SEED, "poisson", 20.0)) * 20.0  # counts ~ Poisson(10), clipped at 20
    assert abs(p.mean() - 10) < 0.2 and abs(p.var() - 10) < 0.8
    with pytest.raises(ValueError, match="fraction"):
        corrupt(flat, SEED, "masked", 1.5)
    with pytest.raises(ValueError, match="noise must be one of"):
        corrupt(flat, SEED, "pink")


def test_normalisation_layers():
    x = np.array([[[[2.0], [4.0]]]], "float32")
    np.testing.assert_allclose(np.asarray(PerImageMaxScale()(x)), [[[[0.5], [1.0]]]])
    np.testing.assert_allclose(np.asarray(Standardize(3.0, 2.0)(x)), [[[[-0.5], [0.5]]]])
    with pytest.raises(ValueError, match="std"):
        Standardize(0.0, 0.0)


def test_sigma_scale_multiplies_the_sigmas_only_and_round_trips(tmp_path):
    import keras

    from kzoo.export import load_model
    from kzoo.losses import split_mean_sigma

    out = np.array([[0.3, 5.0, np.log(0.1), np.log(2.0)]], "float32")  # means 0.3, 5; sigmas 0.1, 2
    mean, sigma = split_mean_sigma(np.asarray(SigmaScale([1.5, 0.5])(out)))
    np.testing.assert_allclose(np.asarray(mean), [[0.3, 5.0]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(sigma), [[0.15, 1.0]], rtol=1e-5)
    inp = keras.Input((4,))
    model = keras.Model(inp, SigmaScale([1.5, 0.5])(keras.layers.Dense(4)(inp)))
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")  # safe_mode=True
    np.testing.assert_allclose(np.asarray(again(out)), np.asarray(model(out)), rtol=1e-6)
    assert again.layers[-1].scales == [1.5, 0.5]
    with pytest.raises(ValueError, match="scales"):
        SigmaScale([1.0, 0.0])
    with pytest.raises(ValueError, match="2 x 2"):
        SigmaScale([1.0, 2.0])(np.zeros((1, 3), "float32"))


@pytest.mark.parametrize("rate", [0.7, 15.0, 40.0, 3000.0])
def test_keras_ops_poisson_follows_the_poisson_law(rate):
    import keras
    from scipy import stats

    from kzoo.layers import poisson

    n = 40000
    k = np.asarray(poisson(np.full((n,), rate, "float32"), keras.random.SeedGenerator(5), rate))
    assert np.all(k == np.round(k)) and k.min() >= 0
    assert abs(k.mean() - rate) < 5 * np.sqrt(rate / n) and abs(k.var() / rate - 1) < 0.05
    lo, hi = np.percentile(k, [5, 95])
    assert stats.poisson.cdf(lo, rate) > 0.02 and stats.poisson.cdf(hi, rate) < 0.98  # no fat tails either way
    if rate < 1:
        freq = np.bincount(k.astype(int), minlength=4)[:4] / n
        np.testing.assert_allclose(freq, stats.poisson.pmf(np.arange(4), rate), atol=0.01)
    layer = Noise("poisson", rate, seed=1)
    y = np.asarray(layer(np.full((2, 32, 32, 1), 0.5, "float32"), training=True)) * rate
    free = y < 0.999 * rate  # below the clip at 1
    assert free.any() and np.all(np.abs(y[free] - np.round(y[free])) < 1e-3 * max(rate, 1))  # counts / amount
