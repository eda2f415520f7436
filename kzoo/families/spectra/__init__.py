"""The spectra family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="spectra",
    title="Galaxy spectra of source notebooks 001, groups A and B: a conditional WGAN (ResNet + CBAM), rest and observed frame",
    seed="001_08a5d74de1e70061.txt, groups A and B",
    skies={"spectra": "sky"},
    preset_limits=("A generator trained on kzoo's simulated rest-frame spectra (templates with noise, the source "
                   "notebooks' parameter ranges), not on survey spectra; it draws spectra for given parameters and "
                   "noise and measures nothing; conditions outside the training ranges are extrapolation."),
    preset_usage=("spectra = model.generate([[5.0, 0.02, 10.5, 0.1]], seed=0)  # (n, 500, 1) spectra for rows of\n"
                  "# age_gyr, metallicity, log_mass, z in physical units, from noise seeded by seed"),
)
