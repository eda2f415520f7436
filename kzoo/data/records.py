"""What a manifest says about a dataset's records and labels, without TensorFlow: the shape a model sees, the label
ranges and the scaling of targets, the records of a split, folds and subsets, class counts."""

from __future__ import annotations

import numpy as np

from kzoo.data.shards import DataError

SELECTED_CUT = 0.02  # the seed's cut on the U-net's probability in both of its evaluations (kzoo.evaluate)


def model_shape(stored_shape) -> tuple:
    """The per-example tensor shape a model sees: 1-D spectra and 2-D maps get a channel axis,
    arrays stored with channels last (H, W, C) are fed as they are."""
    shape = tuple(int(d) for d in stored_shape)
    return shape + (1,) if len(shape) in (1, 2) else shape


def target_ranges(manifest: dict, targets) -> np.ndarray:
    """(k, 2) array of [low, high] per target, from the recipe's label ranges (sums add up)."""
    r = manifest["label_ranges"]
    return np.array([[sum(r[p][i] for p in t.split("+")) for i in (0, 1)] for t in targets], dtype=np.float32)


def unscale_targets(y, ranges, target_scale=(0.0, 1.0), sigma=None):
    """Physical values (and standard deviations) of targets scaled by ``dataset(scale_targets=True)``:
    the inverse of mapping each target's range ``ranges[j]`` = [low, high] linearly onto ``target_scale``."""
    r, (a, b) = np.asarray(ranges, np.float64), map(float, target_scale)
    stretch = np.maximum(r[:, 1] - r[:, 0], 1e-12) / (b - a)
    y = r[:, 0] + (np.asarray(y, np.float64) - a) * stretch
    return y if sigma is None else (y, np.asarray(sigma, np.float64) * stretch)


def record_sizes(info: dict, block: int) -> list[int]:
    """Images in each record of a split, in shard order (the last record of a shard may hold fewer)."""
    return [min(block, s["count"] - r * block) for s in info["shards"] for r in range(s["records"])]


def fold_records(info: dict, block: int, i: int, k: int, held_out: bool) -> np.ndarray:
    """Which records of a split (shard order) belong to fold ``i`` of ``k`` (record j is in fold j % k), or,
    with ``held_out=False``, to every other fold."""
    n = len(record_sizes(info, block))
    if not (int(k) >= 2 and 0 <= int(i) < int(k) and n >= int(k)):
        raise ValueError(f"fold {i} of {k}: need k >= 2, 0 <= i < k and at least k records (the split has {n})")
    mask = np.arange(n) % int(k) == int(i)
    return mask if held_out else ~mask


def records_for_limit(info: dict, block: int, limit: int, where: str) -> tuple[int, int]:
    """``(records, images)`` of a split's first ``limit`` images in shard order; a ValueError naming the
    nearest valid sizes unless ``limit`` ends on a record (a multiple of ``block`` within a shard)."""
    ends = np.cumsum(record_sizes(info, block)).tolist()
    images = ends[-1]
    if limit in ends:
        return ends.index(limit) + 1, limit
    below, above = max([e for e in ends if e < limit], default=None), min([e for e in ends if e > limit], default=None)
    raise ValueError(f"{where}: a training subset of {limit} images does not end on a record of {block} images "
                     f"(the split holds {images}); nearest: {below}, {above}")


def class_count(manifest: dict, target: str) -> int:
    """The classes of a class-index label: its recipe range is [0, classes - 1]."""
    lo, hi = (float(v) for v in target_ranges(manifest, [target])[0])
    if lo != 0 or hi != int(hi):
        raise ValueError(f"label {target!r} is not a class index: its range is [{lo:g}, {hi:g}], expected [0, K - 1]")
    return int(hi) + 1


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


TRANSFORM_NAMES = ("global_minmax", "per_image_max", "selected")  # kzoo.data.pipeline's in TensorFlow, reader's in numpy


def minmax_of(manifest: dict, source: str) -> tuple[float, float]:
    """``(low, span)`` of the "global_minmax" transform of the stored array ``source``: the min and max of its pixels
    over the training split (the manifest's statistics), seed 003's autoencoder target."""
    st = manifest["stats"]["features"][source]
    return float(st["min"]), max(float(st["max"]) - float(st["min"]), 1e-12)


def read_spec(manifest: dict, data_dir, split: str, inputs, targets, batch_size: int, target_transform="",
              input_transform="", augment=None, input_noise=None, repeat: bool = False, epochs=None) -> dict:
    """What a reader of a split makes of the arguments of :func:`kzoo.data.pipeline.dataset`, each checked (one
    error naming the file, array or argument): ``in_map`` / ``out_map`` = every input and output as ``{name:
    source}`` (a stored array, or label names; name None when unnamed), ``named_in`` / ``named_out``, ``label_w``
    = ``{(side, name): target_matrix}`` for label sources, ``transforms`` = ``{(side, name): transform name}``.
    Both readers (tf.data's and kzoo's without TensorFlow) start from it."""
    from pathlib import Path

    where = Path(data_dir) / "manifest.json"
    if split not in manifest["splits"]:
        raise DataError(f"{where}: no split {split!r} (it has {', '.join(manifest['splits'])})")
    if manifest["splits"][split]["count"] <= 0:
        raise DataError(f"{where}: split {split!r} is empty")
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if repeat and epochs is not None:
        raise ValueError("give repeat=True or epochs=(start, stop), not both")
    if epochs is not None and not 0 <= int(epochs[0]) < int(epochs[1]):
        raise ValueError(f"epochs must be (start, stop) with 0 <= start < stop, got {epochs!r}")
    schema = manifest["schema"]
    stored = ", ".join(k for k in schema if k != "labels")
    named_in, named_out = isinstance(inputs, dict), isinstance(targets, dict)
    in_map = dict(inputs) if named_in else {None: inputs}
    out_map = dict(targets) if named_out else ({} if targets is None else {None: targets})
    for what, m in (("inputs", in_map), ("target image", out_map)):
        for key, src in m.items():
            if isinstance(src, str) and (src not in schema or src == "labels"):
                raise DataError(f"{what}{'' if key is None else f' {key!r}'} {src!r} is not stored in {data_dir} "
                                f"(stored: {stored})")
    if not named_in and not isinstance(inputs, str):
        raise DataError(f"inputs must be a stored array name or a dict of them, got {inputs!r}")
    label_w = {("in", k): target_matrix(manifest, list(s)) for k, s in in_map.items() if not isinstance(s, str)}
    label_w.update({("out", k): target_matrix(manifest, list(s)) for k, s in out_map.items() if not isinstance(s, str)})
    transforms = {}
    for name, side, value, m in (("target_transform", "out", target_transform, out_map),
                                 ("input_transform", "in", input_transform, in_map)):
        per = value if isinstance(value, dict) else {k: value for k, s in m.items() if isinstance(s, str)}
        for key, t in per.items():
            if t and (t not in TRANSFORM_NAMES or key not in m or not isinstance(m[key], str)):
                raise ValueError(f"{name} must be one of {list(TRANSFORM_NAMES)} for a stored array"
                                 f"{'' if key is None else f' ({key!r})'}, got {t!r}")
            if t:
                transforms[(side, key)] = t
    if (named_in or named_out) and (augment or input_noise):
        raise ValueError("augment and input_noise take a single image input and a label or image target")
    if input_noise:
        from kzoo.layers import NOISES

        if input_noise.get("kind") not in NOISES or set(input_noise) - {"kind", "amount"}:
            raise ValueError(f"input_noise must be {{'kind': one of {NOISES}, 'amount': number}}, got {input_noise!r}")
    return {"in_map": in_map, "out_map": out_map, "named_in": named_in, "named_out": named_out, "label_w": label_w,
            "transforms": transforms}
