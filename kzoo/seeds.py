"""The source notebooks kzoo reproduces (``../shared/seeds/``): their files and titles."""

from __future__ import annotations


# The seed documents (../shared/seeds/) by file, with their titles, as the seeds' index names them.
SEEDS = {
    "000_5837b5ed42dd2f8c.txt": "\"Applying ML on simulations of the Milky Way\" (AML project, 2023)",
    "001_08a5d74de1e70061.txt": "Summer-school hack presentations A-H (2024)",
    "002_71e814634fb5d959.txt": "\"Comparison of real and simulated galaxies using Deep Learning\"",
    "003_1092a4b99fd26c02.txt": "\"Measuring the Shape and Brightness of Galaxies with Neural Networks\" (CS109B, 2020)",
    "004_8f2d4ba38ebb956d.txt": "\"MAIS 202 Deliverable 3\" (2019): 21-cm ionisation maps",
}


def seed_title(seed: str) -> str:
    """The title of the seed document that ``seed`` (a ModelSpec's or experiment's ``seed``, starting
    with the file name) names, e.g. '"Applying ML on simulations of the Milky Way" (AML project, 2023)'."""
    file = seed.split(",")[0].strip()
    return SEEDS.get(file, file)
