"""Experiments of a user's own, declared in a YAML (or JSON) file: ``kzoo train my-experiment.yaml``,
``kzoo info my-experiment.yaml``, the tuners. The packaged experiments stay Python declarations in each family's
``experiments`` module (kzoo.experiments); a file holds the same fields, checked all at once."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from kzoo.experiments import Experiment, get_experiment

EXPERIMENT_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def is_experiment_file(name) -> bool:
    return isinstance(name, (str, os.PathLike)) and str(name).lower().endswith(EXPERIMENT_FILE_SUFFIXES)


def experiment_file(path) -> Experiment:
    """The experiment a user declares in a YAML (or JSON) file: the fields of :class:`Experiment` (``name`` and
    ``model`` required; ``recipe`` may be left out: then it trains on the dataset given with ``--data``, such as one
    made by ``kzoo import``). Every problem is listed at once in one ValueError naming the file."""
    from kzoo.io import excerpt, read_config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such experiment file")
    d = read_config(path, "experiment file")
    if not isinstance(d, dict):
        raise ValueError(f"{path}: an experiment file holds a mapping of fields (name, model, inputs, targets, ...), "
                         f"got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(Experiment)}
    problems = []
    for key in d:
        if key not in fields:
            import difflib

            near = difflib.get_close_matches(str(key), fields, n=1)
            problems.append(f"unknown field {excerpt(key)}" + (f" (did you mean {near[0]}?)" if near else ""))
    for key in ("name", "model"):
        if not isinstance(d.get(key), str) or not d.get(key):
            problems.append(f"{key} is required (a non-empty string)")
    d.setdefault("recipe", "")
    for key, f in fields.items():
        if key not in d or key in ("name", "model"):
            continue
        v = d[key]
        default = (f.default if f.default is not dataclasses.MISSING else f.default_factory()
                   if f.default_factory is not dataclasses.MISSING else "")
        ok = {"inputs": (str, dict), "targets": (str, list, dict), "loss": (str, dict), "target_scale": (list,),
              "metrics": (list,), "augment": (list,)}.get(key, (type(default),))
        if float in ok or isinstance(default, float):
            ok = (int, float)
        if isinstance(v, bool) and bool not in ok or not isinstance(v, ok):
            problems.append(f"{key} {excerpt(v)}: must be {' or '.join(t.__name__ for t in ok)}")
    for key in ("epochs", "batch_size"):
        if isinstance(d.get(key), int) and not isinstance(d[key], bool) and d[key] <= 0:
            problems.append(f"{key} must be a positive integer, got {d[key]}")
    if isinstance(d.get("learning_rate"), (int, float)) and not d["learning_rate"] > 0:
        problems.append(f"learning_rate must be > 0, got {d['learning_rate']}")
    if isinstance(d.get("model"), str) and d["model"]:
        from kzoo.registry import check_arguments, spec

        try:
            spec(d["model"])
            if isinstance(d.get("model_args"), dict):
                check_arguments(d["model"], d["model_args"])
        except (KeyError, ValueError, TypeError) as e:
            problems.append(str(e).strip("'\""))
    if isinstance(d.get("optimizer"), str):
        from kzoo.experiments import OPTIMIZERS

        if d["optimizer"] not in OPTIMIZERS:
            problems.append(f"optimizer {excerpt(d['optimizer'])}: one of {', '.join(sorted(OPTIMIZERS))}")
    if isinstance(d.get("evaluation"), str):
        from kzoo.evaluate import evaluators

        if d["evaluation"] not in evaluators():
            problems.append(f"evaluation {excerpt(d['evaluation'])}: one of {', '.join(sorted(evaluators()))}")
    if isinstance(d.get("loss"), str) and d["loss"] != "model":
        from kzoo.losses import LOSSES

        if d["loss"] not in LOSSES:
            import keras

            try:
                keras.losses.get(d["loss"])
            except (KeyError, ValueError, TypeError):
                problems.append(f"loss {excerpt(d['loss'])}: not a kzoo loss ({', '.join(sorted(LOSSES))}) nor a "
                                f"keras one (mse, mae, binary_crossentropy, ...)")
    if d.get("loss_args"):
        from kzoo.losses import LOSSES

        if not isinstance(d["loss_args"], dict) or d.get("loss") not in LOSSES:
            problems.append(f"loss_args {excerpt(d['loss_args'])}: a mapping of arguments of a kzoo loss "
                            f"({', '.join(sorted(LOSSES))}), not of {excerpt(d.get('loss'))}")
        else:
            try:
                LOSSES[d["loss"]](**d["loss_args"])
            except (TypeError, ValueError) as e:
                problems.append(f"loss_args {excerpt(d['loss_args'])}: not arguments of {d['loss']} ({e})")
    if isinstance(d.get("units"), dict) and set(d["units"]) - {"bunit", "pixel_scale"}:
        problems.append("units takes bunit and pixel_scale only")
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}")
    return Experiment.from_dict(d)


def resolve(name) -> Experiment:
    """An experiment by name (declared, see kzoo.experiments) or by file (:func:`experiment_file`)."""
    return experiment_file(name) if is_experiment_file(name) else get_experiment(name)
