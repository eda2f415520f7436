"""tf.data pipelines over kzoo shards: read -> (cache) -> shuffle -> batch -> parse -> augment -> prefetch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo.data.augment import augment_batch, parse_augment
from kzoo.data.shards import DataError, load_manifest


def model_shape(stored_shape) -> tuple:
    """The per-example tensor shape a model sees: 1-D spectra and 2-D maps get a channel axis,
    arrays stored with channels last (H, W, C) are fed as they are."""
    shape = tuple(int(d) for d in stored_shape)
    return shape + (1,) if len(shape) in (1, 2) else shape


def _per_image_max(y):
    axes = list(range(1, len(y.shape)))
    return tf.math.divide_no_nan(y, tf.reduce_max(y, axis=axes, keepdims=True))


TRANSFORMS = {"per_image_max": _per_image_max}


def target_matrix(manifest: dict, targets) -> np.ndarray:
    """(n_labels, k) matrix W so that ``targets = labels @ W``.

    A target is a label name or a sum of them written with "+": ``"n_ps_gc+n_ps_disk"`` is the total
    number of point sources.
    """
    names = manifest["schema"]["labels"]["names"]
    bad = [t for t in targets if any(part not in names for part in t.split("+"))]
    if bad:
        raise DataError(f"targets {bad} are not labels of this dataset, or sums of them with '+' "
                        f"({manifest['sky']}: {', '.join(names)})")
    w = np.zeros((len(names), len(targets)), np.float32)
    for j, t in enumerate(targets):
        for part in t.split("+"):
            w[names.index(part), j] += 1.0
    return w


def target_ranges(manifest: dict, targets) -> np.ndarray:
    """(k, 2) array of [low, high] per target, from the recipe's label ranges (sums add up)."""
    r = manifest["label_ranges"]
    return np.array([[sum(r[p][i] for p in t.split("+")) for i in (0, 1)] for t in targets], dtype=np.float32)


def dataset(data_dir: str | os.PathLike, split: str, inputs: str = "counts", targets=("A_dm",),
            batch_size: int = 64, shuffle: bool | None = None, augment=None, cache: bool = False,
            repeat: bool = False, seed: int = 0, scale_targets: bool = False, manifest: dict | None = None,
            verify: bool = True, drop_remainder: bool = False, shuffle_images: int = 8192,
            target_transform: str = "", input_transform: str = "", input_noise: dict | None = None
            ) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(image, target)`` from the shards of one split.

    Args:
        data_dir: a directory written by ``kzoo.data.write_shards`` / ``kzoo simulate``.
        split: "train", "val", "test" (whatever the manifest lists).
        inputs: the stored array to feed, float32 raw values (normalisation lives in the model, so the
            saved model takes raw data): maps ``(B, H, W, 1)``, spectra ``(B, L, 1)``, multi-channel
            maps stored as (H, W, C) ``(B, H, W, C)``.
        targets: label names (``(B, k)`` float32) or the name of a stored image array (``(B, H, W, 1)``).
            ``None`` yields images only.
        shuffle: shuffle records (default: only for "train").
        augment: see :func:`kzoo.data.augment.parse_augment`; applied after the cache, per batch.
        cache: keep the split's serialized records in memory after the first pass.
        scale_targets: min-max scale label targets to [0, 1] with the recipe's label ranges.
        shuffle_images: the shuffle buffer, in images (records hold ``block`` images each).
        target_transform, input_transform: a name in ``TRANSFORMS`` (e.g. "per_image_max") applied to
            image targets / inputs in the pipeline (for models that work on transformed data).
        input_noise: ``{"kind": ..., "amount": ...}`` corrupts the inputs with ``kzoo.layers.corrupt``
            (after augmentation), seeded per batch: the same seed gives the same noisy images.
        verify: check shard sizes and sha256 against the manifest first.
    """
    manifest = manifest or load_manifest(data_dir, verify=verify)
    if split not in manifest["splits"]:
        raise DataError(f"{Path(data_dir) / 'manifest.json'}: no split {split!r} (it has {', '.join(manifest['splits'])})")
    info = manifest["splits"][split]
    if info["count"] <= 0:
        raise DataError(f"{Path(data_dir) / 'manifest.json'}: split {split!r} is empty")
    schema = manifest["schema"]
    if inputs not in schema or inputs == "labels":
        raise DataError(f"inputs {inputs!r} is not stored in {data_dir} (stored: {', '.join(k for k in schema if k != 'labels')})")
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    image_target = isinstance(targets, str)
    if image_target and (targets not in schema or targets == "labels"):
        raise DataError(f"target image {targets!r} is not stored in {data_dir} (stored: {', '.join(k for k in schema if k != 'labels')})")
    w = None if (targets is None or image_target) else target_matrix(manifest, targets)
    for name, value in (("target_transform", target_transform), ("input_transform", input_transform)):
        if value and value not in TRANSFORMS:
            raise ValueError(f"{name} must be one of {sorted(TRANSFORMS)}, got {value!r}")
    transform, x_transform = TRANSFORMS.get(target_transform), TRANSFORMS.get(input_transform)
    if input_noise:
        from kzoo.layers import NOISES

        if input_noise.get("kind") not in NOISES or set(input_noise) - {"kind", "amount"}:
            raise ValueError(f"input_noise must be {{'kind': one of {NOISES}, 'amount': number}}, got {input_noise!r}")
    aug = parse_augment(augment)
    shuffle = (split == "train") if shuffle is None else shuffle

    block = int(manifest["block"])
    x_shape = model_shape(schema[inputs]["shape"])
    n_labels = schema["labels"]["shape"][0]
    files = [str(Path(data_dir) / s["file"]) for s in info["shards"]]
    partial = any(s["count"] % block for s in info["shards"])
    records = sum(s["records"] for s in info["shards"])

    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8) if len(files) > 1 else None)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(max(1, min(records, shuffle_images // block)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    needs_rebatch = partial or batch_size % block
    ds = ds.batch(max(1, batch_size // block), drop_remainder=drop_remainder and not needs_rebatch)

    spec = {"n": tf.io.FixedLenFeature([], tf.int64), "labels": tf.io.FixedLenFeature([], tf.string),
            inputs: tf.io.FixedLenFeature([], tf.string)}
    if image_target:
        spec[targets] = tf.io.FixedLenFeature([], tf.string)

    def decode(raw, shape):
        size = int(np.prod(shape)) * block
        return tf.reshape(tf.io.decode_raw(raw, tf.float32, fixed_length=4 * size), [-1, *shape])

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        x = decode(ex[inputs], x_shape)
        if x_transform is not None:
            x = x_transform(x)
        if image_target:
            y = decode(ex[targets], model_shape(schema[targets]["shape"]))
            if transform is not None:
                y = transform(y)
        else:
            y = decode(ex["labels"], (n_labels,))
            if w is not None:
                y = tf.matmul(y, w)
                if scale_targets:
                    r = target_ranges(manifest, targets)
                    y = (y - r[:, 0]) / np.maximum(r[:, 1] - r[:, 0], 1e-12)
        if partial:  # the last record of a shard may hold fewer than `block` images
            valid = tf.reshape(tf.sequence_mask(ex["n"], block), [-1])
            x, y = tf.boolean_mask(x, valid), tf.boolean_mask(y, valid)
        return x, y

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if needs_rebatch:
        ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
    if aug:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)

        def do_augment(xy, s):
            x, y = augment_batch(xy[0], xy[1] if image_target else None, s, **aug)
            return x, (y if image_target else xy[1])

        ds = ds.map(do_augment, num_parallel_calls=tf.data.AUTOTUNE)
    if input_noise:
        from kzoo.layers import corrupt

        noise_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, noise_seeds).map(
            lambda xy, s: (corrupt(xy[0], s, input_noise["kind"], input_noise.get("amount")), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    if targets is None:
        ds = ds.map(lambda x, y: x)
    if not repeat:  # a known length gives Keras a real progress bar
        n = info["count"] // batch_size if drop_remainder else -(-info["count"] // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(n))
    opts = tf.data.Options()
    opts.deterministic = True
    return ds.with_options(opts).prefetch(tf.data.AUTOTUNE)


def load_arrays(data_dir, split: str, inputs: str = "counts", targets=("A_dm",), **kwargs):
    """The whole split as numpy arrays ``(x, y)`` (for small data, scikit-learn and plots)."""
    xs, ys = [], []
    kwargs = {"shuffle": False, "batch_size": 256, **kwargs}
    for x, y in dataset(data_dir, split, inputs=inputs, targets=targets, **kwargs):
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)
