"""Images per second of three tf.data input pipelines over the same 64x64 float32 images.

(a) in_memory: the numpy arrays through ``from_tensor_slices -> batch -> prefetch``;
(b) kzoo:      ``kzoo.data.dataset(..., shuffle=True, cache=False)`` streamed from kzoo's TFRecord
               shards (records of ``block`` images, batch-then-parse);
(c) naive:     one ``tf.train.Example`` per image (a FloatList of 4096 floats), read with
               ``TFRecordDataset -> map(parse_single_example) -> batch -> prefetch``.
(b') the same as (b) with a shuffle buffer of ``--small-shuffle`` images (default 1,024) instead of 8,192:
               what the shuffle buffer costs.
(d) read only: kzoo's records read (``TFRecordDataset``, the same interleave width as (b)) and batched,
               neither parsed nor decoded: the ceiling of any pipeline over these files. Where (b)
               spends its time is the steps between (d) and (b): parse, decode, shuffle.
(e) read only, GZIP: (d) over the same shards gzip-compressed (level 6, as ``TFRecordOptions("GZIP")``
               writes them), with their size beside the raw shards': what compression would cost.
(f) no TensorFlow: ``kzoo.data.reader.ShardReader``, the numpy reader of the same shards in (b)'s order (the
               same batches, checked by tests/test_reader.py), with ``--reader-workers`` threads: what a machine
               with JAX or PyTorch and no TensorFlow gets, and what ``kzoo train`` reads with by default for an
               experiment without augmentation or input noise.

Beside them, the rate of a plain memory copy of the same images (``numpy.copyto``, one core): the
physical ceiling of anything that moves 16 KiB per image.

The shards are made with ``kzoo.data.write_shards`` (galactic_center, counts only); (a) and (c) use
the arrays read back from them, so all three see the same images (checked: image count and sum).
Each pipeline makes one warm-up pass, then ``--epochs`` timed passes; the median pass is reported.

    python benchmarks/pipeline.py                 # n=50000, batch 256, blocks 16 and 64, 3 timed passes
    python benchmarks/pipeline.py --blocks 1,8,16,64
    python benchmarks/pipeline.py --quick         # smoke test, a few seconds
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, machine_line, md_table, write_outputs  # noqa: E402

TARGET_IMAGES_PER_S = 100_000  # (b) on 2 cores
TARGET_RATIO = 0.75  # (b) / (a)
SHARDS = 8


def time_passes(ds, epochs: int) -> dict:
    """One warm-up pass (counts images, sums pixels), then ``epochs`` timed passes."""
    n, total = 0, 0.0
    for x, _ in ds:
        n += int(x.shape[0])
        total += float(np.sum(np.asarray(x), dtype=np.float64))
    wall, cpu = [], []
    for _ in range(epochs):
        seen = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for x, _ in ds:
            seen += int(x.shape[0])
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if seen != n:
            raise RuntimeError(f"a pass gave {seen} images, the warm-up pass {n}")
    med = statistics.median(wall)
    return {"images": n, "pixel_sum": total, "seconds": wall, "cpu_seconds": cpu,
            "images_per_s": n / med, "best_images_per_s": n / min(wall)}


def time_records(files, block: int, batch_size: int, epochs: int, reads: int, compression: str = "") -> dict:
    """(d): records read and batched only (images counted from the record count), median of ``epochs`` passes
    after a warm-up pass; (e) the same over compressed files (``compression`` "GZIP")."""
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(files, compression_type=compression,
                                 num_parallel_reads=reads if reads > 1 else None)
    ds = ds.batch(max(1, batch_size // block)).prefetch(tf.data.AUTOTUNE)
    records = sum(int(r.shape[0]) for r in ds)
    wall = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for _r in ds:
            pass
        wall.append(time.perf_counter() - t0)
    return {"records": records, "seconds": wall, "images_per_s": records * block / statistics.median(wall)}


def gzip_copies(files, out: Path) -> list[str]:
    """The shards gzip-compressed (level 6), as TensorFlow's GZIP TFRecord reader takes them."""
    import gzip

    out.mkdir(exist_ok=True)
    copies = []
    for f in files:
        copies.append(str(out / (Path(f).name + ".gz")))
        Path(copies[-1]).write_bytes(gzip.compress(Path(f).read_bytes(), compresslevel=6, mtime=0))
    return copies


def memcpy_rate(x, repeats: int = 5) -> float:
    """Images per second of ``numpy.copyto`` of the whole array (best of ``repeats``)."""
    out = np.empty_like(x)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(out, x)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def in_memory(x, y, batch_size):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def write_naive(x, y, out: Path) -> list[str]:
    """One Example per image, ``image`` a FloatList of H*W floats, spread over SHARDS files."""
    import tensorflow as tf

    files = []
    for i, idx in enumerate(np.array_split(np.arange(len(x)), SHARDS)):
        path = out / f"naive-{i:05d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as w:
            for j in idx:
                feat = {"image": tf.train.Feature(float_list=tf.train.FloatList(value=x[j].ravel().tolist())),
                        "label": tf.train.Feature(float_list=tf.train.FloatList(value=y[j].tolist()))}
                w.write(tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString())
        files.append(str(path))
    return files


def naive(files, shape, n_labels, batch_size):
    import tensorflow as tf

    spec = {"image": tf.io.FixedLenFeature([int(np.prod(shape))], tf.float32),
            "label": tf.io.FixedLenFeature([n_labels], tf.float32)}

    def parse(s):
        ex = tf.io.parse_single_example(s, spec)
        return tf.reshape(ex["image"], shape), ex["label"]

    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_block(block: int, args, workdir: Path) -> dict:
    from kzoo.data import dataset, load_arrays, write_shards

    data = workdir / f"block-{block}"
    recipe = {"sky": "galactic_center", "splits": {"train": args.n}, "shards": SHARDS, "block": block,
              "features": ["counts"]}
    t0 = time.perf_counter()
    write_shards(recipe, data, workers=args.workers, progress=False)
    t_sim = time.perf_counter() - t0
    x, y = load_arrays(data, "train", inputs="counts", targets=("A_dm",))
    naive_dir = workdir / f"naive-{block}"
    naive_dir.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    files = write_naive(x, y, naive_dir)
    t_naive = time.perf_counter() - t0
    print(f"block {block}: simulated {args.n} images in {t_sim:.1f} s, wrote naive records in {t_naive:.1f} s",
          flush=True)

    res = {"block": block}
    res["in_memory"] = time_passes(in_memory(x, y, args.batch_size), args.epochs)
    kz = dataset(data, "train", inputs="counts", targets=("A_dm",), batch_size=args.batch_size, shuffle=True,
                 cache=False)
    res["kzoo"] = time_passes(kz, args.epochs)
    # the shuffle buffer's cost: the same pipeline with a buffer of --small-shuffle images (a buffer of records
    # that fits in the CPU's caches; the default 8,192 images of 64 x 64 float32 are 128 MiB)
    res["kzoo_small_shuffle"] = time_passes(dataset(data, "train", inputs="counts", targets=("A_dm",),
                                                    batch_size=args.batch_size, shuffle=True,
                                                    shuffle_images=args.small_shuffle), args.epochs)
    from kzoo.data.reader import ShardReader

    res["no_tensorflow"] = time_passes(ShardReader(data, "train", inputs="counts", targets=("A_dm",),
                                                   batch_size=args.batch_size, shuffle=True,
                                                   workers=args.reader_workers), args.epochs)
    res["naive"] = time_passes(naive(files, x.shape[1:], y.shape[1], args.batch_size), args.epochs)
    shard_files = sorted(str(f) for f in data.glob("train-*.tfrecord"))
    res["read_only"] = time_records(shard_files, block, args.batch_size, args.epochs, min(len(shard_files), 8))
    gz_files = gzip_copies(shard_files, workdir / f"gzip-{block}")
    res["read_only_gzip"] = time_records(gz_files, block, args.batch_size, args.epochs, min(len(gz_files), 8), "GZIP")
    if res["read_only_gzip"]["records"] != res["read_only"]["records"]:
        raise RuntimeError(f"block {block}: the GZIP shards gave {res['read_only_gzip']['records']} records, "
                           f"the raw ones {res['read_only']['records']}")
    res["gzip_size_ratio"] = sum(os.path.getsize(f) for f in gz_files) / sum(os.path.getsize(f) for f in shard_files)
    shutil.rmtree(workdir / f"gzip-{block}", ignore_errors=True)
    res["memcpy_images_per_s"] = memcpy_rate(x)
    del x, y, kz
    shutil.rmtree(naive_dir, ignore_errors=True)

    ref = res["in_memory"]
    for k in ("kzoo", "kzoo_small_shuffle", "naive", "no_tensorflow"):  # the same images: same count, same (order-independent) pixel sum
        if (res[k]["images"], res[k]["pixel_sum"]) != (ref["images"], ref["pixel_sum"]):
            raise RuntimeError(f"block {block}: {k} read {res[k]['images']} images (sum {res[k]['pixel_sum']}), "
                               f"in_memory {ref['images']} (sum {ref['pixel_sum']})")
    ips = {k: res[k]["images_per_s"] for k in ("in_memory", "kzoo", "kzoo_small_shuffle", "naive", "read_only",
                                                 "read_only_gzip", "no_tensorflow")}
    res["images_per_s"] = ips
    res["ratio_kzoo_over_in_memory"] = ips["kzoo"] / ips["in_memory"]
    res["ratio_kzoo_over_read_only"] = ips["kzoo"] / ips["read_only"]
    res["ratio_kzoo_over_memcpy"] = ips["kzoo"] / res["memcpy_images_per_s"]
    res["target_images_per_s_met"] = ips["kzoo"] >= TARGET_IMAGES_PER_S
    res["reader_target_images_per_s_met"] = ips["no_tensorflow"] >= TARGET_IMAGES_PER_S
    res["target_ratio_met"] = res["ratio_kzoo_over_in_memory"] >= TARGET_RATIO
    res["simulate_seconds"] = t_sim
    print(f"block {block}: " + ", ".join(f"{k} {v:,.0f} img/s" for k, v in ips.items()), flush=True)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="images (default 50000)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3, help="timed passes after one warm-up pass (median reported)")
    ap.add_argument("--block", type=int, default=16, help="images per kzoo record (default 16)")
    ap.add_argument("--blocks", default="16,64",
                    help="comma-separated block sizes to sweep (default 16,64: kzoo's default record and a larger one); "
                         "the summary row is --block's")
    ap.add_argument("--workers", type=int, default=2, help="processes for write_shards (default 2)")
    ap.add_argument("--small-shuffle", type=int, default=1024,
                    help="(b'): kzoo with a shuffle buffer of this many images, to show the default buffer's cost "
                         "(default 1024; kzoo's default is 8192)")
    ap.add_argument("--reader-workers", type=int, default=2,
                    help="(f): threads of the TensorFlow-free reader (default 2)")
    ap.add_argument("--workdir", help="where to write the data (default: a temporary directory, removed at the end)")
    ap.add_argument("--out-json", default=str(RESULTS / "pipeline.json"))
    ap.add_argument("--out-md", default=str(RESULTS / "pipeline.md"))
    ap.add_argument("--quick", action="store_true", help="smoke test: n=2000, epochs=1, workers=1")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.workers = 2000, 1, 1  # 1 worker: no process start-up
    blocks = [int(b) for b in args.blocks.split(",")] if args.blocks else [args.block]
    if args.quick:
        blocks = [args.block]
    if args.n <= 0 or args.batch_size <= 0 or args.epochs <= 0 or min(blocks) <= 0:
        ap.error("--n, --batch-size, --epochs and block sizes must be positive")

    machine = machine_info()
    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tmp := tempfile.mkdtemp(prefix="kzoo-bench-pipeline-"))
    try:
        rows = [run_block(b, args, workdir) for b in blocks]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    main_row = next((r for r in rows if r["block"] == args.block), rows[0])
    result = {
        "benchmark": "pipeline", "machine": machine, "n": args.n, "batch_size": args.batch_size,
        "epochs": args.epochs, "small_shuffle": args.small_shuffle, "reader_workers": args.reader_workers, "quick": args.quick, "image_shape": [64, 64, 1], "dtype": "float32",
        "block": main_row["block"], "images_per_s": main_row["images_per_s"],
        "ratio_kzoo_over_in_memory": main_row["ratio_kzoo_over_in_memory"],
        "targets": {"kzoo_images_per_s": TARGET_IMAGES_PER_S, "kzoo_over_in_memory": TARGET_RATIO,
                    "images_per_s_met": main_row["target_images_per_s_met"],
                    "reader_images_per_s_met": main_row["reader_target_images_per_s_met"],
                    "ratio_met": main_row["target_ratio_met"]},
        "rows": rows,
    }
    table = md_table(
        ["block", "(a) in-memory img/s", "(b) kzoo img/s", f"(b') kzoo, shuffle {args.small_shuffle:,} img/s",
         "(c) naive img/s", "(d) read only img/s", "(e) read only, GZIP img/s",
         f"(f) no TensorFlow, {args.reader_workers} threads img/s", "memcpy img/s",
         "GZIP size / raw", "(b)/(a)", "(b)/(d)", "(b)/memcpy", f"(b) >= {TARGET_IMAGES_PER_S:,}", f"(b)/(a) >= {TARGET_RATIO}",
         f"(f) >= {TARGET_IMAGES_PER_S:,}"],
        [[r["block"], *r["images_per_s"].values(), r["memcpy_images_per_s"], r["gzip_size_ratio"],
          r["ratio_kzoo_over_in_memory"],
          r["ratio_kzoo_over_read_only"], r["ratio_kzoo_over_memcpy"], r["target_images_per_s_met"],
          r["target_ratio_met"], r["reader_target_images_per_s_met"]] for r in rows])
    md = (f"# Input pipeline throughput\n\n{args.n:,} images of 64x64 float32, batch {args.batch_size}, "
          f"median of {args.epochs} pass(es) after a warm-up pass{' (--quick)' if args.quick else ''}.\n"
          f"Machine: {machine_line(machine)}.\n\n{table}")
    write_outputs(args.out_json, args.out_md, result, md)


if __name__ == "__main__":
    main()
