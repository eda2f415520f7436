"""Seed 001 E/H: the CAMELS-like maps follow their power spectrum, sets stay whole, the moment loss, the networks,
and a run judged on the other suite."""

import json

import numpy as np
import pytest

import kzoo
from kzoo.families.cosmo import sky as cosmo_maps

pytest.importorskip("colossus")


def test_the_mass_maps_follow_the_requested_power_spectrum():
    """The Gaussian field under the log-normal mass map has, on average, the projected linear spectrum P(k) / L."""
    p = cosmo_maps.validate_params({"npix": 32, "maps_per_set": 40})
    s = cosmo_maps.simulate(np.random.default_rng(0), 40, **p)
    om, s8 = s["labels"][0, :2]
    assert np.all(s["labels"][:, :2] == [om, s8])  # one parameter set
    cell = p["box_mpc_h"] / 32
    k1 = 2 * np.pi * np.fft.fftfreq(32, d=cell)
    kk = np.sqrt(k1[:, None] ** 2 + k1[None, :] ** 2)
    want = cosmo_maps.linear_power(kk, om, s8) / p["box_mpc_h"]
    var = float(want.sum()) / p["box_mpc_h"] ** 2
    g = np.log(10 ** s["maps"][..., 0].astype(np.float64) * 0.3 / om) + var / 2
    measured = np.mean(np.abs(np.fft.fft2(g)) ** 2, axis=0) * cell**2 / 32**2  # |g_k|^2 A / N^2 estimates P_2D
    bins = np.digitize(kk, np.linspace(0.3, 6, 8))
    ratios = [measured[bins == b].mean() / want[bins == b].mean() for b in range(1, 8) if (bins == b).any()]
    assert np.allclose(ratios, 1.0, atol=0.15), ratios


def test_parameter_sets_stay_whole_and_fluctuations_grow_with_sigma_8():
    s = cosmo_maps.simulate(np.random.default_rng(1), 150, npix=32)
    sets = s["labels"].reshape(10, 15, -1)
    assert np.all(sets == sets[:, :1])  # 15 maps per set share every label
    spread = [np.std(s["maps"][i * 15:(i + 1) * 15, ..., 0]) for i in range(10)]
    assert np.corrcoef(sets[:, 0, 1], spread)[0, 1] > 0.5
    with pytest.raises(ValueError, match="multiples of 15"):
        cosmo_maps.simulate(np.random.default_rng(1), 20, npix=32)
    a = cosmo_maps.simulate(np.random.default_rng(2), 15, npix=16, suite="simba")
    b = cosmo_maps.simulate(np.random.default_rng(2), 15, npix=16, suite="tng")
    assert np.array_equal(a["maps"][..., 0], b["maps"][..., 0]) and not np.array_equal(a["maps"][..., 1], b["maps"][..., 1])


def test_the_moment_loss_rewards_the_right_mean_and_sigma():
    from kzoo.losses import MomentLoss

    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, (4096, 1)).astype("float32")
    noisy = y + rng.normal(0, 0.3, y.shape).astype("float32")  # predictions off by 0.3 on average
    loss = lambda mu, log_sigma: float(MomentLoss()(noisy, np.concatenate([mu, np.full_like(mu, log_sigma)], 1)))  # noqa: E731
    best = loss(y, np.log(0.3))
    assert best < loss(y, np.log(0.1)) and best < loss(y, np.log(1.0)) and best < loss(y + 0.5, np.log(0.3))


def test_the_networks_and_the_circular_padding():
    from kzoo.families.cosmo.layers import CircularPad2D

    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    padded = np.asarray(CircularPad2D(1)(x))[0, ..., 0]
    assert padded.shape == (6, 6) and padded[0, 1] == x[0, 3, 0, 0] and padded[1, 0] == x[0, 0, 3, 0]
    assert kzoo.build("camels_o3", outputs=12).output.shape[-1] == 12
    simple = kzoo.build("cosmo_cnn")  # the seed's printed summary: 4,450,194 parameters, 131,072 in the first norm
    assert simple.count_params() == 4_450_194 and simple.get_layer("ln1").count_params() == 131_072
    r = kzoo.build("cosmo_resnet18", stages=2)
    assert r.get_layer("stage1_block1_add").output.shape[1:3] == (16, 16)  # the classical stem: /4, as group E's
    assert kzoo.build("cosmo_resnet18", stages=1, stem="small").get_layer("stage1_block1_add").output.shape[1] == 64
    assert r.count_params() < kzoo.build("cosmo_resnet18").count_params() / 10


def test_a_run_is_judged_on_its_suite_and_on_the_other(tmp_path, monkeypatch):
    import dataclasses

    from kzoo.experiments import declared
    from kzoo.reproduce import reproduce

    monkeypatch.setitem(declared(), "cosmo-6p-o3", dataclasses.replace(
        declared()["cosmo-6p-o3"], model_args={"hidden": 2, "blocks": 4}))
    r = reproduce("cosmo-6p-o3", tmp_path / "w", n=150, epochs=1, workers=1, results_dir=tmp_path / "res")
    assert set(r["also_on"]) == {"cosmo_simba"} and set(r["also_on"]["cosmo_simba"]) == set(r["metrics"])
    assert "coverage_68" in r["metrics"]["omega_m"]  # a mean and a sigma per parameter, calibrated on val
    assert list((tmp_path / "w").rglob("saliency.png"))  # group H's question: where does it look?
    from kzoo.families.cosmo.page import cosmo_section

    rows = [line for line in cosmo_section(tmp_path, tmp_path / "res", [r]).splitlines() if "| omega_m |" in line]
    assert [row.split(" | ")[3] for row in rows] == ["cosmo_tng", "cosmo_simba"]  # in-suite, then across
    assert rows[1].endswith(f"| {r['also_on']['cosmo_simba']['omega_m']['coverage_68']:.2f} |")
    md = (tmp_path / "res" / "cosmo-6p-o3.md").read_text()
    assert "test split of recipe `cosmo_simba`" in md and "| omega_m | " in md
    manifest = json.loads((tmp_path / "w" / "data-cosmo_simba" / "manifest.json").read_text())
    assert manifest["params"]["suite"] == "simba" and manifest["schema"]["maps"]["shape"] == [64, 64, 2]


def test_splits_are_kept_in_whole_parameter_sets(tmp_path, monkeypatch, caplog):
    import logging

    from kzoo.data import write_shards

    import kzoo.data.shards as shards

    monkeypatch.setattr(shards, "LARGE_BYTES", 1000)  # a large job is timed on a probe of whole parameter sets
    with caplog.at_level(logging.INFO, logger="kzoo"):
        m = write_shards("cosmo_tng", tmp_path / "d", n=170, workers=1, progress=False)  # rounded to whole sets
    assert "images/s per worker on a 30-image probe" in caplog.text
    assert all(v["count"] % 15 == 0 for v in m["splits"].values())
    with pytest.raises(ValueError, match=r"split 'train' of 20 images: cosmo_maps draws images in groups of 15"):
        write_shards({"sky": "cosmo_maps", "splits": {"train": 20, "test": 15}, "block": 15, "features": ["maps"],
                      "params": {"npix": 16}}, tmp_path / "e", workers=1, progress=False)
    assert not (tmp_path / "e").exists()
