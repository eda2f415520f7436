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

