"""Hyper-parameter search over the zoo with keras-tuner (and AutoKeras, later), on one machine or many.

    import tuners
    hm = tuners.get_hypermodel("gc-dm", "data/gc")          # a keras_tuner.HyperModel (experiment or model name)
    tuner = tuners.search("gc-dm", "data/gc", "search/gc-dm", tuner="bayesian", trials=20, epochs=10)

``kzoo tune`` (and ``python -m tuners.search``) is the same from the command line.
"""


def get_hypermodel(name, data_dir, **fixed_model_args):
    from tuners.hypermodel import get_hypermodel as get

    return get(name, data_dir, **fixed_model_args)


def search(experiment, data_dir, out, **kwargs):
    from tuners.search import search as run

    return run(experiment, data_dir, out, **kwargs)


def tuner_seed(seed: int) -> int:
    """The seed a keras-tuner oracle (and AutoKeras's) gets for kzoo's ``seed``: ``seed + 1``. The oracle reads a
    seed of 0 as none and draws one at random (``seed or random.randint(1, 10000)``), so ``--seed 0``, the default,
    passed as it is, made two searches with the same command draw different trials."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {seed!r}")
    return seed + 1
