"""Small builder arguments of the clusters family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "cluster_cnn": {"input_shape": (36, 36, 1)},
    "cluster_cnn_deep": {"input_shape": (48, 48, 1)},
    "cluster_p4cnn": {"input_shape": (16, 16, 1)},
}
