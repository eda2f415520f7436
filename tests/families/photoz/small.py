"""Small builder arguments of the photoz family"s models for tests/test_models.py: none needed, its models are
small enough at their defaults."""

MODELS = {}
