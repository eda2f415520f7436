"""Safe and reproducible: old saved models still load, same seed same training, no Lambda anywhere."""

import ast
from pathlib import Path

import numpy as np
import pytest

from kzoo.export import load_model

SAVED = sorted((Path(__file__).parent / "saved_models").glob("*.keras"))
ROOT = Path(__file__).parent.parent


def named(ref, prefix):
    """``ref[prefix]``, or the dict of ``prefix_<name>`` arrays of a model with named inputs or outputs."""
    if prefix in ref.files:
        return ref[prefix]
    return {k[len(prefix) + 1:]: ref[k] for k in ref.files if k.startswith(prefix + "_")}


@pytest.mark.parametrize("path", SAVED, ids=[p.stem for p in SAVED])
def test_models_saved_by_earlier_releases_load_and_predict_the_same(path):
    ref = np.load(path.with_suffix(".npz"))
    model = load_model(path)
    got, want = model(named(ref, "x"), training=False), named(ref, "y")
    if isinstance(want, dict):
        assert set(got) == set(want)
        for k in want:
            np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_every_zoo_family_has_a_saved_model():
    import kzoo

    assert {p.stem for p in SAVED} >= set(kzoo.list_models())


def test_same_seed_same_first_epoch_loss(tiny_data, tmp_path):
    from kzoo.runs import read_history
    from kzoo.train import fit

    losses = []
    for i in range(2):
        fit("gc-dm", tiny_data, tmp_path / f"run{i}", epochs=1, batch_size=16, seed=11,
            model_args={"filters": (4, 4, 8, 8), "dense": (16,)}, verbose=0, allow_other_recipe=True)
        losses.append(read_history(tmp_path / f"run{i}" / "history.csv")["loss"][0])
    assert losses[0] == losses[1]
    fit("gc-dm", tiny_data, tmp_path / "run2", epochs=1, batch_size=16, seed=12,
        model_args={"filters": (4, 4, 8, 8), "dense": (16,)}, verbose=0, allow_other_recipe=True)
    assert read_history(tmp_path / "run2" / "history.csv")["loss"][0] != losses[0]


def test_no_pickle_and_no_lambda_layers_in_the_code():
    for path in list((ROOT / "kzoo").rglob("*.py")) + list((ROOT / "tuners").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n in ("pickle", "cloudpickle", "dill") for n in names), path
            if isinstance(node, ast.Attribute) and node.attr == "Lambda":
                pytest.fail(f"{path}:{node.lineno} uses a Lambda layer")
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle" and getattr(node.value, "value", None):
                pytest.fail(f"{path}:{node.lineno} loads pickles")
