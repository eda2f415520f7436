"""The gc family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="gc",
    title=("The Galactic-centre gamma-ray sky of source notebooks 000: dark-matter and point-source regression, point-source "
           "segmentation (U-net), denoising autoencoders"),
    seed="000_5837b5ed42dd2f8c.txt, Parts a-c and Appendices 1-2",
    skies={"galactic_center": "sky", "galactic_center_noise": "noise_sky"},
    aliases=("galactic_center",),
    preset_limits=("Trained on kzoo's simulation of the source notebooks' toy Galactic-centre sky (the public 'P6 "
                   "galactic-center excess' notebook's generative process: fixed templates, a log-normal gas of "
                   "log-scatter 0.13, an unnormalised 5 x 5 PSF, a toy disk of point sources), not on Fermi-LAT "
                   "data: real data differ in exposure, PSF, diffuse model and source populations, and the model "
                   "has never seen them. Inputs must be 64 x 64 counts maps of the recipe's pixelisation and units; "
                   "outside the training label ranges it extrapolates without warning."),
)
