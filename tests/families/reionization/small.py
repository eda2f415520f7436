"""Small builder arguments of the reionization family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "reion_autoencoder": {"input_shape": (16, 16, 1)},
    "reion_classifier": {"input_shape": (16, 16, 1)},
    "reion_mlp": {"input_shape": (16, 16, 1), "crop": 8},
}
