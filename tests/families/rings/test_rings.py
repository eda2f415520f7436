"""Seed 001 F: the ring sky's geometry and labels, the ring counters and regressors, the classification
evaluator and the PCA + SVM reference."""

import json

import numpy as np
import pytest

import kzoo
from kzoo.families.rings import sky as rings
from kzoo.sims.params import ParamError


def test_same_seed_same_images_and_labels_in_their_ranges():
    a = rings.simulate(np.random.default_rng(4), 40, max_rings=3)
    b = rings.simulate(np.random.default_rng(4), 40, max_rings=3)
    assert a["image"].shape == (40, 28, 28) and a["image"].dtype == np.float32
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["labels"], b["labels"])
    assert 0 <= a["image"].min() and a["image"].max() <= 1
    ranges = rings.label_ranges(max_rings=3)
    for j, name in enumerate(rings.LABELS):
        assert ranges[name][0] <= a["labels"][:, j].min() and a["labels"][:, j].max() <= ranges[name][1], name
    assert set(a["labels"][:, 5].tolist()) == {1.0, 2.0, 3.0}
    assert np.array_equal(a["labels"][:, 6], a["labels"][:, 5] - 1)


def test_a_ring_lies_at_its_radius_within_its_thickness_and_deformation():
    s = rings.simulate(np.random.default_rng(5), 60, thickness_range=[0.3, 0.6], deformation_range=[0.5, 1.0])
    c = np.arange(28)
    for img, lab in zip(s["image"], s["labels"]):
        cx, cy, r, t, d = lab[0] * 28, lab[1] * 28, lab[2] * 28, lab[3], lab[4]
        yy, xx = np.meshgrid(c, c, indexing="ij")
        dist = np.hypot(xx - cx, yy - cy)[img > 0.5]  # bright pixels: within ~1.2 t of a dot
        assert dist.size and np.all(np.abs(dist - r) <= d + 1.2 * t + 1e-4)
    # a ring never leaves the image: its radius is at most the distance from its centre to the edge
    lab = s["labels"] * np.array([28, 28, 28, 1, 1, 1, 1])
    assert np.all(lab[:, 2] <= np.minimum.reduce([lab[:, 0], lab[:, 1], 27 - lab[:, 0], 27 - lab[:, 1]]) + 1e-4)


def test_rings_combine_by_the_pixelwise_maximum_and_noise_is_counts():
    p = rings.validate_params({})
    ring = rings.draw_rings(np.random.default_rng(0), 2, p)
    jitter = np.zeros((2, rings.DOTS))
    one, two = rings.render(ring, 28, jitter)
    both = rings.render(ring, 28, jitter).max(axis=0)
    assert np.array_equal(both, np.maximum(one, two))
    noisy = rings.simulate(np.random.default_rng(1), 20, photons=10.0, dark=0.5)["image"]
    assert np.allclose(noisy * 10, np.round(noisy * 10), atol=1e-4)  # whole photon counts / photons


def test_bad_ring_parameters_are_listed_at_once():
    with pytest.raises(ParamError, match=r"centre_range must lie inside the image .*; dark needs photons > 0"):
        rings.validate_params({"centre_range": [1, 30], "dark": 1.0})


def test_the_classification_metrics_on_a_hand_made_case():
    from kzoo.metrics import classification_metrics

    m = classification_metrics([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], "k", 3, ["1", "2", "3"])["k"]
    assert m["accuracy"] == pytest.approx(4 / 6) and m["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m["accuracy_per_class"] == pytest.approx([0.5, 1.0, 2 / 3])
    assert m["accuracy_within_one"] == pytest.approx(5 / 6)  # all but the 2 taken for a 0


def test_a_ring_count_run_has_one_output_per_class_and_the_pca_svm_beside_it(tmp_path):
    from kzoo.data import write_shards
    from kzoo.train import fit

    write_shards("rings_count_k3", tmp_path / "d", n=300, workers=1, progress=False)
    res = fit("rings-count-k3", tmp_path / "d", tmp_path / "run", epochs=1, verbose=0,
              model_args={"filters": (4, 8, 8), "dense": 8})
    m = res["metrics"]["ring_class"]
    assert m["class_names"] == ["1", "2", "3"] and np.sum(m["confusion"]) == m["n"] == 90
    assert kzoo.load(tmp_path / "run").output.shape[-1] == 3
    c = res["classical_reference"]["metrics"]["ring_class"]
    assert res["classical_reference"]["method"] == "pca_svm" and np.sum(c["confusion"]) == 90
    assert c["accuracy"] > 0.5  # a linear SVM on 50 components of 210 images does better than chance (1/3)
    assert (tmp_path / "run" / "confusion.png").exists()
    from kzoo.families.rings.page import rings_section

    record = {**res, "experiment": json.loads((tmp_path / "run" / "run.json").read_text())["experiment"],
              "epochs_run": 1}
    assert f"| 1-3 | {m['accuracy']:.3f} | {c['accuracy']:.3f} | 1 |" in rings_section(tmp_path, tmp_path, [record])


def test_the_ring_networks():
    assert kzoo.build("rings_regressor").output.shape[-1] == 5
    assert kzoo.build("rings_mlp").count_params() > kzoo.build("rings_regressor").count_params()
    assert kzoo.build("rings_classifier", outputs=6).output.shape[-1] == 6


def test_the_cvae_loss_is_the_summed_bce_plus_beta_times_the_kl():
    vae = kzoo.build("rings_cvae", input_shape=(8, 8, 1), filters=(2,), dense=4, latent_dim=2)
    x = {"image": np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype("float32"),
         "conditions": np.ones((3, 5), "float32")}
    pred = np.asarray(vae(x, training=False), np.float64)
    mean, log_var = (np.asarray(t, np.float64) for t in vae.encoder([x["image"], x["conditions"]]))
    img = x["image"].astype(np.float64)
    p = np.clip(pred, 1e-7, 1 - 1e-7)
    bce = -np.mean(np.sum(img * np.log(p) + (1 - img) * np.log(1 - p), axis=(1, 2, 3)))
    kl = np.mean(-0.5 * np.sum(1 + log_var - mean ** 2 - np.exp(log_var), axis=1))
    assert float(vae.compute_loss(x, x["image"], pred)) == pytest.approx(bce + vae.beta * kl, rel=1e-4)


def test_a_cvae_trains_through_kzoo_train_and_is_judged_by_the_regressor(tmp_path):
    """The one fit path: history with its two losses, a .keras that loads safely, generated rings measured."""
    from kzoo.data import write_shards
    from kzoo.export import load_model
    from kzoo.train import fit

    write_shards("rings", tmp_path / "data", n=300, workers=1, progress=False)
    fit("rings-regress", tmp_path / "data", tmp_path / "rings-regress" / "run", epochs=1, verbose=0,
        model_args={"filters": (4, 8, 8), "dense": (8,)})
    res = fit("rings-cvae", tmp_path / "data", tmp_path / "rings-cvae" / "run", epochs=1, verbose=0,
              model_args={"filters": (4, 8), "dense": 16, "latent_dim": 2})
    run = tmp_path / "rings-cvae" / "run"
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"kl_loss", "reconstruction_loss", "val_kl_loss", "loss"} <= set(header)
    g = res["metrics"]
    assert g["reconstruction"]["regressor_run"] == str((tmp_path / "rings-regress" / "run").resolve())
    assert g["r"]["rmse_generated"] > 0 and g["r"]["rmse_real"] > 0
    assert 0 < res["metrics"]["reconstruction"]["mse"] < 1
    vae = load_model(run / "model.keras")
    assert vae.generate([[0.5, 0.5, 0.2, 0.8, 1.5]] * 2).shape == (2, 28, 28, 1)
