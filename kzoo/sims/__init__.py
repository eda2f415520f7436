"""Simulators: one module per sky (in its family's folder, see kzoo.families), each a numpy function ``simulate(rng, n, **params)``.

Every sky module defines ``simulate``, ``DEFAULTS`` (its parameters), ``PARAMS`` (each parameter's
type and allowed range, a ``kzoo.sims.params.Param``), ``LABELS`` (label names in order), ``FEATURES``
(the image arrays it returns), ``validate_params`` (``check_params`` with its PARAMS: every problem at
once) and ``label_ranges``. It may set ``PROBE_PIXELS``: ``kzoo.data.shards`` times jobs of more pixels
than that before writing (a slow simulator sets it low); ``SIM_BYTES_PER_PIXEL``, its peak memory per
pixel of the images simulated at once (kzoo.data.shards' bound otherwise); ``feature_shape(name, params)`` for arrays that are
not (npix, npix) (multi-channel maps); ``group_size(params)`` when it draws images in groups that must stay
in one split (maps of one parameter set, or of one 21-cm realisation; a group may span many records);
``check_available()`` when it needs an optional package (raises the ImportError that says what to install).
"""

from __future__ import annotations

import importlib

SHARED_SKIES = {"image_folder": "kzoo.sims.image_folder"}  # skies of no family: a user's own images


def skies() -> dict[str, str]:
    """``{sky name: module}``: every family's skies (``kzoo.families``) and the shared ones."""
    from kzoo.families import skies as family_skies

    return {**family_skies(), **SHARED_SKIES}


def get_sky(name: str):
    """The simulator module of sky ``name``; UnknownNameError lists the closest names."""
    known = skies()
    if name not in known:
        from kzoo.errors import closest

        raise closest(name, known, "sky")
    return importlib.import_module(known[name])
