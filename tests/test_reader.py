"""The TensorFlow-free shard reader: the batches of tf.data, in the same order, without TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from kzoo.data import write_shards
from kzoo.data.order import pass_order
from kzoo.data.reader import ShardReader, parse_example, record_offsets
from kzoo.data.shards import DataError

from conftest import tiny_recipe


def _tf_batches(data_dir, split, **kw):
    from kzoo.data.pipeline import dataset

    import tensorflow as tf

    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset(data_dir, split, **kw)]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        flat_u, flat_v = (sorted(t.items()) if isinstance(t, dict) else t for t in (u, v))
        if isinstance(u, tuple):
            for p, q in zip(u, v):
                _same([p], [q])
        elif isinstance(u, dict):
            assert u.keys() == v.keys()
            for k in u:
                np.testing.assert_array_equal(u[k], v[k])
        else:
            np.testing.assert_array_equal(u, v)


@pytest.fixture(scope="module")
def partial_data(tmp_path_factory):
    """Shards whose last records hold fewer than `block` images (3 shards of 37 train images, block 8)."""
    out = tmp_path_factory.mktemp("partial") / "gc"
    write_shards(tiny_recipe(splits={"train": 111, "val": 20, "test": 20}, shards=3, block=8), out, progress=False)
    return out


@pytest.mark.parametrize("kw", [
    dict(split="val", batch_size=8, targets="ps_flux", target_transform="selected"),
    dict(split="test", batch_size=5, inputs={"maps": "counts", "truth": ["A_dm"]}, targets={"ps": "ps_flux"}),
    dict(split="train", batch_size=10, shuffle=False, scale_targets=True, targets=["A_dm", "n_ps_gc+n_ps_disk"]),
    dict(split="train", batch_size=16, shuffle=False, limit=48),
    dict(split="train", batch_size=7, shuffle=False, fold=(1, 3, False), drop_remainder=True),
    dict(split="train", batch_size=16, targets=None, shuffle=False),
])
def test_an_unshuffled_pass_without_tensorflow_gives_tf_datas_batches(partial_data, kw):
    kw = {"targets": ["A_dm"], **kw}
    split = kw.pop("split")
    _same(_tf_batches(partial_data, split, **kw), list(ShardReader(partial_data, split, workers=2, **kw)))


@pytest.mark.parametrize("kw", [
    dict(batch_size=16, shuffle_images=32),
    dict(batch_size=12, shuffle_images=24, drop_remainder=True, scale_targets=True),
    dict(batch_size=8, shuffle_images=1000, fold=(0, 3, False), seed=2**40 + 5),
    dict(batch_size=5, shuffle_images=24, limit=64, seed=0),
])
def test_a_shuffled_run_gives_tf_datas_batches_pass_for_pass(partial_data, kw):
    kw = {"targets": ["A_dm"], "seed": 1, **kw}
    tf_b = _tf_batches(partial_data, "train", epochs=(0, 3), **kw)
    _same(tf_b, list(ShardReader(partial_data, "train", epochs=(0, 3), workers=2, **kw)))
    later = list(ShardReader(partial_data, "train", epochs=(2, 3), workers=1, **kw))  # a run resumed at pass 2
    _same(tf_b[-len(later):], later)
    first = np.concatenate([y for _, y in tf_b[:len(later)]])
    assert not np.array_equal(first, np.concatenate([y for _, y in later]))  # another pass, another order


def test_the_shuffle_buffer_draws_tf_datas_order():
    import tensorflow as tf

    from kzoo.data.order import buffer_shuffle

    tf.random.set_seed(77)  # the seed pair is (global seed, op seed)
    for n, buffer, seed in [(20, 5, 3), (100, 17, 7_000_023), (50, 50, 5), (1000, 64, 123_456_789_012)]:
        got = [int(v) for v in tf.data.Dataset.range(n).shuffle(buffer, seed=seed, reshuffle_each_iteration=False)]
        assert got == buffer_shuffle(n, buffer, (77, seed % (2**31 - 1))).tolist(), (n, buffer, seed)


def test_the_stream_is_tf_datas_interleave_of_the_shards(tmp_path):
    import tensorflow as tf

    from kzoo.data.order import interleave_order

    for sizes in ([3, 5, 2, 7, 1, 4, 6, 2, 3, 9, 1], [4, 0, 3, 2], [1] * 12):
        files, g = [], 0
        for i, n in enumerate(sizes):
            files.append(str(tmp_path / f"{len(sizes)}-{i}"))
            with tf.io.TFRecordWriter(files[-1]) as w:
                for _ in range(n):
                    w.write(str(g).encode())
                    g += 1
        for cycle in (2, 3, 8):
            got = [int(r.numpy()) for r in tf.data.TFRecordDataset(files, num_parallel_reads=cycle)]
            assert got == interleave_order(sizes, cycle).tolist(), (sizes, cycle)


def test_a_pass_is_a_function_of_seed_and_epoch():
    a, b = pass_order(100, 1, 3, 10, True), pass_order(100, 1, 3, 10, True)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(100)) and not np.array_equal(a, pass_order(100, 1, 4, 10, True))
    assert not np.array_equal(a, pass_order(100, 2, 3, 10, True))
    np.testing.assert_array_equal(pass_order(100, 1, 3, 10, False), np.arange(100))


def test_the_reader_parses_tensorflows_own_records_and_refuses_a_damaged_one(tmp_path, partial_data):
    import shutil

    import tensorflow as tf

    ex = tf.train.Example(features=tf.train.Features(feature={
        "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[-3])),
        "labels": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\x00\x01"]))}))
    got = parse_example(ex.SerializeToString())
    assert got["n"] == -3 and bytes(got["labels"]) == b"\x00\x01"
    d = tmp_path / "d"
    shutil.copytree(partial_data, d)
    shard = sorted(d.glob("val-*.tfrecord"))[0]
    offset, length = record_offsets(shard)[1]
    data = bytearray(shard.read_bytes())
    data[offset + length // 2] ^= 0x10  # a bit flip inside a record: same size
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"val-.*record 1 is damaged"):
        list(ShardReader(d, "val", batch_size=8, verify=False))


def test_a_process_without_tensorflow_reads_shards(partial_data):
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from kzoo.data.reader import ShardReader\n"
            f"r = ShardReader({str(partial_data)!r}, 'train', batch_size=16, epochs=(0, 2))\n"
            "print(sum(len(x) for x, y in r))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "222"


def test_numpy_rotations_are_tensorflows_and_augmentation_and_noise_are_drawn_per_pass_and_batch(partial_data):
    import tensorflow as tf

    from kzoo.data.augment import rotate_images as tf_rotate
    from kzoo.data.augment_numpy import rotate_images

    rng = np.random.default_rng(0)
    x, angles = rng.random((6, 16, 16, 2)).astype(np.float32), rng.uniform(-3, 3, 6)
    np.testing.assert_allclose(rotate_images(x, angles), tf_rotate(tf.constant(x), tf.constant(angles, tf.float32)),
                               atol=1e-5)
    kw = dict(batch_size=16, inputs="counts", targets="counts", augment=["flip", "rot90"], epochs=(0, 2), seed=4)
    a, b = list(ShardReader(partial_data, "train", **kw)), list(ShardReader(partial_data, "train", **kw))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)  # the same (seed, pass, batch), the same draws
        np.testing.assert_array_equal(xa, ya)  # an image target turns with its image
    plain = list(ShardReader(partial_data, "train", **{**kw, "augment": None, "shuffle": False, "epochs": None}))
    flat = np.sort(np.concatenate([x for x, _ in a[:len(plain)]]).reshape(-1, 256), axis=1)
    ref = np.sort(np.concatenate([x for x, _ in plain]).reshape(-1, 256), axis=1)  # flips and turns move pixels only
    np.testing.assert_array_equal(np.sort(flat, axis=0), np.sort(ref, axis=0))
    noisy = ShardReader(partial_data, "val", batch_size=20, inputs="counts", targets="counts", shuffle=False,
                        input_transform="per_image_max", target_transform="per_image_max",
                        input_noise={"kind": "gaussian", "amount": 0.2})
    (xn, yn), (xm, _) = next(iter(noisy)), next(iter(noisy))
    np.testing.assert_array_equal(xn, xm)
    assert xn.min() >= 0 and xn.max() <= 1 and 0.1 < np.std(xn - yn) < 0.25


def _without_tensorflow(code: str, *args) -> subprocess.CompletedProcess:
    """``code`` run in a fresh Python on JAX, with TensorFlow hidden (an import of it fails, as where it is absent)."""
    import os

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    return subprocess.run([sys.executable, "-c", "import sys; sys.modules['tensorflow'] = None\n" + code, *args],
                          capture_output=True, text=True, env=env)


def test_kzoo_train_on_jax_without_tensorflow_trains_from_shards_and_evaluates(tiny_data, tmp_path):
    import json

    code = "from kzoo.cli import main; sys.exit(main(sys.argv[1:]))"
    train = ["train", "gc-dm", "--data", str(tiny_data), "--out", str(tmp_path / "run"), "--epochs", "2",
             "--batch-size", "16", "--allow-other-recipe", "--backend", "jax", "--no-reference", "--quiet"]
    done = _without_tensorflow(code, *train)
    assert done.returncode == 0, done.stderr[-2000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["reader"] == "numpy" and run["versions"]["tensorflow"] is None
    assert "reader" not in run["settings"]  # gc-dm draws nothing at random: tf.data's batches, the same run
    assert run["epochs_run"] == 2 and json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]["A_dm"]["n"] == 28
    again = _without_tensorflow(code, *train)  # the same run again: up to date, nothing trained
    assert again.returncode == 0 and "up to date" in again.stdout
    refused = _without_tensorflow(code, *train[:-1], "--reader", "tf.data", "--out", str(tmp_path / "other"))
    err = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(err) == 1 and "reader tf.data needs TensorFlow" in err[0]
    assert not (tmp_path / "other").exists()


def test_both_readers_train_the_same_run_on_tensorflow(tiny_data, tmp_path):
    """Not augmented, the numpy reader's epochs are tf.data's batches in tf.data's order: the same losses."""
    from kzoo.train import fit

    runs = [fit("gc-dm", tiny_data, tmp_path / reader, epochs=2, batch_size=16, reader=reader, classical=False,
                allow_other_recipe=True, verbose=0) for reader in ("tf.data", "numpy")]
    assert (tmp_path / "tf.data" / "history.csv").read_bytes() == (tmp_path / "numpy" / "history.csv").read_bytes()
    assert runs[0]["metrics"] == runs[1]["metrics"]
