"""The svdd family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="svdd",
    title=("Deep SVDD anomaly detection of galaxy morphologies of source notebooks 002: autoencoder pre-training, one-class and "
           "soft-boundary objectives"),
    seed="002_71e814634fb5d959.txt",
    skies={"morphology": "sky"},
    aliases=("morphology",),
    preset_limits=("Trained on kzoo's simulated grey 256 x 256 galaxies of one class (Sersic ellipticals, exponential "
                   "disks with logarithmic arms, bars), not on survey images; its score is a distance from the centre "
                   "of that class's features, with no threshold until it is judged on labelled images (kzoo evaluate "
                   "on a dataset of all classes sets the zones); photographs go through kzoo import-images' grey, "
                   "resized, min-max scaled preparation first."),
)
