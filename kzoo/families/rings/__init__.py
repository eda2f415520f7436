"""The rings family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="rings",
    title="Cherenkov rings of source notebooks 001, group F: counting, measuring, PCA + SVM and a conditional VAE",
    seed="001_08a5d74de1e70061.txt, group F",
    skies={"rings": "sky"},
    preset_limits=("Trained on kzoo's images of simulated Cherenkov rings after seed 001 group F's toy generator, not on "
                   "detector data; inputs must be images of the recipe's size and scale."),
)
