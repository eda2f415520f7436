"""A reader of kzoo shards without TensorFlow: numpy batches for a machine with JAX or PyTorch and no TensorFlow.

The parsing, targets, scaling and transforms of :func:`kzoo.data.pipeline.dataset`, and its stream of records
(:mod:`kzoo.data.order`): every pass of a run, shuffled or not, gives tf.data's batches exactly; augmentation and
input noise are drawn by numpy from (seed, pass, batch), other draws than tf.data's.

Written by hand rather than with a library: kzoo writes its TFRecords and their ``tf.train.Example`` payloads by hand
too (:func:`kzoo.data.shards.example_bytes`, byte-tested against TensorFlow), the format is four protobuf fields and
two CRCs, and the readers that exist without TensorFlow (``tfrecord`` on PyPI, ``tensorflow-io``'s) either need
PyTorch's DataLoader or TensorFlow itself, read records in file order only, and give no random access by record.
Here each shard's record offsets are read from their length headers once (no record is read), a record is read with
one ``os.pread`` and its CRC-32C checked, and background threads read and parse whole batches ahead, in order (the
reads and numpy's copies release the GIL).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kzoo.data.order import pass_order, stream
from kzoo.data.records import SELECTED_CUT, minmax_of, model_shape, read_spec, record_sizes, target_ranges
from kzoo.data.shards import DataError, load_manifest

def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported here (without importing it)."""
    import importlib.util
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"] is not None
    return importlib.util.find_spec("tensorflow") is not None


def _per_image_max(y):
    m = y.max(axis=tuple(range(1, y.ndim)), keepdims=True)
    return np.divide(y, m, out=np.zeros_like(y), where=m != 0)


def _selected(y):
    y = _per_image_max(y)
    return np.where(y > SELECTED_CUT, y, np.zeros_like(y))


TRANSFORMS = {"per_image_max": _per_image_max, "selected": _selected}  # kzoo.data.pipeline.TRANSFORMS in numpy


def array_transform(name: str, source: str, manifest: dict):
    """The numpy function that the transform ``name`` (:data:`kzoo.data.records.TRANSFORM_NAMES`) applies to the stored
    array ``source``."""
    if name != "global_minmax":
        return TRANSFORMS[name]
    lo, span = minmax_of(manifest, source)
    return lambda y: (y - lo) / span


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """The (field number, wire type, start, end or value) of a protobuf message's fields in ``buf[start:end]``."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            yield key >> 3, wire, pos, pos + n
            pos += n
        elif wire == 0:
            v, pos = _varint(buf, pos)
            yield key >> 3, wire, v, v
        else:
            raise ValueError(f"wire type {wire}")


def parse_example(buf) -> dict:
    """The features of a serialized ``tf.train.Example``: ``{name: memoryview of the bytes}`` for a BytesList of one
    value, ``{name: int}`` for an Int64List of one value (kzoo's records hold nothing else)."""
    buf = memoryview(buf)
    out = {}
    for num, _, a, b in _fields(buf, 0, len(buf)):  # Example {1: Features}
        if num != 1:
            continue
        for fnum, _, ea, eb in _fields(buf, a, b):  # Features {1: map entry {1: name, 2: Feature}}
            if fnum != 1:
                continue
            name, feature = None, None
            for enum, _, va, vb in _fields(buf, ea, eb):
                if enum == 1:
                    name = bytes(buf[va:vb]).decode()
                elif enum == 2:
                    feature = (va, vb)
            for kind, _, la, lb in _fields(buf, *feature):  # Feature {1: BytesList, 3: Int64List}
                for vnum, wire, va, vb in _fields(buf, la, lb):
                    if kind == 1:
                        out[name] = buf[va:vb]
                    elif kind == 3:
                        out[name] = (_varint(buf, va)[0] if wire == 2 else va)
                        if out[name] >= 1 << 63:
                            out[name] -= 1 << 64
    return out


def _masked_crc(data) -> int:
    import google_crc32c

    crc = google_crc32c.value(bytes(data))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record_offsets(path) -> np.ndarray:
    """``(records, 2)``: the offset and length of each record's data in a TFRecord file, from the length headers."""
    out, size = [], os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos + 12 <= size:
            f.seek(pos)
            length = int.from_bytes(f.read(8), "little")
            out.append((pos + 12, length))
            pos += 16 + length
    return np.array(out, np.int64).reshape(-1, 2)


class ShardReader:
    """Batches of one split of a kzoo dataset as numpy arrays, without TensorFlow: the arguments of
    :func:`kzoo.data.pipeline.dataset` and its parsing, target scaling and transforms (an unshuffled pass gives
    its batches exactly; a shuffled one :mod:`kzoo.data.order`'s order), iterated with ``iter(reader)``.
    ``workers`` threads read and parse batches ahead (``prefetch`` of them).

    Augmentation and input noise (:mod:`kzoo.data.augment_numpy`) are drawn by numpy from (seed, pass, batch), so
    they are not tf.data's draws (TensorFlow's stateless ones): the same kinds and amounts, other images. ``cache`` is accepted for tf.data's arguments and does nothing: the
    operating system's page cache keeps the shards read while memory allows.
    """

    def __init__(self, data_dir, split: str, inputs="counts", targets=("A_dm",), batch_size: int = 64,
                 shuffle: bool | None = None, seed: int = 0, scale_targets: bool = False, target_scale=(0.0, 1.0),
                 manifest: dict | None = None, verify: bool = True, drop_remainder: bool = False,
                 shuffle_images: int = 8192, target_transform="", input_transform="", epochs=None, limit=None,
                 fold=None, repeat: bool = False, augment=None, input_noise=None, cache: bool = False,
                 workers: int = 2, prefetch: int = 4):
        from kzoo.data.augment_numpy import parse_augment

        self.data_dir = Path(data_dir)
        m = self.manifest = manifest or load_manifest(data_dir, verify=verify)
        spec = read_spec(m, data_dir, split, inputs, targets, batch_size, target_transform, input_transform, augment,
                         input_noise, repeat, epochs)
        info, schema = m["splits"][split], m["schema"]
        self.augment, self.input_noise = parse_augment(augment), (dict(input_noise) if input_noise else None)
        self.block, self.batch_size, self.seed = int(m["block"]), int(batch_size), int(seed)
        self.shuffle = (split == "train") if shuffle is None else bool(shuffle)
        self.drop_remainder, self.repeat, self.epochs = drop_remainder, repeat, epochs
        self.workers, self.prefetch = max(1, int(workers)), max(1, int(prefetch))
        self.in_map, self.out_map, self.label_w = spec["in_map"], spec["out_map"], spec["label_w"]
        self.named_in, self.named_out = spec["named_in"], spec["named_out"]
        self.images_only = targets is None
        self.transforms = {(side, k): array_transform(t, (self.in_map if side == "in" else self.out_map)[k], m)
                           for (side, k), t in spec["transforms"].items()}
        self.scale = None
        if scale_targets:
            self.scale = {k: (target_ranges(m, list(s)), tuple(target_scale)) for k, s in self.out_map.items()
                          if not isinstance(s, str)}
        self.schema, self.n_labels = schema, schema["labels"]["shape"][0]
        self.files = [str(self.data_dir / s["file"]) for s in info["shards"]]
        self.sizes = np.array(record_sizes(info, self.block))
        self.chosen = stream(info, self.block, limit, fold, f"{self.data_dir / 'manifest.json'} {split}")
        self.count = int(self.sizes[self.chosen].sum())
        self.window = max(1, min(len(self.chosen), int(shuffle_images) // self.block))
        self._index, self._fds = None, {}
        self._lock = threading.Lock()

    def index(self) -> list[tuple[int, int, int]]:
        """``(file number, offset, length)`` of each record of the split, in shard order (read once)."""
        with self._lock:
            if self._index is None:
                index = []
                for i, f in enumerate(self.files):
                    index += [(i, int(o), int(n)) for o, n in record_offsets(f)]
                if len(index) != len(self.sizes):
                    raise DataError(f"{self.data_dir}: {len(index)} records in the shards, the manifest says "
                                    f"{len(self.sizes)}; run kzoo verify {self.data_dir}")
                self._index = index
        return self._index

    def __len__(self) -> int:
        """Batches per pass."""
        return self.count // self.batch_size if self.drop_remainder else -(-self.count // self.batch_size)

    def passes(self):
        if self.repeat:
            e = 0
            while True:
                yield e
                e += 1
        yield from ([0] if self.epochs is None else range(int(self.epochs[0]), int(self.epochs[1])))

    def batch_plan(self, epoch: int) -> list[list[tuple[int, int, int]]]:
        """The batches of pass ``epoch``: lists of ``(record, first image, end image)``."""
        records = self.chosen[pass_order(len(self.chosen), self.seed, epoch, self.window, self.shuffle)]
        plan, cur, have = [], [], 0
        for r in records.tolist():
            a, n = 0, int(self.sizes[r])
            while a < n:
                take = min(n - a, self.batch_size - have)
                cur.append((r, a, a + take))
                a, have = a + take, have + take
                if have == self.batch_size:
                    plan.append(cur)
                    cur, have = [], 0
        if cur and not self.drop_remainder:
            plan.append(cur)
        return plan

    def _fd(self, i: int) -> int:
        with self._lock:
            if i not in self._fds:
                self._fds[i] = os.open(self.files[i], os.O_RDONLY)
            return self._fds[i]

    def __del__(self):
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)

    def _read(self, r: int) -> dict:
        i, offset, length = self.index()[r]
        data = os.pread(self._fd(i), length + 4, offset)
        if len(data) != length + 4 or _masked_crc(data[:length]) != int.from_bytes(data[length:], "little"):
            raise DataError(f"{self.files[i]}: record {r} is damaged (its CRC does not match); "
                            f"run kzoo verify {self.data_dir}")
        return parse_example(memoryview(data)[:length])

    def _decode(self, ex, name, shape):
        return np.frombuffer(ex[name], dtype="<f4").reshape(-1, *shape)

    def read_batch(self, spans, at=(0, 0)):
        """One batch of :meth:`batch_plan`: ``(x, y)``, or ``x`` for ``targets=None``; ``at`` = (pass, batch) seeds
        its augmentation and noise."""
        parts = {("in", k): [] for k in self.in_map} | {("out", k): [] for k in self.out_map}
        for r, a, b in spans:
            ex = self._read(r)
            labels = None
            for (side, key) in parts:
                src = (self.in_map if side == "in" else self.out_map)[key]
                if isinstance(src, str):
                    parts[(side, key)].append(self._decode(ex, src, model_shape(self.schema[src]["shape"]))[a:b])
                else:
                    labels = self._decode(ex, "labels", (self.n_labels,)) if labels is None else labels
                    parts[(side, key)].append(labels[a:b])
        out = {}
        for (side, key), chunks in parts.items():
            v = np.concatenate(chunks).astype(np.float32, copy=False)
            if (side, key) in self.label_w:
                v = v @ self.label_w[(side, key)]
                if side == "out" and self.scale is not None:
                    r, (lo, hi) = self.scale[key]
                    v = lo + (hi - lo) * (v - r[:, 0]) / np.maximum(r[:, 1] - r[:, 0], 1e-12)
            elif (side, key) in self.transforms:
                v = self.transforms[(side, key)](v)
            out[(side, key)] = np.ascontiguousarray(v, dtype=np.float32)
        if self.augment or self.input_noise:
            from kzoo.data.augment_numpy import augment_batch, corrupt

            x_img, y_img = out[("in", None)], out.get(("out", None))
            image_target = y_img is not None and isinstance(self.out_map[None], str)
            if self.augment:
                rng = np.random.default_rng([self.seed, int(at[0]), int(at[1]), 0])
                x_img, y_aug = augment_batch(x_img, y_img if image_target else None, rng, **self.augment)
                if image_target:
                    out[("out", None)] = y_aug
            if self.input_noise:
                rng = np.random.default_rng([self.seed, int(at[0]), int(at[1]), 1])
                x_img = corrupt(x_img, rng, self.input_noise["kind"], self.input_noise.get("amount"))
            out[("in", None)] = x_img
        x = {k: out[("in", k)] for k in self.in_map}
        x = x if self.named_in else x[None]
        if self.images_only:
            return x
        y = {k: out[("out", k)] for k in self.out_map}
        y = y if self.named_out else y.get(None, np.zeros((len(next(iter(out.values()))), 0), np.float32))
        return x, y

    def take(self, n: int):
        """The first ``n`` batches of the stream, read from its start (as ``tf.data.Dataset.take``)."""
        import itertools

        return itertools.islice(iter(self), n)

    def __iter__(self):
        with ThreadPoolExecutor(self.workers) as pool:
            ahead = deque()
            for e, i, spans in ((e, i, spans) for e in self.passes() for i, spans in enumerate(self.batch_plan(e))):
                ahead.append(pool.submit(self.read_batch, spans, (e, i)))
                if len(ahead) > self.prefetch:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()


def images_that_fit(manifest: dict, split: str, inputs: str, targets=None) -> int | None:
    """How many of a split's first images (whole records) may be read into memory as arrays by :func:`load_arrays`
    (at most half of what this process may use, cgroup limits included, counting the batches and their
    concatenation); None when the whole split fits (or the memory cannot be read)."""
    import kzoo.data.shards as shards

    info, room = manifest["splits"][split], shards.available_memory()
    if room is None or not isinstance(inputs, str) or inputs not in manifest["schema"]:
        return None
    arrays = [inputs, "labels"] + ([targets] if isinstance(targets, str) and targets in manifest["schema"] else [])
    per_image = 2 * 4 * sum(int(np.prod(manifest["schema"][a]["shape"])) for a in arrays)  # batches + concatenation
    n = (room // 2) // per_image
    if n >= info["count"]:
        return None
    ends = [e for e in np.cumsum(record_sizes(info, int(manifest["block"]))).tolist() if e <= n]
    return int(ends[-1]) if ends else 0


def load_arrays(data_dir, split: str, inputs: str = "counts", targets=("A_dm",), **kwargs):
    """The whole split as numpy arrays ``(x, y)`` (for small data, scikit-learn and plots), read without TensorFlow
    unless augmented or corrupted (``augment``, ``input_noise``: tf.data's random draws). Refused in one line
    (DataError) before anything is read when the split would not fit in memory (:func:`images_that_fit`); give
    ``limit`` (the first images) to read less."""
    if kwargs.get("limit") is None and kwargs.get("fold") is None:
        manifest = kwargs.get("manifest") or load_manifest(data_dir, verify=False)
        if images_that_fit(manifest, split, inputs, targets) is not None:
            import kzoo.data.shards as shards

            count = manifest["splits"][split]["count"]
            raise DataError(f"{data_dir}: the {split} split's {count:,} images of {inputs!r} would not fit as arrays "
                            f"in the {shards._size(shards.available_memory())} this process may use; read fewer "
                            f"(limit) or leave out what needs them whole (kzoo train --no-reference)")
    xs, ys = [], []
    kwargs = {"shuffle": False, "batch_size": 256, **kwargs}
    for x, y in batches(data_dir, split, inputs=inputs, targets=targets, **kwargs):
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def batches(data_dir, split: str, **kwargs):
    """Numpy batches ``(x, y)`` (or ``x`` for ``targets=None``) of a split, with the arguments of
    :func:`kzoo.data.pipeline.dataset`: read by :class:`ShardReader` (no TensorFlow; an unshuffled pass gives
    tf.data's batches), or by tf.data where its random draws are asked for (``augment``, ``input_noise``) and
    TensorFlow is installed (so that evaluations keep their numbers)."""
    if (kwargs.get("augment") or kwargs.get("input_noise")) and tensorflow_installed():
        import tensorflow as tf

        from kzoo.data.pipeline import dataset

        return (tf.nest.map_structure(np.asarray, b) for b in dataset(data_dir, split, **kwargs))
    return ShardReader(data_dir, split, **kwargs)
