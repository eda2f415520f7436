"""Seed 001 A/B: spectra from the CWW templates and the seed's preprocessing."""

import numpy as np
import pytest

from kzoo.families.spectra import sky as spectra


def test_a_line_lands_at_one_plus_z_times_its_rest_wavelength():
    cat = spectra.simulate_catalogue(np.random.default_rng(0), 4, age_range=[0.1, 0.11], z_range=[0.1, 0.1001],
                                     snr_ref=1000.0, log_mass_range=[11.0, 11.01], outlier_rate=0.0)
    wave = cat["wave"]
    for z, f in zip(cat["z"], cat["flux"]):
        window = (wave > 6900) & (wave < 7500)
        peak = wave[window][np.argmax(f[window])]
        assert peak == pytest.approx(spectra.LINES["Halpha"] * (1 + z), abs=2 * 1e-4 * np.log(10) * peak)  # 2 pixels
    assert np.all(cat["template_t"] > 2.5)  # 100 Myr old: a late-type (Scd-Im) continuum


def test_cleaning_drops_exactly_the_bad_rows_and_counts_why():
    cat = spectra.simulate_catalogue(np.random.default_rng(1), 400, outlier_rate=0.2)
    keep, dropped = spectra.clean_catalogue(cat)
    bad = (cat["z"] < 0) | (cat["age_gyr"] <= 0) | (cat["metallicity"] <= 0) | (cat["log_mass"] > 13)
    np.testing.assert_array_equal(keep, ~bad)
    assert 40 < bad.sum() < 120 and sum(dropped.values()) == bad.sum()  # one kind of outlier per spoiled row
    rows, counted = spectra.preprocess(cat, {})
    assert counted == dropped and len(rows["z"]) == int((~bad).sum()) and np.all(rows["z"] > 0)


def test_resampling_is_exact_on_a_linear_function_and_binning_averages():
    wave = np.sort(np.random.default_rng(2).uniform(4000, 8000, 300))
    grid = np.linspace(4100, 7900, 57)
    np.testing.assert_allclose(spectra.resample(wave, 3.0 + 0.002 * wave, grid), 3.0 + 0.002 * grid, rtol=1e-12)
    np.testing.assert_allclose(spectra.bin_spectra(np.arange(12.0), 3), [1.5, 5.5, 9.5])
    with pytest.raises(ValueError, match="equal bins"):
        spectra.bin_spectra(np.arange(10.0), 3)
    x = spectra.log_minmax(np.array([[1.0, 10.0, 100.0]]))
    np.testing.assert_allclose(x, [[0.0, 0.5, 1.0]])


def test_the_stored_spectra_cover_the_common_rest_range_and_repeat_their_bytes():
    a = spectra.simulate(np.random.default_rng(3), 24)
    b = spectra.simulate(np.random.default_rng(3), 24)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert a["spectrum"].shape == (24, 500) and a["spectrum_obs"].shape == (24, 500)
    assert a["spectrum"].min() == 0.0 and a["spectrum"].max() == 1.0
    grid = spectra.rest_grid({})
    assert grid[0] >= 3800 / 1.02 and grid[-1] <= 9200 / 1.3 and len(grid) == 500
    for name, (lo, hi) in spectra.label_ranges().items():
        col = a["labels"][:, spectra.LABELS.index(name)]
        assert np.all((col >= lo) & (col <= hi)), name


def test_cross_correlation_against_the_templates_measures_the_redshift_of_real_spectra():
    s = spectra.simulate(np.random.default_rng(4), 60, snr_ref=60.0)
    z = s["labels"][:, spectra.LABELS.index("z")]
    got = spectra.cross_correlate(s["spectrum_obs"], spectra.obs_grid({}), np.arange(0.0, 0.351, 0.001))
    assert np.median(np.abs(got["z"] - z) / (1 + z)) < 0.005 and np.median(got["r"]) > 0.9
    assert set(np.unique(got["template"])) <= {0, 1, 2, 3}


def test_the_frechet_distance_of_shifted_gaussians():
    from kzoo.families.spectra.evaluate import frechet_distance

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    assert frechet_distance(a, b) < 0.02
    assert frechet_distance(a, b + [2.0, 0.0, 0.0]) == pytest.approx(4.0, abs=0.15)
    assert frechet_distance(a, 2.0 * b) == pytest.approx(3 * (1 + 4 - 2 * 2), abs=0.2)  # Tr(S + 4S - 2 (4 S^2)^1/2)


def test_the_page_holds_gaussian_against_uniform_noise_against_the_seeds_spread(tmp_path):
    from kzoo.families.spectra.page import noise_spread_section
    from kzoo.io import write_json
    from kzoo.reproduce import metric_spread

    assert noise_spread_section(tmp_path) == []  # nothing recorded: no section

    def record(frechets):
        runs = [{"seed": s, "epochs_run": 5, "metrics": {"frechet": {"generated": f, "real_vs_real": 0.003},
                                                         "cross_correlation": {"r_ks": 0.1, "template_agreement": 0.8}}}
                for s, f in enumerate(frechets, start=1)]
        return {"runs": runs, "summary": metric_spread([r["metrics"] for r in runs])}

    write_json(tmp_path / "spectra-wgan-gaussian-seeds.json", record([0.06, 0.07, 0.08]))
    one = "\n".join(noise_spread_section(tmp_path))
    assert "| [spectra-wgan-gaussian](spectra-wgan-gaussian-seeds.md) | 1, 2, 3 | 0.0600, 0.0700, 0.0800 " \
           "(0.0700 +- 0.0100) |" in one and "Welch" not in one  # one noise alone: no comparison
    write_json(tmp_path / "spectra-wgan-uniform-seeds.json", record([0.08, 0.09, 0.10]))
    both = "\n".join(noise_spread_section(tmp_path))
    # uniform - gaussian = 0.02 over a standard error of sqrt(2 * 0.01^2 / 3): t = 2.45
    assert "Frechet +0.0200 (Welch's t 2.45, p " in both
    assert "KS(r) +0.0000" in both and "KS(r) +0.0000 (" not in both  # no spread at all: no test
