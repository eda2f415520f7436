"""Runs that cannot be poisoned (kzoo.runs): a run directory knows what it holds, a new run replaces
a complete one only once it is complete itself, checkpoints are checked before they are resumed, and
a resumed run ends exactly as an uninterrupted one (on CPU), also after a real SIGKILL."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kzoo import runs
from kzoo.cli import main
from kzoo.data import DataError
from kzoo.runs import read_history
from kzoo.train import fit

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def train(data, out, experiment="gc-dm", epochs=3, **kw):
    kw.setdefault("model_args", TINY if experiment == "gc-dm" else None)
    return fit(experiment, data, out, epochs=epochs, batch_size=16, verbose=0, allow_other_recipe=True, **kw)


def files(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("model.keras", "metrics.json", "run.json", "history.csv")}


class Stop(Exception):
    pass


def stop_at(epoch):
    import keras

    class StopAt(keras.callbacks.Callback):
        def on_epoch_end(self, e, logs=None):
            if e == epoch:
                raise Stop(f"stopped after epoch {e}")

    return StopAt()


def weights(path):
    from kzoo.export import load_model

    return load_model(path).get_weights()


def test_a_killed_run_of_another_experiment_is_not_resumed(capsys, tiny_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Stop):
        train(tiny_data, out, "gc-ps-unet", model_args={"base_filters": 2, "depth": 2}, callbacks=[stop_at(0)])
    # on 6bd2488 this resumed gc-ps-unet's weights and history under gc-ps-unet-soft's name, exit 0
    capsys.readouterr()
    assert main(["train", "gc-ps-unet-soft", "--data", str(tiny_data), "--out", str(out), "--epochs", "2",
                 "--batch-size", "16", "--allow-other-recipe", "--quiet"]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and str(out) in line, line
    assert "unfinished run" in line and "gc-ps-unet" in line and "experiment.name" in line and "--overwrite" in line
    assert (out / ".staging" / "backup" / "state.json").exists()  # the killed run is left alone
    assert main(["train", "gc-ps-unet-soft", "--data", str(tiny_data), "--out", str(out), "--epochs", "2",
                 "--batch-size", "16", "--allow-other-recipe", "--quiet", "--overwrite"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["experiment"]["name"] == "gc-ps-unet-soft" and run["resumed"] is False
    assert read_history(out / "history.csv")["epoch"] == [0.0, 1.0]  # none of gc-ps-unet's rows
    assert not (out / ".staging").exists()


def test_a_finished_run_is_replaced_only_on_purpose_and_only_when_the_new_one_is_complete(tiny_data, tmp_path):
    out = tmp_path / "run"
    train(tiny_data, out, epochs=2)
    before = files(out)
    with pytest.raises(runs.RunError, match=r"finished run of gc-dm .*seed: 0 -> 5.*--overwrite"):
        train(tiny_data, out, epochs=2, seed=5)
    assert files(out) == before
    # the new run dies half-way (a kill, a full disk): the old run is still there, complete
    with pytest.raises(Stop):
        train(tiny_data, out, epochs=3, seed=5, overwrite=True, callbacks=[stop_at(1)])
    assert files(out) == before  # on 6bd2488 model.keras and metrics.json were deleted first
    train(tiny_data, out, epochs=3, seed=5, overwrite=True)
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 5 and run["epochs_run"] == 3 and files(out) != before
    assert not (out / ".staging").exists()


def test_the_same_command_again_trains_nothing_and_overwrite_retrains_into_staging(tiny_data, tmp_path):
    out = tmp_path / "run"
    first = train(tiny_data, out, epochs=2)
    assert first["training"]["status"] == "trained"
    before = files(out)
    again = train(tiny_data, out, epochs=2, callbacks=[stop_at(0)])  # nothing is trained: the callback never stops it
    assert again["training"]["message"] == f"up to date: {out} holds this run (finished, 2 epochs); nothing trained"
    assert files(out) == before and again["metrics"] == first["metrics"]
    with pytest.raises(Stop):
        train(tiny_data, out, epochs=2, overwrite=True, callbacks=[stop_at(0)])
    assert files(out) == before
    assert train(tiny_data, out, epochs=2)["training"]["status"] == "up_to_date"  # the finished run is this run
    resumed = train(tiny_data, out, epochs=2, overwrite=True)  # the killed retraining goes on
    assert resumed["training"]["message"] == f"resumed at epoch 1: {out} holds the finished run (2 epochs)"
    assert files(out)["history.csv"] == before["history.csv"]  # same seed, same run
    (tmp_path / "before.keras").write_bytes(before["model.keras"])
    assert all(np.array_equal(a, b) for a, b in zip(weights(tmp_path / "before.keras"), weights(out / "model.keras")))


def test_a_dataset_from_other_simulator_parameters_is_refused(capsys, tiny_data, tmp_path):
    # gc_tiny.yaml: npix 16 and fewer point sources than gc-dm's recipe galactic_center
    with pytest.raises(DataError, match=r"manifest.json: made with other simulator parameters than gc-dm's "
                                        r"recipe 'galactic_center': n_disk_range .*npix 16 \(needs 64\)"):
        fit("gc-dm", tiny_data, tmp_path / "r", epochs=1, batch_size=16, model_args=TINY, verbose=0)
    assert main(["train", "gc-dm-smooth-gas", "--data", str(tiny_data), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "gas_length_deg" in err and "--allow-other-recipe" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()
    # a manifest from before every parameter was recorded: its defaults may not be today's
    d = tmp_path / "old"
    shutil.copytree(tiny_data, d)
    m = json.loads((d / "manifest.json").read_text())
    assert m["params"]["npix"] == 16 and m["params"]["gas_model"] == "seed"
    del m["params"]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="before manifests recorded every simulator parameter"):
        fit("gc-dm", d, tmp_path / "r3", epochs=1, batch_size=16, model_args=TINY, verbose=0)


def test_no_room_for_a_checkpoint_stops_with_the_path_and_bytes(capsys, tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(tiny_data, out, epochs=1)
    before = files(out)
    monkeypatch.setattr(runs.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    assert main(["train", "gc-dm", "--data", str(tiny_data), "--out", str(out), "--epochs", "2", "--seed", "3",
                 "--batch-size", "16", "--allow-other-recipe", "--overwrite", "--quiet"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(out / ".staging" / "backup") in line and "bytes needed for the next checkpoint, 1,000 free" in line
    assert files(out) == before
    assert not [p for p in (out / ".staging").rglob("*") if "tmp" in p.name]


def test_a_damaged_checkpoint_is_never_resumed(caplog, tiny_data, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    train(tiny_data, ref, epochs=3)
    with pytest.raises(Stop):
        train(tiny_data, out, epochs=3, callbacks=[stop_at(1)])
    state = json.loads((out / ".staging" / "backup" / "state.json").read_text())
    ckpt = out / ".staging" / "backup" / state["latest"]["file"]
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # what a full disk left on 6bd2488
    train(tiny_data, out, epochs=3)
    assert "does not match its sha256" in caplog.text  # a warning of the kzoo logger
    assert json.loads((out / "run.json").read_text())["resumed"] is False
    assert files(out)["history.csv"] == files(ref)["history.csv"]
    assert all(np.array_equal(a, b) for a, b in zip(weights(ref / "model.keras"), weights(out / "model.keras")))


def test_a_swap_cut_short_is_finished_by_the_next_command(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(tiny_data, out, epochs=1)

    def killed_during_swap(run_dir):  # runs.commit, killed after two of the files were moved
        staging = run_dir / runs.STAGING
        shutil.rmtree(staging / runs.BACKUP)
        (staging / runs.COMPLETE).write_text("")
        for name in sorted(p.name for p in staging.iterdir() if p.name != runs.COMPLETE)[:2]:
            os.replace(staging / name, run_dir / name)
        raise KeyboardInterrupt("killed during the swap")

    monkeypatch.setattr(runs, "commit", killed_during_swap)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_data, out, epochs=1, seed=9, overwrite=True)
    monkeypatch.undo()
    assert json.loads((out / "run.json").read_text())["seed"] == 0
    from kzoo.evaluate import evaluate

    evaluate(out)  # any command that opens the run finishes the swap first
    assert not (out / ".staging").exists() and json.loads((out / "run.json").read_text())["seed"] == 9


def test_resumed_runs_with_dropout_and_noise_equal_uninterrupted_ones(tiny_data, tmp_path):
    """The U-net has dropout (keras SeedGenerator state) and the denoiser random input noise."""
    for exp, args in (("gc-ps-unet", {"base_filters": 2, "depth": 2}),
                      ("gc-dae-gaussian", {"filters": (4, 4, 8), "strides": (2, 2, 1), "hidden": 8})):
        ref, out = tmp_path / f"{exp}-ref", tmp_path / exp
        train(tiny_data, ref, exp, epochs=2, model_args=args)
        with pytest.raises(Stop):
            train(tiny_data, out, exp, epochs=2, model_args=args, callbacks=[stop_at(0)])
        train(tiny_data, out, exp, epochs=2, model_args=args)
        assert json.loads((out / "run.json").read_text())["resumed"] is True
        assert files(out)["history.csv"] == files(ref)["history.csv"], exp
        assert all(np.array_equal(a, b) for a, b in zip(weights(ref / "model.keras"), weights(out / "model.keras")))


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_real_kzoo_train_killed_and_rerun_ends_identical_to_an_uninterrupted_one(tiny_data, tmp_path):
    # On 6bd2488 a resumed run reshuffled from scratch and ended with other numbers.
    def cmd(out):
        return [sys.executable, "-m", "kzoo.cli", "train", "gc-dm", "--data", str(tiny_data), "--out", str(out),
                "--epochs", "5", "--batch-size", "16", "--allow-other-recipe", "--quiet"]

    ref, out = tmp_path / "ref", tmp_path / "run"
    subprocess.run(cmd(ref), env=ENV, check=True, capture_output=True)
    state = out / ".staging" / "backup" / "state.json"
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen(cmd(out), env=ENV, stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 180
    while not (state.exists() and json.loads(state.read_text() or "{}").get("epoch", 0) >= 2):
        assert proc.poll() is None and time.monotonic() < end, (tmp_path / "log").read_text()[-2000:]
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.keras").exists()
    done = subprocess.run(cmd(out), env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "run.json").read_text())["resumed"] is True
    assert files(out)["history.csv"] == files(ref)["history.csv"]
    assert all(np.array_equal(a, b) for a, b in zip(weights(ref / "model.keras"), weights(out / "model.keras")))
    assert json.loads((out / "metrics.json").read_text())["metrics"] == \
        json.loads((ref / "metrics.json").read_text())["metrics"]


def test_a_second_writer_of_a_run_directory_is_refused_naming_the_holder(capsys, tiny_data, tmp_path):
    import socket

    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".kzoo-lock").write_text(json.dumps({"what": "kzoo train gc-dm", "pid": holder.pid,
                                                     "host": socket.gethostname(), "started": "2026-11-23T08:00"}))
        args = ["train", "gc-dm", "--data", str(tiny_data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
                "--allow-other-recipe", "--quiet"]
        assert main(args) == 2
        line = capsys.readouterr().err.strip()
        assert f"being written by kzoo train gc-dm (pid {holder.pid} on {socket.gethostname()}" in line, line
        assert not (out / ".staging").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(args) == 0  # the holder is gone: its lock is stale and taken over
    assert not (out / ".kzoo-lock").exists() and (out / "model.keras").exists()


def test_a_changed_goal_or_reference_does_not_change_what_a_run_is():
    from kzoo.experiments import get_experiment

    run = {"experiment": get_experiment("gc-dm").to_dict(), "dataset_sha256": "x", "seed": 1, "settings": {}}
    edited = json.loads(json.dumps(run))
    edited["experiment"].update(goals={"mae_scaled": {"A_dm": ["<=", 0.07]}}, description="new words",
                                reference={"mae_scaled": {"A_dm": 0.08}})
    assert runs.identity(edited) == runs.identity(run)
    edited["experiment"]["learning_rate"] = 5e-4  # what is trained is the run's identity
    assert runs.differences(run, edited) == ["experiment.learning_rate: 0.001 -> 0.0005"]


def test_a_field_added_to_experiments_at_its_default_leaves_earlier_runs_the_same():
    from kzoo.experiments import get_experiment

    new = {"experiment": get_experiment("gc-dm").to_dict(), "dataset_sha256": "x", "seed": 1, "settings": {}}
    old = json.loads(json.dumps(new))
    del old["experiment"]["target_scale"]  # a run recorded before the field existed
    assert runs.identity(old) == runs.identity(new)
    new["experiment"]["target_scale"] = (-1.0, 1.0)
    assert runs.differences(old, new) == ["experiment.target_scale: [0.0, 1.0] -> [-1.0, 1.0]"]


def test_the_commit_a_record_names_ignores_the_records_being_written_but_not_the_source(tmp_path):
    """A benchmark writing benchmarks/results/ made every later record of the same run say '+uncommitted'."""
    repo = tmp_path / "repo"
    for d in ("kzoo", "results", "benchmarks/results"):
        (repo / d).mkdir(parents=True)
        (repo / d / "f.txt").write_text("a")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run([*git, *args], check=True)
    clean = runs.git_commit(repo)
    assert clean and "+" not in clean
    for d in ("results", "benchmarks/results"):
        (repo / d / "f.txt").write_text("a new record")
    assert runs.git_commit(repo) == clean
    (repo / "kzoo" / "f.txt").write_text("a change to the source")
    assert runs.git_commit(repo) == clean + "+uncommitted"
