"""Sharded TFRecords and their manifest.

Layout of a dataset directory::

    DIR/manifest.json                      recipe, seed, schema, splits, per-shard sha256, statistics
    DIR/train-00000-of-00008.tfrecord      records of ``block`` images each (the last may hold fewer)
    DIR/.kzoo-parts/<shard>.json           what each finished shard holds (lets a rerun skip it)
    DIR/.kzoo-lock                         while a write runs: its pid, host and start (kzoo.io.dir_lock)

A record holds one bytes feature per stored array (``block`` images, float32, little-endian,
row-major), ``labels`` (``block`` x n_labels float32 bytes) and ``n`` (int64, images in the record).
Shard ``i`` is simulated with ``numpy.random.default_rng([seed, i])``: it depends only on the seed,
its index and the recipe, so shards can be made by separate processes or machines.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np

from kzoo.data.recipes import load_recipe, scale_splits
from kzoo.io import (atomic_path, dir_lock, excerpt, plain_file_name, read_json, remove_stale_temps, sha256_file,
                     write_json)
from kzoo.sims import get_sky

FORMAT = "kzoo-shards/1"
PARTS = ".kzoo-parts"
CHUNK = 512  # images simulated at once inside a shard, at most (see chunk_images)
# Memory bound: the simulator's peak memory per pixel of one image, an upper bound (galactic_center:
# 34 bytes, 88 with rotate=True, measured with tracemalloc), and the memory a chunk may take. A sky module's own
# SIM_BYTES_PER_PIXEL replaces it (reionization: the maps are cut from boxes made one at a time).
SIM_BYTES_PER_PIXEL = 128
CHUNK_BYTES = 256 << 20
# Estimate: an upper bound on a record's framing (TFRecord length and CRCs, Example headers; 93 bytes
# measured for counts + ps_flux + labels + n) and per stored array; a shard's part record and file
# system slack; the manifest. Jobs over LARGE_BYTES or LARGE_SECONDS get their estimate printed.
RECORD_BYTES, ARRAY_BYTES, SHARD_EXTRA_BYTES, MANIFEST_BYTES = 32, 16, 8192, 1 << 16
# Only jobs of more than PROBE_PIXELS pixels are timed (about 30 s at the default parameters; a
# slower job of fewer pixels would need a twentieth of the default rate to reach LARGE_SECONDS). A sky
# module's own PROBE_PIXELS replaces it (sersic: GalSim is ~40x slower).
LARGE_BYTES, LARGE_SECONDS, PROBE_PIXELS = 1 << 30, 600.0, 1 << 27


class DataError(ValueError):
    """A dataset directory, manifest or shard that cannot be used; the message names the file."""


def recipe_sha256(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def plan_shards(splits: dict[str, int], n_shards: int, block: int, grain: int | None = None) -> list[dict]:
    """Shards for each split (at least one each), counts multiples of ``grain`` (default ``block``; a multiple
    of it and of the sky's group size, see :func:`grain`) but for a split's last."""
    grain = int(grain or block)
    per_split = scale_splits({k: max(v, 1) for k, v in splits.items()}, max(n_shards, len(splits)))
    plan, index = [], 0
    for split, count in splits.items():
        k = max(1, min(per_split[split], math.ceil(count / grain)))
        per = math.ceil(count / k / grain) * grain
        left = count
        while left > 0:
            c = min(per, left)
            plan.append({"index": index, "split": split, "count": c, "start": count - left})
            index += 1
            left -= c
    for s in plan:
        s["file"] = f"{s['split']}-{s['index']:05d}-of-{len(plan):05d}.tfrecord"
    return plan


def _stats_init():
    return {"count": 0, "sum": 0.0, "sumsq": 0.0, "min": math.inf, "max": -math.inf}


def _stats_add(acc, x):
    x = x.astype(np.float64)
    acc["count"] += int(x.size)
    acc["sum"] += float(x.sum())
    acc["sumsq"] += float((x * x).sum())
    acc["min"] = min(acc["min"], float(x.min()))
    acc["max"] = max(acc["max"], float(x.max()))


def _stats_final(acc):
    n = max(acc["count"], 1)
    mean = acc["sum"] / n
    return {"count": acc["count"], "mean": mean, "std": math.sqrt(max(acc["sumsq"] / n - mean * mean, 0.0)),
            "min": acc["min"], "max": acc["max"]}


def _stats_merge(accs):
    out = _stats_init()
    for q in accs:
        out = {"count": out["count"] + q["count"], "sum": out["sum"] + q["sum"], "sumsq": out["sumsq"] + q["sumsq"],
               "min": min(out["min"], q["min"]), "max": max(out["max"], q["max"])}
    return _stats_final(out)


def _write_shard(job: dict) -> dict:
    """Simulate and write one shard (runs in a worker process). Returns the part record.

    A write that fails (disk full, read-only directory, ...) raises DataError naming the shard; a
    shard already there under its name is left as it was.
    """
    try:
        return _simulate_shard(job)
    except OSError as e:
        path = Path(job["out"]) / job["file"]
        raise DataError(f"{path}: cannot write the shard ({e}); an earlier {path.name}, if any, "
                        f"is left as it was") from e


def _simulate_shard(job: dict) -> dict:
    out = Path(job["out"])
    recipe = job["recipe"]
    sky = get_sky(recipe["sky"])
    rng = np.random.default_rng([job["seed"], job["index"]])
    features = recipe["features"]
    block = recipe["block"]
    stats = {f: _stats_init() for f in features}
    ranges = sky.label_ranges(**recipe["params"])
    label_stats = [_stats_init() for _ in ranges]
    path = out / job["file"]
    chunk = chunk_images(recipe)
    records = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as writer:
            done = 0
            while done < job["count"]:
                _exit_if_orphaned(job.get("parent"))
                m = min(chunk, job["count"] - done)
                where = {"split": job["split"], "start": job["start"] + done} if getattr(sky, "READS_FILES", False) else {}
                sim = sky.simulate(rng, m, **where, **recipe["params"])  # a sky of files reads its split's rows
                for name in features + ["labels"]:
                    bad = ~np.isfinite(sim[name].reshape(m, -1)).all(axis=1)
                    if bad.any():
                        raise DataError(f"{path}: simulated {name} of image {done + int(np.argmax(bad))} "
                                        f"holds NaN or inf; check the recipe's params")
                for j, (name, (lo, hi)) in enumerate(ranges.items()):
                    out_of_range = (sim["labels"][:, j] < lo) | (sim["labels"][:, j] > hi)
                    if out_of_range.any():
                        i = int(np.argmax(out_of_range))
                        raise DataError(f"{path}: label {name} of image {done + i} is {sim['labels'][i, j]}, "
                                        f"outside the recipe's range [{lo}, {hi}]")
                for f in features:
                    _stats_add(stats[f], sim[f])
                for j, acc in enumerate(label_stats):
                    _stats_add(acc, sim["labels"][:, j])
                for start in range(0, m, block):
                    sl = slice(start, min(start + block, m))
                    arrays = {f: np.ascontiguousarray(sim[f][sl], dtype="<f4").tobytes() for f in features + ["labels"]}
                    writer.write(tfrecord(example_bytes(arrays, {"n": sl.stop - sl.start})))
                    records += 1
                done += m
                queue = job.get("queue") or _WORKER_PROGRESS
                if queue is not None:
                    queue.put(m)
    part = {"index": job["index"], "split": job["split"], "file": job["file"], "count": job["count"],
            "records": records, "bytes": path.stat().st_size, "sha256": sha256_file(path),
            "seed": job["seed"], "recipe_sha256": job["recipe_sha256"],
            "stats": {f: stats[f] for f in features}, "label_stats": label_stats}
    write_json(out / PARTS / (job["file"] + ".json"), part)
    return part


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def example_bytes(arrays: dict[str, bytes], ints: dict[str, int]) -> bytes:
    """A serialized ``tf.train.Example`` of one bytes feature per entry of ``arrays`` and one int64 feature per
    entry of ``ints``, byte for byte what ``Example.SerializeToString(deterministic=True)`` gives with the protobuf
    (upb) that TensorFlow 2.18-2.21 installs, made without TensorFlow: shard workers then start in a fraction of a second instead of
    importing it (~5 CPU-seconds each). Example = {1: Features = {1: map entry {1: name, 2: Feature}}}; a Feature
    is {1: BytesList {1: bytes}} or {3: Int64List {1: packed varints}}. The map's order is upb's: by the names'
    bytes, a name before its own prefixes ("noiseless" before "n"); kzoo's shards keep it, so datasets written
    before this writer existed repeat their bytes."""
    entries = {**{k: _field(1, _field(1, v)) for k, v in arrays.items()},
               **{k: _field(3, _field(1, _varint(int(v) & 0xFFFFFFFFFFFFFFFF))) for k, v in ints.items()}}
    if len(entries) != len(arrays) + len(ints):
        raise ValueError(f"a feature name is given twice: {sorted(set(arrays) & set(ints))}")
    body = b"".join(_field(1, _field(1, k.encode()) + _field(2, entries[k]))
                    for k in sorted(entries, key=lambda k: k.encode() + b"\xff"))  # 0xff: in no UTF-8 name
    return _field(1, body)


def _masked_crc(data: bytes) -> bytes:
    import google_crc32c

    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF).to_bytes(4, "little")


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: the length (uint64), its masked CRC-32C, the data, the data's masked CRC-32C, as
    ``tf.io.TFRecordWriter`` writes it."""
    length = len(data).to_bytes(8, "little")
    return length + _masked_crc(length) + data + _masked_crc(data)


_WORKER_PROGRESS = None  # in a worker process: the queue that reports each simulated chunk to the parent's bar


def _init_worker(parent: int, progress):
    """Worker initializer: report progress on ``progress`` (a multiprocessing queue: the parent's bar moves
    with every chunk, not only when a shard is finished), and die with the parent."""
    global _WORKER_PROGRESS
    _WORKER_PROGRESS = progress
    _die_with_parent(parent)


def _die_with_parent(parent: int):
    """A worker must not outlive its parent (a kill -9 of ``kzoo simulate``).

    Linux sends it SIGKILL when the parent dies (PR_SET_PDEATHSIG; the parent's thread that started
    the pool, which write_shards keeps until the pool is shut down). Elsewhere, and for a parent gone
    before this runs, the worker checks its parent before each chunk (_exit_if_orphaned).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    _exit_if_orphaned(parent)


def _exit_if_orphaned(parent: int | None):
    """Exit at once when ``parent`` (the writing process) is no longer this process's parent."""
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # its temporary shard is removed by the next run (remove_stale_temps)


def _npix(recipe: dict) -> int:
    """The side of an image sky's images; for a sky of vectors (photometry), the side of a square of as many
    values as its largest stored feature (what the memory and chunk bounds count)."""
    sky = get_sky(recipe["sky"])
    if "npix" in sky.DEFAULTS:
        return int(recipe["params"].get("npix", sky.DEFAULTS["npix"]))
    return math.isqrt(max(math.prod(sky.feature_shape(f, sky.validate_params(recipe["params"])))
                          for f in recipe["features"]) - 1) + 1


def _bytes_per_pixel(recipe: dict) -> int:
    return int(getattr(get_sky(recipe["sky"]), "SIM_BYTES_PER_PIXEL", SIM_BYTES_PER_PIXEL))


def group_size(recipe: dict) -> int:
    """How many images the recipe's sky draws together and keeps in one split (1 unless it says otherwise)."""
    sky = get_sky(recipe["sky"])
    return int(sky.group_size(sky.validate_params(recipe["params"]))) if hasattr(sky, "group_size") else 1


def grain(recipe: dict) -> int:
    """The least common multiple of the recipe's ``block`` (images per record) and its sky's group size: shards
    and the chunks simulated at once hold whole groups and whole records (a group of many images, such as a
    whole 21-cm realisation, may span many small records, so that the training shuffle mixes them)."""
    return math.lcm(int(recipe["block"]), group_size(recipe))


def label_names(recipe: dict) -> list[str]:
    """The recipe's label names in order (its sky's ``label_ranges``: a sky of files names its label in params)."""
    return list(get_sky(recipe["sky"]).label_ranges(**recipe["params"]))


def feature_shape(recipe: dict, feature: str) -> list[int]:
    """The shape of one stored image: (npix, npix), or what the sky's ``feature_shape`` says (multi-channel maps)."""
    sky = get_sky(recipe["sky"])
    if hasattr(sky, "feature_shape"):
        return [int(d) for d in sky.feature_shape(feature, sky.validate_params(recipe["params"]))]
    return [_npix(recipe)] * 2


def chunk_images(recipe: dict) -> int:
    """Images a shard writer simulates at once: CHUNK, fewer when they would take over CHUNK_BYTES.

    A multiple of :func:`grain` (records hold whole blocks, the sky draws whole groups), at least one grain. It
    depends on the recipe alone, never on the machine: the chunks cut the random stream, so they decide the bytes.
    """
    unit = grain(recipe)
    fit = min(CHUNK, CHUNK_BYTES // (_bytes_per_pixel(recipe) * _npix(recipe) ** 2))
    return max(unit, fit // unit * unit)


def shard_bytes(recipe: dict, count: int) -> int:
    """An upper bound on the size of a shard of ``count`` images (float32 arrays of npix x npix + labels)."""
    names = list(recipe["features"]) + ["labels", "n"]
    per_image = 4 * (sum(math.prod(feature_shape(recipe, f)) for f in recipe["features"])
                     + len(label_names(recipe)))
    records = math.ceil(count / recipe["block"])
    return count * per_image + records * (RECORD_BYTES + sum(ARRAY_BYTES + len(k) for k in names))


def _size(b: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if b < 1024 or unit == "TiB":
            return f"{b:,.0f} {unit}" if unit == "bytes" else f"{b:,.1f} {unit}"
        b /= 1024


def _cgroup_room() -> tuple[int, int] | None:
    """``(limit, usage)`` in bytes of the tightest memory cgroup this process is in (cgroup v2 ``memory.max`` /
    ``memory.current``, v1 ``memory.limit_in_bytes`` / ``memory.usage_in_bytes``, each ancestor included, as a
    SLURM job or a container sees it); None without one."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            base, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
            if (base / "unified").is_dir() and not (base / "memory.max").exists():
                base = base / "unified"
        elif "memory" in controllers.split(","):  # v1
            base, files = Path("/sys/fs/cgroup/memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        where = base / path.lstrip("/")
        while True:
            try:
                limit = (where / files[0]).read_text().strip()
                if limit != "max" and int(limit) < 1 << 60:  # v1 says "no limit" with a huge number
                    found.append((int(limit), int((where / files[1]).read_text().strip())))
            except (OSError, ValueError):
                pass
            if where == base:
                break
            where = where.parent
    return min(found, key=lambda lu: lu[0] - lu[1]) if found else None


def cache_fits(manifest: dict, split: str = "train", fraction: float = 1.0, cache="auto") -> tuple[bool, str]:
    """Whether to keep a split's records in memory (``cache`` "auto": when they take at most half of what this
    process may still use, :func:`available_memory`, cgroup limits included), and one line that says which and why.
    ``fraction``: of the split read (a learning curve's first images). True or False are kept as given."""
    need = int(sum(s["bytes"] for s in manifest["splits"][split]["shards"]) * fraction)
    if cache is not True and cache is not False and cache != "auto":
        raise ValueError(f"cache must be True, False or 'auto', got {cache!r}")
    if cache != "auto":
        return bool(cache), (f"{'caching' if cache else 'streaming'} the {split} split ({_size(need)}), as asked")
    room = available_memory()
    if room is None or need <= room // 2:
        return True, (f"caching the {split} split in memory ({_size(need)}"
                      + (f" of {_size(room)} this process may use)" if room is not None else ")"))
    cgroup = _cgroup_room()
    limit = f" (memory cgroup limit {_size(cgroup[0])})" if cgroup and cgroup[0] - cgroup[1] == room else ""
    return False, (f"streaming the {split} split from its shards every epoch: {_size(need)} would not fit comfortably "
                   f"in the {_size(room)} this process may use{limit}; the order of the batches is the same")


def available_memory() -> int | None:
    """Memory this process may still use: the machine's MemAvailable (/proc/meminfo), or less where a memory
    cgroup (a cluster job's or a container's limit) leaves less; None where neither can be read."""
    machine = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    room = _cgroup_room()
    capped = None if room is None else max(room[0] - room[1], 0)
    return min(v for v in (machine, capped) if v is not None) if machine is not None or capped is not None else None


def _check_job(recipe: dict, plan: list[dict], out: Path, workers: int, where: str):
    """Before anything is written: refuse a job whose chunk cannot fit in memory or whose shards cannot
    fit on the disk (DataError); print the estimate of a large one (bytes, hours) to stderr.

    The time comes from simulating one image, then a few, here (a probe of the recipe's own
    parameters: the simulator's cost depends on npix, the source counts, rotation and the gas
    kernel, so no fixed rate fits every recipe): the first call's set-up (cached tables, paid once
    by every worker) plus the images at the probe's rate. It counts simulation only (serialising and
    hashing 4096 64 x 64 counts maps took no measurable time beside it). Jobs of fewer than
    PROBE_PIXELS pixels are not timed.
    """
    todo = [s for s in plan if not (out / s["file"]).exists()]
    if not todo:
        return
    npix, chunk, parallel = _npix(recipe), chunk_images(recipe), min(workers, len(todo))
    memory, available = parallel * chunk * _bytes_per_pixel(recipe) * npix ** 2, available_memory()
    if available is not None and memory > available:
        each = f"in each of {parallel} workers " if parallel > 1 else ""
        raise DataError(f"{where}: simulating {chunk} images of {npix} x {npix} pixels at once "
                        f"{'(one block) ' if chunk == recipe['block'] else ''}{each}needs about {_size(memory)} of "
                        f"memory, more than the {_size(available)} available; lower params.npix or block"
                        f"{', or use fewer --workers' if parallel > 1 else ''}")
    need = sum(shard_bytes(recipe, s["count"]) + SHARD_EXTRA_BYTES for s in todo) + MANIFEST_BYTES
    base = out
    while not base.exists() and base != base.parent:  # the nearest existing folder holds the new ones
        base = base.parent
    free = shutil.disk_usage(base).free
    images = sum(s["count"] for s in todo)
    if need > free:
        raise DataError(f"{out}: {images:,} images of {npix} x {npix} need about {_size(need)}, but the file "
                        f"system of {base} has {_size(free)} free; lower --n or choose another --out")
    sky = get_sky(recipe["sky"])
    if need <= LARGE_BYTES and images * npix ** 2 <= getattr(sky, "PROBE_PIXELS", PROBE_PIXELS):
        return
    unit = group_size(recipe)
    k, t = max(unit, min(32 // unit * unit, chunk)), [time.perf_counter()]
    for m in (unit, k):
        sky.simulate(np.random.default_rng(0), m, **recipe["params"])
        t.append(time.perf_counter())
    rate = k / max(t[2] - t[1], 1e-9)
    seconds = (t[1] - t[0]) + images / rate / parallel
    if need > LARGE_BYTES or seconds > LARGE_SECONDS:
        logging.getLogger("kzoo").info(f"{out}: {images:,} images to simulate, {_size(need)}, about "
                                       f"{duration(seconds)} at {parallel} worker(s) ({rate:,.0f} images/s per "
                                       f"worker on a {k}-image probe)")


def duration(seconds: float) -> str:
    """A time estimate in words, rounded up: "about 4 minutes", "about 1.3 hours", never "0.0 hours"."""
    if seconds < 90:
        return f"{math.ceil(seconds)} second{'' if math.ceil(seconds) == 1 else 's'}"
    if seconds < 5400:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 360) / 10:,.1f} hours"


def _reusable_part(out: Path, job: dict) -> dict | None:
    """The part record of a finished shard that matches ``job`` and its file, else None."""
    part_file = out / PARTS / (job["file"] + ".json")
    path = out / job["file"]
    if not (path.exists() and part_file.exists()):
        return None
    try:
        part = json.loads(part_file.read_text())
    except ValueError:
        return None
    same = all(part.get(k) == job[k] for k in ("index", "count", "seed", "recipe_sha256"))
    if same and part.get("bytes") == path.stat().st_size and part.get("sha256") == sha256_file(path):
        return part
    return None


def write_shards(recipe, out: str | os.PathLike, n: int | None = None, seed: int | None = None,
                 shards: int | None = None, workers: int = 1, progress: bool = True,
                 shard_range: tuple[int, int] | None = None) -> dict:
    """Simulate a recipe into TFRecord shards plus ``manifest.json``; returns the manifest and what was done.

    ``n`` rescales the recipe's split sizes to ``n`` images in all; ``seed`` and ``shards`` override
    the recipe's. Finished shards that match are kept, so a rerun after a kill makes only the missing
    or corrupt ones, and a rerun of a complete dataset writes nothing. ``workers`` > 1 simulates shards
    in that many processes. The returned dict is the manifest plus ``written`` (not in manifest.json):
    ``shards`` (the files simulated now), ``of`` (the shards in all), ``reused`` (those already
    complete) and ``manifest`` (whether manifest.json was written).

    ``shard_range=(a, b)`` makes only shards a .. b-1 of the dataset (one task of a job array on a cluster):
    ``out`` then holds those shards and ``partial.json`` instead of a manifest, and ``merge_shards`` checks
    and combines the parts into one dataset, byte-identical to one made in one go.
    """
    where = "recipe" if isinstance(recipe, dict) else str(recipe)
    recipe = load_recipe(recipe)
    sky = get_sky(recipe["sky"])
    unit = group_size(recipe)
    if n is not None and unit > 1 and int(n) < unit * len(recipe["splits"]):
        raise ValueError(f"--n {n}: {recipe['sky']} draws images in groups of {unit} (kept whole in one split), so "
                         f"{len(recipe['splits'])} splits need at least {unit * len(recipe['splits'])} images")
    if hasattr(sky, "check_available"):  # an optional simulator (21cmFAST): say what to install before writing
        sky.check_available()
    if n is not None:  # in whole groups where the sky draws images in groups (maps of one parameter set)
        recipe["splits"] = {k: v * unit for k, v in scale_splits(
            {k: max(1, v // unit) for k, v in recipe["splits"].items()}, max(int(n) // unit, 1)).items()}
    bad = [f"split {k!r} of {v}" for k, v in recipe["splits"].items() if v % unit]
    if bad:
        raise ValueError(f"{where}: {', '.join(bad)} images: {recipe['sky']} draws images in groups of {unit} (one "
                         f"parameter set each, kept whole in one split); make them multiples of {unit}")
    if seed is not None:
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        recipe["seed"] = int(seed)
    if shards is not None:
        if int(shards) <= 0:
            raise ValueError(f"shards must be a positive integer, got {shards}")
        recipe["shards"] = int(shards)
    if int(workers) <= 0:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    out = Path(out)
    rsha = recipe_sha256(recipe)
    plan = plan_shards(recipe["splits"], recipe["shards"], recipe["block"], grain(recipe))
    total = len(plan)
    if shard_range is not None:
        a, b = (int(v) for v in shard_range)
        if not 0 <= a < b <= total:
            raise ValueError(f"--shard-range {a}:{b}: this recipe has {total} shards (0 .. {total - 1}); give A:B "
                             f"with 0 <= A < B <= {total}")
        if (out / "manifest.json").exists():
            raise DataError(f"{out} holds a whole dataset (manifest.json); give each shard range a folder of its own")
        plan = [s for s in plan if a <= s["index"] < b]
    _check_job(recipe, plan, out, int(workers), where)
    with dir_lock(out, "kzoo simulate"):  # one writer at a time; creates the folder
        return _write_locked(recipe, rsha, plan, out, int(workers), progress,
                             partial=None if shard_range is None else (total, [a, b]))


PARTIAL = "kzoo-shards-partial/1"


def merge_shards(out: str | os.PathLike, parts: list) -> dict:
    """One dataset in ``out`` from folders that ``write_shards(..., shard_range=...)`` made (job-array tasks).

    Every part must come from the same recipe, seed and size (its sha256), the ranges must neither overlap
    nor leave a gap, and every shard must match its recorded size and sha256; otherwise DataError names the
    folder or the shards and nothing is written. Shards are hard-linked where the file system allows, else
    copied (each to a temporary name, then renamed); ``manifest.json`` is written last. Returns the manifest.
    """
    out, found = Path(out), []
    for d in map(Path, parts):
        try:
            info = read_json(d / "partial.json", default=None)
        except ValueError as e:
            raise DataError(f"{d / 'partial.json'}: not a partial.json of kzoo simulate ({e})") from None
        if not isinstance(info, dict) or info.get("format") != PARTIAL:
            raise DataError(f"{d}: no partial.json of kzoo simulate --shard-range (a folder of part of a dataset)")
        problems = _partial_problems(d, info)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise DataError(f"{d / 'partial.json'}: {'; '.join(problems[:3])}{more}; make that part again")
        found.append((d, info))
    d0, first = found[0]
    for d, info in found[1:]:
        if info["recipe_sha256"] != first["recipe_sha256"] or info["shards_total"] != first["shards_total"]:
            raise DataError(f"{d}: made from another recipe, seed or size than {d0} (recipe sha256 "
                            f"{info['recipe_sha256'][:12]}... vs {first['recipe_sha256'][:12]}...); merge parts "
                            f"of one dataset only")
    owner = {}
    for d, info in found:
        for part in info["parts"]:
            if part["index"] in owner:
                raise DataError(f"shard {part['index']} ({part['file']}) is in both {owner[part['index']]} and {d}: "
                                f"the shard ranges overlap")
            owner[part["index"]] = d
    totals = {}
    for d, info in found:
        for part in info["parts"]:
            totals[part["split"]] = totals.get(part["split"], 0) + part["count"]
    if totals != dict(first["recipe"]["splits"]) and set(owner) >= set(range(first["shards_total"])):
        raise DataError(f"the parts' shards hold {totals} images per split, their recipe {first['recipe']['splits']}: "
                        f"a shard was moved or its count edited; make the parts again")
    missing = sorted(set(range(first["shards_total"])) - set(owner))
    if missing:
        raise DataError(f"shards {_ranges(missing)} of {first['shards_total']} are in none of the parts: run "
                        f"kzoo simulate --shard-range for them, then merge again")
    parts_by_index = {}
    for d, info in found:
        for part in info["parts"]:
            path = d / part["file"]
            if not path.exists() or path.stat().st_size != part["bytes"] or sha256_file(path) != part["sha256"]:
                raise DataError(f"{path}: missing, or its size or sha256 differs from {d / 'partial.json'}; "
                                f"make that part again")
            held = count_records(path) if "records" in part else None  # records of blocks of images
            if held is not None and held != part["records"]:
                raise DataError(f"{path}: holds {held} records, {d / 'partial.json'} says "
                                f"{part['records']}; make that part again")
            parts_by_index[part["index"]] = (path, part)
    if (out / "manifest.json").exists():
        raise DataError(f"{out} already holds a dataset (manifest.json); merge into a new folder")
    with dir_lock(out, "kzoo data merge"):
        for index in sorted(parts_by_index):
            src, part = parts_by_index[index]
            with atomic_path(out / part["file"]) as tmp:
                try:
                    os.link(src, tmp)
                except OSError:
                    shutil.copyfile(src, tmp)
            write_json(out / PARTS / (part["file"] + ".json"), part)
        manifest = _manifest(first["recipe"], first["recipe_sha256"], [parts_by_index[i][1] for i in sorted(parts_by_index)])
        write_json(out / "manifest.json", manifest)
    return manifest


PART_FIELDS = {"index": int, "file": str, "split": str, "count": int, "bytes": int, "sha256": str}


def _partial_problems(d: Path, info: dict) -> list[str]:
    """What is wrong with a part's ``partial.json``, checked like a manifest: its fields and types, its recipe
    against the recipe's sha256 it records (an edited recipe), every shard's name as its split and index make it
    (nothing named outside the folder). The splits' totals and the shards' own record counts are checked when
    every part is in (merge_shards)."""
    problems = [f"{key!r} must be a {kind.__name__}" for key, kind in
                {"recipe": dict, "recipe_sha256": str, "shards_total": int, "parts": list}.items()
                if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool)]
    if problems:
        return problems
    if recipe_sha256(info["recipe"]) != info["recipe_sha256"]:
        return ["its recipe differs from the recipe sha256 it records (edited after simulating)"]
    splits = info["recipe"].get("splits")
    for i, part in enumerate(info["parts"]):
        bad = [k for k, kind in PART_FIELDS.items() if not isinstance(part, dict) or not isinstance(part.get(k), kind)
               or isinstance(part.get(k), bool)]
        if bad:
            problems.append(f"parts[{i}] lacks {', '.join(bad)} (or has the wrong types)")
            continue
        name = f"{part['split']}-{part['index']:05d}-of-{info['shards_total']:05d}.tfrecord"
        if part["file"] != name or not isinstance(splits, dict) or part["split"] not in splits \
                or not 0 <= part["index"] < info["shards_total"] or part["count"] <= 0:
            problems.append(f"parts[{i}] {excerpt({k: part[k] for k in ('index', 'file', 'split', 'count')}, 120)} is "
                            f"not a shard of its recipe (shard {part['index']} of split {excerpt(part['split'])} is "
                            f"named {excerpt(name)})")
    return problems


def count_records(path) -> int:
    """The TFRecord records in a shard, from their length headers (no record is read)."""
    n, size = 0, os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            head = f.read(8)
            if len(head) < 8:
                break
            length = int.from_bytes(head, "little")
            pos += 16 + length
            f.seek(pos)
            n += 1
    return n


def _ranges(indices: list[int]) -> str:
    """``"2, 5-7"`` for [2, 5, 6, 7]."""
    out, start = [], None
    for i, v in enumerate(indices):
        if start is None:
            start = v
        if i + 1 == len(indices) or indices[i + 1] != v + 1:
            out.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def _write_locked(recipe, rsha, plan, out: Path, workers: int, progress: bool, partial=None) -> dict:
    jobs = [{**s, "out": str(out), "recipe": recipe, "seed": recipe["seed"], "recipe_sha256": rsha} for s in plan]
    for s in plan:  # what killed runs left half-written (their process ids are gone)
        remove_stale_temps(out / s["file"])
        remove_stale_temps(out / PARTS / (s["file"] + ".json"))
    remove_stale_temps(out / "manifest.json")

    parts, todo = {}, []
    for job in jobs:
        part = _reusable_part(out, job)
        if part is not None:
            parts[job["index"]] = part
        else:
            todo.append(job)

    # the bar counts the images simulated now (a shard already complete is not work done here): none, no bar
    bar = _progress(sum(j["count"] for j in todo), progress and bool(todo))
    if workers == 1 or len(todo) <= 1:
        for job in todo:
            parts[job["index"]] = _write_shard({**job, "queue": _BarQueue(bar)})
    else:
        ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        progress = ctx.Queue()
        drain = threading.Thread(target=_drain_progress, args=(progress, bar), daemon=True)
        drain.start()
        try:
            with cf.ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_init_worker,
                                        initargs=(os.getpid(), progress)) as pool:
                with _main_module_hidden():  # the workers start here, one per submit
                    futures = [pool.submit(_write_shard, {**job, "parent": os.getpid()}) for job in todo]
                for fut in cf.as_completed(futures):
                    part = fut.result()
                    parts[part["index"]] = part
        finally:
            progress.put(None)
            drain.join(timeout=10)
    bar.close()

    if partial is not None:  # part of a dataset: its parts, for merge_shards
        total, span = partial
        info = {"format": PARTIAL, "recipe": recipe, "recipe_sha256": rsha, "shards_total": total, "range": span,
                "parts": [parts[j["index"]] for j in jobs]}
        write_json(out / "partial.json", info)
        return {**info, "written": {"shards": [j["file"] for j in todo], "of": len(jobs),
                                    "reused": len(jobs) - len(todo), "manifest": False}}
    manifest = _manifest(recipe, rsha, [parts[j["index"]] for j in jobs])
    try:
        rewrite = read_json(out / "manifest.json") != json.loads(json.dumps(manifest))
    except ValueError:  # not JSON: written again
        rewrite = True
    if rewrite:  # a rerun that found everything in place writes nothing
        write_json(out / "manifest.json", manifest)
    remember_verified(out, manifest)  # every shard was hashed here: the first run need not hash them again
    return {**manifest, "written": {"shards": [j["file"] for j in todo], "of": len(jobs),
                                    "reused": len(jobs) - len(todo), "manifest": rewrite}}


@contextlib.contextmanager
def _main_module_hidden():
    """Start spawned workers without the parent's ``__main__``.

    A spawned process imports the parent's main module again; in a plain script (no ``if __name__ ==
    "__main__":`` guard) that runs the script's ``write_shards(..., workers=2)`` once more inside each
    worker, which fails ("safe importing of main module", BrokenProcessPool). kzoo's workers need nothing
    from ``__main__``, so while they start it is replaced by an empty module of the same name.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _drain_progress(queue, bar):
    """In the parent: move the bar by what the workers report, until None."""
    while (k := queue.get()) is not None:
        bar.update(k)


class _BarQueue:
    def __init__(self, bar):
        self.bar = bar

    def put(self, k):
        self.bar.update(k)


def _progress(total, enabled):
    from kzoo.progress import bar

    return bar(total=total, unit="img", desc="simulate", disable=not enabled)


def _manifest(recipe, rsha, parts) -> dict:
    sky = get_sky(recipe["sky"])
    schema = {f: {"dtype": "float32", "shape": feature_shape(recipe, f)} for f in recipe["features"]}
    names = label_names(recipe)
    schema["labels"] = {"dtype": "float32", "shape": [len(names)], "names": names}
    splits = {}
    for p in parts:
        s = splits.setdefault(p["split"], {"count": 0, "shards": []})
        s["count"] += p["count"]
        s["shards"].append({k: p[k] for k in ("index", "file", "count", "records", "bytes", "sha256")})
    train = [p for p in parts if p["split"] == "train"] or parts
    stats = {f: _stats_merge(p["stats"][f] for p in train) for f in recipe["features"]}
    label_stats = {name: _stats_merge(p["label_stats"][j] for p in train) for j, name in enumerate(names)}
    from kzoo.version import __version__

    return {
        "format": FORMAT,
        "kzoo_version": __version__,
        "sky": recipe["sky"],
        "seed": recipe["seed"],
        "block": recipe["block"],
        "recipe": recipe,
        "recipe_sha256": rsha,
        "params": sky.validate_params(recipe["params"]),  # every simulator parameter, defaults filled in
        "schema": schema,
        "label_ranges": {k: list(v) for k, v in sky.label_ranges(**recipe["params"]).items()},
        "splits": splits,
        "stats": {"split": "train", "features": stats, "labels": label_stats},
    }


# What load_manifest checks before anything reads a manifest's fields. A type: the value's JSON type
# (float takes an integer too); a dict: an object with these keys, "*" the schema of every other key;
# [s]: an array whose items follow s; a tuple: an array of exactly those items.
MANIFEST_SCHEMA = {
    "format": str, "sky": str, "seed": int, "block": int, "recipe": {"params": dict}, "recipe_sha256": str,
    "schema": {"labels": {"shape": [int], "names": [str]}, "*": {"shape": [int]}},
    "label_ranges": {"*": (float, float)},
    "splits": {"*": {"count": int, "shards": [{"index": int, "file": str, "count": int, "records": int,
                                               "bytes": int, "sha256": str}]}},
    "stats": {"features": {"*": {"mean": float, "std": float}}, "labels": dict},
}
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number",
               bool: "true or false", type(None): "null"}


def _schema_problems(value, schema, where: str = "") -> list[str]:
    """Where ``value`` departs from ``schema`` (see MANIFEST_SCHEMA), as "'a.b[0].c' ..." phrases."""
    field = f"'{where}'" if where else "the manifest"
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{field} must be an object, got {_JSON_TYPES.get(type(value), type(value).__name__)}"]
        out = []
        for key, sub in schema.items():
            name = f"{where}.{key}" if where else key
            if key == "*":
                continue
            out += _schema_problems(value[key], sub, name) if key in value else [f"'{name}' is missing"]
        for key in [k for k in value if k not in schema] if "*" in schema else ():
            out += _schema_problems(value[key], schema["*"], f"{where}.{key}" if where else key)
        return out
    if isinstance(schema, (list, tuple)):
        if not isinstance(value, list) or (isinstance(schema, tuple) and len(value) != len(schema)):
            need = f"an array of {len(schema)}" if isinstance(schema, tuple) else "an array"
            return [f"{field} must be {need}, got {excerpt(value)}"]
        items = schema if isinstance(schema, tuple) else schema * len(value)
        return [p for i, (v, s) in enumerate(zip(value, items)) for p in _schema_problems(v, s, f"{where}[{i}]")]
    ok = isinstance(value, (int, float) if schema is float else schema) and (schema is bool or not isinstance(value, bool))
    return [] if ok else [f"{field} must be {_JSON_TYPES[schema]}, got {excerpt(value)}"]


def _shard_file_problems(manifest: dict) -> list[str]:
    """Shard names that are not plain file names inside the dataset folder (absolute, with a separator or '..')."""
    out, seen = [], {}
    for split, s in manifest["splits"].items():
        for i, shard in enumerate(s["shards"]):
            f = shard["file"]
            if not plain_file_name(f):
                out.append(f"'splits.{split}.shards[{i}].file' {excerpt(f)} must be a file name inside the dataset "
                           f"folder (no '/', '\\' or '..')")
            elif f in seen:
                out.append(f"'splits.{split}.shards[{i}].file' {excerpt(f)} is listed twice (also {seen[f]}); a "
                           f"shard belongs to one split, once")
            else:
                seen[f] = f"'splits.{split}.shards[{i}]'"
    return out


MAX_MANIFEST_BYTES = 256 << 20  # ~250 bytes a shard entry: a million shards


VERIFIED = "verified.json"  # DATA/.kzoo-parts/verified.json: each shard's stamp when its sha256 last matched


def _stamp(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def remember_verified(data_dir: Path, manifest: dict) -> None:
    """Record each shard of ``manifest`` as verified at its present stamp (``DIR/.kzoo-parts/verified.json``), when
    this process has just computed or checked every shard's sha256 (``write_shards``): the
    first ``kzoo train`` on a new dataset then hashes nothing. Written only when it changes; a folder that cannot
    be written is checked in full at each start instead."""
    stamps = {sh["file"]: [*_stamp(Path(data_dir) / sh["file"]), sh["sha256"]]
              for s in manifest["splits"].values() for sh in s["shards"]}
    path = Path(data_dir) / PARTS / VERIFIED
    try:
        if read_json(path, default=None) != stamps:
            write_json(path, stamps)
    except (OSError, ValueError):
        pass


def load_manifest(data_dir: str | os.PathLike, verify: bool | str = True) -> dict:
    """Read ``DIR/manifest.json``; with ``verify``, check every shard's size and sha256 against it.

    ``verify=True`` hashes a shard only when it is new to this check or its stamp (size, modification time, inode,
    device) changed since its sha256 last matched (``DIR/.kzoo-parts/verified.json``, written when a check passes
    and the folder is writable), so that starting a run does not grow with the dataset; ``verify="full"`` (``kzoo
    verify``) hashes every shard. A swapped or replaced shard has another inode or time, so it is hashed; a bit
    flipped in place with the time set back keeps its stamp, and the TFRecord CRC of its record stops the reading
    (``tf.data``: DataLossError) instead. Raises DataError naming the file and what is wrong, before any training
    starts.
    """
    data_dir = Path(data_dir)
    mpath = data_dir / "manifest.json"
    if not mpath.exists():
        raise DataError(f"{mpath}: no manifest; make the dataset with `kzoo simulate <sky> --out {data_dir}`")
    size = mpath.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise DataError(f"{mpath}: {size:,} bytes; a manifest is at most {MAX_MANIFEST_BYTES:,} (a million shards' "
                        f"worth); remake the dataset with `kzoo simulate`")
    try:
        manifest = json.loads(mpath.read_text())
    except ValueError as e:
        raise DataError(f"{mpath}: not valid JSON ({e})") from None
    except RecursionError:
        raise DataError(f"{mpath}: not a manifest: its JSON is nested too deeply to read") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        what = (f"format {excerpt(manifest.get('format'))}" if isinstance(manifest, dict)
                else f"{_JSON_TYPES.get(type(manifest), type(manifest).__name__)} instead of an object")
        raise DataError(f"{mpath}: not a {FORMAT} manifest ({what}); remake the dataset with `kzoo simulate`")
    problems = _schema_problems(manifest, MANIFEST_SCHEMA)
    if not problems:
        problems = _shard_file_problems(manifest) + ([] if manifest["block"] > 0 else ["'block' must be positive"])
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DataError(f"{mpath}: not a valid {FORMAT} manifest: {'; '.join(problems[:3])}{more}")
    if verify:
        stamps_file = data_dir / PARTS / VERIFIED
        try:
            known = {} if verify == "full" else (read_json(stamps_file, default={}) or {})
        except ValueError:  # a damaged record of stamps: hash everything
            known = {}
        stamps, hashed = {}, 0
        for split, s in manifest["splits"].items():
            for shard in s["shards"]:
                path = data_dir / shard["file"]
                if not path.exists():
                    raise DataError(f"{path}: shard listed in {mpath} is missing; rerun `kzoo simulate` to remake it")
                stamp = _stamp(path)  # [size, mtime, inode, device]
                if stamp[0] != shard["bytes"]:
                    raise DataError(f"{path}: {stamp[0]} bytes, the manifest says {shard['bytes']} (truncated or "
                                    f"replaced); rerun `kzoo simulate` with the same arguments to remake it")
                if known.get(shard["file"]) != [*stamp, shard["sha256"]]:
                    hashed += 1
                    if sha256_file(path) != shard["sha256"]:
                        raise DataError(f"{path}: sha256 differs from the manifest (corrupt shard); rerun "
                                        f"`kzoo simulate` with the same arguments to remake it")
                stamps[shard["file"]] = [*stamp, shard["sha256"]]
            if sum(x["count"] for x in s["shards"]) != s["count"]:
                raise DataError(f"{mpath}: split {split!r} count {s['count']} != the sum of its shards' counts")
        if hashed:
            try:
                write_json(stamps_file, stamps)
            except OSError:  # a read-only dataset is checked in full each time
                pass
    return manifest
