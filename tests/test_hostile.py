"""Hostile inputs (issue 50) and durable writes (issue 51): memory bounded by what an input declares, checked before
it is read; nothing written outside its folder; a refused command leaves no trace; one line, every time."""

import resource
import subprocess
import sys
from pathlib import Path

import pytest

CAP = 2 << 30  # 2 GiB of address space: what a small cluster job might allow


def kzoo_capped(*args, cwd):
    """``kzoo ARGS`` in a process whose address space is capped at CAP: (exit status, stderr lines)."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

    p = subprocess.run([sys.executable, "-m", "kzoo.cli", *args], capture_output=True, text=True, cwd=cwd,
                       preexec_fn=cap, timeout=300)
    return p.returncode, [line for line in p.stderr.splitlines() if line.strip()]


def billion_laughs(levels: int = 9) -> str:
    """A recipe whose ``params.npix`` is a list nested ``levels`` deep through YAML aliases: about 400 bytes that
    expand to 9^9 strings wherever the value is walked (its check, the error that quotes it)."""
    lists = ['["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lists.append("[" + ",".join([f"*l{level - 1}"] * 9) + "]")
    anchored = ", ".join(f"&l{i} {text}" for i, text in enumerate(lists))
    return (f"sky: galactic_center\nsplits: {{train: 10, val: 2, test: 2}}\nlols: [{anchored}]\n"
            f"params: {{npix: *l{levels - 1}}}\n")


def test_a_recipe_of_nested_aliases_is_refused_in_one_line_under_a_memory_cap(tmp_path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs())
    rc, err = kzoo_capped("simulate", "bomb.yaml", "--out", "out", cwd=tmp_path)
    assert rc == 2 and len(err) == 1 and "bomb.yaml" in err[0] and "aliases" in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_huge_recipe_is_refused_by_its_size_before_it_is_read(tmp_path):
    (tmp_path / "big.yaml").write_text("sky: galactic_center\ndescription: '" + "x" * (3 << 20) + "'\n")
    rc, err = kzoo_capped("simulate", "big.yaml", "--out", "out", cwd=tmp_path)
    assert rc == 2 and len(err) == 1 and "big.yaml" in err[0] and "at most 1,048,576 bytes" in err[0], err


@pytest.mark.parametrize("where", ["params: {npix: 'VALUE'}", "splits: {train: 'VALUE', val: 2, test: 2}",
                                   "shards: 'VALUE'"])
def test_an_error_quotes_a_long_value_as_a_short_excerpt(where, tmp_path):
    from kzoo.data.recipes import RecipeError, load_recipe

    text = "sky: galactic_center\n" + ("" if "splits" in where else "splits: {train: 10, val: 2, test: 2}\n")
    (tmp_path / "r.yaml").write_text(text + where.replace("VALUE", "y" * 200_000) + "\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path / "r.yaml")
    assert len(str(e.value)) < 600 and "(200,002 characters)" in str(e.value)


# A refused command leaves no trace (issue 50): nothing written before every argument is checked, and a run the
# builder refuses removes what it began, so the corrected command runs as if the first had never been given.

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}


def test_a_refused_seed_or_model_argument_leaves_nothing_behind(tiny_data, tmp_path):
    from kzoo.train import fit

    out = tmp_path / "run"
    with pytest.raises(ValueError, match="random seed must be an integer"):
        fit("gc-dm", tiny_data, out, epochs=1, batch_size=16, seed=-1, model_args=TINY, verbose=0,
            allow_other_recipe=True)
    assert not out.exists()
    with pytest.raises(ValueError):
        fit("gc-dm", tiny_data, out, epochs=1, batch_size=16, model_args={**TINY, "filters": [-3, -3]}, verbose=0,
            allow_other_recipe=True)
    assert not out.exists()
    res = fit("gc-dm", tiny_data, out, epochs=1, batch_size=16, seed=0, model_args=TINY, verbose=0,
              allow_other_recipe=True)
    assert res["training"]["status"] == "trained"


@pytest.mark.parametrize("values, message", [({"batch_size": 1.5}, "batch_size must be a positive integer, got 1.5"),
                                             ({"learning_rate": "abc"}, "learning_rate must be a number > 0")])
def test_hyper_parameters_of_the_wrong_type_are_refused_naming_the_file(values, message, tmp_path):
    import json

    from kzoo.train import read_hyperparameters

    (tmp_path / "best.json").write_text(json.dumps(values))
    with pytest.raises(ValueError, match=message) as e:
        read_hyperparameters(tmp_path / "best.json")
    assert str(tmp_path / "best.json") in str(e.value)


def test_a_copy_cut_short_by_a_full_disk_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import errno
    import shutil

    from kzoo.io import copy_file

    (tmp_path / "new.png").write_bytes(b"new figure" * 1000)
    (tmp_path / "page.png").write_bytes(b"old figure")

    def full_disk(src, dst):
        with open(dst, "wb") as f:
            f.write(b"new fig")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        copy_file(tmp_path / "new.png", tmp_path / "page.png")
    assert (tmp_path / "page.png").read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.png", "page.png"]
    monkeypatch.undo()
    copy_file(tmp_path / "new.png", tmp_path / "page.png")
    assert (tmp_path / "page.png").read_bytes() == b"new figure" * 1000


def test_a_time_estimate_is_rounded_up_in_words():
    from kzoo.data.shards import duration

    assert [duration(s) for s in (0.2, 89.0, 186.0, 3000.0, 4681.0, 5400.0, 36000.0)] == [
        "1 second", "89 seconds", "4 minutes", "50 minutes", "79 minutes", "1.5 hours", "10.0 hours"]


def test_an_export_removes_what_killed_exports_left(tiny_data, tmp_path):
    import subprocess
    import sys

    from kzoo.export import export
    from kzoo.train import fit

    run = tmp_path / "run"
    fit("gc-dm", tiny_data, run, epochs=1, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # the pid of a process that has ended
    (run / "export" / f".savedmodel.tmp-{dead}").mkdir(parents=True)
    (run / "export" / f".savedmodel.tmp-{dead}" / "saved_model.pb").write_bytes(b"half")
    (run / "export" / f".model.tmp-{dead}.onnx").write_bytes(b"half")
    export(run, "keras")
    assert sorted(p.name for p in (run / "export").iterdir()) == ["model.keras"]


def test_a_manifest_nested_ten_thousand_deep_is_refused_naming_it(tmp_path):
    from kzoo.data import DataError, load_manifest

    (tmp_path / "manifest.json").write_text("[" * 10_000 + "]" * 10_000)
    with pytest.raises(DataError, match=r"manifest.json: not a manifest: its JSON is nested too deeply"):
        load_manifest(tmp_path)


def test_a_manifest_listing_one_shard_twice_is_refused(tiny_data, tmp_path):
    import json
    import shutil

    from kzoo.data import DataError, load_manifest

    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    m = json.loads((d / "manifest.json").read_text())
    first = m["splits"]["train"]["shards"][0]
    m["splits"]["test"]["shards"].append(dict(first))  # a training shard also in the test split
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="is listed twice") as e:
        load_manifest(d, verify=False)
    assert str(d / "manifest.json") in str(e.value) and repr(first["file"]) in str(e.value)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` grey pixels and holds none: its header is all a reader needs to
    decide."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def fits_header_only(path, side: int):
    """A sparse FITS file whose header declares ``side`` x ``side`` float32 pixels (a few KB on disk)."""
    from astropy.io import fits

    header = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", side), ("NAXIS2", side)])
    with open(path, "wb") as f:
        f.write(header.tostring().encode())
        f.truncate(2880 + side * side * 4)


def test_a_decompression_bomb_and_a_big_header_are_refused_before_decoding_under_a_memory_cap(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(20_000, 20_000))
    (tmp_path / "list.csv").write_text("location,label\nbomb.png,a\n")
    rc, err = kzoo_capped("import-images", "list.csv", "--out", "imported", "--classes", "a", cwd=tmp_path)
    assert rc == 2 and len(err) == 1 and "bomb.png" in err[0] and "decompression bomb" in err[0], err
    assert not (tmp_path / "imported").exists()
    fits_header_only(tmp_path / "big.fits", 23_170)
    rc, err = kzoo_capped("predict", "gc-dm", "big.fits", cwd=tmp_path)
    assert rc == 2 and len(err) == 1 and "big.fits: image shape (23170, 23170, 1) does not fit" in err[0], err


def test_a_truncated_fits_and_one_beyond_float32_are_refused_in_one_line_saying_why(tmp_path):
    import numpy as np
    from astropy.io import fits

    from kzoo.io import InputError, read_image

    fits.PrimaryHDU(np.ones((64, 64), np.float32)).writeto(tmp_path / "ok.fits")
    (tmp_path / "cut.fits").write_bytes((tmp_path / "ok.fits").read_bytes()[:2880 + 1800 * 4])
    fits.PrimaryHDU(np.full((64, 64), 1e300)).writeto(tmp_path / "huge.fits")
    with pytest.raises(InputError, match=r"cut.fits: not a readable FITS file \(File may have been truncated"):
        read_image(tmp_path / "cut.fits")
    with pytest.raises(InputError, match=r"huge.fits: values beyond float32's range"):
        read_image(tmp_path / "huge.fits")
    assert read_image(tmp_path / "ok.fits").shape == (64, 64)
    for name, why in [("cut.fits", "not a readable FITS file"), ("huge.fits", "values beyond float32's range")]:
        status, lines = kzoo_capped("predict", "gc-dm", name, cwd=tmp_path)  # the whole command: one line
        assert status == 2 and len(lines) == 1 and lines[0].startswith(f"kzoo predict: error: {name}: {why}"), lines


def test_the_command_lines_drop_tensorflows_native_log_lines_and_pass_the_rest_at_once():
    code = ("import os\nfrom kzoo.cli_options import console\n"
            "def main():\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
            "    os.write(2, b'I0000 00:00:1796614530.230677   22829 port.cc:153] oneDNN custom operations are on.\\n')\n"
            "    os.write(2, b'\\rsimulate:  50%|')\n"
            "    os.write(2, b'\\rsimulate: 100%|\\n')\n"
            "    os.write(2, b'W0000 00:00:17.5  1 decode_image_op.cc:12] Invalid JPEG data\\nkzoo x: error: one line\\n')\n"
            "    return 2\n"
            "raise SystemExit(console(main))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr == b"\rsimulate:  50%|\rsimulate: 100%|\nkzoo x: error: one line\n", p.stderr


def test_the_filter_ends_at_exit_though_a_child_still_holds_standard_error():
    """A multiprocessing resource tracker inherits standard error and outlives the command: the filter used to wait
    for it (its 5 s timeout) at every exit of kzoo simulate --workers 2."""
    code = ("import os, subprocess, sys, time\nfrom kzoo.cli_options import filter_native_logs\n"
            "restore = filter_native_logs()\n"
            "child = subprocess.Popen(['sleep', '30'])\n"  # holds the pipe, as a resource tracker does
            "os.write(2, b'first line\\n' + b'x' * 100000 + b'\\nlast line, no newline')\n"
            "t0 = time.monotonic(); restore(); took = time.monotonic() - t0\n"
            "child.kill(); print(round(took, 3))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr[-500:]
    assert p.stderr == b"first line\n" + b"x" * 100000 + b"\nlast line, no newline"  # all of it, once
    assert float(p.stdout) < 2.5  # 5.0 before: the timeout, not the end of what was written


@pytest.mark.parametrize("argv", [["train", "gc-dm", "--epochs", "x", "--data", "d", "--out", "o"], ["trian"], []])
def test_a_bad_command_line_is_refused_in_one_line_naming_help(argv, capsys):
    from kzoo.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].endswith("--help") and ": error: " in err[0], err


@pytest.mark.parametrize("change, needle", [
    ({"file": "../../../outside/evil.keras"}, "must be a plain .keras file name"),
    ({"file": "/tmp/evil.keras"}, "must be a plain .keras file name"),
    ({"bytes": None}, "field 'bytes' must be a int, got null"),
    ({"sha256": "abc"}, "must be 64 hexadecimal digits"),
])
def test_a_preset_manifest_is_checked_before_anything_is_loaded(change, needle, tmp_path):
    import json
    import shutil

    from kzoo.presets import PRESET_DIR, PresetError, load, manifest

    e = {**manifest()["gc-dm"], **change}
    shutil.copy(PRESET_DIR / manifest()["gc-dm"]["file"], tmp_path / manifest()["gc-dm"]["file"])
    (tmp_path / "manifest.json").write_text(json.dumps({"gc-dm": e}))
    with pytest.raises(PresetError, match=needle) as err:
        load("gc-dm", directory=tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value) and "'gc-dm'" in str(err.value)


def test_a_truncated_preset_manifest_is_refused_in_one_line(tmp_path):
    from kzoo.presets import PRESET_DIR, PresetError, list_presets

    (tmp_path / "manifest.json").write_text((PRESET_DIR / "manifest.json").read_text()[:500])
    with pytest.raises(PresetError, match=r"manifest.json: not a preset manifest: Unterminated string|manifest.json: "
                                          r"not a preset manifest: Expecting"):
        list_presets(directory=tmp_path)


def _parts(tmp_path):
    """Two parts of the tiny dataset, made apart (kzoo simulate --shard-range)."""
    import json

    from conftest import tiny_recipe
    from kzoo.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(tiny_recipe()))
    for rng in ("0:2", "2:5"):
        assert main(["simulate", str(recipe), "--out", str(tmp_path / rng.replace(":", "-")), "--shard-range", rng,
                     "--no-progress"]) == 0
    return tmp_path / "0-2", tmp_path / "2-5"


@pytest.mark.parametrize("tamper, needle", [
    (lambda p: p["parts"][0].update(file="../escaped-src.tfrecord"), "is not a shard of its recipe"),
    (lambda p: p["recipe"]["params"].update(npix=64), "its recipe differs from the recipe sha256 it records"),
    (lambda p: p["parts"][0].update(count=p["parts"][0]["count"] + 5), "images per split"),
    (lambda p: p["parts"][0].update(split="test", file=p["parts"][0]["file"].replace(p["parts"][0]["split"], "test")),
     "images per split"),
    (lambda p: p.pop("shards_total"), "'shards_total' must be a int"),
])
def test_a_tampered_part_is_refused_before_anything_is_written(tamper, needle, tmp_path):
    import json

    from kzoo.data import DataError, merge_shards

    a, b = _parts(tmp_path)
    info = json.loads((a / "partial.json").read_text())
    tamper(info)
    (a / "partial.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=needle) as e:
        merge_shards(tmp_path / "merged", [a, b])
    assert str(a / "partial.json") in str(e.value) or "per split" in str(e.value)
    assert not (tmp_path / "merged").exists() and not (tmp_path / "escaped-src.tfrecord").exists()


def test_one_image_listed_for_two_splits_is_refused_naming_both_lines(tmp_path, capsys):
    import numpy as np

    from kzoo.cli import main

    np.save(tmp_path / "a.npy", np.ones((16, 16), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((16, 16), np.float32))
    rows = ["a.npy,x,train", "b.npy,y,train", "a.npy,y,test"] + [f"b.npy,y,{s}" for s in ("train",) * 3]
    (tmp_path / "list.csv").write_text("location,label,split\n" + "\n".join(rows) + "\n")
    assert main(["import-images", str(tmp_path / "list.csv"), "--out", str(tmp_path / "d"), "--classes", "x,y",
                 "--npix", "16", "--no-progress"]) == 2
    assert not (tmp_path / "d").exists()
    (tmp_path / "list.csv").write_text("location,label,split\na.npy,x,train\nb.npy,y,train\na.npy,x,train\n"
                                       "b.npy,y,test\n")
    assert main(["import-images", str(tmp_path / "list.csv"), "--out", str(tmp_path / "d"), "--classes", "x,y",
                 "--npix", "16", "--no-progress"]) == 2  # b.npy in train and test
    np.save(tmp_path / "c.npy", np.ones((16, 16), np.float32))
    (tmp_path / "list.csv").write_text("location,label,split\na.npy,x,train\nb.npy,y,train\na.npy,x,train\n"
                                       "c.npy,y,val\nc.npy,y,val\n")
    assert main(["import-images", str(tmp_path / "list.csv"), "--out", str(tmp_path / "d"), "--classes", "x,y",
                 "--npix", "16", "--no-progress"]) == 0  # repeats within one split: imported, and said
    out = capsys.readouterr().out
    assert "split train holds 1 row(s) naming an image listed before" in out and "split val holds 1" in out
    (tmp_path / "list.csv").write_text("location,label\na.npy,x\nb.npy,y\na.npy,x\n")  # no split given: refused too
    from kzoo.sims.image_folder import ListError, read_list

    with pytest.raises(ListError, match=r"line 4: a.npy is also on line 2: an image may be in one split only"):
        read_list(str(tmp_path / "list.csv"), "", ("x", "y"))


def test_an_atomic_write_is_fsynced_before_its_rename_and_its_folder_after(tmp_path, monkeypatch):
    import os

    from kzoo.io import atomic_path

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("rename", str(b))) or real_replace(a, b))
    with atomic_path(tmp_path / "manifest.json") as tmp:
        tmp.write_text("{}")
    kinds = [(k, Path(p).name) for k, p in events]
    assert kinds == [("fsync", tmp.name), ("rename", "manifest.json"), ("fsync", tmp_path.name)], kinds


# Start-up that does not grow with the data (issue 51): a shard is hashed once, then only when its stamp changes.

def test_a_verified_dataset_is_not_hashed_again_unless_a_shard_changes(tiny_data, tmp_path, monkeypatch):
    import os
    import shutil

    import kzoo.data.shards as shards
    from kzoo.data import DataError, load_manifest

    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    hashed = []
    real = shards.sha256_file
    monkeypatch.setattr(shards, "sha256_file", lambda p, *a: hashed.append(Path(p).name) or real(p, *a))
    m = load_manifest(d)
    n = sum(len(s["shards"]) for s in m["splits"].values())
    assert len(hashed) == n  # the first use hashes every shard
    hashed.clear()
    load_manifest(d)
    assert hashed == []  # then none
    load_manifest(d, verify="full")
    assert len(hashed) == n  # kzoo verify: all of them, always
    # a shard replaced by another file of its size (renamed over it: another inode) is hashed again and refused
    victim = d / m["splits"]["train"]["shards"][0]["file"]
    data = bytearray(victim.read_bytes())
    data[100] ^= 1
    (d / "x").write_bytes(bytes(data))
    os.replace(d / "x", victim)
    with pytest.raises(DataError, match="sha256 differs"):
        load_manifest(d)


def test_a_dataset_just_written_is_not_hashed_again_at_its_first_use(tmp_path, monkeypatch):
    """The writer hashed every shard as it wrote it: the first kzoo train does not hash them again (issue 51)."""
    import kzoo.data.shards as shards
    from kzoo.data import load_manifest, write_shards
    from conftest import tiny_recipe

    write_shards(tiny_recipe(), tmp_path / "d", progress=False)
    hashed = []
    real = shards.sha256_file
    monkeypatch.setattr(shards, "sha256_file", lambda p, *a: hashed.append(Path(p).name) or real(p, *a))
    load_manifest(tmp_path / "d")
    assert hashed == []


def test_a_bit_flipped_in_place_with_its_time_kept_is_stopped_by_the_record_crc(tiny_data, tmp_path):
    import os
    import shutil

    from kzoo.data import DataError, dataset, load_manifest

    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    m = load_manifest(d)  # verified and stamped
    shard = d / m["splits"]["train"]["shards"][0]["file"]
    st = shard.stat()
    with open(shard, "r+b") as f:  # one bit of the first record's data, same size, same inode
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    load_manifest(d)  # its stamp is unchanged: not hashed
    with pytest.raises(Exception, match="(?i)corrupted record|data ?loss|crc"):
        for _ in dataset(d, "train", inputs="counts", targets=["A_dm"], batch_size=8, shuffle=False, manifest=m,
                         verify=False):
            pass
    with pytest.raises(DataError, match="sha256 differs"):
        load_manifest(d, verify="full")


def test_a_corrupt_jpeg_is_one_line_without_tensorflows_log(tmp_path):
    """A JPEG cut in half: TensorFlow's decoder logs in C++ and names its op; kzoo says one line, the file first."""
    import numpy as np
    import tensorflow as tf

    data = tf.io.encode_jpeg(np.random.default_rng(0).integers(0, 255, (64, 64, 1), dtype=np.uint8)).numpy()
    (tmp_path / "half.jpg").write_bytes(data[:len(data) // 2])
    p = subprocess.run([sys.executable, "-m", "kzoo.cli", "predict", "gc-dm", str(tmp_path / "half.jpg")],
                       capture_output=True, text=True, timeout=300)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith(f"kzoo predict: error: {tmp_path / 'half.jpg'}: not a readable JPG image (")
    assert "function_node" not in lines[0] and "[Op:" not in lines[0]


def test_every_settings_file_refuses_aliases_size_and_depth_and_quotes_values_short(tmp_path):
    """Experiment files and JSON settings go through the same reader as recipes; manifests and unknown names quote
    what was given as an excerpt (issue 50, round-three review)."""
    from kzoo.data.shards import DataError, load_manifest
    from kzoo.experiment_files import experiment_file

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x]\nb: &b [*a, *a]\nname: e\nmodel: gc_cnn\n")
    with pytest.raises(ValueError, match="bomb.yaml: line 2: YAML aliases"):
        experiment_file(bomb)
    big = tmp_path / "big.yaml"
    big.write_text("name: e\n" + "#" * (2 << 20))
    with pytest.raises(ValueError, match=r"big.yaml: [\d,]+ bytes; a kzoo"):
        experiment_file(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="deep.json: nested too deeply"):
        experiment_file(deep)
    (tmp_path / "cut.json").write_text('{"name": ')
    with pytest.raises(ValueError, match=r"cut.json: not JSON \(Expecting value"):
        experiment_file(tmp_path / "cut.json")
    long_model = tmp_path / "long.yaml"
    long_model.write_text("name: e\nmodel: " + "m" * 200_000 + "\n")
    with pytest.raises((KeyError, ValueError)) as e:
        experiment_file(long_model)
    assert len(str(e.value)) < 2000 and "characters" in str(e.value)
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text('{"format": "' + "f" * 200_000 + '"}')
    with pytest.raises(DataError) as e:
        load_manifest(data)
    assert len(str(e.value)) < 600 and "(200,002 characters)" in str(e.value)
