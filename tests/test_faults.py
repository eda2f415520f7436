"""Faults lose nothing: real processes killed with SIGKILL at random points, and write errors.

* ``kzoo simulate`` killed several times on the same directory: no partial shard ever appears under
  its final name, the next run removes the killed runs' temporaries, and a final run makes only the
  missing shards, ending byte-identical (shards and manifest.json) to an uninterrupted run.
* ``kzoo.train.fit`` SIGKILLed from outside at a random point, then stopped at the two instants
  around an epoch's history row (after the row, before its backup; before the row): the resumed
  run ends with exactly one history row per epoch, a loadable model and its metrics.
* A write that fails (disk full, read-only directory, failed rename, unserialisable JSON) raises an
  error naming the file, leaves the previous files byte for byte and no temporary behind.
* Guards of ``kzoo simulate``: a second writer of a folder is refused naming the first (a stale lock
  of a killed one is taken over); the workers of a killed ``--workers 2`` run die with it; a job that
  cannot fit on the disk or in memory is refused before anything is created.
* (slow) benchmarks/faults.py: kills at seeded random moments, each followed by a rerun that must end
  identical to an uninterrupted run, with no orphan process.

Timings are tiny (16 x 16 maps, a 4-4-8-8 CNN); the random points come from a seeded generator.
"""

import errno
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import faults  # noqa: E402  benchmarks/faults.py: /proc process helpers and the fault-injection script
from conftest import tiny_recipe
from kzoo.data import DataError, load_manifest, write_shards
from kzoo.io import atomic_path, write_json
from kzoo.runs import read_history
from kzoo.train import fit

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process ids are POSIX")

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
TMP = re.compile(r"^\.(?P<stem>.+)\.tmp-(?P<pid>\d+)(?P<suffix>\.[a-z]+)$")  # kzoo.io.atomic_path's names


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _shards(d: Path) -> list[Path]:
    return sorted(p for p in d.glob("*.tfrecord") if not p.name.startswith("."))  # glob("*") sees dotfiles


def _temps(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob(".*") if TMP.match(p.name))


def _tree(d: Path) -> dict[str, bytes]:
    """Every file of a dataset folder but the stamps of its last verification (a cache; kzoo.data.shards.VERIFIED)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != "verified.json"}


def _start(args, log: Path):
    with open(log, "w") as f:  # a file, not a pipe: a full pipe would stall the child
        return subprocess.Popen([sys.executable, *map(str, args)], env=ENV, stdout=f, stderr=subprocess.STDOUT)


def _wait(cond, proc, log: Path, timeout=180.0, what="condition"):
    """Poll ``cond`` every 5 ms while ``proc`` runs; fail if it exits or the time is up first."""
    end = time.monotonic() + timeout
    try:
        while not cond():
            if proc.poll() is not None:
                pytest.fail(f"process exited (rc {proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > end:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.005)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise


def _sigkill(proc):
    assert proc.poll() is None, "the process finished before it could be killed: the test proves nothing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


# -- 1. kzoo simulate killed at random points ------------------------------------------------------

def test_simulate_killed_three_times_then_rerun_loses_nothing(tmp_path):
    # 12 shards of 400 16x16 maps with the simulator's default source counts: ~0.15 s per shard,
    # so the shard-writing phase (after a ~5 s TensorFlow import) lasts ~2 s.
    recipe = tiny_recipe(splits={"train": 2880, "val": 960, "test": 960}, shards=12,
                         params={"npix": 16})
    rfile = tmp_path / "recipe.yaml"
    rfile.write_text(yaml.safe_dump(recipe))
    ref, d = tmp_path / "ref", tmp_path / "killed"
    write_shards(rfile, ref, progress=False)  # uninterrupted reference
    ref_sha = {p.name: _sha(p) for p in _shards(ref)}
    assert len(ref_sha) == 12

    rng = random.Random(20240611)
    killed = []
    for attempt in range(3):
        before = len(_shards(d))
        target = before + rng.randint(1, 2)  # shards this run must finish before it may die
        log = tmp_path / f"simulate-{attempt}.log"
        proc = _start(["-m", "kzoo.cli", "simulate", rfile, "--out", d, "--no-progress"], log)
        _wait(lambda: len(_shards(d)) >= target, proc, log, what=f"{target} shards")
        time.sleep(rng.uniform(0.0, 0.15))  # a random point inside the next shard (or between files)
        _sigkill(proc)
        killed.append(proc.pid)

        # Nothing partial under a final name: every shard and part record present is complete.
        present = _shards(d)
        assert len(present) < 12, "the run finished: the kill came too late to test anything"
        for p in present:
            assert _sha(p) == ref_sha[p.name], f"{p.name} is visible but not the complete shard"
        for part in (d / ".kzoo-parts").glob("[!.]*.json"):
            rec = json.loads(part.read_text())
            assert rec["sha256"] == ref_sha[rec["file"]] and (d / rec["file"]).exists()
        assert not (d / "manifest.json").exists()
        # Temporaries left behind are the last victim's only: each run removed its predecessors'.
        stale = {int(TMP.match(p.name)["pid"]) for p in _temps(d)}
        assert stale <= {proc.pid}, (stale, killed)

    # A final uninterrupted rerun keeps the finished shards (same inode and mtime) and makes the rest.
    done = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _shards(d)
            if (d / ".kzoo-parts" / (p.name + ".json")).exists()}
    assert 0 < len(done) < 12, done
    m = write_shards(rfile, d, progress=False)
    assert {p.name: _sha(p) for p in _shards(d)} == ref_sha
    assert {n: ((d / n).stat().st_ino, (d / n).stat().st_mtime_ns) for n in done} == done
    assert (d / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
    assert _tree(d / ".kzoo-parts") == _tree(ref / ".kzoo-parts")
    assert not _temps(d), _temps(d)
    assert sum(s["count"] for s in m["splits"].values()) == 4800
    load_manifest(d)  # verifies every shard against the manifest


# -- 2. training killed ----------------------------------------------------------------------------

HELPER = """
import sys
from kzoo.train import fit

fit("gc-dm", sys.argv[1], sys.argv[2], epochs=int(sys.argv[3]), batch_size=16, model_args={tiny!r}, verbose=2,
    allow_other_recipe=True)
"""


def _epochs(run: Path) -> list[int]:
    return [int(e) for e in read_history(run / "history.csv")["epoch"]] if (run / "history.csv").exists() else []


def test_training_killed_at_random_and_between_history_and_backup_resumes_exactly(tiny_data, tmp_path,
                                                                                   monkeypatch):
    import keras

    from kzoo.export import load_model

    n, run = 10, tmp_path / "run"
    stage = run / ".staging"  # where a run being trained lives (kzoo.runs)
    helper, log = tmp_path / "train_helper.py", tmp_path / "train.log"
    helper.write_text(HELPER.format(tiny=TINY))
    rng = random.Random(7)

    def rows():
        try:
            return len((stage / "history.csv").read_text().splitlines()) - 1
        except FileNotFoundError:
            return -1

    # (a) A real process, SIGKILLed from outside at a random point once two epochs are logged.
    proc = _start([helper, tiny_data, run, n], log)
    _wait(lambda: rows() >= 2, proc, log, what="two epochs in history.csv")
    time.sleep(rng.uniform(0.0, 0.3))
    _sigkill(proc)
    first = _epochs(stage)
    assert len(first) >= 2 and first == list(range(len(first)))
    assert (stage / "backup").is_dir() and not (run / "model.keras").exists()

    # (b), (c): stopped in-process at the two instants around an epoch's history row (an exception
    # out of a callback: on_train_end never runs, so the files are left as a kill leaves them).
    # (b) right after the row of e_b, before the epoch's backup: the resumed run does e_b again and
    #     must not log it twice; (c) right before the row of e_c: had the backup been saved first,
    #     the resumed run would skip e_c's row.
    e_b, e_c = len(first) + 1, len(first) + 3
    assert e_c < n - 1, "the random kill came so late that no epochs are left for the rest of the test"
    log_row = keras.callbacks.CSVLogger.on_epoch_end

    def stop_at(epoch, after_row):
        def on_epoch_end(self, e, logs=None):
            if e == epoch and not after_row:
                raise KeyboardInterrupt("killed before the history row")
            log_row(self, e, logs)
            if e == epoch and after_row:
                raise KeyboardInterrupt("killed after the history row")

        monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", on_epoch_end)
        with pytest.raises(KeyboardInterrupt):
            fit("gc-dm", tiny_data, run, epochs=n, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
        monkeypatch.undo()

    stop_at(e_b, after_row=True)
    assert _epochs(stage) == list(range(e_b + 1))  # e_b's row is there, its backup is not
    stop_at(e_c, after_row=False)
    assert _epochs(stage) == list(range(e_c))

    # (d) Uninterrupted rerun to the end.
    res = fit("gc-dm", tiny_data, run, epochs=n, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
    hist = read_history(run / "history.csv")
    assert [int(e) for e in hist["epoch"]] == list(range(n))  # continuous, no duplicate, no gap
    assert all(len(v) == n and all(x == x for x in v) for v in hist.values())  # complete rows, no NaN
    assert not stage.exists()
    info = json.loads((run / "run.json").read_text())
    assert info["resumed"] is True and info["epochs_run"] == n
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["count"] == 28 and res["count"] == 28
    model = load_model(run / "model.keras")
    assert model.output_shape[-1] == 1 and model.count_params() > 0


# -- 3. write errors -------------------------------------------------------------------------------

class _FailingFile:
    """A shard file (kzoo writes its records with open(..., "wb")) that runs out of disk space after a few
    records."""

    def __init__(self, path, mode, *a, **k):
        self.f, self.n = open(path, mode, *a, **k), 0

    def write(self, record):
        self.n += 1
        if self.n > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(record)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("fault", ["disk-full", "rename"])
def test_a_failed_shard_write_keeps_the_previous_dataset(tiny_data, tmp_path, monkeypatch, fault):
    import kzoo.data.shards
    import kzoo.io

    d = tmp_path / "gc"
    shutil.copytree(tiny_data, d)
    before = _tree(d)
    first = d / load_manifest(d)["splits"]["train"]["shards"][0]["file"]  # the first shard a rerun writes
    if fault == "disk-full":
        monkeypatch.setattr(kzoo.data.shards, "open", _FailingFile, raising=False)
        why = "No space left on device"
    else:
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if str(dst).endswith(".tfrecord"):
                raise OSError(errno.EROFS, "Read-only file system", str(src), None, str(dst))
            return real_replace(src, dst, *a, **k)

        monkeypatch.setattr(kzoo.io.os, "replace", replace)
        why = "Read-only file system"
    with pytest.raises(DataError, match=re.escape(str(first)) + ".*" + why):
        write_shards(tiny_recipe(seed=4), d, progress=False)
    monkeypatch.undo()
    assert _tree(d) == before  # manifest, shards and part records byte for byte; no temporary left
    load_manifest(d)
    # The failed run changed nothing, so the same call now simply works.
    write_shards(tiny_recipe(seed=4), d, progress=False)
    assert load_manifest(d)["seed"] == 4 and not _temps(d)


def test_a_read_only_dataset_directory_is_refused_naming_the_file(tiny_data, tmp_path):
    d = tmp_path / "gc"
    shutil.copytree(tiny_data, d)
    before = _tree(d)
    dirs = [d, d / ".kzoo-parts"]
    for x in dirs:
        x.chmod(0o555)
    try:
        probe = d / "probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("chmod does not stop this user's writes (root): the injected failures cover this")
        with pytest.raises(PermissionError, match=re.escape(str(d / ".kzoo-lock"))):  # the first file written
            write_shards(tiny_recipe(seed=4), d, progress=False)
    finally:
        for x in dirs:
            x.chmod(0o755)
    assert _tree(d) == before
    load_manifest(d)


def test_a_failed_json_write_keeps_the_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "run" / "metrics.json"
    write_json(p, {"epochs": 3})
    good = p.read_bytes()

    # Not serialisable: the error names the file; the old file stays.
    with pytest.raises(TypeError, match=re.escape(str(p)) + ".*not JSON serializable"):
        write_json(p, {"epochs": 4, "bad": {1, 2}})
    assert p.read_bytes() == good and sorted(p.parent.iterdir()) == [p]

    # The disk fills up half-way through the write: same.
    def half_then_full(self, text, *a, **k):
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError, match="No space left on device") as e:
        write_json(p, {"epochs": 5, "pad": "x" * 1000})
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(p)
    assert p.read_bytes() == good and sorted(p.parent.iterdir()) == [p]

    # A directory target (a SavedModel) is replaced only once the new one is complete.
    sm = tmp_path / "run" / "export"
    with atomic_path(sm) as tmp:
        tmp.mkdir()
        (tmp / "saved_model.pb").write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(sm) as tmp:
            tmp.mkdir()
            (tmp / "saved_model.pb").write_text("new, half")
            raise RuntimeError("interrupted")
    assert (sm / "saved_model.pb").read_text() == "old"
    assert sorted(x.name for x in sm.parent.iterdir()) == ["export", "metrics.json"]


# -- 4. guards of kzoo simulate --------------------------------------------------------------------

def _recipe_file(tmp_path, **over) -> Path:
    f = tmp_path / "recipe.yaml"
    f.write_text(yaml.safe_dump(tiny_recipe(**over)))
    return f


def _cli(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kzoo.cli", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    import socket

    # large enough that the first writer still runs when the second has imported kzoo (a fast CPU finished
    # 3,000 tiny maps first); the second starts once the first holds its lock, not merely its folder
    rfile, d = _recipe_file(tmp_path, splits={"train": 7200, "val": 2400, "test": 2400}, shards=6), tmp_path / "gc"
    log = tmp_path / "first.log"
    first = _start(["-m", "kzoo.cli", "simulate", rfile, "--out", d, "--seed", 1, "--no-progress"], log)
    try:
        _wait(lambda: (d / ".kzoo-lock").exists(), first, log, what="the first writer's lock")
        second = _cli("simulate", rfile, "--out", d, "--seed", 2, "--no-progress")
        overlapped = first.poll() is None
    finally:
        rc = first.wait(timeout=180)
    assert second.returncode == 2, second.stderr
    assert overlapped, "the first writer finished before the second: the test proves nothing"
    assert rc == 0, log.read_text()[-3000:]
    line = second.stderr.strip()
    assert "\n" not in line and f"{d} is being written by kzoo simulate (pid {first.pid} on " \
                                f"{socket.gethostname()}, started 20" in line, line
    assert load_manifest(d)["seed"] == 1 and not (d / ".kzoo-lock").exists()  # the first one's, intact


def test_a_stale_lock_is_taken_over_and_a_lock_is_released_on_error(tmp_path):
    import socket

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    d = tmp_path / "gc"
    d.mkdir()
    lock = {"what": "kzoo simulate", "pid": gone.pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (d / ".kzoo-lock").write_text(json.dumps(lock))  # what a killed writer leaves
    write_shards(tiny_recipe(), d, progress=False)
    assert not (d / ".kzoo-lock").exists()
    load_manifest(d)

    from kzoo.io import LockError, dir_lock

    (d / ".kzoo-lock").write_text(json.dumps({**lock, "host": "elsewhere"}))  # cannot tell: refused
    with pytest.raises(LockError, match=rf"pid {gone.pid} on elsewhere, started 2026-01-01T00:00:00\); wait"):
        write_shards(tiny_recipe(seed=9), d, progress=False)
    assert load_manifest(d)["seed"] == 3
    (d / ".kzoo-lock").unlink()
    with pytest.raises(RuntimeError, match="boom"):
        with dir_lock(d, "test"):
            assert json.loads((d / ".kzoo-lock").read_text())["pid"] == os.getpid()
            raise RuntimeError("boom")
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == [".kzoo-parts"]


def test_workers_die_with_their_killed_parent(tmp_path):
    rfile, d = _recipe_file(tmp_path, splits={"train": 2880, "val": 960, "test": 960}, shards=12), tmp_path / "gc"
    log = tmp_path / "simulate.log"
    proc = _start(["-m", "kzoo.cli", "simulate", rfile, "--out", d, "--workers", 2, "--no-progress"], log)
    _wait(lambda: any(TMP.match(p.name) for p in d.glob(".*.tfrecord")), proc, log, what="a worker writing a shard")
    kids = faults.descendants(proc.pid)
    _sigkill(proc)
    end = time.monotonic() + 10
    while (left := faults.survivors(kids)) and time.monotonic() < end:
        time.sleep(0.05)
    for pid in left:  # the old code's orphans: this test's own processes
        os.kill(pid, signal.SIGKILL)
    assert len(kids) >= 2 and not left, f"{len(left)} of the killed parent's {len(kids)} processes survived it"
    # The rerun removes what the workers left (dead, perhaps zombies not yet collected) and completes.
    write_shards(rfile, d, progress=False)
    assert not _temps(d) and not (d / ".kzoo-lock").exists(), _temps(d)
    load_manifest(d)


class _Usage:
    def __init__(self, free):
        self.total, self.used, self.free = 10**12, 10**12 - free, free


def test_a_dataset_larger_than_the_free_space_is_refused_before_anything_is_created(tmp_path, monkeypatch):
    d = tmp_path / "new" / "gc"
    monkeypatch.setattr(shutil, "disk_usage", lambda p: _Usage(100 * 1024))
    with pytest.raises(DataError, match=rf"^{re.escape(str(d))}: 124 images of 16 x 16 need about 3\d\d\.\d KiB, "
                                        rf"but the file system of {re.escape(str(tmp_path))} has 100\.0 KiB free; "
                                        rf"lower --n or choose another --out$"):
        write_shards(tiny_recipe(), d, progress=False)
    assert not (tmp_path / "new").exists()
    monkeypatch.undo()
    # The estimate is an upper bound, within 1 %, of what the shards take.
    from kzoo.data.shards import shard_bytes

    m = write_shards(tiny_recipe(), tmp_path / "real", progress=False)
    for s in (s for split in m["splits"].values() for s in split["shards"]):
        assert s["bytes"] <= shard_bytes(m["recipe"], s["count"]) <= 1.01 * s["bytes"]


def test_a_huge_simulation_is_refused_and_a_large_one_announced(tmp_path, monkeypatch, capsys):
    d = tmp_path / "huge"
    try:
        r = _cli("simulate", "galactic_center", "--n", 10**12, "--out", d, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("kzoo simulate --n 1000000000000 started simulating")
    assert r.returncode == 2 and not d.exists(), r.stderr
    assert re.fullmatch(rf"kzoo simulate: error: {re.escape(str(d))}: 1,000,000,000,000 images of 64 x 64 need "
                        r"about [\d,.]+ TiB, but the file system of \S+ has [\d,.]+ [KMGT]iB free; lower --n or "
                        r"choose another --out\n", r.stderr), r.stderr
    # A job over LARGE_BYTES goes ahead, its estimate printed first.
    import kzoo.data.shards as shards

    monkeypatch.setattr(shards, "LARGE_BYTES", 1000)
    from kzoo.cli import log_to_stderr

    restore = log_to_stderr(logging.INFO)  # as the CLI shows kzoo's messages
    try:
        write_shards(tiny_recipe(), tmp_path / "big", progress=False)
    finally:
        restore()
    assert re.fullmatch(rf"kzoo: {re.escape(str(tmp_path / 'big'))}: 124 images to simulate, 3\d\d\.\d KiB, about "
                        r"\d+ seconds? at 1 worker\(s\) \([\d,]+ images/s per worker on a 32-image probe\)\n",
                        capsys.readouterr().out)  # information goes to standard output


def test_memory_bounds_the_chunk_and_refuses_what_cannot_fit(tmp_path, monkeypatch):
    import kzoo.data.shards as shards
    from kzoo.data.recipes import load_recipe

    # Images simulated at once: 512, fewer for big images, whole blocks only (block 7: 511).
    assert [shards.chunk_images(load_recipe(tiny_recipe(params={"npix": n}, block=b)))
            for n, b in ((16, 8), (64, 16), (128, 16), (256, 16), (64, 7))] == [512, 512, 128, 32, 511]
    monkeypatch.setattr(shards, "available_memory", lambda: 1 << 20)
    d = tmp_path / "gc"
    with pytest.raises(DataError, match=r"recipe: simulating 512 images of 16 x 16 pixels at once in each of 2 "
                                        r"workers needs about 32\.0 MiB of memory, more than the 1\.0 MiB "
                                        r"available; lower params.npix or block, or use fewer --workers"):
        write_shards(tiny_recipe(), d, workers=2, progress=False)
    assert not d.exists()


@pytest.mark.slow
@pytest.mark.parametrize("what", ["simulate", "train"])
def test_fault_injection_script(tmp_path, what):
    rc = faults.main(["--what", what, "--kills", "3", "--seed", "1", "--out", str(tmp_path / "work"),
                      "--out-json", str(tmp_path / "faults.json"), "--out-md", str(tmp_path / "faults.md")])
    res = json.loads((tmp_path / "faults.json").read_text())["results"][what]
    assert rc == 0 and res["kills"] == 3 and res["identical"] == res["reruns"] and res["orphans"] == 0, res
