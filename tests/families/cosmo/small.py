"""Small builder arguments of the cosmo family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "cosmo_cnn": {"input_shape": (16, 16, 2), "filters": (4, 4), "dense": 8},
    "cosmo_resnet18": {"input_shape": (16, 16, 2), "stages": 2, "width": 4},
    "camels_o3": {"input_shape": (16, 16, 2), "hidden": 2, "blocks": 4},
}
