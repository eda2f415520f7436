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
