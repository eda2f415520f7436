import numpy as np
import pytest

from kzoo.families.gc.reference import galactic_center_fisher

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
    from kzoo.families.gc.reference import poisson_template_fit
    from kzoo.families.gc import sky as gc

    params = {**TINY, **(gc.PHYSICAL if physical else {})}
    sim = gc.simulate(np.random.default_rng(0), 2, components=True, **params)
    background = gc.separable_filter(sim["ps_flux"].astype(np.float64), gc.psf_kernel_1d(gc.validate_params(params)))
    np.testing.assert_allclose(background, sim["components"][:, 4], rtol=1e-4, atol=1e-3)
    T = {k: v for k, v in gc.mean_templates(**params).items() if not k.startswith("ps_")}
    truth = np.array([0.4, 0.6, 0.3, 0.8])
    mu = np.tensordot(truth, np.stack(list(T.values())), 1)[None] + background[:1]
    fit = poisson_template_fit(mu, T, background=background[:1])
    np.testing.assert_allclose([fit[k][0] for k in T], truth, rtol=1e-3)


def scipy_template_fit(counts, templates, background=None, x0=0.5):
    """The per-image L-BFGS-B fit that poisson_template_fit replaced (kzoo before issue 11): the reference."""
    from scipy.optimize import minimize

    T = np.stack([np.asarray(t, np.float64).ravel() for t in templates.values()], axis=1)
    scale = T.sum(axis=0)
    Tn = T / scale
    c = np.asarray(counts, np.float64).reshape(len(counts), -1)
    bg = np.zeros_like(c) if background is None else np.asarray(background, np.float64).reshape(c.shape)
    out = np.zeros((len(c), T.shape[1]))
    for i in range(len(c)):
        def nll(a):
            mu = Tn @ a + bg[i] + 1e-12
            return float(mu.sum() - c[i] @ np.log(mu)), Tn.sum(axis=0) - Tn.T @ (c[i] / mu)

        a0 = np.full(T.shape[1], max(c[i].sum(), 1.0) / T.shape[1]) * x0 * 2
        res = minimize(nll, a0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * T.shape[1],
                       options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
        out[i] = res.x / scale
    return out


def _simulated_fit_problem(known_sources: bool, n: int = 48):
    """Simulated tiny maps (the seed's sky at 16 x 16) and the templates the classical reference fits."""
    from kzoo.families.gc import sky as gc

    params = {**TINY, "npix": 16}
    sim = gc.simulate(np.random.default_rng(11), n, **params)
    templates = gc.mean_templates(**params)
    background = None
    if known_sources:
        background = gc.separable_filter(sim["ps_flux"].astype(np.float64), gc.psf_kernel_1d(gc.validate_params(params)))
        templates = {k: v for k, v in templates.items() if not k.startswith("ps_")}
    return sim["counts"], templates, background


@pytest.mark.parametrize("known_sources", [False, True])
def test_vectorised_template_fit_reaches_the_scipy_fits_likelihood(known_sources):
    from kzoo.families.gc.reference import poisson_cramer_rao, poisson_nll, poisson_template_fit

    counts, templates, background = _simulated_fit_problem(known_sources)
    fit = poisson_template_fit(counts, templates, background=background)
    new = np.stack([fit[k] for k in templates], axis=1)
    old = scipy_template_fit(counts, templates, background)
    T = np.stack([t.ravel() for t in templates.values()], axis=1).astype(np.float64)
    c = counts.reshape(len(counts), -1).astype(np.float64)
    b = 0.0 if background is None else background.reshape(c.shape)
    nll_new, nll_old = poisson_nll(new, c, T, b), poisson_nll(old, c, T, b)
    assert np.all(nll_new <= nll_old + 1e-12 * np.abs(nll_old)), np.max((nll_new - nll_old) / np.abs(nll_old))
    assert (new >= 0).all() and (new == 0).any()  # some amplitudes sit at the bound
    sigma = np.array([poisson_cramer_rao(T.T, np.maximum(a, 1e-3), 0.0 if background is None else bi)
                      for a, bi in zip(new, c if background is None else b)])
    same = nll_old - nll_new < 1e-9 * np.abs(nll_old)  # where L-BFGS-B converged, the two fits are one
    assert same.mean() > 0.5
    assert np.max(np.abs(new - old)[same] / sigma[same]) < 1e-2


def test_vectorised_template_fit_meets_the_optimality_conditions_and_repeats_bytes():
    # Karush-Kuhn-Tucker: the gradient of the NLL vanishes on the free amplitudes and points inwards (> 0) at 0.
    from kzoo.families.gc.reference import poisson_template_fit

    counts, templates, _ = _simulated_fit_problem(False, n=300)  # three blocks of FIT_BLOCK
    fit = poisson_template_fit(counts, templates)
    a = np.stack([fit[k] for k in templates], axis=1)
    T = np.stack([t.ravel() for t in templates.values()], axis=1).astype(np.float64)
    c = counts.reshape(len(counts), -1).astype(np.float64)
    mu = a @ T.T + 1e-12
    grad = (T.sum(axis=0) - (c / mu) @ T) / T.sum(axis=0)  # d NLL / d(amplitude in units of the template's total)
    free = a > 0
    assert np.abs(grad[free]).max() < 1e-5 and grad[~free].min() > -1e-5 and (~free).sum() > 10
    again = poisson_template_fit(counts, templates)
    assert all(again[k].tobytes() == fit[k].tobytes() for k in templates)
    one = poisson_template_fit(counts[7:8], templates)  # an image's fit does not depend on the others'
    np.testing.assert_allclose([one[k][0] for k in templates], a[7], rtol=1e-9, atol=1e-9)


def test_template_fit_refuses_bad_input_in_one_line():
    from kzoo.families.gc.reference import poisson_template_fit

    counts, templates, _ = _simulated_fit_problem(False, n=2)
    for kwargs, match in (({"counts": -counts}, "counts must be finite and non-negative"),
                          ({"background": -np.ones_like(counts)}, "background must be finite and non-negative"),
                          ({"x0": 0.0}, "x0 must be > 0"),
                          ({"templates": {**templates, "dm": 0 * templates["dm"]}}, r"\['dm'\] are zero everywhere")):
        with pytest.raises(ValueError, match=match) as e:
            poisson_template_fit(**{"counts": counts, "templates": templates, **kwargs})
        assert "\n" not in str(e.value)
    zero = poisson_template_fit(np.zeros_like(counts), templates)  # no counts at all: every amplitude 0
    assert all((v == 0).all() for v in zero.values())
