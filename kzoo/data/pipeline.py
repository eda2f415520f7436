"""tf.data pipelines over kzoo shards: read -> (cache) -> shuffle -> batch -> parse -> augment -> prefetch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo.data.augment import augment_batch, parse_augment
from kzoo.data.order import PASS_STRIDE, READERS
from kzoo.data.records import (SELECTED_CUT, fold_records, minmax_of, model_shape, read_spec, record_sizes,
                                records_for_limit, target_ranges)
from kzoo.data.shards import DataError, load_manifest


def _per_image_max(y):
    axes = list(range(1, len(y.shape)))
    return tf.math.divide_no_nan(y, tf.reduce_max(y, axis=axes, keepdims=True))




def _selected(y):
    """The seed's "selected" U-net target (seed 000, part b, "Target 2: SELECTED, N brightest point
    sources"): the per-image max-normalised point-source flux on the N brightest pixels of each
    image, 0 elsewhere.

    The seed defines N only in its evaluation B, as the number of pixels the network predicts above
    its cut 0.02 (``kzoo.metrics.segmentation_metrics``): a number of the prediction, which a
    training target cannot use. Here N is the number of pixels whose normalised flux is above that
    same cut, so a network that reproduced its target exactly would predict these N pixels above the
    cut and evaluation B would compare them with the N brightest true pixels, the same set. Keeping
    the pixels above the cut is keeping the N brightest. Fluxes are kept (not a 0/1 mask), as in the
    seed's "all" target: the count penalty's cut (1.08 x the smallest non-zero target) then lies just
    above 0.02.
    """
    y = _per_image_max(y)
    return tf.where(y > SELECTED_CUT, y, tf.zeros_like(y))


TRANSFORMS = {"per_image_max": _per_image_max, "selected": _selected}  # kzoo.data.records.TRANSFORM_NAMES


def array_transform(name: str, source: str, manifest: dict):
    """The TensorFlow function that the transform ``name`` applies to the stored array ``source``
    ("global_minmax": :func:`kzoo.data.records.minmax_of`)."""
    if name != "global_minmax":
        return TRANSFORMS[name]
    lo, span = minmax_of(manifest, source)
    return lambda y: (y - lo) / span


def dataset(data_dir: str | os.PathLike, split: str, inputs: str = "counts", targets=("A_dm",),
            batch_size: int = 64, shuffle: bool | None = None, augment=None, cache: bool = False,
            repeat: bool = False, seed: int = 0, scale_targets: bool = False, target_scale=(0.0, 1.0), manifest: dict | None = None,
            verify: bool = True, drop_remainder: bool = False, shuffle_images: int = 8192,
            target_transform: str = "", input_transform: str = "", input_noise: dict | None = None,
            epochs: tuple[int, int] | None = None, limit: int | None = None,
            fold: tuple[int, int, bool] | None = None) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(image, target)`` from the shards of one split.

    Args:
        data_dir: a directory written by ``kzoo.data.write_shards`` / ``kzoo simulate``.
        split: "train", "val", "test" (whatever the manifest lists).
        inputs: the stored array to feed, float32 raw values (normalisation lives in the model, so the
            saved model takes raw data): maps ``(B, H, W, 1)``, spectra ``(B, L, 1)``, multi-channel
            maps stored as (H, W, C) ``(B, H, W, C)``. For a model of several named inputs, a dict
            ``{input name: stored array name, or a list of label names (a (B, k) vector, unscaled)}``.
        targets: label names (``(B, k)`` float32) or the name of a stored image array (``(B, H, W, 1)``).
            ``None`` yields images only. For a model of several named outputs, a dict ``{output name:
            list of label names (scaled by scale_targets) or a stored array name}``.
        shuffle: shuffle records (default: only for "train").
        augment: see :func:`kzoo.data.augment.parse_augment`; applied after the cache, per batch.
        cache: keep the split's serialized records in memory after the first pass.
        scale_targets: min-max scale label targets onto ``target_scale`` ([0, 1] by default) with the
            recipe's label ranges (``unscale_targets`` maps predictions back).
        shuffle_images: the shuffle buffer, in images (records hold ``block`` images each).
        target_transform, input_transform: a name in ``kzoo.data.records.TRANSFORM_NAMES`` (e.g. "per_image_max") applied to
            image targets / inputs in the pipeline (for models that work on transformed data); with
            named outputs / inputs, a dict ``{name: transform}``.
        input_noise: ``{"kind": ..., "amount": ...}`` corrupts the inputs with ``kzoo.layers.corrupt``
            (after augmentation), seeded per batch: the same seed gives the same noisy images.
        verify: check shard sizes and sha256 against the manifest first.
        epochs: ``(start, stop)``: the passes ``start .. stop-1`` one after the other, as one stream
            (``kzoo.train.fit`` trains on it with ``steps_per_epoch``). ``repeat`` is the same with no end.
        limit: only the split's first ``limit`` images, in shard order (shard 0's records, then shard 1's,
            ...), for learning curves: the same images whatever the shuffle; ``limit`` must end on a record
            (``records_for_limit``).
        fold: ``(i, k, held_out)``: k-fold cross-validation over the split's records in shard order: record j
            is in fold ``j % k``; ``held_out=True`` gives fold i only, False every record but fold i's.

    Randomness is a function of ``(seed, pass, batch)``: pass ``e`` is shuffled with a seed made from
    ``seed`` and ``e``, and batch ``i`` of it is augmented and corrupted with stateless seeds made from
    ``(seed, e, i)``. So pass ``e`` is the same whether a stream starts at pass 0 or at ``e`` (a run
    resumed at epoch ``e`` sees exactly the batches of an uninterrupted one). A single pass
    (``epochs`` None, no ``repeat``) is pass 0; iterated again it is reshuffled, as tf.data does.
    """
    manifest = manifest or load_manifest(data_dir, verify=verify)
    spec = read_spec(manifest, data_dir, split, inputs, targets, batch_size, target_transform, input_transform,
                     augment, input_noise, repeat, epochs)
    info, schema = manifest["splits"][split], manifest["schema"]
    in_map, out_map, label_w = spec["in_map"], spec["out_map"], spec["label_w"]
    named_in, named_out = spec["named_in"], spec["named_out"]
    image_target = not named_out and isinstance(targets, str)
    x_tf = {k: array_transform(t, in_map[k], manifest) for (side, k), t in spec["transforms"].items() if side == "in"}
    y_tf = {k: array_transform(t, out_map[k], manifest) for (side, k), t in spec["transforms"].items() if side == "out"}
    if input_noise:
        from kzoo.layers import corrupt
    aug = parse_augment(augment)
    shuffle = (split == "train") if shuffle is None else shuffle

    block = int(manifest["block"])
    n_labels = schema["labels"]["shape"][0]
    files = [str(Path(data_dir) / s["file"]) for s in info["shards"]]
    partial = any(s["count"] % block for s in info["shards"])
    records = sum(s["records"] for s in info["shards"])
    count = info["count"]
    if limit is not None and fold is not None:
        raise ValueError("give limit or fold, not both")
    if limit is not None:
        records, count = records_for_limit(info, block, int(limit), f"{Path(data_dir) / 'manifest.json'} {split}")
    if fold is not None:
        in_fold = fold_records(info, block, *fold)
        records, count = int(in_fold.sum()), int(sum(n for n, keep in zip(record_sizes(info, block), in_fold) if keep))

    if limit is not None:  # the first records in shard order
        records_ds = tf.data.TFRecordDataset(files).take(records)
    elif fold is not None:  # the records of (or outside) one fold, in shard order
        keep = tf.constant(in_fold)
        records_ds = tf.data.TFRecordDataset(files).enumerate().filter(lambda j, r: keep[j]).map(lambda j, r: r)
    else:
        records_ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), READERS) if len(files) > 1 else None)
    if cache:  # shared by every pass below: the shards are read once
        records_ds = records_ds.cache()
    needs_rebatch = partial or batch_size % block

    arrays = sorted({s for m in (in_map, out_map) for s in m.values() if isinstance(s, str)})
    spec = {"n": tf.io.FixedLenFeature([], tf.int64), "labels": tf.io.FixedLenFeature([], tf.string),
            **{a: tf.io.FixedLenFeature([], tf.string) for a in arrays}}

    def decode(raw, shape):
        size = int(np.prod(shape)) * block
        return tf.reshape(tf.io.decode_raw(raw, tf.float32, fixed_length=4 * size), [-1, *shape])

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        labels = decode(ex["labels"], (n_labels,))

        def read(side, key, src, transforms):
            if isinstance(src, str):
                v = decode(ex[src], model_shape(schema[src]["shape"]))
                return transforms[key](v) if key in transforms else v
            v = tf.matmul(labels, label_w[(side, key)])
            if side == "out" and scale_targets:
                r, (a, b) = target_ranges(manifest, list(src)), target_scale
                v = a + (b - a) * (v - r[:, 0]) / np.maximum(r[:, 1] - r[:, 0], 1e-12)
            return v

        x = {k: read("in", k, s, x_tf) for k, s in in_map.items()}
        y = {k: read("out", k, s, y_tf) for k, s in out_map.items()}
        x = x if named_in else x[None]
        y = y if named_out else y.get(None, tf.zeros([tf.shape(labels)[0], 0]))
        if partial:  # the last record of a shard may hold fewer than `block` images
            valid = tf.reshape(tf.sequence_mask(ex["n"], block), [-1])
            x, y = tf.nest.map_structure(lambda t: tf.boolean_mask(t, valid), (x, y))
        return x, y

    def one_pass(epoch):
        """Pass ``epoch`` (a Python int or an int64 tensor) over the split."""
        if isinstance(epoch, int):
            pass_seed = int(seed) * PASS_STRIDE + epoch
        else:  # traced inside flat_map: fix this function graph's seed, so that the shuffle's seed pair is
            tf.random.set_seed(1)  # (1, pass_seed) whatever the global seed (a tensor seed fails beside 0)
            pass_seed = tf.cast(seed, tf.int64) * PASS_STRIDE + epoch
        ds = records_ds
        if shuffle:
            ds = ds.shuffle(max(1, min(records, shuffle_images // block)), seed=pass_seed,
                            reshuffle_each_iteration=single_pass)
        ds = ds.batch(max(1, batch_size // block), drop_remainder=drop_remainder and not needs_rebatch)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        if needs_rebatch:
            ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
        if not (aug or input_noise):
            return ds

        def randomise(i, xy):  # stateless seeds of (seed, pass, batch): augment 2i, noise 2i + 1
            x, y = xy
            s = tf.cast(pass_seed, tf.int64)
            if aug:
                x, y_img = augment_batch(x, y if image_target else None, tf.stack([s, 2 * i]), **aug)
                y = y_img if image_target else y
            if input_noise:
                x = corrupt(x, tf.stack([s, 2 * i + 1]), input_noise["kind"], input_noise.get("amount"))
            return x, y

        return ds.enumerate().map(randomise, num_parallel_calls=tf.data.AUTOTUNE)

    single_pass = epochs is None and not repeat
    if single_pass:
        ds = one_pass(0)
    elif repeat:
        ds = tf.data.Dataset.counter().flat_map(one_pass)
    else:
        ds = tf.data.Dataset.range(int(epochs[0]), int(epochs[1])).flat_map(one_pass)
    if targets is None:
        ds = ds.map(lambda x, y: x)
    if not repeat:  # a known length gives Keras a real progress bar
        n = count // batch_size if drop_remainder else -(-count // batch_size)
        passes = 1 if single_pass else int(epochs[1]) - int(epochs[0])
        ds = ds.apply(tf.data.experimental.assert_cardinality(n * passes))
    opts = tf.data.Options()
    opts.deterministic = True
    return ds.with_options(opts).prefetch(tf.data.AUTOTUNE)
