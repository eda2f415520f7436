"""The cosmo family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="cosmo",
    title=("Cosmological and feedback parameters from two-field maps of seed 001, groups E and H: a CAMELS stand-in "
           "in two suites, a simple CNN, ResNet-18, the CAMELS network"),
    seed="001_08a5d74de1e70061.txt, groups E and H",
    skies={"cosmo_maps": "sky"},
    aliases=("cosmology", "cosmo_maps"),
)
