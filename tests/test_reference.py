import numpy as np
import pytest

from kzoo.reference import galactic_center_fisher

TINY = dict(npix=12, n_gc_range=[20, 80], n_disk_range=[100, 400])


def test_fisher_states_order_and_the_metric_beside_the_seeds():
    f = galactic_center_fisher(n_images=3, n_cov=600, chunk=200, **TINY)
    known, gas, fields = (f[s]["A_dm"] for s in ("known_maps", "gaussian_unknown_gas", "gaussian_unknown_fields"))
    assert 0 < known["sigma_mean"] < gas["sigma_mean"] < fields["sigma_mean"]
    for v in (known, gas, fields):  # an efficient unbiased estimator: E|d| = sqrt(2/pi) sigma; A_dm's range is [0, 1]
        assert v["mae"] == pytest.approx(np.sqrt(2 / np.pi) * v["sigma_mean"])
        assert v["mae_scaled"] == v["mae"]
    wide = galactic_center_fisher(n_images=3, n_cov=600, chunk=200, amplitude_range=[0.0, 2.0], **TINY)
    for state in ("known_maps", "gaussian_unknown_gas", "gaussian_unknown_fields"):
        for v in wide[state].values():
            assert v["mae_scaled"] == pytest.approx(v["mae"] / 2)


@pytest.mark.parametrize("physical", [False, True])
def test_known_source_fit_uses_the_skys_psf(physical):
    # The known-source template fit blurs the stored flux map with the sky's own PSF: the seed's un-normalised one
    # unless psf_normalised. Noiseless maps built the simulator's way are fitted exactly.
    from kzoo.reference import poisson_template_fit
    from kzoo.sims import galactic_center as gc

    params = {**TINY, **(gc.PHYSICAL if physical else {})}
    sim = gc.simulate(np.random.default_rng(0), 2, components=True, **params)
    background = gc.separable_filter(sim["ps_flux"].astype(np.float64), gc.psf_kernel_1d(gc.validate_params(params)))
    np.testing.assert_allclose(background, sim["components"][:, 4], rtol=1e-4, atol=1e-3)
    T = {k: v for k, v in gc.mean_templates(**params).items() if not k.startswith("ps_")}
    truth = np.array([0.4, 0.6, 0.3, 0.8])
    mu = np.tensordot(truth, np.stack(list(T.values())), 1)[None] + background[:1]
    fit = poisson_template_fit(mu, T, background=background[:1])
    np.testing.assert_allclose([fit[k][0] for k in T], truth, rtol=1e-3)
