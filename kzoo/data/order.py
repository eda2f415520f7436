"""The order in which kzoo's TensorFlow-free reader (:mod:`kzoo.data.reader`) reads a split's records in one pass,
defined with numpy only.

A split's records are numbered in shard order (shard 0's records, then shard 1's, ...). A pass's *stream* is the
order tf.data reads them in (:func:`stream`): the shards read ``READERS`` at a time, one record of each in turn, or,
for a ``limit`` or a ``fold``, the chosen records in shard order. An unshuffled pass is the stream, so the two
readers give the same batches of a validation or test split. A shuffled pass cuts the stream into windows of
``window`` records, the first window ``first`` records long (drawn in [0, window), so that the windows' edges move
from pass to pass and every record meets new neighbours), and permutes each window; ``first`` and the permutations
come from ``numpy.random.default_rng([seed, pass])`` only, so pass ``e`` is the same whether a stream starts at
pass 0 or at ``e`` (a resumed run sees the batches of an uninterrupted one), and a reader needs no more than one
window of records at a time. tf.data's shuffle (a buffer of the same size, seeded by (seed, pass)) draws
another order: the same images per pass, not the same batches (making tf.data follow this order halved its
throughput on 2 cores, from the 128 MiB tensor of each window; see the note in issue 51).
"""

from __future__ import annotations

import numpy as np

from kzoo.data.records import fold_records, record_sizes, records_for_limit

_MASK64 = (1 << 64) - 1


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


def pass_order(n: int, seed: int, epoch: int, window: int, shuffle: bool) -> np.ndarray:
    """The positions in the stream (0 .. n-1) in the order pass ``epoch`` reads them: windows of ``window``
    positions, the first ``first`` long (drawn in [0, window) when the stream is longer than a window), each
    permuted, all drawn from ``numpy.random.default_rng([seed, epoch])``."""
    if not shuffle or not n:
        return np.arange(n)
    window = max(1, min(int(window), int(n)))
    rng = np.random.default_rng([int(seed) & _MASK64, int(epoch)])
    first = int(rng.integers(window)) if n > window else 0
    starts = sorted({0, *range(first, n, window)})
    return np.concatenate([a + rng.permutation(b - a) for a, b in zip(starts, starts[1:] + [n])])


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
