"""Small builder arguments of the gc family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "gc_cnn": {"input_shape": (16, 16, 1)},
    "gc_unet": {"input_shape": (16, 16, 1)},
    "gc_dae": {"input_shape": (16, 16, 1)},
    "gc_cnn_multi": {"input_shape": (16, 16, 1)},
}
