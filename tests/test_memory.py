"""Datasets larger than memory: the training split cached when it fits, streamed when not, cgroup limits counted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kzoo.train import fit

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}


def test_the_training_split_is_cached_when_it_fits_and_streamed_when_not_with_the_same_batches(
        tiny_data, tmp_path, monkeypatch, caplog):
    import keras

    import kzoo.data.shards as shards
    from kzoo.data.shards import cache_fits, load_manifest

    m = load_manifest(tiny_data, verify=False)
    need = sum(s["bytes"] for s in m["splits"]["train"]["shards"])
    monkeypatch.setattr(shards, "available_memory", lambda: 4 * need)
    ok, said = cache_fits(m)
    assert ok and said.startswith("caching the train split in memory")
    monkeypatch.setattr(shards, "available_memory", lambda: need)  # it would fit, but not comfortably
    ok, said = cache_fits(m)
    assert not ok and said.startswith("streaming the train split from its shards every epoch") and \
        "the order of the batches is the same" in said
    assert cache_fits(m, cache=True)[0] and not cache_fits(m, cache=False)[0]
    with pytest.raises(ValueError, match="cache must be True, False or 'auto'"):
        cache_fits(m, cache="yes")
    kw = dict(epochs=2, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True, classical=False,
              reader="tf.data")  # the cache is tf.data's (the numpy reader leaves it to the page cache)
    fit("gc-dm", tiny_data, tmp_path / "cached", cache=True, **kw)
    with caplog.at_level("INFO", logger="kzoo"):
        fit("gc-dm", tiny_data, tmp_path / "streamed", **kw)  # "auto", in too little memory
    assert "streaming the train split" in caplog.text
    assert (tmp_path / "cached" / "history.csv").read_text() == (tmp_path / "streamed" / "history.csv").read_text()
    a, b = (keras.saving.load_model(tmp_path / r / "model.keras") for r in ("cached", "streamed"))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def _memory_cgroup():
    """A folder where a memory cgroup can be made (cgroup v1 or v2, as root), or None."""
    for d in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
        limit = "memory.limit_in_bytes" if d.name == "memory" else "memory.max"
        if d.is_dir() and os.access(d, os.W_OK) and ((d / limit).exists() or d.name == "memory"
                                                     or (d / "cgroup.subtree_control").exists()):
            return d, limit
    return None


@pytest.mark.skipif(_memory_cgroup() is None, reason="needs a writable memory cgroup (Linux, root)")
def test_the_memory_a_process_may_use_counts_its_cgroup_limit(tmp_path):
    """As a SLURM job sees it: a process in a cgroup of 1 GiB may use less than 1 GiB, whatever the machine has."""
    base, limit = _memory_cgroup()
    d = base / f"kzoo-test-{os.getpid()}"
    d.mkdir()
    try:
        (d / limit).write_text(str(1 << 30))
        code = "from kzoo.data.shards import available_memory; print(available_memory())"
        out = subprocess.run(["sh", "-c", f'echo $$ > {d / "cgroup.procs"} && exec "$@"', "sh", sys.executable, "-c",
                              code], capture_output=True, text=True, check=True).stdout
        assert 0 < int(out.strip()) <= 1 << 30
    finally:
        d.rmdir()


def test_whole_split_arrays_are_refused_or_cut_to_what_fits_in_memory(tiny_data, monkeypatch, caplog):
    """Arrays of a whole split (classical references, evaluators) are never read beyond half the memory this
    process may use: load_arrays refuses in one line before reading, a reference fits on the first records that
    fit and says so (issue 51)."""
    import logging

    import kzoo.data.shards as shards
    from kzoo.data import DataError, load_manifest
    from kzoo.data.reader import images_that_fit, load_arrays
    from kzoo.reference import train_and_split_images

    m = load_manifest(tiny_data)
    assert images_that_fit(m, "train", "counts") is None  # this machine holds it
    per_image = 2 * 4 * (16 * 16 + m["schema"]["labels"]["shape"][0])
    monkeypatch.setattr(shards, "available_memory", lambda: 2 * per_image * 40)  # room for 40 maps
    with pytest.raises(DataError, match="the train split's .* images of 'counts' would not fit as arrays"):
        load_arrays(tiny_data, "train", inputs="counts", targets=["A_dm"], manifest=m, verify=False)
    n = images_that_fit(m, "train", "counts")
    assert 0 < n <= 40 and n % m["block"] == 0
    with caplog.at_level(logging.WARNING, logger="kzoo"):
        x_train, y_train, x, y = train_and_split_images(m, tiny_data, "val", ["A_dm"])  # the val split fits
    assert f"fitted on the first {n:,} of the" in caplog.text and len(x_train) == n
    assert len(x) == m["splits"]["val"]["count"]
