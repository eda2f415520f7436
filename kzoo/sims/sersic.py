"""Sersic galaxies of seed 003 drawn with GalSim: noisy 64 x 64 images and their five parameters.

The seed's generative process (../shared/design/SEED-NOTES.md, "Sersic galaxies"): a Sersic profile of
index n and half-light radius re (arcsec), total flux ``flux`` (counts), sheared by (g1, g2), convolved
with a Moffat(beta=2) PSF of FWHM ``psf_fwhm`` (arcsec) and drawn by GalSim's default method (FFT,
integrated over 0.23 arcsec pixels) on 64 x 64 pixels.
"""

from __future__ import annotations

import numpy as np

PIXEL_SCALE = 0.23  # arcsec per pixel
PSF_BETA = 2.0      # Moffat slope of the seed's PSF


def draw_noiseless(flux: float, n: float, re: float, g1: float, g2: float, psf_fwhm: float, npix: int = 64,
                   pixel_scale: float = PIXEL_SCALE, psf_beta: float = PSF_BETA) -> np.ndarray:
    """One noiseless galaxy image (npix, npix), float64, in counts per pixel, drawn by GalSim."""
    import galsim

    gal = galsim.Sersic(n=float(n), half_light_radius=float(re), flux=float(flux)).shear(g1=float(g1), g2=float(g2))
    psf = galsim.Moffat(beta=psf_beta, fwhm=float(psf_fwhm))
    image = galsim.Convolve(gal, psf).drawImage(nx=npix, ny=npix, scale=pixel_scale)
    return image.array.astype(np.float64)


def draw_psf(psf_fwhm: float, npix: int = 64, pixel_scale: float = PIXEL_SCALE, psf_beta: float = PSF_BETA) -> np.ndarray:
    """The PSF image (npix, npix), float64, of unit total flux (pixel-integrated, as the galaxy is)."""
    import galsim

    psf = galsim.Moffat(beta=psf_beta, fwhm=float(psf_fwhm))
    return psf.drawImage(nx=npix, ny=npix, scale=pixel_scale).array.astype(np.float64)
