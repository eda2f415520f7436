import json
import shutil

import numpy as np
import pytest

from conftest import tiny_recipe
from kzoo.data import DataError, RecipeError, dataset, load_arrays, load_manifest, load_recipe, write_shards
from kzoo.data.recipes import scale_splits
from kzoo.data.shards import example_bytes, plan_shards, tfrecord
from kzoo.families.gc import sky as gc


def _shard_hashes(d):
    m = json.loads((d / "manifest.json").read_text())
    return {s["file"]: s["sha256"] for sp in m["splits"].values() for s in sp["shards"]}


def test_manifest_describes_the_shards(tiny_data):
    m = load_manifest(tiny_data)
    assert m["sky"] == "galactic_center" and m["seed"] == 3 and m["block"] == 8
    assert {k: v["count"] for k, v in m["splits"].items()} == {"train": 72, "val": 24, "test": 28}
    assert m["schema"]["counts"] == {"dtype": "float32", "shape": [16, 16]}
    assert m["schema"]["labels"]["names"] == list(gc.LABELS)
    assert m["stats"]["features"]["counts"]["std"] > 0
    for sp in m["splits"].values():
        for s in sp["shards"]:
            assert (tiny_data / s["file"]).stat().st_size == s["bytes"] and len(s["sha256"]) == 64


def test_round_trip_is_exact(tiny_data):
    """Shard i holds simulate(default_rng([seed, i]), count): the pipeline gives back exactly that."""
    m = load_manifest(tiny_data)
    first = m["splits"]["test"]["shards"][0]
    sim = gc.simulate(np.random.default_rng([m["seed"], first["index"]]), first["count"], **m["recipe"]["params"])
    x, y = load_arrays(tiny_data, "test", targets=list(gc.LABELS))
    assert x.shape == (28, 16, 16, 1) and y.shape == (28, 6)
    np.testing.assert_array_equal(x[: first["count"], ..., 0], sim["counts"])
    np.testing.assert_array_equal(y[: first["count"]], sim["labels"])
    ds = dataset(tiny_data, "test", targets="ps_flux", batch_size=5, shuffle=False)
    ps = np.concatenate([t.numpy() for _, t in ds])
    np.testing.assert_array_equal(ps[: first["count"], ..., 0], sim["ps_flux"])


def test_batches_shuffle_and_scaling(tiny_data):
    sizes = [int(x.shape[0]) for x, _ in dataset(tiny_data, "train", batch_size=10)]
    assert sum(sizes) == 72 and sizes[:-1] == [10] * (len(sizes) - 1)
    a = np.concatenate([y.numpy() for _, y in dataset(tiny_data, "train", batch_size=16, seed=1)])
    b = np.concatenate([y.numpy() for _, y in dataset(tiny_data, "train", batch_size=16, seed=1)])
    c = np.concatenate([y.numpy() for _, y in dataset(tiny_data, "train", batch_size=16, shuffle=False)])
    np.testing.assert_array_equal(a, b)  # same seed, same order
    assert not np.array_equal(a, c) and np.array_equal(np.sort(a, 0), np.sort(c, 0))
    _, y = load_arrays(tiny_data, "train", targets=["n_ps_gc"], scale_targets=True)
    assert y.min() >= 0 and y.max() <= 1
    assert dataset(tiny_data, "val", batch_size=8).cardinality().numpy() == 3


def test_same_seed_gives_byte_identical_shards_and_workers_do_not_matter(tmp_path, tiny_data):
    write_shards(tiny_recipe(), tmp_path / "a", workers=2, progress=False)
    assert _shard_hashes(tmp_path / "a") == _shard_hashes(tiny_data)
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tiny_data / "manifest.json").read_bytes()
    write_shards(tiny_recipe(seed=4), tmp_path / "b", progress=False)
    assert set(_shard_hashes(tmp_path / "b").values()).isdisjoint(_shard_hashes(tiny_data).values())


def test_the_record_writer_without_tensorflow_writes_tensorflows_bytes(tmp_path):
    """Shard workers write records without importing TensorFlow: the bytes must be what
    tf.train.Example(...).SerializeToString(deterministic=True) and tf.io.TFRecordWriter give, names that
    are prefixes of others ("n", "noiseless"; "spectrum", "spectrum_obs") included, and TensorFlow must
    read them back."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=(3, 5)).astype("<f4").tobytes()
              for k in ("noiseless", "image", "labels", "psf", "spectrum_obs", "spectrum", "")}
    ints = {"n": 3, "count": 2**40}
    feat = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])) for k, v in arrays.items()}
    feat.update({k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in ints.items()})
    want = tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString(deterministic=True)
    assert example_bytes(arrays, ints) == want
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as w:
        w.write(want)
        w.write(b"")
    (tmp_path / "kzoo.tfrecord").write_bytes(tfrecord(example_bytes(arrays, ints)) + tfrecord(b""))
    assert (tmp_path / "kzoo.tfrecord").read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()
    back = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "kzoo.tfrecord"))]
    assert back == [want, b""]
    with pytest.raises(ValueError, match="twice"):
        example_bytes({"n": b""}, {"n": 1})


def test_rerun_remakes_only_missing_or_corrupt_shards(tmp_path, tiny_data):
    d = tmp_path / "gc"
    shutil.copytree(tiny_data, d)
    files = sorted(d.glob("*.tfrecord"))
    files[0].unlink()
    raw = bytearray(files[1].read_bytes())
    raw[100] ^= 0xFF
    files[1].write_bytes(bytes(raw))
    untouched = files[2].stat().st_mtime_ns
    write_shards(tiny_recipe(), d, progress=False)
    assert _shard_hashes(d) == _shard_hashes(tiny_data)
    assert files[2].stat().st_mtime_ns == untouched
    assert not list(d.glob(".*tmp*"))


def test_corrupt_truncated_and_missing_shards_are_named(tmp_path, tiny_data):
    d = tmp_path / "gc"
    shutil.copytree(tiny_data, d)
    f = sorted(d.glob("train-*.tfrecord"))[0]
    good = f.read_bytes()
    f.write_bytes(good[:-10])
    with pytest.raises(DataError, match=f"{f.name}.*truncated"):
        dataset(d, "train")
    f.write_bytes(good[:50] + bytes([good[50] ^ 1]) + good[51:])
    with pytest.raises(DataError, match=f"{f.name}.*corrupt"):
        load_manifest(d)
    f.unlink()
    with pytest.raises(DataError, match=f"{f.name}.*missing"):
        load_manifest(d)
    with pytest.raises(DataError, match="no manifest"):
        load_manifest(tmp_path)


def test_bad_pipeline_arguments(tiny_data):
    with pytest.raises(DataError, match="no split 'validation'"):
        dataset(tiny_data, "validation")
    with pytest.raises(DataError, match="A_DM"):
        dataset(tiny_data, "train", targets=["A_DM"])
    with pytest.raises(DataError, match="expected"):
        dataset(tiny_data, "train", inputs="expected")
    with pytest.raises(ValueError, match="unknown augmentation"):
        dataset(tiny_data, "train", augment=["shear"])


def test_recipe_validation_lists_every_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 0}\nblok: 3\nseed: x\nparams: {npix: -1}\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(bad)
    msg = str(e.value)
    assert str(bad) in msg
    for part in ("'blok'", "'seed' must be int", "splits.train", "npix"):
        assert part in msg
    with pytest.raises(KeyError, match="galactic_center"):
        load_recipe("galactic_centr")
    assert load_recipe("galactic_center")["splits"] == {"train": 8192, "val": 1966, "test": 3072}


def test_split_scaling_and_shard_plan():
    assert scale_splits({"train": 8192, "val": 1966, "test": 3072}, 12000) == {"train": 7430, "val": 1783, "test": 2787}
    assert sum(scale_splits({"a": 1, "b": 1, "c": 5}, 3).values()) == 3
    plan = plan_shards({"train": 100, "test": 20}, 8, 16)
    assert sum(s["count"] for s in plan) == 120
    assert [s["index"] for s in plan] == list(range(len(plan)))
    assert all(s["count"] % 16 == 0 for s in plan[:-1] if s["split"] == plan[plan.index(s) + 1]["split"])
    # a group of 24 images (one 21-cm realisation) over records of 4: shards hold whole groups, the last one too
    plan = plan_shards({"train": 96, "test": 24}, 5, 4, grain=24)
    assert [s["count"] for s in plan] == [24, 24, 24, 24, 24]


def test_augmentations_keep_shape_and_rotate_like_rot90():
    import math

    import tensorflow as tf

    from kzoo.data.augment import augment_batch, rotate_images

    x = tf.random.stateless_uniform([3, 9, 9, 1], [1, 2])
    turned = rotate_images(x, tf.constant([math.pi / 2] * 3), interpolation="NEAREST")
    np.testing.assert_allclose(turned.numpy(), tf.image.rot90(x, 1).numpy(), atol=1e-6)
    y = tf.identity(x)
    ax, ay = augment_batch(x, y, tf.constant([3, 4]), flip=True, rot90=True, rotate=30.0)
    assert ax.shape == x.shape
    np.testing.assert_array_equal(ax.numpy(), ay.numpy())  # the mask follows the image
    bx, _ = augment_batch(x, None, tf.constant([3, 4]), flip=True, rot90=True, rotate=30.0)
    np.testing.assert_array_equal(ax.numpy(), bx.numpy())  # stateless: same seed, same result


def test_model_shapes_for_spectra_maps_and_multichannel_maps():
    from kzoo.data.records import model_shape

    assert model_shape([500]) == (500, 1)
    assert model_shape([64, 64]) == (64, 64, 1)
    assert model_shape([64, 64, 2]) == (64, 64, 2)


def test_write_shards_with_workers_runs_from_a_plain_script(tmp_path):
    """The README's example saved as a script without an ``if __name__ == "__main__":`` guard: spawned
    workers must not run the script again (BrokenProcessPool, "safe importing of main module")."""
    import subprocess
    import sys

    script = tmp_path / "make.py"
    script.write_text("import kzoo.data.shards as S\n"
                      "from kzoo.data import write_shards\n"
                      "seen = []\n"
                      "S._progress = lambda total, enabled: type('Bar', (), {'update': lambda self, k: seen.append(k), "
                      "'close': lambda self: None})()\n"
                      f"m = write_shards('galactic_center', {str(tmp_path / 'data')!r}, n=2100, seed=7, shards=2, "
                      "workers=2, progress=True)\n"
                      "print('made', len(m['written']['shards']), sorted(seen))\n")
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    made = r.stdout.strip().split(" ", 2)
    assert made[:2] == ["made", "3"]  # once: the workers did not run the script again
    # the parent's bar moved with each chunk (512 images at most) that a worker simulated, not once per shard
    seen = eval(made[2])
    assert sum(seen) == 2100 and max(seen) <= 512 and len(seen) > 3


def test_a_training_subset_is_the_splits_first_images_in_shard_order(tiny_data):
    """limit=N (a learning curve's point) gives the first N images of shard 0, 1, ... whatever the shuffle."""
    m = load_manifest(tiny_data)
    first = m["splits"]["train"]["shards"][0]  # 40 images, records of 8
    sim = gc.simulate(np.random.default_rng([m["seed"], first["index"]]), first["count"], **m["recipe"]["params"])
    for seed in (1, 2):
        _, y = load_arrays(tiny_data, "train", targets=list(gc.LABELS), limit=24, shuffle=True, seed=seed)
        np.testing.assert_array_equal(np.sort(y, 0), np.sort(sim["labels"][:24], 0))
    assert dataset(tiny_data, "train", batch_size=10, limit=48).cardinality().numpy() == 5  # 40 + a record of 8
    _, y = load_arrays(tiny_data, "train", targets=list(gc.LABELS), limit=72)
    np.testing.assert_array_equal(np.sort(y, 0), np.sort(load_arrays(tiny_data, "train", targets=list(gc.LABELS))[1], 0))
    with pytest.raises(ValueError, match=r"20 images does not end on a record of 8 images .*nearest: 16, 24"):
        dataset(tiny_data, "train", limit=20)


def test_shard_ranges_made_apart_merge_into_the_same_bytes(tmp_path, tiny_data):
    """Job-array tasks: kzoo simulate --shard-range in separate folders, then kzoo data merge."""
    from kzoo.cli import main
    from kzoo.data import merge_shards

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(json.dumps(tiny_recipe()))
    for rng in ("0:2", "2:5"):
        assert main(["simulate", str(recipe), "--out", str(tmp_path / rng.replace(":", "-")), "--shard-range", rng,
                     "--no-progress"]) == 0
    assert not (tmp_path / "0-2" / "manifest.json").exists() and (tmp_path / "0-2" / "partial.json").exists()
    assert main(["data", "merge", str(tmp_path / "all"), str(tmp_path / "0-2"), str(tmp_path / "2-5")]) == 0
    assert (tmp_path / "all" / "manifest.json").read_bytes() == (tiny_data / "manifest.json").read_bytes()
    for f in sorted(tiny_data.glob("*.tfrecord")):
        assert (tmp_path / "all" / f.name).read_bytes() == f.read_bytes()
    assert main(["verify", str(tmp_path / "all")]) == 0
    # overlaps, gaps, another seed and a corrupt part are refused, naming what is wrong; nothing is written
    assert main(["simulate", str(recipe), "--out", str(tmp_path / "1-3"), "--shard-range", "1:3", "--no-progress"]) == 0
    assert main(["simulate", str(recipe), "--out", str(tmp_path / "s9"), "--shard-range", "2:5", "--seed", "9",
                 "--no-progress"]) == 0
    for parts, why in (((("0-2", "1-3", "2-5")), "the shard ranges overlap"),
                       (("0-2",), "shards 2-4 of 5 are in none of the parts"),
                       (("0-2", "s9"), "made from another recipe, seed or size")):
        with pytest.raises(DataError, match=why):
            merge_shards(tmp_path / "bad", [tmp_path / p for p in parts])
        assert not (tmp_path / "bad" / "manifest.json").exists()
    victim = next((tmp_path / "2-5").glob("*.tfrecord"))
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(DataError, match=f"{victim.name}: missing, or its size or sha256 differs"):
        merge_shards(tmp_path / "bad", [tmp_path / "0-2", tmp_path / "2-5"])
    assert main(["simulate", str(recipe), "--out", str(tmp_path / "x"), "--shard-range", "3:9"]) == 2
    assert main(["data", "merge", str(tmp_path / "all2"), str(tmp_path)]) == 2  # not a part folder


def test_simulate_draws_no_progress_bar_for_work_not_done(tmp_path, capsys):
    from kzoo.data import write_shards

    write_shards(tiny_recipe(), tmp_path / "d", progress=True)
    assert "simulate: 100%" in capsys.readouterr().err
    write_shards(tiny_recipe(), tmp_path / "d", progress=True)  # up to date: nothing simulated, no bar
    assert "simulate" not in capsys.readouterr().err
