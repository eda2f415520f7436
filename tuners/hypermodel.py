"""A keras-tuner HyperModel for any declared experiment, searching its model's ``spec.search_space``.

The search trains through the same pieces as ``kzoo.train.fit``: the experiment's dataset pipeline,
its input normalisation and its loss. ``learning_rate`` and ``batch_size`` in a search space are fit
settings; every other key is a builder argument.
"""

from __future__ import annotations

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

    def __init__(self, experiment, data_dir, *, seed: int = 0, cache: bool = True, **fixed_model_args):
        from kzoo.data.shards import load_manifest
        from kzoo.experiments import get_experiment
        from kzoo.registry import spec
        from kzoo.train import model_arguments

        self.exp = get_experiment(experiment)
        super().__init__(name=self.exp.name)
        self.data_dir = data_dir
        self.manifest = load_manifest(data_dir)
        self.space = spec(self.exp.model).search_space
        self.seed, self.cache, self.fixed = seed, cache, fixed_model_args
        model_arguments(self.exp, self.manifest, **fixed_model_args)  # a wrong name fails now, not in every trial

    def build(self, hp):
        import keras

        from kzoo.train import build_for, compile_args

        args = {k: hp_value(hp, k, d) for k, d in self.space.items() if k not in FIT_SETTINGS}
        lr = hp_value(hp, "learning_rate", self.space["learning_rate"]) if "learning_rate" in self.space \
            else self.exp.learning_rate
        model = build_for(self.exp, self.manifest, **{**args, **self.fixed})
        model.compile(optimizer=keras.optimizers.Adam(lr), **compile_args(self.exp))
        return model

    def fit(self, hp, model, *args, **kwargs):
        from kzoo.data.pipeline import dataset
        from kzoo.experiments import pipeline_args

        bs = hp_value(hp, "batch_size", self.space["batch_size"]) if "batch_size" in self.space \
            else self.exp.batch_size
        common = dict(**pipeline_args(self.exp), batch_size=bs, seed=self.seed, manifest=self.manifest,
                      verify=False, cache=self.cache)
        train = dataset(self.data_dir, "train", shuffle=True, augment=self.exp.augment, **common)
        val = dataset(self.data_dir, "val", shuffle=False, **common)
        return model.fit(train, validation_data=val, **kwargs)
