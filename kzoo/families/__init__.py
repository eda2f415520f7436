"""Families: everything that is one seed family's, in one package, found by the shared machinery at run time.

A family is a package: ``kzoo/families/<name>/`` for kzoo's own, or any installed package that names itself in
the entry-point group ``kzoo.families`` (``<name> = <package>``), so that a research group can publish its own
sky, models and experiments. Its ``__init__.py`` holds one declaration, ``FAMILY = Family(...)``, and nothing
that imports Keras; what else it has sits in modules of fixed names, each imported only when the machinery
needs that part:

========================  ===================================================================================
``sky.py`` (or others)    simulators, one module per sky named in ``Family.skies`` (see :mod:`kzoo.sims`)
``recipes/*.yaml``        dataset recipes (see :mod:`kzoo.data.recipes`)
``layers.py``             the family's own Keras layers (registered serializable, written with keras.ops)
``models.py``             model builders, ``@kzoo.registry.register``-ed
``experiments.py``        experiment declarations, ``kzoo.experiments.add``-ed
``reference.py``          ``REFERENCES = {method: fn}`` classical references (and ``ESTIMATES``, see
                          :mod:`kzoo.reference`)
``evaluate.py``           ``EVALUATORS = {name: fn}`` evaluators only this family needs (see :mod:`kzoo.evaluate`)
``page.py``               the suite page's parts: ``section(out, results_dir, records)``, ``floors(results_dir)``
                          and ``RECORD_EXTRAS = {field: fn}`` (see :mod:`kzoo.reproduce`)
========================  ===================================================================================

Shared modules never import a family by name: they ask this module for a part of every family
(:func:`parts`), for the skies (:func:`skies`) or for the family a name belongs to (:func:`get_family`).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import types
from pathlib import Path

__all__ = ["Family", "ENTRY_POINTS", "families", "get_family", "parts", "skies", "sky_family"]

ENTRY_POINTS = "kzoo.families"  # the entry-point group of families installed as packages of their own


@dataclasses.dataclass(frozen=True)
class Family:
    """What a family is, in a few words; declared as ``FAMILY`` in the family package's ``__init__.py``.

    Attributes:
        name: the family's one name: its folder, its suite (``kzoo reproduce <name>``, ``results/<name>.md``).
        title: what it is about, in a few words.
        seed: the source notebooks (``../shared/seeds/<file>``) and the sections it reproduces.
        skies: ``{sky name: module in the package}``, e.g. ``{"galactic_center": "sky"}``.
        aliases: other names the family answers to (e.g. its sky's name), for ``kzoo reproduce`` and ``get_family``.
        preset_limits: what a preset trained on the family's sky cannot know, for its model card.
        preset_usage: the lines of Python that use a preset of the family after ``model = kzoo.load(NAME)``, for
            its model card ({name} is the preset's name); empty: ``kzoo.predict.predict`` on image files.
        package: the Python package (set by the loader).
    """

    name: str
    title: str
    seed: str
    skies: dict = dataclasses.field(default_factory=dict)
    aliases: tuple = ()
    preset_limits: str = ""
    preset_usage: str = ""
    package: str = ""

    def folder(self) -> Path:
        """The package's folder (where its ``recipes/`` are)."""
        return Path(importlib.util.find_spec(self.package).origin).parent

    def part(self, name: str) -> types.ModuleType | None:
        """The family's module ``name`` (e.g. "models"), imported; None if it has none."""
        module = f"{self.package}.{name}"
        if importlib.util.find_spec(module) is None:
            return None
        return importlib.import_module(module)


_FAMILIES: dict[str, Family] = {}


def _packages() -> list[str]:
    """The family packages: kzoo's own folders, then the installed ones of the entry-point group."""
    found = [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg]
    for ep in importlib.metadata.entry_points(group=ENTRY_POINTS):
        if ep.value not in found:
            found.append(ep.value)
    return found


def other_packages() -> list[str]:
    """The family packages installed from other packages (the entry-point group), without importing them."""
    own = {f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg}
    return [p for p in _packages() if p not in own]


def families() -> dict[str, Family]:
    """Every family, ``{name: Family}``, in the order found (kzoo's own by name, then installed ones)."""
    if not _FAMILIES:
        found = {}
        for package in _packages():
            module = importlib.import_module(package)
            fam = getattr(module, "FAMILY", None)
            if not isinstance(fam, Family):
                raise ImportError(f"{package}: a kzoo family package declares FAMILY = kzoo.families.Family(...) in "
                                  f"its __init__.py")
            if fam.name in found:
                raise ImportError(f"{package}: family {fam.name!r} is declared twice (also {found[fam.name].package})")
            found[fam.name] = dataclasses.replace(fam, package=package)
        _FAMILIES.update(found)
    return _FAMILIES


def get_family(name: str) -> Family:
    """The family called ``name`` or one of its aliases; UnknownNameError names the closest."""
    fams = families()
    if name in fams:
        return fams[name]
    for fam in fams.values():
        if name in fam.aliases:
            return fam
    from kzoo.errors import closest

    raise closest(name, list(fams) + [a for f in fams.values() for a in f.aliases], "family")


def parts(name: str) -> dict[str, types.ModuleType]:
    """Module ``name`` of every family that has one, imported (which registers what it declares):
    ``{family name: module}``."""
    out = {}
    for fam in families().values():
        module = fam.part(name)
        if module is not None:
            out[fam.name] = module
    return out


def sky_family(sky: str) -> Family | None:
    """The family that declares sky ``sky``; None for a shared sky (a user's images)."""
    for fam in families().values():
        if sky in fam.skies:
            return fam
    return None


def skies() -> dict[str, str]:
    """``{sky name: module}`` of every family's skies."""
    out = {}
    for fam in families().values():
        for sky, module in fam.skies.items():
            if sky in out:
                raise ImportError(f"sky {sky!r} is declared by two families ({out[sky]} and {fam.package})")
            out[sky] = f"{fam.package}.{module}"
    return out
