import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert isinstance(best["dense"], list) and best["filters"] == [4, 4, 8, 8]  # as `kzoo train --hyperparameters` takes them
    t = search("gc-dm", tiny_data, tmp_path, tuner="random", trials=2, epochs=1, **fixed)  # resumes: nothing to do
    assert len(t.oracle.trials) == 2


def test_the_installed_tuners_search_runs_outside_the_repository(tiny_data, tmp_path):
    """`pip install` installs tuners with kzoo, and the default (Bayesian) tuner has what it needs."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                         if p and Path(p).resolve() != repo)}

    def search(*args):
        return subprocess.run([sys.executable, "-m", "tuners.search", *map(str, args)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)

    r = search("--help")
    assert r.returncode == 0, f"tuners is not installed (pip install -e '.[dev]'): {r.stderr[-800:]}"
    assert "(default: bayesian)" in r.stdout and "--model-arg NAME=VALUE" in r.stdout
    r = search("gc-dm", "--data", tiny_data, "--out", tmp_path / "s", "--trials", 1, "--epochs", 1,
               "--model-arg", "filters=[4,4,8,8]")
    assert r.returncode == 0, r.stderr[-2000:]
    best = json.loads((tmp_path / "s" / "best_hyperparameters.json").read_text())
    assert best["filters"] == [4, 4, 8, 8] and {"learning_rate", "batch_size", "dense", "dropout"} <= set(best)
    r = search("gc-dm", "--data", tiny_data, "--out", tmp_path / "s", "--model-arg", "widthz=3")
    ours = [line for line in r.stderr.splitlines() if ": error: " in line]  # TensorFlow's start-up lines aside
    assert r.returncode == 2 and len(ours) == 1, r.stderr
    assert ours[0].startswith("python -m tuners.search: error: model 'gc_cnn' has no argument 'widthz'; it takes ")
