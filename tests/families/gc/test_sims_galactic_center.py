import numpy as np
import pytest

from kzoo.families.gc import sky as gc
from kzoo.sims import get_sky

SMALL = {"npix": 32, "n_gc_range": (20, 80), "n_disk_range": (100, 400)}


def test_shapes_dtypes_and_label_ranges():
    out = gc.simulate(np.random.default_rng(0), 40, **SMALL)
    for k in gc.FEATURES:
        assert out[k].shape == (40, 32, 32) and out[k].dtype == np.float32
    assert out["labels"].shape == (40, len(gc.LABELS))
    ranges = gc.label_ranges(**SMALL)
    for j, name in enumerate(gc.LABELS):
        lo, hi = ranges[name]
        assert (out["labels"][:, j] >= lo).all() and (out["labels"][:, j] <= hi).all(), name
    assert (out["counts"] == np.round(out["counts"])).all() and (out["counts"] >= 0).all()


def test_same_seed_same_arrays_different_seed_different():
    a = gc.simulate(np.random.default_rng(5), 6, **SMALL)
    b = gc.simulate(np.random.default_rng(5), 6, **SMALL)
    c = gc.simulate(np.random.default_rng(6), 6, **SMALL)
    for k in a:
        assert np.array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])


def test_counts_are_poisson_around_the_expected_map():
    out = gc.simulate(np.random.default_rng(1), 20, npix=64)
    e, c = out["expected"].astype(np.float64), out["counts"].astype(np.float64)
    m = e > 0.5
    resid = (c - e)[m]
    assert abs(resid.mean()) < 0.02 * np.sqrt(e[m].mean())
    # variance equals the mean for a Poisson variable: the chi^2 per pixel is 1
    assert abs(np.mean(resid**2 / e[m]) - 1.0) < 0.03


def test_psf_kernel_is_the_seeds_unless_normalised():
    k = gc.gaussian_kernel_1d(0.57, 5)
    assert abs(k.sum() - 1) < 1e-12
    img = np.zeros((2, 16, 16))
    img[0, 8, 8] = 100.0
    img[1, 2:-2, 2:-2] = np.random.default_rng(0).uniform(0, 10, (12, 12))
    out = gc.separable_filter(img, k)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), img.sum(axis=(1, 2)), rtol=1e-12)
    assert out[0, 8, 8] < 100.0  # it does blur
    # The seed's 5 x 5 kernel exp(-r^2 / (2 (0.8/3)^2)) at 0.469-deg pixel offsets, never divided by its sum 2.047.
    seed = gc.psf_kernel_1d(gc.validate_params({}))
    assert seed[2] == 1.0 and np.outer(seed, seed).sum() == pytest.approx(2.047, abs=5e-4)
    x = (np.arange(5) - 2) * 30.0 / 64
    np.testing.assert_allclose(np.outer(seed, seed), np.exp(-(x[:, None] ** 2 + x[None] ** 2) / (2 * (0.8 / 3) ** 2)))
    # Only point sources: the expected map is the blurred flux map, which loses only what spills off the edge.
    out = gc.simulate(np.random.default_rng(2), 10, amplitude_range=(0.0, 0.0), psf_normalised=True, **SMALL)
    assert 0.97 < out["expected"].sum() / out["ps_flux"].sum() <= 1.0 + 1e-6
    out = gc.simulate(np.random.default_rng(2), 10, amplitude_range=(0.0, 0.0), **SMALL)
    k2 = np.outer(*(2 * [gc.psf_kernel_1d(gc.validate_params(SMALL))])).sum()  # 1.43 at 0.94-deg pixels
    assert 0.97 * k2 < out["expected"].sum() / out["ps_flux"].sum() <= k2 * (1 + 1e-6)


def _mean_total(**params):
    """The mean total expected counts per image from the mean templates (amplitudes average 1/2)."""
    t = gc.mean_templates(**params)
    return 0.5 * sum(t[k].sum() for k in ("dm", "pi0", "ic", "bubbles")) + t["ps_gc"].sum() + t["ps_disk"].sum()


@pytest.mark.parametrize("params,low,high", [({}, 131_000, 136_000), (gc.PHYSICAL, 63_000, 67_000)])
def test_mean_total_counts_are_the_seeds_or_half_of_them_on_the_physical_sky(params, low, high):
    # The seed's PSF kernel sums to 2.047, so its images hold ~134,500 counts on average; the physical sky ~65,500.
    mean = _mean_total(**params)
    assert low < mean < high
    sim = gc.simulate(np.random.default_rng(11), 48, **params)
    totals = sim["expected"].sum(axis=(1, 2))
    assert abs(totals.mean() - mean) < 4 * totals.std() / np.sqrt(len(totals))
    assert abs(sim["counts"].sum() / sim["expected"].sum() - 1) < 1e-3


def _log_field_stats(params):
    p = gc.validate_params(params)
    g = gc.gas_log_field(np.random.default_rng(12).standard_normal((40, 64, 64), dtype=np.float32), p)
    g = g.astype(np.float64)[:, 8:-8, 8:-8]  # away from the edge, where the variance is reduced
    d = g - g.mean()
    corr = [np.mean(d[:, :, 1:] * d[:, :, :-1]) / d.var(), np.mean(d[:, 1:] * d[:, :-1]) / d.var()]
    return g.mean(), g.std(), corr


def test_gas_log_field_is_the_seeds_gentle_one():
    # The seed: white noise filtered by exp(-d^2 / (2 x 0.25^2)) (not normalised), divided by 8: std 1.059 / 8.
    mean, std, corr = _log_field_stats({})
    assert abs(mean) < 0.005 and std == pytest.approx(0.1324, abs=0.002)
    assert corr == pytest.approx([0.326, 0.326], abs=0.02)
    kern = gc.gas_kernel_1d(gc.validate_params({}))
    assert kern.max() == 1.0 and np.sum(kern**2) == pytest.approx(1.0595, abs=1e-4)
    # The gas map is envelope x exp(g): pixels vary by ~13 % about the envelope, and its mean factor is exp(var/2).
    factor = gc.gas_mean_factor(gc.validate_params({}))
    assert factor[32, 32] == pytest.approx(np.exp(0.5 * 0.13243**2), rel=1e-4)


def test_gas_log_field_of_the_physical_sky_is_unit_variance_and_nearly_white():
    mean, std, corr = _log_field_stats(gc.PHYSICAL)
    assert mean == pytest.approx(-0.5, abs=0.02) and std == pytest.approx(1.0, abs=0.02)
    assert corr == pytest.approx([0.06, 0.06], abs=0.02)


def _seed_toy_disk(rng, m, rd=np.degrees(5 / 8.3), h=np.degrees(0.3 / 8.3), hw=15.0):
    """The seed's own sampler (its Simulator._sample_ps_disk_xy with redraws), written out independently."""
    l, b = np.empty(0), np.empty(0)
    while l.size < m:
        r, y = rng.exponential(rd, 4 * m), rng.exponential(h, 4 * m)
        y *= 2 * ((rng.random(4 * m) > 0.5) - 0.5)
        x = r * np.cos(2 * np.pi * rng.random(4 * m))
        ok = (np.abs(x) <= hw) & (np.abs(y) <= hw)
        l, b = np.concatenate([l, x[ok]]), np.concatenate([b, y[ok]])
    return l[:m], b[:m]


def test_disk_sources_follow_the_seeds_toy_disk():
    # Longitude l = R cos(u), R exponential of mean 34.5 deg; |b| exponential of mean 2.07 deg.
    p = gc.validate_params({})
    fl, fb = gc.toy_disk_cdf([-15.0, -3.0, 3.0, 15.0], [-15.0, -1.0, 1.0, 15.0], p)
    within_l3 = (fl[2] - fl[1]) / (fl[3] - fl[0])
    assert within_l3 == pytest.approx(0.359, abs=0.002)  # 36 % of the in-frame sources within |l| < 3 deg
    l, b = _seed_toy_disk(np.random.default_rng(13), 200_000)
    assert np.mean(np.abs(l) < 3) == pytest.approx(within_l3, abs=0.004)
    assert np.mean(np.abs(b) < 1) == pytest.approx((fb[2] - fb[1]) / (fb[3] - fb[0]), abs=0.004)
    # The simulator's pixels: longitude and latitude profiles of the disk population against the exact ones.
    out = gc.simulate(np.random.default_rng(14), 60, amplitude_range=(0, 0), n_gc_range=(0, 1), flux_sigma=0.0)
    counts = out["ps_flux"] / np.exp(1.0)
    prob = gc._toy_disk_pixel_prob(64, 15.0, 5.0, 0.3, 8.3)
    n = counts.sum()
    for axis in (0, 1):  # axis 0 sums rows: the longitude profile; axis 1: the latitude profile
        seen, want = counts.sum(axis=(0, 1 + axis)), n * prob.sum(axis=axis)
        assert np.sum((seen - want) ** 2 / want) < 64 + 6 * np.sqrt(128)  # chi^2 of 64 bins
    step = 30.0 / 64
    lc, bc = gc.pixel_centres(64, 15.0)
    assert counts.sum(0)[np.abs(lc) < 6 * step].sum() / n == pytest.approx(0.342, abs=0.01)  # |l| < 2.81 deg
    assert counts.sum(0)[np.abs(bc) < 2 * step].sum() / n == pytest.approx(0.364, abs=0.01)  # |b| < 0.94 deg


def test_the_physical_recipe_reproduces_the_earlier_sky():
    from kzoo.data.recipes import load_recipe

    params = load_recipe("galactic_center_physical")["params"]
    assert params == gc.PHYSICAL
    assert 63_000 < _mean_total(**params) < 67_000
    # the line-of-sight disk: 20 % of the sources within |l| < 2.81 deg, 48 % within |b| < 0.94 deg
    prob, _, _ = gc._disk_pixel_prob(64, 15.0, 5.0, 0.3, 8.3, False)
    lc, bc = gc.pixel_centres(64, 15.0)
    step = 30.0 / 64
    assert prob[np.abs(lc) < 6 * step].sum() == pytest.approx(0.199, abs=0.003)
    assert prob[np.abs(bc) < 2 * step].sum() == pytest.approx(0.477, abs=0.003)
    # the bubbles' two lobes summed everywhere (each leaks across the plane); the seed splits them at b = 0
    l, b = np.array([0.0, 0.0]), np.array([0.23, -0.23])
    seed = gc._templates(l, b, gc.validate_params({}))["bubbles"]
    phys = gc._templates(l, b, gc.validate_params(params))["bubbles"]
    north, south = 10.5 * (np.cosh(1 / 10.5) - 1) + 1, -8.7 * (np.cosh(1.7 / 8.7) - 1) - 1
    np.testing.assert_allclose(seed, 3 / (1 + np.exp(-np.array([0.23 - north, south + 0.23]) / 0.6)))
    np.testing.assert_allclose(phys - seed, 3 / (1 + np.exp(-np.array([south - 0.23, -0.23 - north]) / 0.6)))
    assert np.all(phys - seed > 0.25)


@pytest.mark.parametrize("rotate", [False, True])
@pytest.mark.parametrize("sky", ["seed", "physical"])
def test_components_add_up_to_the_expected_map_and_change_no_draw(rotate, sky):
    params = {"npix": 16, "rotate": rotate, **(gc.PHYSICAL if sky == "physical" else {})}
    plain = gc.simulate(np.random.default_rng(8), 3, **params)
    sim = gc.simulate(np.random.default_rng(8), 3, components=True, **params)
    assert np.array_equal(plain["counts"], sim["counts"])
    comp, amps = sim["components"], sim["labels"][:, :4]
    assert comp.shape == (3, 5, 16, 16)
    total = np.einsum("nk,nkhw->nhw", amps, comp[:, :4]) + comp[:, 4]
    np.testing.assert_allclose(total, sim["expected"], rtol=1e-5, atol=1e-4)
    assert not np.allclose(comp[0, 1], comp[1, 1])  # each image has its own gas realisation


def test_disk_sources_hug_the_plane_and_gc_sources_the_centre():
    npix = 64
    out = gc.simulate(np.random.default_rng(3), 20, amplitude_range=(0, 0), n_gc_range=(0, 1), npix=npix)
    l, b = gc.pixel_centres(npix, 15.0)
    flux = out["ps_flux"].sum(0)
    assert flux[np.abs(b) < 2].sum() / flux.sum() > 0.5
    out = gc.simulate(np.random.default_rng(3), 20, amplitude_range=(0, 0), n_disk_range=(0, 1), npix=npix)
    flux = out["ps_flux"].sum(0)
    r = np.hypot(l, b)
    assert flux[r < 7.5].sum() / flux.sum() > 0.5


@pytest.mark.parametrize("disk_model", ["toy", "line_of_sight"])
def test_every_source_lands_in_the_frame_also_when_rotated(disk_model):
    for rotate in (False, True):
        out = gc.simulate(np.random.default_rng(4), 8, rotate=rotate, flux_sigma=0.0, disk_model=disk_model, **SMALL)
        # flux_sigma 0: every source has flux exp(mu); the map must hold all n_gc + n_disk of them
        n_sources = out["labels"][:, 4] + out["labels"][:, 5]
        np.testing.assert_allclose(out["ps_flux"].sum(axis=(1, 2)), n_sources * np.exp(1.0), rtol=1e-5)


def test_rotation_changes_the_sky_but_not_the_labels_distribution():
    a = gc.simulate(np.random.default_rng(7), 4, **SMALL)
    b = gc.simulate(np.random.default_rng(7), 4, rotate=True, **SMALL)
    assert not np.allclose(a["expected"], b["expected"])


@pytest.mark.parametrize("bad,match", [
    ({"n_gc_range": (5, 5)}, "n_gc_range"),
    ({"n_disk_range": (-10, 40)}, "n_disk_range"),
    ({"npix": 0}, "npix"),
    ({"psf_size": 4}, "psf_size"),
    ({"amplitude_range": (1.0, 0.0)}, "amplitude_range"),
    ({"half_width_deg": -1}, "half_width_deg"),
    ({"dark_matter": 1}, "unknown parameter"),
    ({"gas_model": "gaussian"}, "gas_model must be one of 'seed', 'lognormal'"),
    ({"disk_model": True}, "disk_model"),
    ({"psf_normalised": 1}, "psf_normalised"),
])
def test_bad_parameters_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        gc.simulate(np.random.default_rng(0), 2, **bad)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        gc.simulate(np.random.default_rng(0), n)


def test_rng_must_be_a_generator():
    with pytest.raises(ValueError, match="rng"):
        gc.simulate(0, 2)


def test_sky_lookup():
    assert get_sky("galactic_center") is gc
    with pytest.raises(KeyError, match="galactic_center"):
        get_sky("galactic_centre")
