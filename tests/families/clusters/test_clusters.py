"""Seed 001 D/G: the cluster sky's scalings, the p4-equivariant network's exact invariance, the rotation test."""

import json

import numpy as np
import pytest

import kzoo
from kzoo.families.clusters import sky as clusters
from kzoo.sims.params import ParamError


def test_same_seed_same_images_and_every_label_in_its_range():
    a = clusters.simulate(np.random.default_rng(7), 16, npix=48)
    b = clusters.simulate(np.random.default_rng(7), 16, npix=48)
    assert a["counts"].dtype == np.float32 and a["counts"].shape == (16, 48, 48)
    assert np.array_equal(a["counts"], b["counts"]) and np.array_equal(a["labels"], b["labels"])
    ranges = clusters.label_ranges(npix=48)
    for j, name in enumerate(clusters.LABELS):
        lo, hi = ranges[name]
        assert lo <= a["labels"][:, j].min() and a["labels"][:, j].max() <= hi, name


def test_aligned_clusters_lie_along_x_and_random_ones_do_not():
    """The second moments of the counts: along x for the 'aligned' variant, no preferred axis by default."""
    def elongation(orientation):
        s = clusters.simulate(np.random.default_rng(5), 200, npix=48, orientation=orientation, background=0.0,
                              disturbed_fraction=1.0, cool_core_fraction=0.0)["counts"].astype(float)
        c = np.arange(48) - 23.5
        xx, yy = np.meshgrid(c, c)
        return np.mean(np.sum(s * (xx ** 2 - yy ** 2), axis=(1, 2)) / np.sum(s * (xx ** 2 + yy ** 2), axis=(1, 2)))

    assert elongation("aligned") > 0.15 and abs(elongation("random")) < 0.05


def test_counts_within_r500_follow_the_luminosity_scaling():
    """Relaxed clusters, no PSF: the counts inside the projected R500, background removed, are the label's
    expected counts (Poisson scatter only), and they grow as M^1.6 (the L-M slope) with the stated scatter."""
    p = {"npix": 96, "psf_pixels": 0.0, "disturbed_fraction": 0.0, "background": 1.0, "counts_per_1e44": 2e4}
    s = clusters.simulate(np.random.default_rng(3), 300, **p)
    log_m, expected = s["labels"][:, 0].astype(float), s["labels"][:, 5].astype(float)
    centres = (np.arange(96) + 0.5) / 96 * 4.0 - 2.0
    xx, yy = np.meshgrid(centres, centres)
    inside = (xx ** 2 + yy ** 2)[None] <= clusters.r500_mpc(log_m)[:, None, None] ** 2
    measured = np.sum(s["counts"] * inside, axis=(1, 2)) - 1.0 * inside.sum(axis=(1, 2))
    pull = (measured - expected) / np.sqrt(expected + inside.sum(axis=(1, 2)))
    assert abs(pull.mean()) < 0.25 and 0.7 < pull.std() < 1.3  # unbiased, Poisson-sized scatter
    slope, _ = np.polyfit(log_m, np.log10(np.maximum(measured, 1.0)), 1)
    assert 1.45 < slope < 1.75  # lx_slope 1.6
    resid = np.log10(expected) - 1.6 * log_m
    assert 0.13 < resid.std() < 0.21  # lx_scatter_dex 0.17


def test_the_steep_mass_function_is_dominated_by_light_clusters_and_strata_cover_it():
    m = clusters.draw_masses(np.random.default_rng(0), 1000, (13.5, 15.3), "steep", 1.5, stratify=True)
    a = 1.5 * np.log(10)
    cdf = lambda x: (1 - np.exp(-a * (x - 13.5))) / (1 - np.exp(-a * 1.8))  # noqa: E731
    assert abs(np.mean(m < 14.0) - cdf(14.0)) < 0.002  # 82 % below 1e14: as the mass function says
    assert np.array_equal(np.floor(np.sort(cdf(m)) * 1000).astype(int), np.arange(1000))  # one draw per stratum
    flat = clusters.draw_masses(np.random.default_rng(0), 1000, (13.5, 15.3), "flat", stratify=False)
    assert 0.25 < np.mean(flat < 14.0) < 0.31


def test_bad_parameters_are_listed_at_once():
    with pytest.raises(ParamError, match=r"mass_function must be one of 'steep', 'flat'.*npix must be an integer"):
        clusters.validate_params({"mass_function": "pareto", "npix": 2})
    with pytest.raises(ParamError, match="plus cool_core_fraction must be <= 1"):
        clusters.validate_params({"cool_core_fraction": 0.7, "disturbed_fraction": 0.5})


@pytest.mark.parametrize("name", ["cluster_p4cnn"])
def test_the_p4_network_is_invariant_to_quarter_turns(name, tmp_path):
    from kzoo.export import load_model

    model = kzoo.build(name, input_shape=(36, 36, 1), filters=(4, 8, 8), dense=(8,))
    x = np.random.default_rng(0).normal(size=(4, 36, 36, 1)).astype("float32")
    y = np.asarray(model(x, training=False))
    for k in (1, 2, 3):
        turned = np.asarray(model(np.rot90(x, k, axes=(1, 2)).copy(), training=False))
        np.testing.assert_allclose(turned, y, atol=1e-5, rtol=0)
    flipped = np.asarray(model(x[:, ::-1].copy(), training=False))  # a flip is not in p4: learned, not built in
    assert not np.allclose(flipped, y, atol=1e-5)
    model.save(tmp_path / "p4.keras")
    np.testing.assert_allclose(np.asarray(load_model(tmp_path / "p4.keras")(x, training=False)), y, atol=1e-6)


def test_p4_layers_rotate_their_maps_and_shift_the_orientations():
    from kzoo.families.clusters.layers import P4Conv, P4Lift

    x = np.random.default_rng(1).normal(size=(2, 9, 9, 3)).astype("float32")
    lift, conv = P4Lift(2, 3), P4Conv(5, 3)
    f = lambda t: np.asarray(conv(lift(t))).reshape(2, 9, 9, 4, 5)  # noqa: E731
    a, b = f(x), f(np.rot90(x, 1, axes=(1, 2)).copy())
    np.testing.assert_allclose(b, np.roll(np.rot90(a, 1, axes=(1, 2)), 1, axis=3), atol=1e-5)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        P4Lift(2, 4)


def test_the_seeds_networks_have_their_shapes():
    deep = kzoo.build("cluster_cnn_deep")
    assert deep.get_layer("conv3_2").output.shape[1:] == (28, 28, 128)  # group D's layer table at 140 x 140
    assert kzoo.build("cluster_cnn").get_layer("dense1").units == 200
    assert kzoo.build("cluster_p4cnn").count_params() < 50_000  # small (group G's e2cnn model: 1.8 GB)


def test_a_cluster_run_reports_the_rotation_test(tmp_path):
    """A tiny p4 run: the quarter-turned test split gives exactly the unrotated error (invariance by construction)."""
    from kzoo.data import write_shards
    from kzoo.train import fit

    data = tmp_path / "data"
    write_shards({"sky": "clusters", "seed": 2, "splits": {"train": 64, "val": 32, "test": 32}, "shards": 3,
                  "block": 16, "features": ["counts"], "params": {"npix": 36}}, data, workers=1, progress=False)
    res = fit("clusters-mass-p4", data, tmp_path / "run", epochs=1, verbose=0, allow_other_recipe=True,
              model_args={"filters": (4, 8, 8), "dense": (8,)})
    m = res["metrics"]["log_m500"]
    assert m["mse_rot90"] == pytest.approx(m["mse"], rel=1e-5)
    assert m["mse_rotated"] > 0 and m["rotated_over_unrotated"] == pytest.approx(m["mse_rotated"] / m["mse"])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["experiment"]["augment"]["rotate"] == 180.0
    assert (tmp_path / "run" / "saliency.png").stat().st_size > 0
    # the suite page's table: one row per experiment, its ratio judged against the goal of <= 1.1
    from kzoo.families.clusters.page import clusters_section

    record = {**res, "experiment": json.loads((tmp_path / "run" / "run.json").read_text())["experiment"]}
    table = clusters_section(tmp_path, tmp_path, [record])
    ratio = f"{m['rotated_over_unrotated']:.2f} | <= 1.1: {'met' if m['rotated_over_unrotated'] <= 1.1 else '**missed**'}"
    assert f"| `cluster_p4cnn` | flip, rotate 180 deg | {m['mse']:.4f} | " in table and ratio in table
    # group D's "original loss / our loss": the plain CNN's MSE (clusters-mass, the same recipe) over each run's
    plain = {**record, "experiment": {**record["experiment"], "name": "clusters-mass", "model_args": {}, "augment": {}},
             "metrics": {"log_m500": {**m, "mse": 2 * m["mse"]}}}
    rows = [line for line in clusters_section(tmp_path, tmp_path, [plain, record]).splitlines() if "[clusters-mass" in line]
    assert rows[0].endswith("| 1.00 |  |") and rows[1].endswith("| 2.00 |  |")


def test_saliency_maps_point_at_the_pixels_that_move_the_prediction():
    import keras

    from kzoo.evaluate import saliency_maps

    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 1, kernel_initializer="ones", name="conv")(inp)
    out = keras.layers.Dense(1, kernel_initializer="ones")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, out)
    mask = np.zeros((1, 8, 8, 1), np.float32)
    mask[0, 2, 5] = 1.0
    grads, cams, layer = saliency_maps(model, mask + 0.1)
    assert layer == "conv" and grads.shape == (1, 8, 8) and np.allclose(grads, grads[0, 0, 0])  # a linear model
    assert np.unravel_index(np.argmax(cams[0]), (8, 8)) == (2, 5)  # Grad-CAM peaks where the signal is


def test_the_luminosity_mass_estimate_recovers_masses_with_the_scatter_of_the_relation():
    """Relaxed, round-ish clusters: the inverted L-M relation is unbiased and scatters by about
    lx_scatter_dex / lx_slope (0.17 / 1.6 = 0.11 dex), plus the shot noise of the faintest."""
    from kzoo.families.clusters.reference import cluster_luminosity_mass

    p = {"npix": 96, "disturbed_fraction": 0.0, "cool_core_fraction": 0.0}
    s = clusters.simulate(np.random.default_rng(5), 300, **p)
    est = cluster_luminosity_mass(s["counts"].astype(float), p)
    d = est - s["labels"][:, 0]
    assert abs(np.median(d)) < 0.03 and 0.08 < np.std(d) < 0.16
