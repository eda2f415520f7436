"""The Sersic sky of seed 003 (kzoo.families.sersic.sky): tiny sizes, GalSim takes ~40 ms per image with a new n."""

import hashlib
import json

import numpy as np
import pytest

from kzoo.cli import main
from kzoo.data import load_recipe, write_shards
from kzoo.sims import get_sky
from kzoo.families.sersic import sky as sersic
from kzoo.sims.params import ParamError

TEST_GALAXY = [1e5, 3.0, 0.3, -0.069, 0.15]  # the seed's fixed test galaxy: flux, n, re, g1, g2 (PSF 0.5)


@pytest.fixture(scope="module")
def v1():
    """Six images of the seed's dataset 1 (PSF 0.5, sigma 200) and its label ranges."""
    params = load_recipe("sersic_v1")["params"]
    return sersic.simulate(np.random.default_rng(0), 6, **params), sersic.label_ranges(**params)


def test_shapes_labels_snr_and_noise(v1):
    out, ranges = v1
    for k in sersic.FEATURES:
        assert out[k].shape == (6, 64, 64) and out[k].dtype == np.float32
    assert out["labels"].shape == (6, 8) and out["labels"].dtype == np.float32
    lab = dict(zip(sersic.LABELS, out["labels"].T))
    for name, (lo, hi) in ranges.items():
        assert (lab[name] >= lo).all() and (lab[name] <= hi).all(), name
    assert (lab["psf_fwhm"] == 0.5).all() and (lab["sigma"] == 200).all()
    # The SNR label is the seed's: sqrt(sum noiseless^2) / sigma, inside the cut [10, 100].
    snr = np.sqrt((out["noiseless"].astype(np.float64) ** 2).sum(axis=(1, 2))) / lab["sigma"]
    np.testing.assert_allclose(lab["snr"], snr, rtol=1e-5)
    assert ((snr >= 10) & (snr <= 100)).all()
    assert (np.hypot(lab["g1"], lab["g2"]) <= 0.67 + 1e-6).all()
    # Noise: Poisson on the noiseless image then Gaussian sigma, so the residual's variance is noiseless + sigma^2.
    resid = (out["image"] - out["noiseless"]).astype(np.float64)
    chi2 = resid**2 / (np.clip(out["noiseless"], 0, None) + lab["sigma"][:, None, None] ** 2)
    assert abs(chi2.mean() - 1) < 0.03 and abs(resid.mean()) < 0.05 * 200
    # The PSF image is draw_psf's (unit flux, 0.2 % of it beyond the stamp for FWHM 0.5).
    np.testing.assert_allclose(out["psf"][0], sersic.draw_psf(0.5), rtol=1e-6, atol=1e-9)
    assert 0.995 < out["psf"][0].sum() <= 1.0 + 1e-6


def test_total_flux_is_the_requested_flux_within_one_percent():
    # At the seed's PSF 0.5 a compact galaxy loses under 1 % to the stamp's edge (the Moffat beta=2 wings
    # and the Sersic wings: an n = 6, re = 0.6 galaxy loses ~9 %, so the prior is cut to n <= 2, re <= 0.3 here).
    out = sersic.simulate(np.random.default_rng(1), 4, n_range=[0.5, 2.0], re_range=[0.1, 0.3], snr_range=[1, 1000])
    ratio = out["noiseless"].astype(np.float64).sum(axis=(1, 2)) / out["labels"][:, 0]
    assert ((ratio > 0.99) & (ratio < 1.001)).all(), ratio
    fixed = sersic.simulate(np.random.default_rng(1), 1, fixed_galaxy=TEST_GALAXY, fixed_snr=60)
    assert 0.99 < fixed["noiseless"].sum() / 1e5 < 1.001


@pytest.mark.parametrize("n, re, total", [(5.5, 0.45, 1e-5), (0.5, 0.6, 1e-4)])  # n = 0.5: the coarser table
def test_fast_galsim_settings_stay_close_to_the_defaults(n, re, total):
    p = dict(flux=2e5, n=n, re=re, g1=0.3, g2=-0.4, psf_fwhm=0.7, npix=64, pixel_scale=0.23, psf_beta=2.0)
    exact = sersic.draw_noiseless(**p)
    fast = sersic._draw_galaxy(*p.values(), gsparams=sersic.FAST_GSPARAMS)
    assert np.abs(fast - exact).max() < 1e-5 * exact.max()
    assert abs(fast.sum() - exact.sum()) < total * exact.sum()


def test_sigma_range_includes_its_high_end():
    out = sersic.simulate(np.random.default_rng(2), 10, sigma_range=[399, 400], snr_range=[1, 1000])
    assert set(out["labels"][:, 6].tolist()) == {399.0, 400.0}


def test_fixed_galaxy_gives_noise_realisations_at_the_fixed_snr():
    params = load_recipe("sersic_fixed_snr60")["params"]
    out = sersic.simulate(np.random.default_rng(3), 8, **params)
    assert (out["labels"] == out["labels"][0]).all() and (out["noiseless"] == out["noiseless"][0]).all()
    assert not (out["image"] == out["image"][0]).all(axis=(1, 2))[1:].any()
    lab = dict(zip(sersic.LABELS, out["labels"][0]))
    np.testing.assert_allclose([lab[k] for k in ("flux", "n", "re", "g1", "g2")], TEST_GALAXY, rtol=1e-6)
    assert lab["snr"] == 60 and lab["psf_fwhm"] == 0.5
    norm = np.sqrt((out["noiseless"][0].astype(np.float64) ** 2).sum())
    assert lab["sigma"] == pytest.approx(norm / 60, rel=1e-5)
    assert lab["sigma"] == pytest.approx(np.sqrt((sersic.draw_noiseless(*TEST_GALAXY, 0.5) ** 2).sum()) / 60, rel=1e-5)
    ranges = sersic.label_ranges(**params)
    for j, name in enumerate(sersic.LABELS):
        assert ranges[name][0] == ranges[name][1] == out["labels"][0, j], name  # low == high: the fixed value
    snr30 = sersic.label_ranges(**load_recipe("sersic_fixed_snr30")["params"])
    assert snr30["sigma"][0] == pytest.approx(2 * ranges["sigma"][0], rel=1e-6)


@pytest.mark.parametrize("params,name", [
    ({"n_range": [0.1, 7.0]}, "n_range"),            # GalSim draws 0.3 <= n <= 6.2
    ({"sigma_range": [400, 200]}, "sigma_range"),
    ({"g_max": 1.0}, "g_max"),
    ({"psf_fwmh_range": [0.5, 1.0]}, "did you mean 'psf_fwhm_range'"),
    ({"fixed_galaxy": [1e5, 3.0]}, "fixed_galaxy"),
    ({"fixed_snr": 60}, "fixed_snr needs fixed_galaxy"),
    ({"fixed_galaxy": TEST_GALAXY}, "fixed_snr must be set"),
    ({"fixed_galaxy": TEST_GALAXY, "fixed_snr": 60, "psf_fwhm_range": [0.5, 1.0]}, "psf_fwhm_range must be one value"),
    ({"galsim_accuracy": "exact"}, "galsim_accuracy"),
])
def test_bad_params_raise_naming_the_parameter(params, name):
    with pytest.raises(ParamError, match=name):
        sersic.validate_params(params)
    with pytest.raises(ParamError, match=name):
        sersic.simulate(np.random.default_rng(0), 1, **params)


def test_unreachable_snr_range_raises(monkeypatch):
    monkeypatch.setattr(sersic, "MAX_DRAWS", 2)
    with pytest.raises(ValueError, match=r"snr_range \[1000.0, 2000.0\] out of reach"):
        sersic.simulate(np.random.default_rng(0), 1, snr_range=[1000.0, 2000.0])


def test_every_recipe_loads_and_the_sky_is_registered():
    assert get_sky("sersic") is sersic
    assert sersic.validate_params({}) == sersic.DEFAULTS
    for name in ("sersic_v1", "sersic_v2", "sersic_v3", "sersic_fixed_snr60", "sersic_fixed_snr30"):
        r = load_recipe(name)
        assert r["sky"] == "sersic" and r["features"] == ["image", "noiseless", "psf"], name
    assert load_recipe("sersic_v1")["splits"] == {"train": 16384, "val": 2048, "test": 2048}
    assert sersic.label_ranges(**load_recipe("sersic_v3")["params"])["psf_fwhm"] == (0.5, 1.0)


def _shard_hashes(out):
    m = json.loads((out / "manifest.json").read_text())
    return [s["sha256"] for split in m["splits"].values() for s in split["shards"]], m


def test_same_seed_same_bytes_through_write_shards(tmp_path):
    recipe = {"sky": "sersic", "splits": {"train": 16}, "shards": 2, "block": 4,
              "params": load_recipe("sersic_v3")["params"]}
    write_shards(recipe, tmp_path / "a", progress=False)
    write_shards(recipe, tmp_path / "b", progress=False)
    (a, m), (b, _) = _shard_hashes(tmp_path / "a"), _shard_hashes(tmp_path / "b")
    assert len(a) == 2 and a == b
    for f in (tmp_path / "a").glob("*.tfrecord"):
        assert hashlib.sha256(f.read_bytes()).hexdigest() == hashlib.sha256((tmp_path / "b" / f.name).read_bytes()).hexdigest()
    assert m["schema"]["labels"]["names"] == list(sersic.LABELS) and m["label_ranges"]["sigma"] == [200.0, 400.0]


def test_simulate_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "v1"
    assert main(["simulate", "sersic_v1", "--n", "8", "--out", str(out), "--no-progress"]) == 0
    assert "manifest.json" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["sky"] == "sersic" and sum(s["count"] for s in m["splits"].values()) == 8
    assert set(m["schema"]) == {"image", "noiseless", "psf", "labels"} and m["schema"]["image"]["shape"] == [64, 64]


def test_the_sky_sets_when_a_job_is_timed(tmp_path, monkeypatch, caplog):
    # GalSim is slow: kzoo.data.shards times jobs above sersic.PROBE_PIXELS (not its own, 32x larger) and
    # prints the estimate of a long one (here every job is long; the fixed galaxy makes the probe instant).
    import kzoo.data.shards as shards

    assert sersic.PROBE_PIXELS < shards.PROBE_PIXELS
    monkeypatch.setattr(sersic, "PROBE_PIXELS", 0)
    monkeypatch.setattr(shards, "LARGE_SECONDS", 0.0)
    with caplog.at_level("INFO", logger="kzoo"):
        write_shards("sersic_fixed_snr30", tmp_path / "d", n=4, progress=False)
    assert "4 images to simulate" in caplog.text
