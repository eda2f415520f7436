"""Small builder arguments of the rings family"s models for tests/test_models.py: none needed, its models are
small enough at their defaults."""

MODELS = {}
