"""The cosmo family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="cosmo",
    title=("Cosmological and feedback parameters from two-field maps of source notebooks 001, groups E and H: a CAMELS stand-in "
           "in two suites, a simple CNN, ResNet-18, the CAMELS network"),
    seed="001_08a5d74de1e70061.txt, groups E and H",
    skies={"cosmo_maps": "sky"},
    aliases=("cosmology", "cosmo_maps"),
    preset_limits=("Trained on kzoo's two-field maps (a log-normal mass field from colossus's linear P(k) and a "
                   "toy feedback pressure field; kzoo/families/cosmo/sky.py), not on CAMELS maps nor on observations: "
                   "a network trained on one suite's feedback model is biased on another's (the cosmo page measures "
                   "it). Inputs must be 64 x 64 maps of the two fields in the recipe's units; outside the training "
                   "parameter ranges it extrapolates without warning."),
)
