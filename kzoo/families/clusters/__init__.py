"""The clusters family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="clusters",
    title=("Galaxy-cluster masses from X-ray images of seed 001, groups D and G: the Ntampaka CNN, rotation "
           "augmentation, the p4 group-equivariant CNN, saliency"),
    seed="001_08a5d74de1e70061.txt, groups D and G",
    skies={"clusters": "sky"},
)
