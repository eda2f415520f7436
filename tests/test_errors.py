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
    fit("gc-dm", tiny_data, out, epochs=1, batch_size=16, model_args=TINY, verbose=0)
    return out


def fails(capsys, argv, *needles):
    """Run the CLI, expect exit 2 and one stderr line holding every needle."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[0].startswith("kzoo "), err
    line = " ".join(err)
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
    from kzoo.sims import galactic_center

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
                   "--batch-size", "16", "--lr", "1e30", "--quiet"], "loss became", "batch")
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
    from kzoo.sims import galactic_center

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
