"""Real image folders (seed 002's photographs): a CSV list of JPEG / PNG / FITS / .npy files made into shards."""

import numpy as np
import pytest
import tensorflow as tf
from astropy.io import fits

import kzoo
from kzoo.cli import main


def _folder(tmp_path, per_class=6, unlabelled=2):
    """Images of three classes in four formats and sizes, and the list naming them."""
    rng = np.random.default_rng(0)
    d = tmp_path / "photos"
    d.mkdir()
    lines = ["location,label"]
    for c, name in enumerate(("barred", "elliptical", "spiral")):
        for i in range(per_class):
            img = rng.uniform(0, 255, (40 + i, 30, 3)).astype(np.uint8)
            img[..., :] = np.clip(img.astype(int) // 4 + 60 * c, 0, 255).astype(np.uint8)
            kind = i % 4
            f = d / f"{name}{i}.{['png', 'jpg', 'fits', 'npy'][kind]}"
            if kind == 0:
                f.write_bytes(tf.io.encode_png(img).numpy())
            elif kind == 1:
                f.write_bytes(tf.io.encode_jpeg(img[..., :1]).numpy())
            elif kind == 2:
                fits.PrimaryHDU(img[..., 0].astype(np.float32)).writeto(f)
            else:
                np.save(f, img[..., 0].astype(np.float32))
            lines.append(f"photos/{f.name},{name}")
    for i in range(unlabelled):
        f = d / f"sim{i}.png"
        f.write_bytes(tf.io.encode_png(rng.uniform(0, 255, (20, 20, 1)).astype(np.uint8)).numpy())
        lines.append(f"photos/{f.name},")
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "list.csv"


def test_a_list_of_png_jpeg_fits_and_npy_files_becomes_shards_split_by_class_and_grown_by_augmentation(tmp_path):
    from kzoo.data.pipeline import dataset
    from kzoo.sims.image_folder import import_images

    lst = _folder(tmp_path)
    kw = dict(classes=["barred", "elliptical", "spiral"], label="morph_class", npix=16, grow_to=10,
              val_fraction=0.2, test_fraction=0.2, shards=3, progress=False)
    m = import_images(lst, tmp_path / "a", **kw)
    # each class's 6 photographs: 1 test, 1 val, 4 train grown to 10; the unlabelled two go to apply
    assert {k: v["count"] for k, v in m["splits"].items()} == {"train": 30, "val": 3, "test": 3, "apply": 2}
    assert m["schema"]["labels"]["names"] == ["morph_class"] and m["label_ranges"]["morph_class"] == [-1.0, 2.0]
    x, y = next(iter(dataset(tmp_path / "a", "train", inputs="image", targets=["morph_class"], batch_size=30, shuffle=False)))
    assert x.shape == (30, 16, 16, 1) and sorted(np.bincount(y.numpy()[:, 0].astype(int)).tolist()) == [10, 10, 10]
    assert float(tf.reduce_min(x)) >= 0 and float(tf.reduce_max(x)) <= 1
    _, y = next(iter(dataset(tmp_path / "a", "apply", inputs="image", targets=["morph_class"], batch_size=8, shuffle=False)))
    assert y.numpy()[:, 0].tolist() == [-1, -1]
    # no photograph in two splits: the test and val images are not among the train images' sources
    from kzoo.sims.image_folder import plan_splits

    plan = plan_splits(m["params"])
    assert not {i for i, _ in plan["train"]} & {i for i, _ in plan["test"] + plan["val"]}
    assert sum(aug for _, aug in plan["train"]) == 18
    again = import_images(lst, tmp_path / "b", **kw)  # same list, same seeds: same bytes
    assert [s["sha256"] for s in again["splits"]["train"]["shards"]] == [s["sha256"] for s in m["splits"]["train"]["shards"]]


@pytest.mark.parametrize("problem,needle", [
    ("missing", "line 3: "),
    ("garbage", "line 2: "),
    ("column", "missing column(s) 'location'; the table has path, label"),
    ("suffix", "line 2: photos/notes.txt: not an image file name"),
    ("label", "line 2: label 'lenticular' is not one of the classes"),
])
def test_a_bad_row_is_named_by_its_line_and_nothing_is_written(tmp_path, capsys, problem, needle):
    lst = _folder(tmp_path, per_class=2, unlabelled=0)
    lines = lst.read_text().splitlines()
    if problem == "missing":
        lines[2] = "photos/gone.png,barred"
    elif problem == "garbage":
        (tmp_path / "photos" / "barred0.png").write_bytes(b"not a png at all")
    elif problem == "column":
        lines[0] = "path,label"
    elif problem == "suffix":
        lines[1] = "photos/notes.txt,barred"
    else:
        lines[1] = "photos/barred0.png,lenticular"
    lst.write_text("\n".join(lines) + "\n")
    args = ["import-images", str(lst), "--out", str(tmp_path / "out"), "--npix", "16"]
    assert main(args + (["--classes", "barred,elliptical,spiral"] if problem == "label" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and str(lst) in err, err
    assert not (tmp_path / "out").exists()


def test_a_deep_svdd_run_judges_and_labels_imported_photographs(svdd_run, tmp_path, capsys):
    """Real images in: the run's zones label the unlabelled ones (kzoo evaluate and kzoo predict --resize)."""
    import json
    import shutil

    from kzoo.evaluate import evaluate
    from kzoo.sims.image_folder import import_images

    shutil.copytree(svdd_run[0] / "svdd", tmp_path / "svdd")
    lst = _folder(tmp_path)
    import_images(lst, tmp_path / "real", classes=["barred", "elliptical", "spiral"], label="morph_class", npix=16,
                  val_fraction=0.2, test_fraction=0.5, progress=False)
    res = evaluate(tmp_path / "svdd", tmp_path / "real", out=tmp_path / "on-real", classical=False)["metrics"]
    assert 0 <= res["all"]["auroc"] <= 1 and (tmp_path / "svdd" / "zones.json").exists()
    # class names by label, not by position: the list's unlabelled rows (-1) do not shift them
    assert set(res) == {"all", "barred", "spiral"}  # the run's normal class is elliptical
    assert set(res["all"]["zones_per_class"]) == {"barred", "elliptical", "spiral"}
    applied = evaluate(tmp_path / "svdd", tmp_path / "real", split="apply", out=tmp_path / "on-apply", classical=False)
    assert sum(applied["metrics"]["all"]["zones_per_class"]["unlabelled"]) == 2
    assert main(["predict", str(tmp_path / "svdd"), str(tmp_path / "photos" / "sim0.png"), "--resize", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["targets"] == ["anomaly_score", "zone_label"]
    assert main(["predict", str(tmp_path / "svdd"), str(tmp_path / "photos" / "sim0.png")]) == 2
    assert "does not fit model input" in capsys.readouterr().err
