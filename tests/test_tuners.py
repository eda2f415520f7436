import json

import pytest

kt = pytest.importorskip("keras_tuner")

from tuners.hypermodel import hp_value  # noqa: E402
from tuners.search import search  # noqa: E402


def test_search_space_entries_become_hyperparameters():
    hp = kt.HyperParameters()
    assert hp_value(hp, "dense", {"type": "choice", "values": [[512, 128], [64]]}) == (512, 128)
    assert 1e-4 <= hp_value(hp, "lr", {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}) <= 1e-2
    assert hp_value(hp, "n", {"type": "int", "min": 2, "max": 4}) == 2
    with pytest.raises(ValueError, match="'bad'"):
        hp_value(hp, "bad", {"type": "normal"})


def test_a_tiny_search_runs_and_resumes(tiny_data, tmp_path):
    fixed = {"filters": (4, 4, 8, 8)}
    t = search("gc-dm", tiny_data, tmp_path, tuner="random", trials=2, epochs=1, **fixed)
    assert len(t.oracle.trials) == 2
    best = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert {"learning_rate", "batch_size", "dense"} <= set(best)
    t = search("gc-dm", tiny_data, tmp_path, tuner="random", trials=2, epochs=1, **fixed)  # resumes: nothing to do
    assert len(t.oracle.trials) == 2
