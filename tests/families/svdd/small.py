"""Small builder arguments of the svdd family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "svdd_autoencoder": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16)},
    "deep_svdd": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16)},
}
