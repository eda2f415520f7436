"""One test over every registered model, as keras-hub does for every backbone."""

import json

import numpy as np
import pytest

import kzoo
from kzoo.export import load_model

# Keep the suite fast; the full sizes are tested with the seeds' parameter counts.
def from_families(name: str) -> dict:
    """``name`` of every family's ``tests/families/<family>/small.py`` merged, by model: ``MODELS``, small builder
    arguments; ``ZERO_GRADIENT``, weights whose gradient is zero by design."""
    import importlib

    from kzoo.families import families

    found = {}
    for family in families():
        try:
            found.update(getattr(importlib.import_module(f"families.{family}.small"), name, {}))
        except ModuleNotFoundError:
            pass
    return found


SMALL = from_families("MODELS")


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


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_model_has_its_declared_parameter_count_at_its_defaults(name):
    from kzoo.registry import parameter_count

    s = kzoo.spec(name)
    assert s.parameters is not None, f"{name}: declare parameters= in its @register (kzoo list shows it)"
    assert parameter_count(name) == s.parameters


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_trainable_weight_gets_a_gradient(name):
    """A backward pass through the small build reaches every trainable weight: no layer is cut off from the loss.
    The loss is a random weighting of the outputs (plus the model's own losses, e.g. a VAE's), or, for a model of
    several losses (a GAN's critic and generator), each with the weights it trains."""
    import keras
    import tensorflow as tf

    model = kzoo.build(name, **SMALL.get(name, {}))
    rng = np.random.default_rng(0)
    x = inputs_like(model, lambda shape: rng.poisson(5.0, shape).astype("float32") + rng.uniform(0, 1, shape).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        if hasattr(model, "gradient_losses"):  # a model of several losses pairs each with what it trains (a GAN)
            pairs = model.gradient_losses(x)
        else:
            y = model(x, training=True)
            # outputs weighted at random (a softmax's plain sum is 1 whatever the weights)
            pairs = [(sum(tf.reduce_sum(tf.cast(t, "float32") * rng.normal(size=t.shape).astype("float32"))
                          for t in keras.tree.flatten(y)) + sum(model.losses), model.trainable_weights)]
    reached = {id(w) for loss, weights in pairs for w, g in zip(weights, tape.gradient(loss, weights))
               if g is not None and np.any(np.asarray(g) != 0)}
    by_design = from_families("ZERO_GRADIENT").get(name, ())
    missing = [w.path for w in model.trainable_weights if id(w) not in reached and w.path not in by_design]
    assert model.trainable_weights and not missing, f"{name}: no gradient (or only zeros) reaches {missing}"


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_model_builds_and_runs_in_mixed_precision(name):
    import keras

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = kzoo.build(name, **SMALL.get(name, {}))
        assert any(l.dtype_policy.name == "mixed_bfloat16" for l in model._flatten_layers())
        y = model(inputs_like(model, lambda shape: np.ones(shape, "float32")), training=False)
        assert all(np.isfinite(np.asarray(keras.ops.cast(t, "float32"))).all() for t in keras.tree.flatten(y))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_model_names_its_weighted_layers_the_same_in_every_build(name):
    """Fine-tuning (kzoo.transfer, ``--init``) copies weights by layer name: a builder must name the layers that
    hold weights, not leave them to keras' per-process counters (conv2d_7 in one process, conv2d_12 in another)."""
    from kzoo.transfer import weighted_layers

    def names():
        model = kzoo.build(name, **SMALL.get(name, {}))
        found = weighted_layers(model)
        in_layers = {id(w) for layer in model._flatten_layers(include_self=False, recursive=False) for w in layer.weights}
        assert in_layers <= {id(w) for layer in found.values() for w in layer.weights}  # every layer weight has a path
        return [(path, [tuple(w.shape) for w in layer.weights]) for path, layer in found.items()]

    assert names() == names()


def test_the_model_index_that_kzoo_list_reads_is_the_registry():
    """kzoo list and kzoo info MODEL read kzoo/model_index.json so as not to import Keras; it must say what the
    registry says (after changing a model: python -m kzoo.registry)."""
    from kzoo.registry import INDEX, live_index

    assert json.loads(INDEX.read_text()) == live_index(), "kzoo/model_index.json is stale: run python -m kzoo.registry"
