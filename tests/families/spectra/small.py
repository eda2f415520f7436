"""Small builder arguments of the spectra family"s models for tests/test_models.py: none needed, its models are
small enough at their defaults."""

MODELS = {}

# Weights whose gradient is zero by design: the critic's output bias cancels in its loss E[D(fake)] - E[D(real)]
# (a Wasserstein critic is defined up to a constant).
ZERO_GRADIENT = {"spectra_wgan": {"crit_out/bias"}}
