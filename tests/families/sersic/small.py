"""Small builder arguments of the sersic family"s models, so that the test over every model (tests/test_models.py)
runs in seconds; a model not named here is small enough at its defaults."""

MODELS = {
    "xception_sersic": {"input_shape": (16, 16, 1)},
    "sersic_autoencoder": {"input_shape": (16, 16, 1), "filters": (4, 8), "dense": (16, 8)},
    "denoise_then_measure": {"input_shape": (16, 16, 1), "denoiser_args": {"base_filters": 2, "depth": 2}, "estimator_args": {"sep_filters": 4, "residual_blocks": 1}},
}
