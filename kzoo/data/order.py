"""The order in which kzoo's TensorFlow-free reader (:mod:`kzoo.data.reader`) reads a split's records in one pass:
tf.data's order, computed with numpy only.

A split's records are numbered in shard order (shard 0's records, then shard 1's, ...). A pass's *stream* is the
order tf.data reads them in (:func:`stream`): the shards read ``READERS`` at a time, one record of each in turn, or,
for a ``limit`` or a ``fold``, the chosen records in shard order. An unshuffled pass is the stream. A shuffled pass
is the stream through tf.data's shuffle buffer (:func:`buffer_shuffle`) with the seed pair kzoo's pipeline gives pass
``e`` (:func:`pass_order`), its random numbers from TensorFlow's Philox generator (:func:`philox`) reproduced in
numpy. So both readers give the same batches of every pass of a run (``epochs`` or ``repeat``; tests/test_reader.py checks
it against TensorFlow; their augmentation and noise are other draws), pass
``e`` is the same whether a stream starts at pass 0 or at ``e``, and a run may be resumed with either reader.
Written by hand because no library reproduces tf.data's order without TensorFlow.
"""

from __future__ import annotations

import numpy as np

from kzoo.data.records import fold_records, record_sizes, records_for_limit


def selected_records(info: dict, block: int, limit: int | None = None, fold=None, where: str = "") -> np.ndarray:
    """The indices (shard order) of a split's records that a pass reads: all, the first ones holding ``limit``
    images, or those of (``held_out``) or outside a fold ``(i, k, held_out)``."""
    n = len(record_sizes(info, block))
    if limit is not None and fold is not None:
        raise ValueError("give limit or fold, not both")
    if limit is not None:
        return np.arange(records_for_limit(info, block, int(limit), where)[0])
    if fold is not None:
        return np.flatnonzero(fold_records(info, block, *fold))
    return np.arange(n)


_M31 = (1 << 31) - 1  # TensorFlow truncates op seeds to [0, 2^31 - 1)
_M32 = np.uint64(0xFFFFFFFF)


def philox(key: int, counter_hi: int, n: int) -> np.ndarray:
    """The first ``n`` 32-bit numbers of TensorFlow's ``random::PhiloxRandom(key, counter_hi)`` (Philox4x32-10) read
    one at a time (``SingleSampleAdapter``), as tf.data's shuffle draws them."""
    blocks = -(-int(n) // 4)
    i = np.arange(blocks, dtype=np.uint64)
    c = [i & _M32, i >> np.uint64(32), np.full(blocks, counter_hi & 0xFFFFFFFF, np.uint64),
         np.full(blocks, (counter_hi >> 32) & 0xFFFFFFFF, np.uint64)]
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64((key >> 32) & 0xFFFFFFFF)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _M32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _M32]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & _M32, (k1 + np.uint64(0xBB67AE85)) & _M32
    return np.stack(c, axis=1).reshape(-1)[:n]


def buffer_shuffle(n: int, buffer: int, seeds: tuple[int, int]) -> np.ndarray:
    """The order in which ``Dataset.range(n).shuffle(buffer)`` yields its elements when its seed pair is ``seeds``:
    the buffer filled, then each element taken from a position drawn uniformly, its place filled by the buffer's
    oldest, which the next element read replaces (tensorflow/core/kernels/data/shuffle_dataset_op.cc)."""
    draws = philox(seeds[0], seeds[1], n).astype(np.int64).tolist()
    buf, out, start, end = [0] * buffer, [], 0, 0
    for k in range(n):
        while end - start < buffer and end < n:
            buf[end % buffer] = end
            end += 1
        i = (start + draws[k] % (end - start)) % buffer
        out.append(buf[i])
        buf[i] = buf[start % buffer]
        start += 1
    return np.array(out, np.int64)


PASS_STRIDE = 1_000_003  # pass e of a run of seed s is shuffled and augmented with the seed s * PASS_STRIDE + e


def pass_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of pass ``epoch``: ``seed * PASS_STRIDE + epoch`` as TensorFlow computes it (int64)."""
    v = (int(seed) * PASS_STRIDE + int(epoch)) & ((1 << 64) - 1)
    return v - (1 << 64) if v >= 1 << 63 else v


def pass_order(n: int, seed: int, epoch: int, window: int, shuffle: bool) -> np.ndarray:
    """The positions in the stream (0 .. n-1) in the order pass ``epoch`` reads them: tf.data's shuffle of the
    stream through a buffer of ``window`` records, seeded (1, pass_seed(seed, epoch) mod 2^31 - 1) as kzoo's
    pipeline seeds the passes of a run (``epochs`` or ``repeat``). A lone shuffled tf.data pass (neither) is seeded by
    TensorFlow's global seed and reshuffled when iterated again; the reader gives pass 0 of a run instead."""
    if not shuffle or not n:
        return np.arange(n)
    return buffer_shuffle(n, max(1, min(int(window), int(n))), (1, pass_seed(seed, epoch) % _M31))


READERS = 8  # shards read at once (tf.data's parallel interleave): one slow file does not stall the stream


def interleave_order(records_per_shard, cycle: int = READERS) -> np.ndarray:
    """The global record numbers (shard order numbering) of the shards read ``cycle`` at a time, one record from
    each in turn, the next shard taking the place of one that ends when its turn comes again: the order of
    ``tf.data.TFRecordDataset(files, num_parallel_reads=cycle)`` (a deterministic interleave), which the stream of
    every reader follows (tests/test_reader.py checks it against TensorFlow)."""
    sizes = [int(n) for n in records_per_shard]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    cycle = max(1, min(int(cycle), len(sizes)))
    slots, pos = [None] * cycle, [0] * cycle
    nxt, out, i, open_ = 0, [], 0, 0
    while nxt < len(sizes) or open_:
        if slots[i] is not None:
            s = slots[i]
            if pos[i] < sizes[s]:
                out.append(starts[s] + pos[i])
                pos[i] += 1
                i = (i + 1) % cycle
                continue
            slots[i], open_ = None, open_ - 1
            i = (i + 1) % cycle
        elif nxt < len(sizes):
            slots[i], pos[i], nxt, open_ = nxt, 0, nxt + 1, open_ + 1
        else:
            i = (i + 1) % cycle
    return np.array(out, np.int64)


def stream(info: dict, block: int, limit: int | None = None, fold=None, where: str = "") -> np.ndarray:
    """The global numbers of a split's records in the order a pass reads them before any shuffle: the shards read
    ``READERS`` at a time (:func:`interleave_order`), or, for a ``limit`` or a ``fold``, the chosen records in shard
    order (tf.data reads those shards one after the other)."""
    if limit is not None or fold is not None:
        return selected_records(info, block, limit, fold, where)
    return interleave_order([int(s["records"]) for s in info["shards"]])
