"""The failure matrix of the README: each row, through the command line, gives exit 2, one clear
line naming the file, field or argument, and leaves no partial file behind."""

import json
import shutil

import numpy as np
import pytest
import yaml

from conftest import tiny_recipe
from kzoo.cli import main

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    from kzoo.train import fit

    out = tmp_path_factory.mktemp("errors") / "run"
    fit("gc-dm", tiny_data, out, epochs=1, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
    return out


def fails(capsys, argv, *needles):
    """Run the CLI, expect exit 2 and one stderr line holding every needle."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kzoo "), err
    line = err[0]
    for n in needles:
        assert str(n) in line, (n, line)
    return line


def no_temp_files(*dirs):
    for d in dirs:
        assert not [p for p in d.rglob("*") if ".tmp-" in p.name], list(d.rglob("*"))


def test_unknown_model_or_experiment(capsys, tiny_data, tmp_path):
    fails(capsys, ["info", "gc_cn"], "unknown model 'gc_cn'", "did you mean 'gc_cnn'")
    fails(capsys, ["train", "gc-dn", "--data", tiny_data, "--out", tmp_path / "r"], "unknown experiment 'gc-dn'", "gc-dm")
    assert not (tmp_path / "r").exists()


def test_wrong_input_shape_or_channels(capsys, tiny_run, tmp_path):
    np.save(tmp_path / "big.npy", np.ones((32, 32), "float32"))
    np.save(tmp_path / "rgb.npy", np.ones((16, 16, 3), "float32"))
    fails(capsys, ["predict", tiny_run, tmp_path / "big.npy"], "big.npy", "(32, 32, 1)", "(16, 16, 1)")
    fails(capsys, ["predict", tiny_run, tmp_path / "rgb.npy"], "rgb.npy", "(16, 16, 3)")


def test_nan_images_refused_at_write_and_predict_time(capsys, tmp_path, monkeypatch, tiny_run):
    from kzoo.families.gc import sky as galactic_center

    real = galactic_center.simulate

    def with_nan(rng, n, **p):
        out = real(rng, n, **p)
        out["counts"][min(2, n - 1), 3, 3] = np.nan
        return out

    monkeypatch.setattr(galactic_center, "simulate", with_nan)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe()))
    fails(capsys, ["simulate", recipe, "--out", tmp_path / "d", "--no-progress"], "counts of image 2", "NaN")
    assert not list((tmp_path / "d").glob("*.tfrecord")) and not (tmp_path / "d" / "manifest.json").exists()
    no_temp_files(tmp_path / "d")
    monkeypatch.setattr(galactic_center, "simulate", real)
    img = np.ones((16, 16), "float32")
    img[0, 0] = np.inf
    np.save(tmp_path / "inf.npy", img)
    fails(capsys, ["predict", tiny_run, tmp_path / "inf.npy"], "inf.npy", "1 pixel(s) are NaN or inf")


def test_nan_loss_stops_training_naming_the_batch(capsys, tiny_data, tmp_path):
    fails(capsys, ["train", "gc-dm", "--data", tiny_data, "--out", tmp_path / "r", "--epochs", "1",
                   "--batch-size", "16", "--lr", "1e30", "--quiet", "--allow-other-recipe"], "loss became", "batch")
    assert not (tmp_path / "r" / "model.keras").exists()


def test_empty_split(capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(splits={"train": 0, "test": 10})))
    fails(capsys, ["simulate", recipe, "--out", tmp_path / "d"], "splits.train", "positive integer")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("damage,needle", [("truncate", "truncated"), ("flip", "corrupt"), ("delete", "missing")])
def test_damaged_shards(capsys, tiny_data, tmp_path, damage, needle):
    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    f = sorted(d.glob("val-*.tfrecord"))[0]
    raw = f.read_bytes()
    if damage == "truncate":
        f.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        f.write_bytes(raw[:200] + bytes([raw[200] ^ 0x10]) + raw[201:])
    else:
        f.unlink()
    fails(capsys, ["verify", d], f.name, needle)
    fails(capsys, ["train", "gc-dm", "--data", d, "--out", tmp_path / "r"], f.name, needle)
    assert not (tmp_path / "r" / "run.json").exists()


def test_manifest_from_another_recipe(capsys, tiny_data, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    m = json.loads((d / "manifest.json").read_text())
    m["sky"] = "sersic"
    (d / "manifest.json").write_text(json.dumps(m))
    fails(capsys, ["train", "gc-dm", "--data", d, "--out", tmp_path / "r"], "manifest.json", "sersic", "galactic_center")
    (d / "manifest.json").write_text("{not json")
    fails(capsys, ["verify", d], "manifest.json", "not valid JSON")


def test_labels_outside_the_recipe_ranges(capsys, tmp_path, monkeypatch):
    from kzoo.families.gc import sky as galactic_center

    real = galactic_center.simulate

    def bad_labels(rng, n, **p):
        out = real(rng, n, **p)
        out["labels"][0, 0] = 1.5  # A_dm is drawn from [0, 1]
        return out

    monkeypatch.setattr(galactic_center, "simulate", bad_labels)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe()))
    fails(capsys, ["simulate", recipe, "--out", tmp_path / "d", "--no-progress"], "label A_dm of image 0", "[0.0, 1.0]")
    no_temp_files(tmp_path / "d")


def test_recipe_with_unknown_keys_or_wrong_types(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 10}\nshards: two\nbolck: 8\nparams: {npix: 0}\n")
    fails(capsys, ["simulate", bad, "--out", tmp_path / "d"], str(bad), "3 problem(s)", "'bolck'", "'shards' must be int", "npix")
    assert not (tmp_path / "d").exists()


def test_model_files_that_safe_loading_refuses(capsys, tmp_path):
    import keras

    (tmp_path / "text.keras").write_text("hello")
    fails(capsys, ["export", tmp_path / "text.keras", "--format", "onnx"], "text.keras", "not a .keras model file")
    inp = keras.Input((3,))
    keras.Model(inp, keras.layers.Lambda(lambda t: t + 1)(inp)).save(tmp_path / "lam.keras")
    fails(capsys, ["export", tmp_path / "lam.keras"], "lam.keras", "refused by safe loading")
    assert not (tmp_path / "export").exists()


def test_fits_without_image_data(capsys, tiny_run, tmp_path):
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.ones(3))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "cat.fits")
    fails(capsys, ["predict", tiny_run, tmp_path / "cat.fits"], "cat.fits", "no image data")
    fits.PrimaryHDU(np.ones((16, 16), "float32")).writeto(tmp_path / "img.fits")
    assert main(["predict", str(tiny_run), str(tmp_path / "img.fits")]) == 0
    assert "A_dm" in capsys.readouterr().out


# Issue 8: every bad input exits 2 with one line.

def test_recipe_params_of_wrong_type_all_listed(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 10}\n"
                   "params: {npix: null, amplitude_range: 5, half_width_deg: 'x'}\n")
    fails(capsys, ["simulate", bad, "--out", tmp_path / "d"], str(bad), "3 problem(s)", "'params.npix'",
          "got null", "'params.amplitude_range'", "[low, high] pair", "'params.half_width_deg'", "got 'x'")
    assert not (tmp_path / "d").exists()


def test_recipe_with_an_integer_key_beside_an_unknown_key(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 10, ../up: 3}\n1: one\nbolck: 8\nparams: {7: 1}\n")
    fails(capsys, ["simulate", bad, "--out", tmp_path / "d"], str(bad), "4 problem(s)", "'bolck'",
          "not a string: 1", "'../up'", "'params.7' is not a parameter name")
    assert not (tmp_path / "d").exists()


def test_npix_beyond_its_declared_bound_is_refused_before_any_folder(capsys, tmp_path):
    bad = tmp_path / "big.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 10}\nparams: {npix: 100000}\n")
    fails(capsys, ["simulate", bad, "--out", tmp_path / "d"], "'params.npix'", "[1, 256]", "100000")
    assert not (tmp_path / "d").exists()


def test_every_sky_declares_each_parameter():
    from kzoo.sims import get_sky, skies

    for name in skies():
        sky = get_sky(name)
        assert set(sky.PARAMS) == set(sky.DEFAULTS), name
        assert sky.validate_params({}) == sky.DEFAULTS  # the defaults pass their own declaration


@pytest.mark.parametrize("manifest,needle", [
    ([1, 2], "an array instead of an object"),
    (None, "null instead of an object"),
    ("no bytes", "'splits.val.shards[0].bytes' is missing"),
    ("label range", "'label_ranges.A_dm' must be an array of 2"),
])
def test_manifest_that_breaks_the_schema(capsys, tiny_data, tmp_path, manifest, needle):
    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    if isinstance(manifest, str):
        m = json.loads((d / "manifest.json").read_text())
        if manifest == "no bytes":
            del m["splits"]["val"]["shards"][0]["bytes"]
        else:
            m["label_ranges"]["A_dm"] = 1.0
        manifest = m
    (d / "manifest.json").write_text(json.dumps(manifest))
    fails(capsys, ["verify", d], str(d / "manifest.json"), needle)
    fails(capsys, ["train", "gc-dm", "--data", d, "--out", tmp_path / "r"], "manifest.json", needle)
    assert not (tmp_path / "r").exists()


def test_manifest_shard_outside_the_data_folder(capsys, tiny_data, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    (tmp_path / "other").mkdir()
    m = json.loads((d / "manifest.json").read_text())
    shard = m["splits"]["val"]["shards"][0]
    shutil.copy(d / shard["file"], tmp_path / "other" / shard["file"])  # a matching file, but outside
    shard["file"] = f"../other/{shard['file']}"
    (d / "manifest.json").write_text(json.dumps(m))
    fails(capsys, ["verify", d], "manifest.json", "'splits.val.shards[0].file'", "../other/", "inside the dataset folder")


def test_out_under_an_existing_file(capsys, tiny_data, tiny_run, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("not a folder")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe()))
    fails(capsys, ["simulate", recipe, "--out", f / "d"], "--out", str(f / "d"), "is a file")
    fails(capsys, ["train", "gc-dm", "--data", tiny_data, "--out", f / "run"], "--out", str(f / "run"), "is a file")
    fails(capsys, ["export", tiny_run, "--format", "keras", "--out", f / "m.keras"], "--out", str(f / "m.keras"), "is a file")
    fails(capsys, ["train", "gc-dm", "--data", tiny_data, "--out", f], "--out", str(f), "existing file")
    assert f.read_text() == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "r.yaml"]


def _npy_with_header(path, shape, dtype="<f4", data=b""):
    from numpy.lib import format as npf

    with open(path, "wb") as fh:
        npf.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
        fh.write(data)


@pytest.mark.parametrize("kind,needle", [
    ("empty", "an empty file"),
    ("text", "without a valid .npy header"),
    ("folder", "is a directory"),
    ("structured", "structured"),
    ("string", "strings"),
    ("complex", "complex"),
    ("huge header", "(16, 16, 100000000) does not fit model input (16, 16, 1)"),
    ("truncated", "truncated"),
])
def test_npy_inputs_checked_from_their_header(capsys, tiny_run, tmp_path, kind, needle):
    f = tmp_path / "x.npy"
    if kind == "empty":
        f.write_bytes(b"")
    elif kind == "text":
        f.write_text("hello, not numpy")
    elif kind == "folder":
        f.mkdir()
    elif kind == "structured":
        np.save(f, np.zeros((16, 16), dtype=[("a", "f4"), ("b", "f4")]))
    elif kind == "string":
        np.save(f, np.full((16, 16), "1.0"))
    elif kind == "complex":
        np.save(f, np.ones((16, 16), "complex64"))
    elif kind == "huge header":
        _npy_with_header(f, (16, 16, 100_000_000))  # a 128-byte file claiming 95 GiB
        assert f.stat().st_size < 200
    else:
        _npy_with_header(f, (16, 16), data=b"\0" * 100)
    fails(capsys, ["predict", tiny_run, f], str(f), needle)


def test_manifest_write_hitting_a_full_disk(capsys, tmp_path, monkeypatch):
    import errno
    import pathlib

    real = pathlib.Path.write_text

    def full(self, *a, **k):
        if "manifest" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    recipe = tmp_path / "r.yaml"
    real(recipe, yaml.safe_dump(tiny_recipe(splits={"train": 16, "test": 8}, shards=2)))
    fails(capsys, ["simulate", recipe, "--out", tmp_path / "d", "--no-progress"],
          str(tmp_path / "d" / "manifest.json"), "No space left on device")
    assert not (tmp_path / "d" / "manifest.json").exists()
    no_temp_files(tmp_path / "d")


def test_unexpected_errors_are_one_line_unless_debug(capsys, monkeypatch):
    import kzoo.registry

    def broken(name):
        raise TypeError("an unforeseen\nproblem")

    monkeypatch.setattr(kzoo.registry, "index_entry", broken)  # what kzoo info MODEL reads
    fails(capsys, ["info", "gc_cnn"], "kzoo info: error: TypeError: an unforeseen; problem", "rerun with --debug")
    with pytest.raises(TypeError):
        main(["--debug", "info", "gc_cnn"])
    monkeypatch.setenv("KZOO_DEBUG", "1")
    with pytest.raises(TypeError):
        main(["info", "gc_cnn"])


def test_negative_patience_is_refused(capsys, tiny_data, tmp_path):
    # 6bd2488 accepted --patience -1 and trained
    fails(capsys, ["train", "gc-dm", "--data", tiny_data, "--out", tmp_path / "r", "--patience", "-1",
                   "--allow-other-recipe"], "patience must be >= 0", "got -1")
    assert not (tmp_path / "r").exists()


def test_bad_model_args_and_hyperparameters_files_are_refused(capsys, tiny_data, tmp_path):
    train = ["train", "gc-dm", "--data", tiny_data, "--out", tmp_path / "r", "--allow-other-recipe"]
    fails(capsys, train + ["--model-arg", "widthz=3"], "model 'gc_cnn' has no argument 'widthz'", "filters, ")
    fails(capsys, train + ["--model-arg", "dense"], "--model-arg 'dense'", "NAME=VALUE")
    fails(capsys, train + ["--model-arg", "input_shape=[8,8,1]"], "'input_shape'", "set from the dataset")
    (tmp_path / "list.json").write_text("[0.001]")
    fails(capsys, train + ["--hyperparameters", tmp_path / "list.json"], tmp_path / "list.json", "JSON object")
    (tmp_path / "broken.json").write_text("{")
    fails(capsys, train + ["--hyperparameters", tmp_path / "broken.json"], tmp_path / "broken.json", "not JSON")
    fails(capsys, train + ["--hyperparameters", tmp_path / "none.json"], tmp_path / "none.json", "No such file")
    (tmp_path / "unknown.json").write_text('{"learning_rate": 0.01, "widthz": 3}')
    fails(capsys, train + ["--hyperparameters", tmp_path / "unknown.json"], "no argument 'widthz'")
    assert not (tmp_path / "r").exists()
