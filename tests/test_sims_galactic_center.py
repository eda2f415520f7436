import numpy as np
import pytest

from kzoo.sims import galactic_center as gc
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


def test_psf_conserves_flux():
    k = gc.gaussian_kernel_1d(0.57, 5)
    assert abs(k.sum() - 1) < 1e-12
    img = np.zeros((2, 16, 16))
    img[0, 8, 8] = 100.0
    img[1, 2:-2, 2:-2] = np.random.default_rng(0).uniform(0, 10, (12, 12))
    out = gc.separable_filter(img, k)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), img.sum(axis=(1, 2)), rtol=1e-12)
    assert out[0, 8, 8] < 100.0  # it does blur
    # Only point sources: the expected map is the blurred flux map, which loses only what spills off the edge.
    out = gc.simulate(np.random.default_rng(2), 10, amplitude_range=(0.0, 0.0), **SMALL)
    ratio = out["expected"].sum() / out["ps_flux"].sum()
    assert 0.97 < ratio <= 1.0 + 1e-6


@pytest.mark.parametrize("rotate", [False, True])
def test_components_add_up_to_the_expected_map_and_change_no_draw(rotate):
    plain = gc.simulate(np.random.default_rng(8), 3, npix=16, rotate=rotate)
    sim = gc.simulate(np.random.default_rng(8), 3, npix=16, rotate=rotate, components=True)
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


def test_every_source_lands_in_the_frame_also_when_rotated():
    for rotate in (False, True):
        out = gc.simulate(np.random.default_rng(4), 8, rotate=rotate, flux_sigma=0.0, **SMALL)
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
