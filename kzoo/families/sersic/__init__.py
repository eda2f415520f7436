"""The sersic family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="sersic",
    title=("Sersic galaxies of source notebooks 003: five parameters by the separable-convolution Xception, the "
           "parameter-latent autoencoder, the denoising pipeline and the Cramer-Rao bound"),
    seed="003_1092a4b99fd26c02.txt",
    skies={"sersic": "sky"},
    preset_limits=("Trained on GalSim Sersic galaxies with a Moffat PSF and Gaussian noise as the source notebooks simulated "
                   "them, not on survey images: no neighbours, no sky gradients, no pixel masks, one PSF family. "
                   "Inputs must be 64 x 64 images at the recipe's pixel scale and noise units."),
)
