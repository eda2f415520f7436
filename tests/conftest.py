"""Shared fixtures: tiny datasets (16 x 16 maps) so the whole suite runs in minutes on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from pathlib import Path

import yaml

TINY_RECIPE = Path(__file__).parent.parent / "data" / "gc_tiny.yaml"


def tiny_recipe(**over):
    """data/gc_tiny.yaml as a dict, with ``over`` replacing top-level keys."""
    return {**yaml.safe_load(TINY_RECIPE.read_text()), **over}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A read-only tiny galactic-centre dataset (do not modify it in tests)."""
    from kzoo.data import write_shards

    out = tmp_path_factory.mktemp("tiny") / "gc"
    write_shards(tiny_recipe(), out, progress=False)
    return out
