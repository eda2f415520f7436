"""The one fit path on another Keras backend: `kzoo train --backend jax` (and `torch`) on CPU, fed by tf.data, writes a
run whose model.keras loads under TensorFlow and predicts the same; the Noise layer and the saliency maps
run there too. Keras picks its backend once per process, so the JAX side runs in a subprocess."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kzoo.cli import main

OTHER_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from kzoo.cli import main
    data, out, backend = sys.argv[1], sys.argv[2], sys.argv[3]
    rc = main(["train", "gc-dm", "--backend", backend, "--data", data, "--out", out, "--epochs", "1",
               "--batch-size", "16", "--model-arg", "filters=[4,4,8,8]", "--model-arg", "dense=[16]",
               "--allow-other-recipe", "--no-reference", "--quiet"])
    import keras
    from kzoo.evaluate import saliency_maps
    from kzoo.layers import Noise, poisson
    flat = np.full((4, 32, 32, 1), 0.5, "float32")
    noisy = {kind: np.asarray(Noise(kind, seed=1)(flat, training=True)).tolist() for kind in ("gaussian", "masked")}
    counts = np.asarray(poisson(np.full((50000,), 40.0, "float32"), keras.random.SeedGenerator(2), 40.0))
    from kzoo.export import load_model
    model = load_model(out + "/model.keras")
    x = np.random.default_rng(0).random((2,) + tuple(model.input_shape[1:])).astype("float32")
    grads, cams, layer = saliency_maps(model, x)
    print(json.dumps({"rc": rc, "backend": keras.backend.backend(), "noisy": noisy,
                      "poisson": [float(counts.mean()), float(counts.var())], "grads": grads.tolist(),
                      "cams": cams.tolist()}))
""")


@pytest.fixture(scope="module", params=["jax", "torch"])
def other_run(request, tiny_data, tmp_path_factory):
    """A tiny run trained on JAX, then on PyTorch (both CPU builds are in the dev extra), in a subprocess."""
    pytest.importorskip(request.param)
    out = tmp_path_factory.mktemp(request.param) / "run"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}  # --backend wins over it
    p = subprocess.run([sys.executable, "-c", OTHER_SIDE, str(tiny_data), str(out), request.param],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads(p.stdout.strip().splitlines()[-1]), request.param


def test_a_run_trained_on_jax_loads_and_predicts_the_same_on_tensorflow(other_run, tiny_data):
    import keras

    from kzoo.evaluate import saliency_maps
    from kzoo.export import load_model

    out, side, other = other_run
    assert side["rc"] == 0 and side["backend"] == other and keras.backend.backend() == "tensorflow"
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["backend"] == other and run["versions"]["backend"] == other and other in run["versions"]
    model = load_model(out / "model.keras")  # safe_mode
    recorded = np.load(out / "predictions_test.npz")
    manifest = json.loads((tiny_data / "manifest.json").read_text())
    assert len(recorded["y_pred"]) == manifest["splits"]["test"]["count"]
    # the JAX model's saliency maps, recomputed here on TensorFlow with the same weights
    x = np.random.default_rng(0).random((2,) + tuple(model.input_shape[1:])).astype("float32")
    grads, cams, _ = saliency_maps(model, x)
    np.testing.assert_allclose(grads, side["grads"], rtol=1e-4, atol=1e-6 * np.abs(grads).max())
    np.testing.assert_allclose(cams, side["cams"], rtol=1e-4, atol=1e-6 * max(np.abs(cams).max(), 1e-12))
    # and its predictions, through the same evaluation on TensorFlow
    from kzoo.evaluate import evaluate

    again = evaluate(out, out=out.parent / "tf-eval", classical=False)
    np.testing.assert_allclose(np.load(out.parent / "tf-eval" / "predictions_test.npz")["y_pred"], recorded["y_pred"],
                               rtol=1e-4, atol=1e-5)
    assert again["count"] == manifest["splits"]["test"]["count"]


def test_the_noise_layer_runs_on_jax_as_on_tensorflow(other_run):
    from kzoo.layers import Noise

    _, side, _ = other_run
    flat = np.full((4, 32, 32, 1), 0.5, "float32")
    for kind, y in side["noisy"].items():
        y, here = np.asarray(y), np.asarray(Noise(kind, seed=1)(flat, training=True))
        assert y.shape == here.shape and 0 <= y.min() and y.max() <= 1
        if kind == "gaussian":
            assert abs((y - flat).std() - 0.2) < 0.01 and abs((here - flat).std() - 0.2) < 0.01
        else:
            assert abs((y != flat).mean() - 0.5) < 0.03 and abs((here != flat).mean() - 0.5) < 0.03
    mean, var = side["poisson"]
    assert abs(mean - 40) < 0.2 and abs(var - 40) < 1.5


def test_a_backend_that_is_not_there_or_not_this_process_is_refused(tiny_data, tmp_path, capsys, monkeypatch):
    import importlib.util

    from kzoo.train import use_backend

    with pytest.raises(ValueError, match="already running on 'tensorflow'"):
        use_backend("jax")  # Keras is imported in this process, on TensorFlow
    assert use_backend(None) == use_backend("tensorflow") == "tensorflow"
    with pytest.raises(ValueError, match="backend must be one of"):
        use_backend("numpy")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["train", "gc-dm", "--backend", "torch", "--data", str(tiny_data), "--out", str(tmp_path / "r")]) == 2
    assert "torch is not installed (pip install torch)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_the_gpu_benchmark_measures_each_model_and_the_pipeline(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import gpu

    gpu.main(["--quick", "--models", "rings_re*", "--precisions", "float32", "--out-json", str(tmp_path / "g.json"),
              "--out-md", str(tmp_path / "g.md"), "--model-arg", "dense=[8]"])
    r = json.loads((tmp_path / "g.json").read_text())
    assert r["backend"] == "tensorflow" and r["device"].startswith("CPU")
    (m,) = r["models"]
    assert m["model"] == "rings_regressor" and m["train_images_per_s"] > 0 and m["predict_images_per_s"] > 0
    assert r["model_args"] == {"dense": [8]} and "dense=[8]" in (tmp_path / "g.md").read_text()
    import kzoo  # the builder argument reached the model: its parameter count is that of dense=[8]

    assert m["parameters"] == kzoo.build("rings_regressor", dense=[8]).count_params() != kzoo.build("rings_regressor").count_params()
    for reader in ("numpy reader", "tf.data"):
        assert r["pipeline"][reader]["images"] == 2048 and r["pipeline"][reader]["images_per_s"] > 0
    assert "kzoo's shard pipeline" in (tmp_path / "g.md").read_text()
    # a 64 x 64 x 1 network is also trained from real shards, fed by the reader without TensorFlow
    gpu.main(["--quick", "--models", "gc_cnn", "--precisions", "float32", "--out-json", str(tmp_path / "c.json"),
              "--out-md", str(tmp_path / "c.md")])
    (m,) = json.loads((tmp_path / "c.json").read_text())["models"]
    assert m["shards_train_images_per_s"] > 0 and "from shards, numpy reader" in (tmp_path / "c.md").read_text()


def _free_ports(k):
    import socket

    socks = [socket.socket() for _ in range(k)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_train_one_model_data_parallel(tiny_data, tmp_path, capsys, monkeypatch):
    """`kzoo train --strategy multiworker` in two processes on 127.0.0.1 (TF_CONFIG, JAX backend, gloo):
    each reads its half of every batch, and at the end their weights agree."""
    from kzoo.export import load_model

    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "kzoo.cli", "train", "gc-dm", "--backend", "jax", "--strategy", "multiworker",
           "--data", str(tiny_data), "--out", str(out), "--epochs", "2", "--batch-size", "16",
           "--model-arg", "filters=[4,4,8,8]", "--model-arg", "dense=[16]", "--allow-other-recipe",
           "--no-reference", "--quiet"]
    procs = [subprocess.Popen(cmd, env={**os.environ, "TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (o, e) in zip(procs, results):
        assert p.returncode == 0, e[-3000:]
    runs = [out, tmp_path / "run.worker1"]
    for r in runs:
        settings = json.loads((r / "run.json").read_text())["settings"]
        assert settings["workers"] == 2 and settings["backend"] == "jax"
    w0, w1 = (load_model(r / "model.keras").get_weights() for r in runs)
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # bad set-ups: one line each, exit 2, nothing written
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "gc-dm", "--strategy", "multiworker", "--data", str(tiny_data),
                 "--out", str(tmp_path / "x")]) == 2
    assert "TF_CONFIG must be JSON like" in capsys.readouterr().err
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": workers}, "task": {"index": 0}}))
    assert main(["train", "gc-dm", "--strategy", "multiworker", "--data", str(tiny_data),
                 "--out", str(tmp_path / "x")]) == 2
    assert "runs on the jax backend" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_under_slurm_or_open_mpi_the_processes_join_without_tf_config(monkeypatch):
    """srun / mpirun set who is who; jax.distributed.initialize() reads the rest itself (called with no arguments)."""
    import keras

    from kzoo.train import join_workers, launcher_processes

    for var in ("TF_CONFIG", "SLURM_NTASKS", "SLURM_PROCID", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert launcher_processes() is None
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert launcher_processes() is None  # one task: nothing to join
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert launcher_processes() == (2, 4)
    calls = []
    monkeypatch.setattr(keras.distribution, "initialize", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(keras.distribution, "DataParallel", lambda **k: f"DataParallel({k})")  # JAX's, in a real job
    monkeypatch.setattr(keras.distribution, "set_distribution", lambda d: calls.append(d))
    with pytest.raises(ValueError, match="runs on the jax backend"):
        join_workers("tensorflow")
    assert join_workers("jax") == (2, 4) and calls == [((), {}), "DataParallel({'auto_shard_dataset': False})"]
    for var in ("SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")
    assert launcher_processes() == (1, 2)
