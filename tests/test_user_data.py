"""A user's own images and catalogue (kzoo import), experiments of their own (YAML), fine-tuning (--init)."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from kzoo.cli import main

EXPERIMENT = """name: my-flux
model: gc_cnn
model_args: {{filters: [4, 4, 8, 8, 8, 8], dense: [16]}}
inputs: image
targets: [{targets}]
scale_targets: true
epochs: {epochs}
batch_size: 16
learning_rate: 0.003
units: {{bunit: MJy/sr}}
description: flux and width of Gaussian blobs in FITS cutouts
"""


def blob(rng, n, flux, width):
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    return (flux / (2 * np.pi * width ** 2) * np.exp(-(x ** 2 + y ** 2) / (2 * width ** 2))
            + rng.normal(0, 1.0, (n, n))).astype(np.float32)


def catalogue(tmp_path, count=200, npix=16, bunit="MJy/sr", nan_every=50):
    """``count`` FITS cutouts of Gaussian blobs (a few with NaN pixels) and the CSV catalogue of their flux and
    width, as a user would have them."""
    rng = np.random.default_rng(0)
    (tmp_path / "cutouts").mkdir()
    rows = ["location,flux,width,note"]
    for i in range(count):
        flux, width = rng.uniform(100, 1000), rng.uniform(1.0, 3.0)
        img = blob(rng, npix, flux, width)
        if i % nan_every == 3:
            img[0, :3] = np.nan
        h = fits.PrimaryHDU(img)
        h.header["BUNIT"] = bunit
        h.writeto(tmp_path / "cutouts" / f"g{i:03d}.fits")
        rows.append(f"cutouts/g{i:03d}.fits,{flux:.3f},{width:.4f},seen by eye")
    (tmp_path / "catalogue.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "catalogue.csv"


def experiment(tmp_path, name="my.yaml", targets="flux, width", epochs=6, **changes):
    text = EXPERIMENT.format(targets=targets, epochs=epochs)
    for key, value in changes.items():
        text += f"{key}: {value}\n"
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_200_fits_images_and_a_csv_catalogue_give_a_trained_evaluated_exported_model_in_three_commands(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    catalogue(tmp_path)
    experiment(tmp_path)
    assert main(["import", "catalogue.csv", "--out", "data", "--targets", "flux,width", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "train 140, val 30, test 30 images of 16 x 16; targets flux, width; pixels kept in their units; " \
           "units MJy/sr" in said and "12 missing pixel(s)" in said and "in 4 image(s) set to 0" in said
    m = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert m["params"]["bunit"] == "MJy/sr" and m["params"]["rescale"] == "none"
    assert m["schema"]["labels"]["names"] == ["flux", "width"]
    assert m["stats"]["features"]["image"]["max"] > 20  # physical units kept: no min-max to [0, 1]

    assert main(["train", "my.yaml", "--data", "data", "--out", "run", "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert metrics["flux"]["r2"] > 0.5, metrics  # a Gaussian blob's flux is easy: a broken fit is not
    assert main(["export", "run", "--format", "keras", "--out", "model.keras"]) == 0
    capsys.readouterr()
    # the exported model (its normalisation inside) and kzoo predict on a file with NaN pixels, filled as imported
    assert main(["predict", "run", "cutouts/g003.fits", "--json"]) == 0
    flux = json.loads(capsys.readouterr().out)["predictions"]["cutouts/g003.fits"][0]
    assert 100 < flux < 1200
    import keras

    import kzoo  # noqa: F401  (the custom layers)

    exported = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert exported.input_shape == (None, 16, 16, 1)


def test_an_experiment_file_lists_every_problem_at_once_and_kzoo_info_reads_it(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: gc_cnnn\nepochs: -3\nlearning_rat: 0.1\nloss: nonsense\ntargets: 3\n")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    for needle in ("unknown field 'learning_rat' (did you mean learning_rate?)", "gc_cnnn", "did you mean",
                   "epochs must be a positive integer", "loss 'nonsense'", "targets 3: must be str or list or dict"):
        assert needle in err, (needle, err)
    # a kzoo loss's arguments: only a kzoo loss takes them, and only its own
    bad.write_text("name: x\nmodel: gc_unet\nloss: count_penalty_bce\nloss_args: {cut_fator: 1.05}\n")
    assert main(["info", str(bad)]) == 2
    assert "loss_args {'cut_fator': 1.05}: not arguments of count_penalty_bce" in capsys.readouterr().err
    bad.write_text("name: x\nmodel: gc_cnn\nloss: mse\nloss_args: {cut_factor: 1.05}\n")
    assert main(["info", str(bad)]) == 2
    assert "loss_args {'cut_factor': 1.05}: a mapping of arguments of a kzoo loss" in capsys.readouterr().err
    assert main(["info", str(experiment(tmp_path))]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["name"] == "my-flux" and d["recipe"] == "" and d["units"] == {"bunit": "MJy/sr"}


def test_images_of_other_units_than_the_experiment_declares_are_refused_and_mixed_units_at_import(tmp_path, capsys):
    catalogue(tmp_path, count=40, bunit="Jy/beam")
    assert main(["import", str(tmp_path / "catalogue.csv"), "--out", str(tmp_path / "data"), "--targets", "flux",
                 "--no-progress"]) == 0
    assert main(["train", str(experiment(tmp_path, targets="flux")), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "BUNIT 'Jy/beam' (the experiment expects 'MJy/sr')" in err, err
    assert not (tmp_path / "run").exists()
    with fits.open(tmp_path / "cutouts" / "g007.fits", mode="update") as h:
        h[0].header["BUNIT"] = "MJy/sr"
    assert main(["import", str(tmp_path / "catalogue.csv"), "--out", str(tmp_path / "d2"), "--targets", "flux"]) == 2
    err = capsys.readouterr().err.strip()
    assert "line 9: BUNIT 'MJy/sr', no pixel scale, but line 2 has BUNIT 'Jy/beam'" in err and not (tmp_path / "d2").exists()


@pytest.mark.parametrize("problem,needle", [
    ("empty", "line 4: column flux is empty; a regression target must be a finite number"),
    ("text", "line 3: column flux is 'bright'"),
    ("size", "line 5: image is 12 x 12 pixels, not 16 x 16; pass --npix"),
    ("constant", "column width holds 2.0 in every row"),
])
def test_a_bad_catalogue_row_is_named_by_its_line_and_nothing_is_written(tmp_path, capsys, problem, needle):
    lst = catalogue(tmp_path, count=10)
    lines = lst.read_text().splitlines()
    if problem == "empty":
        lines[3] = lines[3].replace(lines[3].split(",")[1], "")
    elif problem == "text":
        lines[2] = lines[2].replace(lines[2].split(",")[1], "bright")
    elif problem == "size":
        h = fits.PrimaryHDU(np.zeros((12, 12), np.float32))
        h.header["BUNIT"] = "MJy/sr"
        h.writeto(tmp_path / "cutouts" / "g003.fits", overwrite=True)
    else:
        lines = [lines[0]] + [",".join(r.split(",")[:2] + ["2.0"] + r.split(",")[3:]) for r in lines[1:]]
    lst.write_text("\n".join(lines) + "\n")
    assert main(["import", str(lst), "--out", str(tmp_path / "out"), "--targets", "flux,width", "--npix", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and str(lst) in err, err
    assert not (tmp_path / "out").exists()


def test_a_fits_table_or_ecsv_catalogue_makes_the_same_shards_as_its_csv(tmp_path):
    from kzoo.sims.image_folder import import_images

    lst = catalogue(tmp_path, count=24)
    t = Table.read(lst, format="ascii.csv")
    t["location"] = [str(tmp_path / v) for v in t["location"]]
    t.write(tmp_path / "catalogue.fits")
    t.write(tmp_path / "catalogue.ecsv")
    shards = []
    for name in ("catalogue.csv", "catalogue.fits", "catalogue.ecsv"):
        m = import_images(tmp_path / name, tmp_path / name.replace(".", "-"), targets=["flux"], npix=16, resize=False,
                          rescale="none", progress=False)
        shards.append([s["sha256"] for split in m["splits"].values() for s in split["shards"]])
    assert shards[0] == shards[1] == shards[2]


def test_a_segmentation_set_of_images_and_mask_files_imports_and_trains(tmp_path, capsys):
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    rows = ["location,mask"]
    for i in range(48):
        m = np.zeros((16, 16), np.float32)
        y, x = rng.integers(2, 14, 2)
        m[y - 2:y + 2, x - 2:x + 2] = 1
        np.save(tmp_path / "img" / f"i{i}.npy", (m * 50 + rng.normal(0, 5, m.shape)).astype(np.float32))
        np.save(tmp_path / "img" / f"m{i}.npy", m)
        rows.append(f"img/i{i}.npy,img/m{i}.npy")
    (tmp_path / "seg.csv").write_text("\n".join(rows) + "\n")
    assert main(["import", str(tmp_path / "seg.csv"), "--out", str(tmp_path / "data"), "--mask-column", "mask",
                 "--no-progress"]) == 0
    (tmp_path / "seg.yaml").write_text(
        "name: my-sources\nmodel: gc_unet\nmodel_args: {base_filters: 4, depth: 2}\ninputs: image\ntargets: mask\n"
        "normalization: none\nloss: binary_crossentropy\nmetrics: []\nevaluation: segmentation\n"
        "evaluation_args: {cut: 0.5}\nepochs: 2\n"
        "batch_size: 8\n")
    assert main(["train", str(tmp_path / "seg.yaml"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    res = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert res["count"] == 7 and 0 <= res["metrics"]["A"]["auc_mean"] <= 1  # every mask pixel against the prediction
    assert (tmp_path / "run" / "masks.png").exists()


def test_cutouts_of_sky_positions_in_one_large_fits_image_import_and_train(tmp_path, capsys):
    from astropy.wcs import WCS

    rng = np.random.default_rng(2)
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.crval, w.wcs.crpix = ["RA---TAN", "DEC--TAN"], [150.0, 2.0], [100.5, 100.5]
    w.wcs.cdelt = [-0.4 / 3600, 0.4 / 3600]
    sky = rng.normal(0, 1.0, (200, 200)).astype(np.float32)
    rows = ["ra,dec,flux"]
    for i in range(60):
        px, py = rng.uniform(10, 190, 2)
        flux = rng.uniform(100, 1000)
        y, x = np.mgrid[:200, :200]
        sky += (flux / (2 * np.pi * 1.5 ** 2) * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 1.5 ** 2))).astype(
            np.float32)
        ra, dec = w.pixel_to_world_values(px, py)
        rows.append(f"{ra:.7f},{dec:.7f},{flux:.2f}")
    h = fits.PrimaryHDU(sky, header=w.to_header())
    h.header["BUNIT"] = "nJy"
    h.writeto(tmp_path / "field.fits")
    ra_edge, dec_edge = w.pixel_to_world_values(1.0, 100.0)  # half of its cutout lies outside the field
    rows.append(f"{ra_edge:.7f},{dec_edge:.7f},300")
    (tmp_path / "positions.csv").write_text("\n".join(rows) + "\n")
    args = ["import", str(tmp_path / "positions.csv"), "--out", str(tmp_path / "data"), "--cutout-from",
            str(tmp_path / "field.fits"), "--npix", "16", "--targets", "flux", "--nan-mask", "--no-progress"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "units nJy, 0.4 arcsec/pixel" in said and "missing pixel(s)" in said and "in 1 image(s)" in said
    m = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert m["schema"]["image"]["shape"] == [16, 16, 2] and m["params"]["pixel_scale"] == pytest.approx(0.4)
    (tmp_path / "cut.yaml").write_text("name: my-cutouts\nmodel: gc_cnn\nmodel_args: {filters: [4, 4, 8, 8, 8, 8], "
                                       "dense: [16]}\ninputs: image\ntargets: [flux]\nscale_targets: true\nepochs: 2\n"
                                       "batch_size: 8\nunits: {bunit: nJy, pixel_scale: 0.4}\n")
    assert main(["train", str(tmp_path / "cut.yaml"), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    # a position outside the field is named by its line
    (tmp_path / "positions.csv").write_text("ra,dec,flux\n150,2,1\n10,-40,2\n")
    assert main([*args[:3], str(tmp_path / "d2"), *args[4:]]) == 2
    err = capsys.readouterr().err.strip()
    assert "positions.csv line 3: ra 10.0, dec -40.0 is outside" in err and not (tmp_path / "d2").exists()


def test_fine_tuning_from_a_preset_copies_the_body_builds_a_new_head_and_records_where_it_came_from(tmp_path,
                                                                                                      capsys):
    catalogue(tmp_path, count=48, npix=64)
    assert main(["import", str(tmp_path / "catalogue.csv"), "--out", str(tmp_path / "data"), "--targets",
                 "flux,width", "--no-progress"]) == 0
    (tmp_path / "ft.yaml").write_text("name: my-ft\nmodel: gc_cnn\ninputs: image\ntargets: [flux, width]\n"
                                      "scale_targets: true\nepochs: 2\nbatch_size: 16\n")
    capsys.readouterr()
    assert main(["train", str(tmp_path / "ft.yaml"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--init", "gc-dm", "--freeze-epochs", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "initial weights from gc-dm: 8 layer(s) copied, built anew: output (shapes 128x2, 2 here, 128x1, 1 in " \
           "the source)" in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    from kzoo.presets import preset_entry

    entry = preset_entry("gc-dm")
    assert run["settings"]["init"] == {"from": "gc-dm", "kind": "preset", "sha256": entry["sha256"]}
    assert run["settings"]["normalization"] == entry["normalization"]  # the preset's, not this dataset's
    assert run["settings"]["freeze_epochs"] == 1 and run["init_report"]["new"] == ["output"]
    import keras

    from kzoo import load

    tuned, preset = load(tmp_path / "run"), load("gc-dm")
    changed = not np.array_equal(tuned.get_layer("conv1").get_weights()[0], preset.get_layer("conv1").get_weights()[0])
    assert changed  # the second epoch trained every layer
    keras.backend.clear_session()
    # another --init is another run; the same architecture with the preset's targets is loaded whole
    assert main(["train", str(tmp_path / "ft.yaml"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_kzoo_build_with_weights_and_another_head_copies_the_rest():
    import kzoo

    model = kzoo.build("gc_cnn", weights="gc-dm", outputs=3)
    preset = kzoo.load("gc-dm")
    assert model.output_shape == (None, 3) and model.kzoo_init["new"] == ["output"]
    assert np.array_equal(model.get_layer("dense2").get_weights()[0], preset.get_layer("dense2").get_weights()[0])
    with pytest.raises(ValueError, match="holds a gc_cnn, not a gc_unet"):
        kzoo.build("gc_unet", weights="gc-dm", base_filters=4)
    with pytest.raises(ValueError, match="no layer of the source has the name and weight shapes"):
        kzoo.build("gc_cnn", weights="gc-dm", filters=[3, 3, 3, 3, 3, 3], dense=[5, 5], outputs=2)


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_fine_tuned_run_killed_in_or_after_its_frozen_epochs_resumes_identical(tmp_path, kill_at):
    import keras

    from kzoo.sims.image_folder import import_images
    from kzoo.train import fit

    catalogue(tmp_path, count=64)
    import_images(tmp_path / "catalogue.csv", tmp_path / "data", targets=["flux", "width"], npix=16, resize=False,
                  rescale="none", progress=False)
    fit(str(experiment(tmp_path, "base.yaml", epochs=1)), tmp_path / "data", tmp_path / "base", verbose=0)
    tune = str(experiment(tmp_path, "tune.yaml", targets="flux", epochs=4))

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == kill_at:
                raise KeyboardInterrupt("killed")

    kw = dict(init=str(tmp_path / "base"), freeze_epochs=2, verbose=0)
    fit(tune, tmp_path / "data", tmp_path / "ref", **kw)
    with pytest.raises(KeyboardInterrupt):
        fit(tune, tmp_path / "data", tmp_path / "run", callbacks=[Kill()], **kw)
    fit(tune, tmp_path / "data", tmp_path / "run", **kw)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["resumed"] is True
    assert (tmp_path / "run" / "history.csv").read_text() == (tmp_path / "ref" / "history.csv").read_text()
    a, b = keras.saving.load_model(tmp_path / "ref" / "model.keras"), keras.saving.load_model(tmp_path / "run" /
                                                                                              "model.keras")
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
