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


def test_a_tiny_search_trains_every_trial_as_a_kzoo_run_and_resumes(tiny_data, tmp_path):
    from kzoo.evaluate import evaluate

    fixed = {"filters": (4, 4, 8, 8), "dropout": 0.0}  # dropout is in gc_cnn's search space: held, it is not searched
    t = search("gc-dm", tiny_data, tmp_path, tuner="random", trials=2, epochs=1, allow_other_recipe=True, verbose=0,
               **fixed)
    assert len(t.oracle.trials) == 2
    assert all("dropout" not in trial.hyperparameters.values for trial in t.oracle.trials.values())
    best = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert {"learning_rate", "batch_size", "dense"} <= set(best)
    assert isinstance(best["dense"], list) and best["filters"] == [4, 4, 8, 8]  # as `kzoo train --hyperparameters` takes them
    assert {"commit", "command", "machine"} <= set(best)  # the search that found them (read_hyperparameters skips these)
    table = json.loads((tmp_path / "trials.json").read_text())["trials"]
    assert [r["trial"] for r in table] == ["0", "1"] and all(r["status"] == "COMPLETED" for r in table)
    for r in table:  # a trial is a run: run.json with the trial's settings, its objective the lowest val_loss
        run = json.loads((tmp_path / "runs" / r["trial"] / "run.json").read_text())
        assert run["settings"]["learning_rate"] == pytest.approx(r["hyperparameters"]["learning_rate"])
        assert run["settings"]["model_args"]["dense"] == r["hyperparameters"]["dense"]
        assert run["settings"]["model_args"]["dropout"] == 0.0 and "dropout" not in r["hyperparameters"]
        history = (tmp_path / "runs" / r["trial"] / "history.csv").read_text().splitlines()
        assert r["val_loss"] == pytest.approx(float(history[1].split(",")[-1]) if "val_loss" in history[0].split(",")[-1]
                                              else r["val_loss"])
    winner = min(table, key=lambda r: r["val_loss"])["trial"]
    assert (tmp_path / "best" / "run.json").read_text() == (tmp_path / "runs" / winner / "run.json").read_text()
    assert "| 0 | COMPLETED |" in (tmp_path / "trials.md").read_text() and (tmp_path / "trials.png").exists()
    made = json.loads((tmp_path / "trials.json").read_text())  # a record: the page says what the JSON does
    assert made["commit"] and f"commit {made['commit']}." in (tmp_path / "trials.md").read_text()
    assert set(evaluate(tmp_path / "best", tiny_data, split="val")["metrics"]) == {"A_dm"}  # a normal run directory
    mtime = (tmp_path / "runs" / "0" / "model.keras").stat().st_mtime_ns
    t = search("gc-dm", tiny_data, tmp_path, tuner="random", trials=2, epochs=1, allow_other_recipe=True, verbose=0,
               **fixed)  # resumes: nothing to do
    assert len(t.oracle.trials) == 2 and (tmp_path / "runs" / "0" / "model.keras").stat().st_mtime_ns == mtime
    assert made["tuner_seed"] == 1  # --seed 0: keras-tuner reads a seed of 0 as none and draws one at random
    again = search("gc-dm", tiny_data, tmp_path / "again", tuner="random", trials=1, epochs=1,
                   allow_other_recipe=True, verbose=0, **fixed)  # the same seed draws the same trials
    assert again.oracle.trials["0"].hyperparameters.values == t.oracle.trials["0"].hyperparameters.values
    with pytest.raises(ValueError, match="--seed must be an integer >= 0"):
        search("gc-dm", tiny_data, tmp_path / "bad", seed=-1, allow_other_recipe=True)


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
    text = " ".join(r.stdout.split())  # the help as one line: argparse wraps it where it likes
    assert "(default: bayesian)" in text and "--model-arg NAME=VALUE" in text
    r = search("gc-dm", "--data", tiny_data, "--out", tmp_path / "s", "--trials", 1, "--epochs", 1,
               "--model-arg", "filters=[4,4,8,8]", "--allow-other-recipe")
    assert r.returncode == 0, r.stderr[-2000:]
    best = json.loads((tmp_path / "s" / "best_hyperparameters.json").read_text())
    assert best["filters"] == [4, 4, 8, 8] and {"learning_rate", "batch_size", "dense", "dropout"} <= set(best)
    r = search("gc-dm", "--data", tiny_data, "--out", tmp_path / "s", "--model-arg", "widthz=3")
    ours = [line for line in r.stderr.splitlines() if ": error: " in line]  # TensorFlow's start-up lines aside
    assert r.returncode == 2 and len(ours) == 1, r.stderr
    assert ours[0].startswith("python -m tuners.search: error: model 'gc_cnn' has no argument 'widthz'; it takes ")


def _tune(out, tiny_data, *extra):
    return [sys.executable, "-m", "kzoo.cli", "tune", "gc-dm", "--data", str(tiny_data), "--out", str(out),
            "--tuner", "random", "--model-arg", "filters=[4,4,8,8]", "--allow-other-recipe", *map(str, extra)]


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_a_killed_search_continues_its_trial_and_keeps_the_finished_ones(tiny_data, tmp_path):
    """A real `kzoo tune` SIGKILLed during trial 1, started again with the same --out."""
    import signal
    import time

    out = tmp_path / "s"
    cmd = _tune(out, tiny_data, "--max-trials", 2, "--epochs", 4)
    p = subprocess.Popen(cmd, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / "runs" / "1" / ".staging" / "backup" / "state.json"
    deadline = time.time() + 400
    while not checkpoint.exists() and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), f"trial 1 never reached a checkpoint: {p.stderr.read()[-2000:] if p.poll() is not None else ''}"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    finished = (out / "runs" / "0" / "model.keras").stat().st_mtime_ns
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    table = json.loads((out / "trials.json").read_text())["trials"]
    assert [t["trial"] for t in table] == ["0", "1"] and all(t["status"] == "COMPLETED" for t in table)
    assert (out / "runs" / "0" / "model.keras").stat().st_mtime_ns == finished  # the finished trial is kept
    assert json.loads((out / "runs" / "1" / "run.json").read_text())["resumed"]  # from its checkpoint
    assert sum(1 for _ in (out / "runs").iterdir()) == 2  # no trial run twice


def test_a_chief_and_two_workers_run_every_trial_once_and_the_chief_exits(tiny_data, tmp_path):
    """Four trials of two epochs for two workers: each worker takes a trial as soon as it asks (while the other
    trains), so both train."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "s"
    base = _tune(out, tiny_data, "--max-trials", 4, "--epochs", 2)
    chief = subprocess.Popen(base + ["--chief", f"127.0.0.1:{port}"], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen(base + ["--worker", f"127.0.0.1:{port}", "--id", f"tuner{i}"], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        for w in workers:
            _, err = w.communicate(timeout=600)
            assert w.returncode == 0, err[-2000:]
        _, err = chief.communicate(timeout=120)  # the chief ends by itself once the workers are done
        assert chief.returncode == 0, err[-2000:]
    finally:
        for proc in [chief, *workers]:
            proc.kill()
    table = json.loads((out / "trials.json").read_text())["trials"]
    assert sorted(t["trial"] for t in table) == ["0", "1", "2", "3"]
    assert all(t["status"] == "COMPLETED" for t in table)
    ran_by = [json.loads((out / "runs" / t["trial"] / "trial.json").read_text())["tuner_id"] for t in table]
    assert set(ran_by) == {"tuner0", "tuner1"}  # both workers trained, every trial once (one run directory each)
    assert (out / "best" / "model.keras").exists()


@pytest.mark.parametrize("experiment, tuner", [("gc-ps-unet", "grid"), ("gc-dm-nps-nll", "hyperband")])
def test_custom_losses_search_with_every_oracle(tiny_data, tmp_path, experiment, tuner):
    """The count-penalty BCE (U-net) and the Gaussian NLL (a mean and a sigma per target) under search."""
    import math

    t = search(experiment, tiny_data, tmp_path, tuner=tuner, trials=1, epochs=2 if tuner == "hyperband" else 1,
               allow_other_recipe=True, verbose=0)
    scores = [trial.score for trial in t.oracle.trials.values()]
    assert scores and all(math.isfinite(s) for s in scores)
    run = json.loads((tmp_path / "best" / "run.json").read_text())
    assert run["experiment"]["loss"] == {"gc-ps-unet": "count_penalty_bce", "gc-dm-nps-nll": "gaussian_nll"}[experiment]


def test_a_real_one_trial_autokeras_search_ends_as_a_kzoo_run(tiny_data, tmp_path, capsys):
    pytest.importorskip("autokeras")
    import numpy as np

    from kzoo.cli import main
    from kzoo.export import export, load_model

    out = tmp_path / "ak"
    args = ["automl", "gc-dm", "--data", str(tiny_data), "--out", str(out), "--max-trials", "1", "--epochs", "1",
            "--block-type", "vanilla", "--allow-other-recipe", "--no-reference"]
    assert main(args) == 0
    run = json.loads((out / "run" / "run.json").read_text())
    assert run["settings"]["automl"]["train_images"] == 72 and run["settings"]["normalization"]["mode"] == "global"
    judged = json.loads((out / "run" / "metrics.json").read_text())
    metrics = judged["metrics"]
    assert metrics["A_dm"]["mae_scaled"] > 0  # judged like a trained run, in physical units
    assert judged["classical_reference"] is None  # --no-reference: no template fit
    model = load_model(out / "run" / "model.keras")  # safe_mode, with AutoKeras's own layers
    assert model.layers[1].name == "normalize"  # takes raw counts, as every kzoo model
    x = np.random.default_rng(0).poisson(50.0, (2, 16, 16, 1)).astype("float32")
    assert np.asarray(model(x)).shape == (2, 1)
    assert (export(out / "run", "savedmodel") / "saved_model.pb").exists()
    assert "| 0 | COMPLETED |" in (out / "trials.md").read_text()
    trials = json.loads((out / "trials.json").read_text())  # a record: its commit, command and machine
    assert trials["command"] and trials["commit"] and trials["machine"]["cores"] >= 1
    assert f"Command: `{trials['command']}`" in (out / "trials.md").read_text()
    capsys.readouterr()
    assert main(["automl", "gc-ps-unet", "--data", str(tiny_data), "--out", str(tmp_path / "x")]) == 2
    assert "regression experiment of one image input" in capsys.readouterr().err


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port, proc, seconds=120):
    import time

    from tuners.search import port_free

    end = time.monotonic() + seconds
    while port_free("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()[1][-2000:]
        time.sleep(0.2)


def test_a_worker_without_a_chief_says_for_whom_it_waits_and_gives_up(tiny_data, tmp_path):
    port = _free_port()
    r = subprocess.run(_tune(tmp_path / "s", tiny_data, "--worker", f"127.0.0.1:{port}", "--id", "tuner0",
                             "--wait-chief", 2), env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert f"kzoo: worker tuner0: waiting for the chief at 127.0.0.1:{port} (up to 2 s, --wait-chief)" in \
        r.stdout.splitlines()  # information on standard output, the refusal alone on standard error
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[-1] == (f"kzoo tune: error: worker tuner0: no chief answered at 127.0.0.1:{port} within 2 s; start it "
                         f"with --chief 127.0.0.1:{port} and the same --out, or wait longer with --wait-chief")


def test_a_second_chief_on_a_port_or_a_folder_in_use_is_refused(tiny_data, tmp_path):
    port = _free_port()
    first = subprocess.Popen(_tune(tmp_path / "s", tiny_data, "--max-trials", 1, "--epochs", 1, "--chief",
                                   f"127.0.0.1:{port}"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        _wait_listening(port, first)
        r = subprocess.run(_tune(tmp_path / "other", tiny_data, "--chief", f"127.0.0.1:{port}"), env=ENV,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [  # one line: no gRPC log line before it
            f"kzoo tune: error: --chief 127.0.0.1:{port}: the port is in use (another chief, or another program); "
            "choose another port, or stop what listens there"], r.stderr
        r = subprocess.run(_tune(tmp_path / "s", tiny_data, "--chief", f"127.0.0.1:{_free_port()}"), env=ENV,
                           capture_output=True, text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "the chief of this search" in lines[0], r.stderr
    finally:
        first.kill()
        first.communicate()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_chief_killed_mid_search_and_started_again_finishes_the_search_with_its_worker(tiny_data, tmp_path):
    """The worker waits for its lost chief and carries on with the restarted one; the restarted chief, which never saw
    the start of the trial in training (keras-tuner's display then raised inside the oracle's lock and the chief hung
    for ever), ends by itself once the trials are done and writes its pages."""
    import signal
    import time

    port = _free_port()
    out = tmp_path / "s"
    chief_cmd = _tune(out, tiny_data, "--max-trials", 3, "--epochs", 3, "--chief", f"127.0.0.1:{port}")
    chief = subprocess.Popen(chief_cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = subprocess.Popen(_tune(out, tiny_data, "--max-trials", 3, "--epochs", 3, "--worker", f"127.0.0.1:{port}",
                                    "--id", "tuner0", "--wait-chief", 120), env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    again = None
    try:
        end = time.monotonic() + 300
        while not list((out / "runs").glob("*/.staging/backup/state.json")):  # a trial is training
            assert worker.poll() is None and chief.poll() is None and time.monotonic() < end
            time.sleep(0.1)
        chief.send_signal(signal.SIGKILL)
        chief.communicate()
        time.sleep(3)
        again = subprocess.Popen(chief_cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, werr = worker.communicate(timeout=600)
        assert worker.returncode == 0, werr[-3000:]
        _, cerr = again.communicate(timeout=180)  # the restarted chief ends by itself
        assert again.returncode == 0, cerr[-3000:]
    finally:
        for proc in (chief, worker, again):
            if proc is not None:
                proc.kill()
    # the worker's call in flight waited for the chief (or failed and was made again once it answered)
    assert "no chief answered" not in werr and "did not come back" not in werr, werr[-3000:]
    table = json.loads((out / "trials.json").read_text())["trials"]
    assert sorted(t["trial"] for t in table) == ["0", "1", "2"] and all(t["status"] == "COMPLETED" for t in table)
    assert (out / "trials.md").exists() and (out / "best" / "model.keras").exists()
