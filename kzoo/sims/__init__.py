"""Simulators: one module per sky, each a numpy function ``simulate(rng, n, **params)``.

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

SKIES = {
    "galactic_center": "kzoo.sims.galactic_center",
    "sersic": "kzoo.sims.sersic",
    "clusters": "kzoo.sims.clusters",
    "cosmo_maps": "kzoo.sims.cosmo_maps",
    "rings": "kzoo.sims.rings",
    "reionization": "kzoo.sims.reionization",
    "morphology": "kzoo.sims.morphology",
    "image_folder": "kzoo.sims.image_folder",
    "photometry": "kzoo.sims.photometry",
    "spectra": "kzoo.sims.spectra",
}


def get_sky(name: str):
    """The simulator module of sky ``name``; UnknownNameError lists the closest names."""
    if name not in SKIES:
        from kzoo.registry import closest

        raise closest(name, SKIES, "sky")
    return importlib.import_module(SKIES[name])
