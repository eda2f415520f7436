"""Experiments: one declaration per seed experiment, read by the CLI, notebooks, tuners and tests.

An experiment names a dataset recipe, a zoo model, its inputs and targets, the fit settings, the
evaluation (the seed's own metrics and plots) and the seed's reference numbers. Adding a seed
experiment means adding an entry to its family's ``experiments`` module (``kzoo/families/<family>/experiments.py``;
see kzoo.families), and maybe a recipe, simulator and builder, not a loop.
"""

from __future__ import annotations

import dataclasses
import fnmatch


OPTIMIZERS = {"adam": "Adam", "sgd": "SGD"}  # Experiment.optimizer -> the keras.optimizers class


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A declared experiment.

    Attributes:
        name: the CLI name (``kzoo train <name>``).
        recipe: a built-in dataset recipe (``kzoo/families/<family>/recipes/<recipe>.yaml``) or a recipe file.
        model: the zoo model (``kzoo.build(model, **model_args)``).
        scale_targets: min-max scale label targets to ``target_scale`` with the recipe's ranges for
            training; predictions are mapped back to physical units for evaluation.
        target_scale: the interval scaled targets span: (0, 1) by default, (-1, 1) for seed 003.
        normalization: input normalisation inside the model: "global" (training-split mean and
            std from the manifest), "per_image_max" or "none".
        inputs: the stored array fed to the model, or for a model of named inputs a dict ``{input:
            stored array, or a tuple of label names}`` (see ``kzoo.data.dataset``).
        targets: label names, a stored image array, or for a model of named outputs a dict ``{output:
            tuple of label names or stored array}``.
        loss_args: arguments of a kzoo loss (``kzoo.losses.LOSSES``), e.g. the U-net's ``{"cut_factor": 1.05}``.
        loss, metrics: keras loss and metrics (names or registered kzoo objects); "model": the model computes
            its own loss (a VAE's ``compute_loss``, as the rings family's ConditionalVAE); with named outputs
            ``loss`` may be a dict ``{output: loss}`` and ``loss_weights`` a dict ``{output: weight}``.
        batch_size, learning_rate, epochs, patience: fit settings (the seed's where it gives them).
        lr_schedule: "" (a constant learning rate) or "cosine" (cosine decay from ``learning_rate`` to 0
            over ``epochs``).
        optimizer: "adam" (the default) or "sgd" (plain stochastic gradient descent, as Keras's SGD at its
            defaults: no momentum), for the source notebooks that compared them.
        augment: tf.data augmentations (see ``kzoo.data.augment``).
        target_transform, input_transform: transforms named in ``kzoo.data.records.TRANSFORM_NAMES`` applied in
            the pipeline to image targets / inputs.
        input_noise: ``{"kind", "amount"}`` noise (``kzoo.layers.corrupt``) on the inputs, for denoisers.
        evaluation: an evaluator of ``kzoo.evaluate.evaluators()`` (a task's, or a family's own).
        evaluation_args: options of the evaluator (regression: ``color_by``, a label whose value colours
            the predicted-vs-true plot, e.g. "snr").
        reference_method: a classical method of ``kzoo.reference.references()`` evaluated beside the network.
        reference: the seed's reported numbers, keyed like the evaluator's metrics (the seed's regression
            table under ``mae_scaled``, the MAE of the [0, 1]-scaled targets: our reading of its undefined
            "mean relative error"; see ``kzoo.metrics.regression_metrics``).
        reference_split: where the source notebooks measured ``reference``: "test" (held-out images, as kzoo's
            metrics), "validation" (their validation loss or accuracy: the suite page then also shows kzoo's value
            of the same metric at its best epoch on the validation split beside theirs) or "training" (on the images
            they trained on; kzoo shows no counterpart).
        comparison: whether kzoo's number is measured as the source notebooks measured theirs: "like for like", or
            what differs (data, its size, epochs, metric, split), in a few words; "" not yet reviewed. Shown per
            row on the suite pages.
        goals: this project's accuracy goals, keyed like ``reference``, each ``("<=" or ">=", value)``;
            results tables say whether a run met them.
        seed: the seed document and section.
        units: what the input images must be in, ``{"bunit": ..., "pixel_scale": arcsec}`` (either may be left
            out): a dataset that ``kzoo import`` recorded with other units is refused (empty: not checked).
    """

    name: str
    recipe: str
    model: str
    inputs: str = "counts"
    targets: tuple = ("A_dm",)
    scale_targets: bool = False
    target_scale: tuple = (0.0, 1.0)
    normalization: str = "global"
    model_args: dict = dataclasses.field(default_factory=dict)
    loss: str = "mse"
    loss_args: dict = dataclasses.field(default_factory=dict)
    loss_weights: dict = dataclasses.field(default_factory=dict)
    metrics: tuple = ("mae",)
    batch_size: int = 64
    learning_rate: float = 1e-3
    epochs: int = 60
    patience: int = 10
    lr_schedule: str = ""
    optimizer: str = "adam"
    augment: tuple = ()
    target_transform: str = ""
    input_transform: str = ""
    input_noise: dict = dataclasses.field(default_factory=dict)
    evaluation: str = "regression"
    evaluation_args: dict = dataclasses.field(default_factory=dict)
    reference_method: str = ""
    reference: dict = dataclasses.field(default_factory=dict)
    reference_split: str = "test"
    comparison: str = ""
    goals: dict = dataclasses.field(default_factory=dict)
    seed: str = ""
    description: str = ""
    units: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Experiment":
        """The experiment a record or run.json holds (``to_dict``'s, read back from JSON: lists where the
        declaration has tuples; a field added since takes its default)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) and isinstance(fields[k].default, tuple) else v
                      for k, v in d.items() if k in fields})


def pipeline_args(exp) -> dict:
    """The ``kzoo.data.dataset`` arguments an experiment (object or its dict) fixes."""
    d = exp.to_dict() if isinstance(exp, Experiment) else exp
    targets = d["targets"] if isinstance(d["targets"], (str, dict)) else list(d["targets"])
    return {"inputs": d["inputs"], "targets": targets, "scale_targets": d["scale_targets"],
            "target_scale": tuple(d.get("target_scale", (0.0, 1.0))),
            "target_transform": d.get("target_transform", ""), "input_transform": d.get("input_transform", ""),
            "input_noise": d.get("input_noise") or None}


def image_input_name(exp) -> str:
    """The stored array of the experiment's (first) image input: ``inputs`` itself, or the first stored
    array of a dict of named inputs."""
    d = exp if isinstance(exp, dict) else exp.to_dict()
    if isinstance(d["inputs"], str):
        return d["inputs"]
    return next(s for s in d["inputs"].values() if isinstance(s, str))


def label_output(targets):
    """``(output name or None, label names)`` of the output that predicts labels, or None for image targets:
    ``targets`` itself, or the one entry of a dict of named outputs that lists labels."""
    if isinstance(targets, str):
        return None
    if isinstance(targets, dict):
        found = [(k, list(v)) for k, v in targets.items() if not isinstance(v, str)]
        return found[0] if found else None
    return None, list(targets)


EXPERIMENTS: dict[str, Experiment] = {}  # as declared so far; read it through declared(), which loads every family's
FAMILY_OF: dict[str, str] = {}  # experiment name -> the family whose experiments module declared it


def add(exp: Experiment) -> Experiment:
    """Declare ``exp`` (from a family's ``experiments`` module)."""
    if exp.name in EXPERIMENTS:
        raise ValueError(f"experiment {exp.name!r} is declared twice")
    EXPERIMENTS[exp.name] = exp
    return exp


def set_comparisons(texts: dict[str, str]) -> None:
    """Say how each named experiment's number compares with the source notebooks' (``Experiment.comparison``, ``{name:
    text}``), for a family that declares its experiments in loops; each must be declared already."""
    for name, text in texts.items():
        EXPERIMENTS[name] = dataclasses.replace(EXPERIMENTS[name], comparison=text)


_loaded = False


def declared() -> dict[str, Experiment]:
    """Every declared experiment, ``{name: Experiment}``: each family's ``experiments`` module imported once."""
    global _loaded
    if not _loaded:
        _loaded = True  # first: a family's declarations may ask for an experiment of its own while loading
        from kzoo.families import families

        for fam in families().values():
            before = set(EXPERIMENTS)
            fam.part("experiments")
            FAMILY_OF.update({name: fam.name for name in set(EXPERIMENTS) - before})
    return EXPERIMENTS


def get_experiment(name: str | Experiment) -> Experiment:
    """The declared experiment ``name``; UnknownNameError suggests the closest names (a user's experiment file:
    ``kzoo.experiment_files.resolve``)."""
    if isinstance(name, Experiment):
        return name
    if name not in declared():
        from kzoo.errors import closest

        raise closest(name, EXPERIMENTS, "experiment")
    return EXPERIMENTS[name]


def list_experiments(pattern: str = "*", family: str | None = None) -> list[str]:
    """Sorted names of the declared experiments matching a shell-style wildcard, of one family if given."""
    return sorted(n for n in declared() if fnmatch.fnmatchcase(n, pattern)
                  and (family is None or FAMILY_OF.get(n) == family))
