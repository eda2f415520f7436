"""kzoo: a Keras 3 model zoo for astrophysics, from simulated data to exported models."""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebooks

from kzoo.version import __version__  # noqa: E402
from kzoo.presets import list_presets, load  # noqa: E402
from kzoo.registry import ModelSpec, build, list_models, register, spec  # noqa: E402

__all__ = ["ModelSpec", "build", "list_models", "list_presets", "load", "register", "spec", "__version__"]
