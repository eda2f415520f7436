import numpy as np
import pytest

from kzoo.layers import NOISES, Noise, PerImageMaxScale, Standardize, corrupt

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
