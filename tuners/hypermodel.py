"""A keras-tuner HyperModel for any declared experiment, searching its model's ``spec.search_space``.

The search trains through the same pieces as ``kzoo.train.fit``: the experiment's dataset pipeline,
its input normalisation and its loss. ``learning_rate`` and ``batch_size`` in a search space are fit
settings; every other key is a builder argument.
"""

from __future__ import annotations

import logging

import json

import keras_tuner as kt

from kzoo.train import FIT_SETTINGS


def hp_value(hp, name: str, d: dict):
    """Register one search-space entry with ``hp`` and return the drawn value (lists come back as tuples)."""
    kind = d.get("type")
    if kind == "int":
        return hp.Int(name, d["min"], d["max"], step=d.get("step", 1), sampling=d.get("sampling", "linear"))
    if kind == "float":
        kw = {"step": d["step"]} if "step" in d else {}
        return hp.Float(name, d["min"], d["max"], sampling=d.get("sampling", "linear"), **kw)
    if kind == "choice":
        values = d["values"]
        if any(isinstance(v, (list, tuple)) for v in values):  # keras-tuner choices must be scalars
            picked = hp.Choice(name, [json.dumps(list(v)) for v in values])
            return tuple(json.loads(picked))
        return hp.Choice(name, values)
    raise ValueError(f"search space entry {name!r}: type must be int, float or choice, got {kind!r}")


def decoded(space: dict, values: dict) -> dict:
    """``hp.values`` as the builder and ``kzoo train --hyperparameters`` take them: a choice among lists,
    drawn by ``hp_value`` as a JSON string, back to the list."""
    out = dict(values)
    for name, v in values.items():
        d = space.get(name, {})
        if d.get("type") == "choice" and isinstance(v, str) and any(isinstance(c, (list, tuple)) for c in d["values"]):
            out[name] = json.loads(v)
    return out


class ExperimentHyperModel(kt.HyperModel):
    """Build and fit the experiment's model with hyper-parameters drawn from its spec's search space."""

    def __init__(self, experiment, data_dir, *, seed: int = 0, cache: bool | str = "auto", **fixed_model_args):
        from kzoo.data.shards import load_manifest
        from kzoo.experiment_files import resolve
        from kzoo.registry import spec
        from kzoo.train import model_arguments

        self.exp = resolve(experiment)
        super().__init__(name=self.exp.name)
        self.data_dir = data_dir
        self.manifest = load_manifest(data_dir)
        self.space = spec(self.exp.model).search_space
        self.seed, self.cache, self.fixed = seed, cache, fixed_model_args
        model_arguments(self.exp, self.manifest, **fixed_model_args)  # a wrong name fails now, not in every trial

    def values(self, hp) -> tuple[dict, dict]:
        """``(fit settings, builder arguments)`` of ``hp`` (each search-space entry registered with it, except the
        builder arguments held fixed, which are not searched): ``learning_rate`` and ``batch_size`` are fit
        settings, the rest builder arguments, the fixed ones last."""
        drawn = {k: hp_value(hp, k, d) for k, d in self.space.items() if k not in self.fixed}
        settings = {k: drawn[k] for k in FIT_SETTINGS if k in drawn}
        return settings, {**{k: v for k, v in drawn.items() if k not in FIT_SETTINGS}, **self.fixed}

    def build(self, hp):
        from kzoo.train import build_for, compile_args, make_optimizer

        settings, args = self.values(hp)
        model = build_for(self.exp, self.manifest, **args)
        model.compile(optimizer=make_optimizer(self.exp, settings.get("learning_rate", self.exp.learning_rate)),
                      **compile_args(self.exp))
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Train as a plain keras-tuner Tuner does (``model.fit``), on the experiment's pipeline: for a search
        with another keras-tuner tuner. ``tuners.search`` trains each trial through ``kzoo.train.fit`` instead."""
        from kzoo.data.pipeline import dataset
        from kzoo.experiments import pipeline_args

        from kzoo.data.shards import cache_fits

        settings, _ = self.values(hp)
        cache, said = cache_fits(self.manifest, "train", cache=self.cache)
        logging.getLogger("kzoo").info(said)
        common = dict(**pipeline_args(self.exp), batch_size=settings.get("batch_size", self.exp.batch_size),
                      seed=self.seed, manifest=self.manifest, verify=False, cache=cache)
        train = dataset(self.data_dir, "train", shuffle=True, augment=self.exp.augment, **common)
        val = dataset(self.data_dir, "val", shuffle=False, **common)
        return model.fit(train, validation_data=val, **kwargs)


def get_hypermodel(name: str, data_dir, **fixed_model_args) -> ExperimentHyperModel:
    """A keras_tuner.HyperModel for an experiment, or for a zoo model (its first declared experiment), on the
    dataset ``data_dir``: ``tuners.get_hypermodel("gc_unet", "data/seg")``."""
    from kzoo.experiment_files import is_experiment_file, resolve
    from kzoo.experiments import declared
    from kzoo.registry import spec

    if name not in declared() and not is_experiment_file(name):
        model = spec(name).name  # an unknown name: the registry's error, with the closest names
        found = [e for e, exp in sorted(declared().items()) if exp.model == model]
        if not found:
            raise ValueError(f"no experiment declares the model {model}; give an experiment (kzoo list --experiments)")
        name = found[0]
    return ExperimentHyperModel(resolve(name), data_dir, **fixed_model_args)
