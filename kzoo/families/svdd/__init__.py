"""The svdd family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="svdd",
    title=("Deep SVDD anomaly detection of galaxy morphologies of seed 002: autoencoder pre-training, one-class and "
           "soft-boundary objectives"),
    seed="002_71e814634fb5d959.txt",
    skies={"morphology": "sky"},
    aliases=("morphology",),
)
