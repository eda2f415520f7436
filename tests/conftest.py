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


@pytest.fixture(scope="session")
def svdd_run(tmp_path_factory):
    """The one fit path, once for the session (tests/test_morphology.py, tests/test_image_folder.py): the
    autoencoder, then the soft-boundary SVDD from its run, on 16 x 16 ellipticals; and a test set of all three
    classes. Tests copy the run before judging it."""
    from kzoo.data import write_shards
    from kzoo.train import fit

    d = tmp_path_factory.mktemp("svdd")

    def recipe(classes, n):
        return {"sky": "morphology", "seed": 3, "splits": {"train": n, "val": 16, "test": 48}, "shards": 3,
                "block": 8, "features": ["image"], "params": {"npix": 16, "classes": classes}}

    write_shards(recipe([1, 1], 64), d / "ell", workers=1, progress=False)
    write_shards(recipe([0, 2], 16), d / "all", workers=1, progress=False)
    small = {"filters": (2, 4), "dense": (8, 16)}
    fit("svdd-elliptical-ae", d / "ell", d / "ae", epochs=1, verbose=0, model_args=small, allow_other_recipe=True)
    res = fit("svdd-elliptical-soft", d / "ell", d / "svdd", epochs=2, verbose=0,
              model_args={**small, "pretrained": str(d / "ae"), "warm_up_epochs": 1}, allow_other_recipe=True)
    return d, res
