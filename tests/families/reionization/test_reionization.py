"""Seed 004: the 21cmFAST sky (run for real where the reionization extra is installed), the autoencoder and
classifiers, the power-spectrum and PCA references. The end-to-end run is notebooks/reionization.ipynb."""

import os
import sys

import numpy as np
import pytest

import kzoo
from kzoo.families.reionization import sky as reionization
from kzoo.sims.params import ParamError

TINY = {"npix": 16, "box_mpc": 32.0, "r_bubble_max_mpc": 10.0, "hires_factor": 1, "redshift_range": [6.0, 10.0],
        "redshift_step": 4.0, "escape_fraction_range": [0.1, 0.1], "escape_fractions": 1, "slices_per_box": 4}


def needs_21cmfast():
    """CI installs the extra (KZOO_REQUIRE_21CMFAST=1 there): a missing 21cmFAST fails instead of skipping."""
    if os.environ.get("KZOO_REQUIRE_21CMFAST") == "1":
        import py21cmfast  # noqa: F401
    else:
        pytest.importorskip("py21cmfast")


def test_a_tiny_realisation_has_its_shape_its_labels_and_reionises_as_redshift_falls():
    needs_21cmfast()
    p = reionization.validate_params(TINY)
    n = reionization.group_size(p)
    assert n == 2 * 1 * 4
    a = reionization.simulate(np.random.default_rng(5), n, **TINY)
    b = reionization.simulate(np.random.default_rng(5), n, **TINY)
    assert a["map"].shape == (8, 16, 16) and a["map"].dtype == np.float32
    assert a["map"].tobytes() == b["map"].tobytes() and a["labels"].tobytes() == b["labels"].tobytes()
    lab = dict(zip(reionization.LABELS, a["labels"].T))
    assert list(lab["redshift"]) == [6.0] * 4 + [10.0] * 4 and list(lab["z_class"]) == [0] * 4 + [1] * 4
    assert np.all(lab["escape_fraction"] == np.float32(0.1)) and np.all(lab["fesc_class"] == 0)
    x_hi_6, x_hi_10 = lab["x_hi"][0], lab["x_hi"][4]
    assert 0 <= x_hi_6 < x_hi_10 <= 1  # the neutral fraction falls as the redshift decreases
    assert a["map"][:4].mean() < a["map"][4:].mean()  # and so does the brightness
    np.testing.assert_allclose(a["map"][4:].mean() * 70, lab["mean_tb_mk"][4], rtol=0.3)
    for name, (lo, hi) in reionization.label_ranges(**TINY).items():
        assert np.all((lab[name] >= lo) & (lab[name] <= hi)), name


def test_the_grid_and_bad_parameters():
    p = reionization.validate_params({})
    assert list(reionization.redshifts(p)) == [5.0 + 0.5 * i for i in range(17)]
    f = reionization.escape_fractions(p)
    assert len(f) == 12 and f[0] == 0.07 and f[-1] == 0.13
    assert reionization.group_size(p) == 17 * 12 * 16
    assert reionization.class_names({}, "z_class")[:3] == ["5", "5.5", "6"]
    with pytest.raises(ParamError) as e:
        reionization.validate_params({"npix": 16, "slices_per_box": 32, "box_mpc": 24.0})
    assert "slices_per_box" in str(e.value) and "r_bubble_max_mpc" in str(e.value)


def test_without_21cmfast_the_error_says_what_to_install_and_nothing_is_written(monkeypatch, tmp_path, capsys):
    from kzoo.cli import main

    monkeypatch.setitem(sys.modules, "py21cmfast", None)
    with pytest.raises(ImportError, match=r"apt-get install libfftw3-dev libgsl-dev.*kzoo\[reionization\]"):
        reionization.simulate(np.random.default_rng(0), 8, **TINY)
    assert main(["simulate", "reionization_z7p5", "--out", str(tmp_path / "d"), "--n", "600"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kzoo simulate: error: the reionization sky runs 21cmFAST")
    assert not (tmp_path / "d").exists()
    assert main(["simulate", "reionization_z7p5", "--out", str(tmp_path / "d"), "--n", "192"]) == 2
    assert "groups of 192" in capsys.readouterr().err


def test_the_seed_autoencoder_has_4385_parameters_and_a_25x25x8_code():
    ae = kzoo.build("reion_autoencoder")
    assert ae.count_params() == 4385
    assert tuple(ae.get_layer("code").output.shape[1:]) == (25, 25, 8)
    assert kzoo.build("reion_autoencoder", input_shape=(64, 64, 1)).count_params() == 4385
    with pytest.raises(ValueError, match="multiples of 8"):
        kzoo.build("reion_autoencoder", input_shape=(60, 60, 1))


def test_a_classifier_on_a_trained_encoder_freezes_it(tmp_path):
    ae = kzoo.build("reion_autoencoder", input_shape=(32, 32, 1))
    ae.save(tmp_path / "ae.keras")
    clf = kzoo.build("reion_classifier", input_shape=(32, 32, 1), outputs=17, encoder=str(tmp_path / "ae.keras"))
    enc = clf.get_layer("encoder")
    assert not enc.trainable and tuple(enc.output.shape[1:]) == (4, 4, 8)
    trainable = sum(int(np.prod(w.shape)) for w in clf.trainable_weights)
    assert trainable == (9 * 8 * 16 + 16) + (9 * 16 * 8 + 8) + (1 * 1 * 8 * 17 + 17)  # conv16, conv8, dense 17
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(enc(x)), np.asarray(_code(ae, x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="takes one input of shape"):
        kzoo.build("reion_classifier", input_shape=(64, 64, 1), encoder=str(tmp_path / "ae.keras"))
    with pytest.raises(ValueError, match="normalization must be 'none'"):
        kzoo.build("reion_classifier", input_shape=(32, 32, 1), encoder=str(tmp_path / "ae.keras"),
                   normalization="global")
    mlp = kzoo.build("reion_mlp", input_shape=(64, 64, 1), outputs=17)
    assert mlp.count_params() == 50 * 50 * 350 + 350 + 350 * 17 + 17  # the seed's 2,500 - 350 - 17


def _code(ae, x):
    import keras

    return keras.Model(ae.input, ae.get_layer("code").output)(x)


def test_the_power_spectrum_features_find_a_mode_and_the_mean():
    from kzoo.families.reionization.reference import power_spectrum_features

    i = np.arange(32)
    wave = np.cos(2 * np.pi * 8 * i / 32)[None, :] * np.ones((32, 1))  # |k| = 8 (in units of the fundamental)
    f = power_spectrum_features(np.stack([wave + 3.0, np.full((32, 32), 0.5)]), bins=15)  # edges 1, 2, ..., 16
    assert f[0, 0] == pytest.approx(3.0) and f[1, 0] == pytest.approx(0.5)
    assert int(np.argmax(f[0, 1:])) == 7  # the bin [8, 9)
    assert np.all(f[1, 1:] == pytest.approx(-12.0))  # no fluctuations


def test_pca_at_full_rank_reconstructs_exactly():
    from kzoo.evaluate import pca_reconstruction

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 64))
    train = (rng.normal(size=(50, 3)) @ basis).reshape(50, 8, 8)
    test = (rng.normal(size=(5, 3)) @ basis).reshape(5, 8, 8)
    np.testing.assert_allclose(pca_reconstruction(train, test, 3), test, atol=1e-4)
    assert np.abs(pca_reconstruction(train, test, 1) - test).max() > 0.1


def test_the_suite_page_sets_each_question_beside_its_reference_and_the_seed(tmp_path):
    from kzoo.experiments import get_experiment
    from kzoo.families.reionization.page import reionization_section

    def record(name, metrics, classical=None):
        return {"experiment": get_experiment(name).to_dict(), "metrics": metrics, "epochs_run": 7,
                "classical_reference": classical}

    z = {"z_class": {"accuracy": 0.9, "accuracy_within_one": 0.99}}
    page = reionization_section(tmp_path, tmp_path, [
        record("reion-z-encoded", z, {"method": "pca_svm", "metrics": {"z_class": {"accuracy": 0.5}}}),
        record("reion-fesc-z7p5", {"fesc_class": {"accuracy": 0.3, "accuracy_within_one": 0.8}}),
        record("reion-autoencoder", {"autoencoder": {"mse": 1e-4, "rms_per_image": 0.01, "code_size": 512},
                                     "pca_512": {"mse": 2e-4, "rms_per_image": 0.014, "code_size": 512}})])
    assert ("| [reion-z-encoded](reion-z-encoded.md) | redshift, every escape fraction | the autoencoder's code | "
            "0.900 | 0.990 | 0.500 (pca_svm) | 0.83 | 7 |") in page
    assert "| escape fraction at redshift 7.5 | the maps | 0.300 | 0.800 |  |  | 7 |" in page
    assert "| pca_512 | 512 | 2.00e-04 | 0.0140 |" in page
    assert "blank maps" not in page  # no dataset at hand and no ceiling recorded
    page = reionization_section(tmp_path, tmp_path, [{**record("reion-z-encoded", z), "blank_ceiling": 0.9375}])
    assert "assumed for all of them): reion-z-encoded: 0.938." in page  # from the record alone


def test_the_ceiling_gives_every_blank_map_its_most_common_class(tmp_path, monkeypatch):
    import kzoo.data.reader as reader
    from kzoo.families.reionization.page import identical_input_ceiling

    x = np.ones((10, 4, 4, 1), np.float32)
    x[:4] = 0  # four blank maps: classes 0, 0, 1, 2
    y = np.array([[0], [0], [1], [2], [3], [3], [4], [4], [5], [6]], np.float32)
    monkeypatch.setattr(reader, "load_arrays", lambda *a, **k: (x, y))
    assert identical_input_ceiling(tmp_path, "z_class") is None  # no dataset there
    (tmp_path / "manifest.json").write_text("{}")
    assert identical_input_ceiling(tmp_path, "z_class") == pytest.approx((6 + 2) / 10)
