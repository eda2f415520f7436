"""Photometric redshifts of source notebooks 001, group C: the source notebooks' MLP on magnitudes, on colours and on both (its
feature-engineering lesson), beside a random forest, gradient-boosted trees and a chi-square template fit (the
seed's central comparison) on the same split."""

from __future__ import annotations

from kzoo.experiments import Experiment, add, set_comparisons

SEED_001C = "001_08a5d74de1e70061.txt, Predicting Galaxy redshifts with ML (group C)"
GOALS = {"nmad": {"z": ("<=", 0.03)}, "outlier_fraction": {"z": ("<=", 0.05)}}

for _name, _inputs, _ref, _what in (
        ("photoz-mlp", "mags_colours", "random_forest", "the six magnitudes and all 15 colours"),
        ("photoz-mlp-colours", "colours", "gradient_boosting", "the 15 colours only"),
        ("photoz-mlp-mags", "mags", "template_fit", "the six magnitudes only")):
    add(Experiment(
        name=_name,
        recipe="photometry",
        model="photoz_mlp",
        inputs=_inputs,
        targets=("z",),
        scale_targets=True,
        normalization="none",  # the model standardises each feature itself (batch normalisation first)
        loss="mae",  # the source notebooks' L1 loss
        metrics=("mse",),
        batch_size=256,
        learning_rate=1e-3,
        epochs=200,
        patience=20,
        evaluation="regression",
        evaluation_args={"color_by": "sed_type"},
        reference_method=_ref,
        goals=GOALS if _inputs == "mags_colours" else {},
        reference={},
        seed=SEED_001C,
        description=f"Photometric redshift of LSST-like galaxies (i < 25.3, z < 3) from {_what}: the source notebooks' MLP "
                    "(256-256-256, L1 loss). NMAD and outlier fraction of dz = (z_pred - z) / (1 + z), R^2 beside "
                    "the source notebooks' table (its random forest: R^2 0.71 on 3D-HST).",
    ))

# group C's table (PyCaret's comparison, lines 660-680 of the seed) has no MLP row: its random forest's R^2 0.7124 and
# MAE 0.2238 are on 3D-HST photometry (9 HST filters), split not stated
_DATA = "their 3D-HST photometry (9 HST filters), ours 40,000 / 5,000 / 10,000 simulated LSST-like galaxies"
set_comparisons({
    "photoz-mlp": "the source notebooks give no number for their MLP (their table's random forest: R^2 0.7124, MAE "
                  f"0.2238, a classical number, split not stated); {_DATA}",
    "photoz-mlp-colours": "the source notebooks give no number (their random forest on 5 bands and all colours: a "
                          f"plot against Skelton et al. only); {_DATA}",
    "photoz-mlp-mags": "the source notebooks give no number (their random forest on the 5 bands alone: a plot against "
                       f"Skelton et al. only); {_DATA}",
})
