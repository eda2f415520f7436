"""The model zoo: ``@register`` a builder with its :class:`ModelSpec`; ``build``, ``list_models``, ``spec``.

A builder is a plain function whose name is the model name, whose keyword arguments (with the
seed's values as defaults) are the overrides ``build`` accepts, and which returns a Functional
``keras.Model``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import json
from pathlib import Path
from typing import Any, Callable

from kzoo.errors import closest
from kzoo.seeds import seed_title

__all__ = ["ModelSpec", "UnknownArgumentError", "register", "build", "check_arguments", "list_models", "spec"]


class UnknownArgumentError(TypeError, ValueError):
    """An override the model's builder does not take; the message lists those it takes.

    A TypeError, as Python's own for an unexpected keyword argument; a ValueError, so that the command line
    reports it in one line as bad input.
    """


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a zoo model is, declared next to its builder.

    Attributes:
        name: the registry name (the builder's function name unless given).
        task: "regression", "segmentation", "denoising", "classification", "generation", ...
        input_shape: default input shape, channels last, without the batch axis.
        outputs: what the output holds, in words (e.g. "1: A_dm").
        loss: default loss (a keras identifier or a registered kzoo loss name).
        metrics: default keras metrics.
        seed: the seed document (``../shared/seeds/<file>``) and section it mirrors.
        reference: the seed's reference numbers for this model, as reported there.
        search_space: hyper-parameters worth searching, ``{arg: {"type": "int"|"float"|"choice", ...}}``;
            keys are builder arguments or the fit settings ``learning_rate`` and ``batch_size``.
        description: one paragraph for humans.
        aliases: other names ``build`` accepts.
        parameters: the builder's weights at its defaults (``kzoo list`` shows it without building the model;
            tests/test_models.py checks it against the built model).
    """

    name: str
    task: str
    input_shape: tuple
    outputs: str
    loss: str = "mse"
    metrics: tuple = ()
    seed: str = ""
    reference: dict = dataclasses.field(default_factory=dict)
    search_space: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    aliases: tuple = ()
    parameters: int | None = None
    builder: Callable | None = dataclasses.field(default=None, repr=False, compare=False)

    def arguments(self) -> dict[str, Any]:
        """The builder's overridable arguments and their defaults."""
        return {k: p.default for k, p in inspect.signature(self.builder).parameters.items()}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("builder")
        d["seed_title"] = seed_title(self.seed)
        d["arguments"] = {k: v for k, v in self.arguments().items()}
        return d


_MODELS: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(name: str | None = None, **spec_fields) -> Callable:
    """Decorator registering a builder under ``name`` (default: the function's name)."""

    def wrap(fn):
        key = name or fn.__name__
        if key in _MODELS or key in _ALIASES:
            raise ValueError(f"model {key!r} is registered twice")
        s = ModelSpec(name=key, builder=fn, **spec_fields)
        _MODELS[key] = s
        for alias in s.aliases:
            _ALIASES[alias] = key
        fn.spec = s
        return fn

    return wrap


def _ensure_loaded():
    from kzoo.families import parts

    parts("models")  # each family's models module registers its builders


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (or alias); UnknownNameError names the closest."""
    _ensure_loaded()
    key = _ALIASES.get(name, name)
    if key not in _MODELS:
        raise closest(name, list(_MODELS) + list(_ALIASES), "model")
    return _MODELS[key]


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered model names matching a shell-style wildcard (``"gc*"``)."""
    _ensure_loaded()
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def build(name: str, weights: str | None = None, **overrides):
    """Build the registered model ``name`` with the seed's defaults, changed by ``overrides``.

    ``weights``: a preset (``kzoo.list_presets()``) of this model, a run directory or a .keras file: the trained
    model, sha256-checked for a preset, as ``kzoo.load(weights)`` returns it. With ``overrides`` (another head:
    ``outputs=3``; another dropout) the model is built anew with the preset's arguments changed by them, and every
    layer of the same name and weight shapes takes the trained weights (kzoo.transfer; the layers built anew are
    said in one line on stderr and in ``model.kzoo_init``), ready to fine-tune.

    >>> model = build("gc_cnn", outputs=2, input_shape=(32, 32, 1))
    >>> trained = build("gc_cnn", weights="gc-dm")
    >>> to_tune = build("gc_cnn", weights="gc-dm", outputs=3)
    """
    if weights is not None:
        # The one arrow up from the registry: a preset is a trained model of a registered builder, and kzoo.presets
        # never imports the registry (it would make a circle).
        from kzoo.presets import load
        from kzoo.transfer import init_source

        source = init_source(str(weights))
        if source["model"] is not None and spec(source["model"]).name != spec(name).name:
            raise ValueError(f"build({name!r}, weights={weights!r}): {weights!r} holds a {source['model']}, not a "
                             f"{spec(name).name}; use build({source['model']!r}, weights={weights!r})")
        if not overrides:
            return load(weights)
        from kzoo.transfer import load_source, start_from

        trained = load_source(source)
        declared = (source["experiment"] or {}).get("model_args", {})
        fixed = {"input_shape": tuple(trained.input_shape[1:]) if not isinstance(trained.input_shape, dict) else None,
                 "normalization": source["normalization"]}
        if "outputs" in spec(name).arguments() and not isinstance(trained.output_shape, (list, dict)):
            fixed["outputs"] = int(trained.output_shape[-1])
        args = {k: v for k, v in {**fixed, **declared}.items() if k in spec(name).arguments() and v is not None}
        args.update(overrides)
        check_arguments(name, args)
        model = spec(name).builder(**args)
        model.kzoo_init = {**start_from(model, source), "from": source["from"], "sha256": source["sha256"]}
        return model
    check_arguments(name, overrides)
    return spec(name).builder(**overrides)


def check_arguments(name: str, overrides) -> None:
    """Raise UnknownArgumentError naming each of ``overrides`` (names) that model ``name``'s builder lacks."""
    s = spec(name)
    allowed = s.arguments()
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise UnknownArgumentError(f"model {s.name!r} has no argument {', '.join(map(repr, bad))}; it takes "
                                   f"{', '.join(sorted(allowed))}")


INDEX = Path(__file__).with_name("model_index.json")


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def live_index() -> dict[str, dict]:
    """``{model: spec as JSON}`` of every registered model (the families' model modules imported: Keras too)."""
    return {name: _jsonable(spec(name).to_dict()) for name in list_models()}


def index() -> dict[str, dict]:
    """``{model: spec as JSON}`` without importing Keras: kzoo's own models from ``kzoo/model_index.json`` (written
    by ``python -m kzoo.registry``; tests/test_models.py checks it against the registry), or the live registry when
    families are installed from other packages (the index does not know their models)."""
    from kzoo.families import other_packages

    if other_packages() or not INDEX.is_file():
        return live_index()
    return json.loads(INDEX.read_text())


def index_entry(name: str) -> dict:
    """A model's spec as JSON from :func:`index`, by name or alias; UnknownNameError names the closest."""
    found = index()
    aliases = {a: n for n, d in found.items() for a in d.get("aliases", [])}
    key = aliases.get(name, name)
    if key not in found:
        raise closest(name, list(found) + list(aliases), "model")
    return found[key]


def parameter_count(name: str) -> int:
    """Weights of the model ``name`` built with the seed's defaults (``kzoo list`` shows them)."""
    import keras

    from kzoo.registry import build

    model = build(name)
    count = int(model.count_params())
    del model
    keras.backend.clear_session()
    return count


if __name__ == "__main__":  # python -m kzoo.registry: write kzoo/model_index.json from the registry
    import kzoo.registry as registry  # the module the families register into (this one runs as __main__)
    from kzoo.io import write_text

    found = registry.live_index()
    write_text(registry.INDEX, json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {registry.INDEX} ({len(found)} models)")
