"""Seed 001 C: LSST-like photometry from the CWW templates, photo-z metrics, the MLP and the trees."""

import numpy as np
import pytest

import kzoo
from kzoo.families.photoz import sky as photometry


def test_the_catalogue_is_flux_limited_its_colours_are_differences_and_it_repeats_its_bytes():
    a = photometry.simulate(np.random.default_rng(3), 500)
    b = photometry.simulate(np.random.default_rng(3), 500)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    lab = dict(zip(photometry.LABELS, a["labels"].T))
    assert np.all(lab["mag_i_true"] <= 25.3) and np.all((lab["z"] >= 0) & (lab["z"] <= 3))
    for name, (lo, hi) in photometry.label_ranges().items():
        assert np.all((lab[name] >= lo) & (lab[name] <= hi)), name
    m = a["mags"]
    np.testing.assert_allclose(a["colours"][:, photometry.COLOURS.index("g-r")], m[:, 1] - m[:, 2], atol=1e-5)
    np.testing.assert_array_equal(a["mags_colours"], np.concatenate([a["mags"], a["colours"]], axis=1))
    # flux-limited: the redshift distribution comes from volume x luminosity x the cut, peaked near 1
    assert 0.6 < np.median(lab["z"]) < 1.6


def test_the_templates_have_the_colours_of_real_galaxies_and_the_4000_a_break_moves_with_redshift():
    grid, table = photometry.k_tables(3.0)
    colour = lambda t, a, b, k: -2.5 * np.log10(table[t, photometry.BANDS.index(a), k] /  # noqa: E731
                                                table[t, photometry.BANDS.index(b), k])
    assert 2.2 < colour(0, "u", "r", 0) < 2.8  # an elliptical's u - r (SDSS: ~2.5)
    assert colour(3, "u", "r", 0) < colour(0, "u", "r", 0) - 1.0  # an irregular is much bluer
    k = lambda z: int(round(z / photometry.Z_STEP))  # noqa: E731
    # the elliptical's 4000 A break crosses from the g into the r band near z 0.35: g - r reddens by over 0.5 mag
    assert colour(0, "g", "r", k(0.4)) > colour(0, "g", "r", k(0.0)) + 0.5
    # deeper data, smaller errors: magnitudes observed at 100 years scatter less than at 1 year
    true = photometry.magnitudes(np.array([1.0] * 2000), np.array([1.5] * 2000), np.array([-21.0] * 2000), 3.0)
    err = [np.std(photometry.observe(np.random.default_rng(0), true, y) - true, axis=0)[0] for y in (1.0, 100.0)]
    assert err[1] < err[0] / 3


def test_photoz_metrics_on_hand_made_redshifts():
    from kzoo.metrics import photoz_metrics

    z = np.array([0.0, 1.0, 2.0, 1.0])
    got = photoz_metrics(z, z + np.array([0.01, 0.02, 0.03, 1.0]))  # dz = 0.01, 0.01, 0.01, 0.5
    assert got["bias_dz"] == pytest.approx(0.01) and got["nmad"] == pytest.approx(0.0)
    assert got["outlier_fraction"] == pytest.approx(0.25)


def test_the_mlp_and_the_trees_of_the_seed(tmp_path):
    from kzoo.data import load_manifest, write_shards
    from kzoo.reference import references

    model = kzoo.build("photoz_mlp", input_shape=(6, 1))
    assert model.output.shape[-1] == 1 and model.count_params() == 6 * 4 + 6 * 256 + 256 + 2 * (256 * 256 + 256) + 257
    write_shards("photometry", tmp_path / "d", n=800, workers=1, progress=False)
    manifest = load_manifest(tmp_path / "d")
    for method in ("random_forest", "gradient_boosting"):  # the trees learn from ~580 galaxies
        y, pred, names, _ = references()[0][method](manifest, tmp_path / "d", "test", ["z"],
                                               **({"trees": 20} if method == "random_forest" else {}))
        assert names == ["z"] and pred.shape == y.shape
        assert 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2) > 0.5, method
    # the template fit needs no training galaxies: the templates are its model; on the sky's own templates it is
    # close to exact except for the colour degeneracies that make its outliers
    y, pred, names, info = references()[0]["template_fit"](manifest, tmp_path / "d", "test", ["z"])
    dz = (pred[:, 0] - y[:, 0]) / (1 + y[:, 0])
    assert names == ["z"] and "chi-square" in info
    assert 1.4826 * np.median(np.abs(dz - np.median(dz))) < 0.03 and np.mean(np.abs(dz) > 0.15) < 0.1
