import numpy as np
import pytest

from kzoo.layers import NOISES, GaussianNoise, MaskNoise, PerImageMaxScale, PoissonNoise, SaltPepperNoise, Standardize

X = np.random.default_rng(0).uniform(0.05, 1.0, (8, 32, 32, 1)).astype("float32")


@pytest.mark.parametrize("name", sorted(NOISES))
def test_noise_keeps_range_and_round_trips(name):
    import keras

    layer = NOISES[name](seed=3)
    y = np.asarray(layer(X))
    assert y.shape == X.shape and y.min() >= 0 and y.max() <= 1 and not np.array_equal(y, X)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()


@pytest.mark.parametrize("cls", [MaskNoise, SaltPepperNoise])
@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_pixel_noise_hits_the_requested_fraction(cls, fraction):
    y = np.asarray(cls(fraction=fraction, seed=1)(X))
    assert abs((y != X).mean() - fraction) < 0.02


def test_gaussian_and_poisson_noise_statistics():
    flat = np.full((4, 64, 64, 1), 0.5, "float32")
    d = np.asarray(GaussianNoise(0.1, seed=0)(flat)) - flat
    assert abs(d.std() - 0.1) < 0.005 and abs(d.mean()) < 0.005
    p = np.asarray(PoissonNoise(20.0, seed=0)(flat)) * 20.0  # counts ~ Poisson(10), clipped at 20
    assert abs(p.mean() - 10) < 0.2 and abs(p.var() - 10) < 0.8
    with pytest.raises(ValueError, match="fraction"):
        MaskNoise(1.5)


def test_normalisation_layers():
    x = np.array([[[[2.0], [4.0]]]], "float32")
    np.testing.assert_allclose(np.asarray(PerImageMaxScale()(x)), [[[[0.5], [1.0]]]])
    np.testing.assert_allclose(np.asarray(Standardize(3.0, 2.0)(x)), [[[[-0.5], [0.5]]]])
    with pytest.raises(ValueError, match="std"):
        Standardize(0.0, 0.0)
