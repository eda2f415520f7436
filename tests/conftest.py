"""Shared fixtures: tiny datasets (16 x 16 maps) so the whole suite runs in minutes on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

TINY_PARAMS = {"npix": 16, "n_gc_range": [20, 80], "n_disk_range": [100, 400]}


def tiny_recipe(**over):
    r = {"sky": "galactic_center", "seed": 3, "splits": {"train": 72, "val": 24, "test": 28},
         "shards": 5, "block": 8, "features": ["counts", "ps_flux"], "params": dict(TINY_PARAMS)}
    r.update(over)
    return r


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A read-only tiny galactic-centre dataset (do not modify it in tests)."""
    from kzoo.data import write_shards

    out = tmp_path_factory.mktemp("tiny") / "gc"
    write_shards(tiny_recipe(), out, progress=False)
    return out
