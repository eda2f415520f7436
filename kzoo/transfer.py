"""Fine-tuning: a new model started from another's trained weights (a preset, a run, a .keras file).

The source is loaded whole (safe mode, sha256-checked for presets); each layer of the new model that holds weights
takes the source's layer of the same name when every weight has the same shape, and is otherwise built anew (a new
head for other targets, for example). What was copied and what was built anew is said in one line and recorded,
never skipped silently; a source with nothing in common is refused. Written by hand: keras copies weights between
identical architectures only (``set_weights``), and by name only from .h5 files of the same names.
"""

from __future__ import annotations

import json
from pathlib import Path

from kzoo.io import sha256_file


class InitError(ValueError):
    """A source of initial weights that cannot be used; the message names it and what would be right."""


def init_source(source: str) -> dict:
    """Where initial weights come from: a preset name, a run directory (``kzoo train``'s OUT) or a .keras file.

    Returns ``{"from", "kind" (preset, run, file), "path", "sha256", "model" (the zoo model, where known),
    "normalization" (the source's input normalisation, where known), "experiment" (its declaration, where known)}``.
    """
    from kzoo.presets import locate, preset_entry

    found = locate(source)
    if found is not None:  # the file is checked against the entry's sha256 when it is loaded (load_source)
        name, folder = found
        e = preset_entry(name, folder)
        from kzoo.presets import PRESET_DIR

        return {"from": source, "kind": "preset", "path": str(Path(folder or PRESET_DIR) / e["file"]),
                "sha256": e["sha256"], "model": e["model"], "normalization": e["normalization"],
                "experiment": e.get("experiment_declaration")}
    path = Path(source)
    if path.is_dir():
        from kzoo.runs import recover

        recover(path)
        run_file = path / "run.json"
        if not (path / "model.keras").is_file() or not run_file.is_file():
            raise InitError(f"--init {source}: not a finished run (no model.keras and run.json there); give a "
                            f"preset (kzoo list --presets), a finished run's directory or a .keras file")
        run = json.loads(run_file.read_text())
        return {"from": str(path.resolve()), "kind": "run", "path": str(path / "model.keras"),
                "sha256": sha256_file(path / "model.keras"), "model": run["experiment"]["model"],
                "normalization": run["settings"]["normalization"], "experiment": run["experiment"]}
    if path.is_file() and path.suffix == ".keras":
        return {"from": str(path.resolve()), "kind": "file", "path": str(path), "sha256": sha256_file(path),
                "model": None, "normalization": None, "experiment": None}
    from kzoo.presets import preset_error

    raise preset_error(source)


def weighted_layers(model) -> dict:
    """``{path: layer}`` of the layers that hold weights of their own, each named by its path of layer names
    (``critic/crit_block1/spatial``): a layer nested in another is told apart from one of the same name elsewhere."""
    found = {}

    def walk(layer, prefix):
        children = list(layer._flatten_layers(include_self=False, recursive=False))
        own = [w for w in layer.weights if not any(w is cw for c in children for cw in c.weights)]
        if own or (layer.weights and not children):
            found[prefix.rstrip("/")] = layer
        for c in children:
            walk(c, f"{prefix}{c.name}/")

    for top in model._flatten_layers(include_self=False, recursive=False):
        walk(top, f"{top.name}/")
    return found


def copy_weights(model, source) -> dict:
    """Copy into ``model`` the weights of ``source``'s layers of the same paths and shapes (see
    :func:`weighted_layers`); returns ``{"copied": [paths], "new": [paths built anew], "why": {path: reason}}``.
    InitError when nothing could be copied."""
    src = weighted_layers(source)
    copied, new, why = [], [], {}
    for path, layer in weighted_layers(model).items():
        other = src.get(path)
        if other is None:
            new.append(path)
            why[path] = "not in the source"
            continue
        shapes = [tuple(w.shape) for w in layer.weights], [tuple(w.shape) for w in other.weights]
        if shapes[0] != shapes[1]:
            new.append(path)
            why[path] = (f"shapes {', '.join('x'.join(map(str, s)) for s in shapes[0])} here, "
                         f"{', '.join('x'.join(map(str, s)) for s in shapes[1])} in the source")
            continue
        for mine, theirs in zip(layer.weights, other.weights):
            mine.assign(theirs.numpy() if hasattr(theirs, "numpy") else theirs)
        copied.append(path)
    if not copied:
        raise InitError(f"no layer of the source has the name and weight shapes of one of this model's "
                        f"({', '.join(new[:4])}{' ...' if len(new) > 4 else ''}); start it from a model of the same "
                        f"architecture")
    return {"copied": copied, "new": new, "why": why}


def describe(report: dict, source: str) -> str:
    """One line: how many layers came from ``source`` and which were built anew, and why."""
    new = "; ".join(f"{n} ({report['why'][n]})" for n in report["new"])
    return (f"initial weights from {source}: {len(report['copied'])} layer(s) copied"
            + (f", built anew: {new}" if new else ", all of them"))


def start_from(model, source: dict) -> dict:
    """Copy ``source``'s weights (:func:`init_source`) into the new ``model`` and say in one line what was copied and
    what built anew (a warning when some layers were built anew); returns the report with that ``line``."""
    import logging

    report = copy_weights(model, load_source(source))
    report["line"] = describe(report, source["from"])
    logging.getLogger("kzoo").log(logging.WARNING if report["new"] else logging.INFO, report["line"])
    return report


def load_source(init: dict):
    """The source model of :func:`init_source`'s result, loaded with safe mode (its sha256 checked again)."""
    from kzoo.export import load_model

    if sha256_file(init["path"]) != init["sha256"]:
        raise InitError(f"--init {init['from']}: {init['path']} changed since the run began (its sha256 differs); "
                        f"start a new run")
    return load_model(init["path"])
