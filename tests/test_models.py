"""One test over every registered model, as keras-hub does for every backbone."""

import json

import numpy as np
import pytest

import kzoo
from kzoo.export import load_model

# Keep the suite fast; the full sizes are tested with the seeds' parameter counts.
SMALL = {"gc_cnn": {"input_shape": (16, 16, 1)}, "gc_unet": {"input_shape": (16, 16, 1)},
         "gc_dae": {"input_shape": (16, 16, 1)}, "gc_cnn_multi": {"input_shape": (16, 16, 1)},
         "xception_sersic": {"input_shape": (16, 16, 1)},
         "sersic_autoencoder": {"input_shape": (16, 16, 1), "filters": (4, 8), "dense": (16, 8)},
         "cosmo_cnn": {"input_shape": (16, 16, 2), "filters": (4, 4), "dense": 8},
         "cosmo_resnet18": {"input_shape": (16, 16, 2), "stages": 2, "width": 4},
         "camels_o3": {"input_shape": (16, 16, 2), "hidden": 2, "blocks": 4},
         "cluster_cnn": {"input_shape": (36, 36, 1)}, "cluster_cnn_deep": {"input_shape": (48, 48, 1)},
         "cluster_p4cnn": {"input_shape": (16, 16, 1)},
         "svdd_autoencoder": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16)},
         "deep_svdd": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16)},
         "reion_autoencoder": {"input_shape": (16, 16, 1)}, "reion_classifier": {"input_shape": (16, 16, 1)},
         "reion_mlp": {"input_shape": (16, 16, 1), "crop": 8},
         "denoise_then_measure": {"input_shape": (16, 16, 1), "denoiser_args": {"base_filters": 2, "depth": 2},
                                  "estimator_args": {"sep_filters": 4, "residual_blocks": 1}}}


def inputs_like(model, fill):
    """``fill((2, ...))`` for the model's input, or a dict of them for a model with named inputs."""
    if hasattr(model, "example_inputs"):  # a subclassed model (ConditionalVAE, DeepSVDD) gives its own inputs
        example = model.example_inputs()
        if isinstance(example, dict):
            return {k: fill((2, *v.shape[1:])) for k, v in example.items()}
        return fill((2, *example.shape[1:]))
    if isinstance(model.input, dict):
        return {k: fill((2, *t.shape[1:])) for k, t in model.input.items()}
    return fill((2, *model.input_shape[1:]))


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_model_builds_runs_and_round_trips(name, tmp_path):
    import keras

    s = kzoo.spec(name)
    model = kzoo.build(name, **SMALL.get(name, {}))
    # Functional, but for a model that computes its own loss (a VAE): a Model subclass, as the design allows
    assert isinstance(model, keras.Model) and (model.__class__.__name__ == "Functional") != (s.loss == "model")
    assert all(l.__class__.__name__ != "Lambda" for l in model._flatten_layers())
    y = model(inputs_like(model, lambda shape: np.zeros(shape, "float32")), training=False)
    if isinstance(y, dict):  # named outputs (sersic_autoencoder): its own tests check their shapes
        assert all(np.isfinite(np.asarray(v)).all() and v.shape[0] == 2 for v in y.values())
    else:
        y = np.asarray(y)
        shape = (2, *model.input_shape[1:]) if s.task in ("segmentation", "denoising") else None
        assert np.isfinite(y).all()
        assert y.shape[0] == 2
        if s.task == "regression":
            assert y.shape == (2, s.arguments()["outputs"])
        if s.task == "segmentation":
            assert y.shape == shape and (y >= 0).all() and (y <= 1).all()
        if s.task == "denoising":
            assert y.shape == shape
    rng = np.random.default_rng(0)
    x = inputs_like(model, lambda shape: rng.poisson(5.0, shape).astype("float32"))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = load_model(path)
    for got, want in zip(keras.tree.flatten(again(x, training=False)), keras.tree.flatten(model(x, training=False))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    as_json = lambda m: json.loads(json.dumps(m.get_config(), default=str))  # tuples and lists compare equal
    assert as_json(again) == as_json(model)


def test_default_full_size_forward():
    model = kzoo.build("gc_cnn")
    assert model.input_shape == (None, *kzoo.spec("gc_cnn").input_shape)
    assert np.isfinite(np.asarray(model(np.zeros((1, 64, 64, 1), "float32")))).all()


def test_per_image_max_normalisation_layer_round_trips(tmp_path):
    m = kzoo.build("gc_cnn", input_shape=(16, 16, 1), normalization="per_image_max")
    x = np.random.default_rng(1).uniform(0, 50, (3, 16, 16, 1)).astype("float32")
    m.save(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(load_model(tmp_path / "m.keras")(x)), np.asarray(m(x)), rtol=1e-6)
    with pytest.raises(ValueError, match="normalization mode"):
        kzoo.build("gc_cnn", normalization="minmax")
