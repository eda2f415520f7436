"""How kzoo's random seed reaches keras-tuner (kzoo tune) and AutoKeras (kzoo automl)."""


def tuner_seed(seed: int) -> int:
    """The seed a keras-tuner oracle (and AutoKeras's) gets for kzoo's ``seed``: ``seed + 1``. The oracle reads a
    seed of 0 as none and draws one at random (``seed or random.randint(1, 10000)``), so ``--seed 0``, the default,
    passed as it is, made two searches with the same command draw different trials."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {seed!r}")
    return seed + 1
