"""The Sersic (seed 003) Fisher / Cramer-Rao bound and the seed's L-BFGS-B baseline (kzoo.reference)."""

import numpy as np
import pytest

from kzoo import reference as shared
from kzoo.families.sersic import reference as R

FIXED = [R.SERSIC_FIXED_GALAXY[k] for k in R.SERSIC_PARAMS]
PSF = R.SERSIC_FIXED_GALAXY["psf_fwhm"]


def gaussian_blob(npix=48):
    """theta = (flux, s) -> a circular Gaussian of flux F and sigma s pixels, sampled at pixel centres."""
    import galsim

    def model(theta):
        return galsim.Gaussian(sigma=theta[1], flux=theta[0]).drawImage(
            nx=npix, ny=npix, scale=1.0, method="no_pixel", dtype=np.float64).array
    return model


def test_fisher_matrix_on_a_gaussian_blob_matches_the_analytic_bounds():
    # White Gaussian noise of variance sigma^2, a Gaussian blob of flux F and width s (pixels).
    # Flux alone: sigma_F^2 = sigma^2 / sum p_i^2 (p the unit-flux profile), and sum p^2 = 1 / (4 pi s^2) in the
    # continuum. Flux and width both free: sigma_F = sqrt(8 pi) s sigma, sigma_s = 2 sqrt(pi) s^2 sigma / F.
    F, s, sigma = 1e4, 3.0, 5.0
    model = gaussian_blob()
    f = shared.fisher_matrix(lambda t: model([t[0], s]), [F], sigma**2, [0.01 * F])
    p = model([1.0, s])
    _, crb = shared.covariance_bound(f["fisher"])
    assert crb[0] == pytest.approx(sigma / np.sqrt((p**2).sum()), rel=1e-6)
    assert crb[0] == pytest.approx(np.sqrt(4 * np.pi) * s * sigma, rel=0.05)
    assert not f["fisher_variance_term"].any()  # a fixed variance carries no information
    both = shared.fisher_matrix(model, [F, s], sigma**2, [0.01 * F, 0.01 * s])
    _, crb = shared.covariance_bound(both["fisher"])
    np.testing.assert_allclose(crb, [np.sqrt(8 * np.pi) * s * sigma, 2 * np.sqrt(np.pi) * s**2 * sigma / F], rtol=0.05)


def test_fixed_galaxy_bound_scales_as_one_over_snr_and_agrees_with_the_seed():
    # Gaussian noise alone (poisson=False): the bound is exactly proportional to sigma, so SNR 30 gives twice the
    # SNR 60 bound. With Poisson (variance mu + sigma^2) the Poisson part does not grow with sigma: the ratio is
    # a little under 2 (1.98-1.99 on this galaxy). The seed's typed-in table agrees with ours within a few percent.
    s60, s30 = (R.sersic_sigma_for_snr(FIXED, PSF, snr) for snr in (60, 30))
    assert s60 == pytest.approx(199.68, rel=1e-3)  # the seed's sigma 200 is SNR 60 for this galaxy
    for poisson, low in ((False, 1.98), (True, 1.95)):
        b60, b30 = (R.sersic_fisher(FIXED, PSF, s, poisson=poisson)["crb"] for s in (s60, s30))
        assert np.all((b30 / b60 > low) & (b30 / b60 < 2.02)), (poisson, b30 / b60)
    seed = np.array([R.SERSIC_SEED_CRB_SNR60[k] for k in R.SERSIC_PARAMS])
    f = R.sersic_fisher(FIXED, PSF, s60)
    np.testing.assert_allclose(f["crb"], seed, rtol=0.05)
    assert f["snr"] == pytest.approx(60)
    # the variance's own parameter dependence: ~1 / (2 v) of the information per pixel, negligible here
    np.testing.assert_allclose(f["crb_variance_term"], f["crb"], rtol=1e-4)
    assert np.all(f["crb_variance_term"] <= f["crb"])
    # per-image bounds from label rows (columns by name)
    names = ("flux", "n", "re", "g1", "g2", "psf_fwhm", "sigma")
    rows = np.array([[*FIXED, PSF, s60], [*FIXED, PSF, s30]])
    np.testing.assert_allclose(R.sersic_crb_for(rows, names=names), [f["crb"], b30], rtol=1e-9)


def test_bound_is_stable_when_the_steps_are_halved_or_doubled():
    st = R.sersic_step_stability(FIXED, PSF, 200.0, factors=(0.5, 2.0))
    assert np.all(st["max_relative_change"] < 0.01), st["max_relative_change"]


def test_lbfgs_fit_recovers_a_noiseless_galaxy():
    from kzoo.families.sersic.sky import draw_noiseless

    truth = np.array([2e5, 1.5, 0.4, 0.1, -0.2])
    fit = R.sersic_lbfgs_fit(draw_noiseless(*truth, PSF), 0.0, PSF)  # default start: image sum, n 2, moments
    np.testing.assert_allclose(fit["params"], truth, rtol=0.02)
    assert fit["ndraws"] == 11 * fit["nfev"] and fit["seconds"] > 0


def test_reference_entry_runs_on_a_tiny_fake_split(monkeypatch):
    import kzoo.data.reader as reader
    from kzoo.families.sersic.sky import draw_noiseless

    rng = np.random.default_rng(0)
    truth = np.array([[1e5, 2.0, 0.3, 0.05, 0.1], [2e5, 1.0, 0.4, -0.1, 0.0], [3e5, 4.0, 0.2, 0.0, 0.3]])
    images = np.stack([draw_noiseless(*t, PSF, npix=32) + rng.normal(0, 200, (32, 32)) for t in truth])
    labels = np.concatenate([truth, np.full((3, 1), PSF), np.full((3, 1), 200.0)], axis=1)

    def fake_batches(data_dir, split, inputs, targets, batch_size, **kwargs):
        assert inputs == "image" and list(targets) == [*R.SERSIC_PARAMS, "psf_fwhm", "sigma"]
        for i in range(0, 3, batch_size):
            yield images[i:i + batch_size, ..., None].astype(np.float32), labels[i:i + batch_size].astype(np.float32)

    monkeypatch.setattr(reader, "batches", fake_batches)
    manifest = {"recipe": {"params": {}}, "splits": {"test": {"count": 3}}}
    y_true, y_pred, names, info = R.REFERENCES["sersic_lbfgs"](manifest, "unused", "test", ["n", "flux", "snr"],
                                                                  max_images=2, maxiter=2)
    assert names == ["n", "flux"] and y_true.shape == y_pred.shape == (2, 2)
    np.testing.assert_allclose(y_true, truth[:2][:, [1, 0]], rtol=1e-6)
    lo, hi = np.array([R.SERSIC_PRIOR[k] for k in names]).T
    assert np.all((y_pred >= lo) & (y_pred <= hi))
    assert "first 2 of the 3 test images" in info and "s per image" in info
