"""The photoz family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="photoz",
    title=("Photometric redshifts of source notebooks 001, group C: the source notebooks' MLP on LSST magnitudes and colours beside a "
           "random forest and gradient-boosted trees"),
    seed="001_08a5d74de1e70061.txt, group C",
    skies={"photometry": "sky"},
    aliases=("photometry",),
    preset_limits=("Trained on kzoo's simulated LSST-like photometry (templates through the LSST bandpasses, the "
                   "recipe's magnitude and redshift ranges), not on survey data: real galaxies bring other spectral "
                   "types, photometric errors and selections; outside the training magnitudes and redshifts it "
                   "extrapolates without warning."),
)
