"""The noise classifier's sky: the denoisers' maps, each corrupted by one of the four noises, labelled by it."""

import numpy as np

from kzoo.families.gc import noise_sky


def test_each_map_carries_the_noise_it_was_corrupted_by_and_the_same_seed_gives_the_same_bytes():
    a = noise_sky.simulate(np.random.default_rng(5), 24, npix=16)
    b = noise_sky.simulate(np.random.default_rng(5), 24, npix=16)
    assert a["noisy"].tobytes() == b["noisy"].tobytes() and a["labels"].tobytes() == b["labels"].tobytes()
    x, kind = a["noisy"], a["labels"][:, 0].astype(int)
    assert x.shape == (24, 16, 16) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert set(kind) == {0, 1, 2, 3} and noise_sky.NOISES[2] == "masked"
    zeros = (x == 0).reshape(24, -1).mean(axis=1)
    assert zeros[kind == 2].min() > 0.3  # half the pixels masked
    assert noise_sky.class_names({}, "noise_kind") == ["gaussian", "poisson", "masked", "salt and pepper"]
    assert noise_sky.label_ranges() == {"noise_kind": (0.0, 3.0)}
