"""The Sersic suite on the one road: the Xception's [-1, 1] labels scaled back, a run evaluated on the
fixed-galaxy dataset, the autoencoder's named inputs and outputs through kzoo.data.dataset and fit, and
`kzoo reproduce sersic` with its Cramer-Rao section (tiny sizes)."""

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("galsim")

from kzoo.data import dataset, write_shards  # noqa: E402
from kzoo.experiments import declared, get_experiment, pipeline_args  # noqa: E402
from kzoo.train import fit  # noqa: E402

TINY_XCEPTION = {"sep_filters": 4, "residual_blocks": 1}


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    out = tmp_path_factory.mktemp("sersic") / "v1"
    write_shards("sersic_v1", out, n=40, seed=5, workers=1, progress=False)
    return out


def test_named_inputs_and_outputs_reach_the_autoencoder_as_the_seed_scaled_them(v1):
    exp = get_experiment("sersic-v1-ae")
    x, y = next(iter(dataset(v1, "train", batch_size=8, **pipeline_args(exp))))
    assert {k: tuple(v.shape) for k, v in x.items()} == {"image": (8, 64, 64, 1), "psf": (8, 64, 64, 1),
                                                        "conditions": (8, 2)}
    np.testing.assert_allclose(x["conditions"].numpy(), [[200.0, 0.5]] * 8)  # raw [sigma, psf_fwhm]
    params, image = y["params"].numpy(), y["noiseless"].numpy()
    assert params.shape == (8, 5) and 0 <= params.min() and params.max() <= 1  # the sigmoid latent's scale
    assert image.shape == (8, 64, 64, 1) and 0 <= image.min() and image.max() <= 1  # training split's min/max
    plain = next(iter(dataset(v1, "train", batch_size=8, inputs="noiseless", targets=None)))
    from kzoo.data import load_manifest

    st = load_manifest(v1)["stats"]["features"]["noiseless"]
    np.testing.assert_allclose(image, (plain.numpy() - st["min"]) / (st["max"] - st["min"]), rtol=1e-5, atol=1e-7)


def test_the_autoencoder_trains_evaluates_and_exports_on_the_one_fit_path(v1, tmp_path):
    res = fit("sersic-v1-ae", v1, tmp_path / "ae", epochs=1, batch_size=8, verbose=0,
              model_args={"filters": (4, 4, 4, 4, 4, 8), "dense": (16, 8)})
    m = res["metrics"]
    assert set(m) == {"flux", "n", "re", "g1", "g2", "noiseless"}
    assert m["n"]["rmse"] > 0 and 0 < m["noiseless"]["mse"] < 1  # parameters in physical units, image on [0, 1]
    # the seed's panels: noisy input, noiseless truth and the generated image of 4 test galaxies, in rows
    from PIL import Image

    panels = Image.open(tmp_path / "ae" / "reconstructions.png")
    assert panels.size[1] > panels.size[0] > 300
    from kzoo.export import export, load_model

    model = load_model(tmp_path / "ae" / "model.keras")
    assert sorted(t.name for t in model.inputs) == ["conditions", "image", "psf"]
    assert (export(tmp_path / "ae", "savedmodel") / "saved_model.pb").exists()


def test_the_autoencoders_latent_is_held_against_the_cramer_rao_bound(v1, tmp_path, monkeypatch):
    from kzoo.families.sersic import page

    assert [n for n in ("sersic-v1-ae", "sersic-v1-denoise", "sersic-v1-noiseless", "sersic-v3-conditions")
            if page._sees_noisy_image(get_experiment(n).to_dict())] == ["sersic-v1-ae", "sersic-v3-conditions"]
    monkeypatch.setattr(page, "SERSIC_CRB_IMAGES", 2)
    monkeypatch.setattr(page, "SERSIC_FIXED_IMAGES", 16)
    fit("sersic-v1-ae", v1, tmp_path / "ae", epochs=1, batch_size=8, verbose=0,
        model_args={"filters": (4, 4, 4, 4, 4, 8), "dense": (16, 8)})
    rec = page.sersic_crb_record(get_experiment("sersic-v1-ae"), tmp_path / "ae", v1, tmp_path / "out")
    fixed = rec["fixed_galaxy"]["60"]
    assert fixed["images"] == 16 and len(fixed["std"]) == 5 and all(s > 0 for s in fixed["std"])
    assert rec["snr_bins"]["images"] == 2 and set(rec["snr_bins"]["params"]) == {"flux", "n", "re", "g1", "g2"}


def test_a_run_is_judged_on_the_fixed_galaxy_with_its_training_label_ranges(v1, tmp_path, monkeypatch):
    from kzoo.evaluate import evaluate

    # no L-BFGS fits here (seconds per image): the classical reference is tested in test_reference_sersic
    monkeypatch.setitem(declared(), "sersic-v1", dataclasses.replace(declared()["sersic-v1"], reference_method=""))
    run = tmp_path / "run"
    fit("sersic-v1", v1, run, epochs=1, batch_size=8, verbose=0, model_args=TINY_XCEPTION)
    before = (run / "metrics.json").read_bytes()
    recorded = json.loads((run / "run.json").read_text())["target_ranges"]
    assert recorded[1] == [0.5, 6.0]  # Sersic n's prior range: how [-1, 1] maps back
    fixed = tmp_path / "fixed"
    write_shards({"sky": "sersic", "splits": {"test": 32}, "shards": 1, "block": 16,
                  "features": ["image", "noiseless", "psf"],
                  "params": {"fixed_galaxy": [1e5, 3.0, 0.3, -0.069, 0.15], "fixed_snr": 60,
                             "psf_fwhm_range": [0.5, 0.5]}}, fixed, seed=1, workers=1, progress=False)
    m = evaluate(run, fixed, out=tmp_path / "on_fixed", classical=False)["metrics"]
    pred = np.load(tmp_path / "on_fixed" / "predictions_test.npz")
    assert np.all(pred["y_true"][:, 1] == 3.0) and np.all((pred["y_pred"][:, 1] > -5) & (pred["y_pred"][:, 1] < 12))
    assert m["n"]["std"] == pytest.approx(np.std(pred["y_pred"][:, 1]), rel=1e-4)  # the spread over realisations
    assert (run / "metrics.json").read_bytes() == before  # the run's own evaluation is left as it was


def test_reproduce_sersic_holds_the_networks_against_the_cramer_rao_bound(tmp_path, monkeypatch):
    from kzoo import reproduce as rp
    from kzoo.families.sersic import page

    monkeypatch.setitem(rp.suites(), "sersic", dataclasses.replace(rp.suites()["sersic"], experiments=("sersic-v1",)))
    monkeypatch.setattr(page, "SERSIC_CRB_IMAGES", 3)
    monkeypatch.setattr(page, "SERSIC_FIXED_IMAGES", 64)
    monkeypatch.setitem(declared(), "sersic-v1", dataclasses.replace(declared()["sersic-v1"], reference_method="",
                                                                      model_args=TINY_XCEPTION))
    rp.reproduce_suite("sersic", tmp_path / "work", n=40, epochs=1, workers=1, results_dir=tmp_path / "res")
    page = (tmp_path / "res" / "sersic.md").read_text()
    assert "| 60 | kzoo CRB sigma |" in page and "| 60 | seed's typed CRB |" in page
    assert "| sersic-v1 | 60 | std / CRB |" in page and "std/CRB <= 1.2" in page
    assert "Test split in SNR bins" in page and (tmp_path / "res" / "sersic-crb.png").exists()
    assert "## Test RMSE per parameter, every estimator" in page  # physical units, the seed's rows beside
    assert "| [sersic-v1](sersic-v1.md) | kzoo `xception_sersic` |" in page
    assert "| [sersic-v1](sersic-v1.md) | seed | 5913.0000 | 0.7800 | 0.0460 | 0.0740 | 0.0740 |" in page
    crb = json.loads((tmp_path / "res" / "sersic-crb.json").read_text())
    flux60, flux30 = crb["fixed_galaxy"]["snr"]["60"]["crb"][0], crb["fixed_galaxy"]["snr"]["30"]["crb"][0]
    assert 1.6 < flux30 / flux60 < 2.1  # the flux bound about doubles from SNR 60 to 30
    assert (tmp_path / "work" / "data" / "sersic_v1" / "manifest.json").exists()  # one dataset per recipe
    # the section comes from the records alone: another day, another folder, no run on disk
    rec = json.loads((tmp_path / "res" / "sersic-v1.json").read_text())
    assert set(rec["crb"]["fixed_galaxy"]) == {"60", "30"} and rec["crb"]["fixed_galaxy"]["60"]["images"] == 64
    (tmp_path / "res" / "sersic.md").unlink()
    rp.reproduce_suite("sersic", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)
    again = (tmp_path / "res" / "sersic.md").read_text()
    assert "| sersic-v1 | 60 | std / CRB |" in again and not (tmp_path / "elsewhere" / "sersic-v1").exists()
    del rec["crb"]  # a record made before runs carried their bounds: named, not silently left out
    (tmp_path / "res" / "sersic-v1.json").write_text(json.dumps(rec))
    rp.reproduce_suite("sersic", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)
    older = (tmp_path / "res" / "sersic.md").read_text()
    assert "Not held against the bound" in older and "| sersic-v1 | 60 | std / CRB |" not in older


def test_denoise_then_measure_trains_the_estimator_on_the_frozen_denoiser_of_its_run(v1, tmp_path, monkeypatch):
    import shutil

    import keras

    from kzoo import reproduce as rp
    from kzoo.export import load_model

    monkeypatch.setitem(rp.suites(), "pipeline", rp.Suite("pipeline", ("sersic-v1-denoise", "sersic-v1-two-stage")))
    small_unet = {"base_filters": 2, "depth": 2}
    monkeypatch.setitem(declared(), "sersic-v1-denoise",
                        dataclasses.replace(declared()["sersic-v1-denoise"], model_args=small_unet))
    monkeypatch.setitem(declared(), "sersic-v1-two-stage", dataclasses.replace(
        declared()["sersic-v1-two-stage"], reference_method="",
        model_args={**declared()["sersic-v1-two-stage"].model_args, "estimator_args": TINY_XCEPTION}))
    work = tmp_path / "work"
    shutil.copytree(v1, work / "data" / "sersic_v1")  # the module's dataset (seed 5, 40 images): reused, not remade
    records = rp.reproduce_suite("pipeline", work, n=40, seed=5, epochs=1, workers=1, results_dir=tmp_path / "res")
    assert [r["experiment"]["name"] for r in records] == ["sersic-v1-denoise", "sersic-v1-two-stage"]
    den = records[0]["metrics"]
    # the noisy input is judged on the target's [0, 1] scale (sigma 200 of a peak of ~1e4 counts), not in counts
    assert 0 < den["noisy_input"]["mse"] < 0.05 and 0 < den["denoised"]["mse"] < 1
    run = json.loads((work / "sersic-v1-two-stage" / "run" / "run.json").read_text())
    assert run["settings"]["model_args"]["denoiser"] == str((work / "sersic-v1-denoise" / "run").resolve())
    assert set(records[1]["metrics"]) == {"flux", "n", "re", "g1", "g2"}
    denoiser = load_model(work / "sersic-v1-denoise" / "run" / "model.keras")
    two = load_model(work / "sersic-v1-two-stage" / "run" / "model.keras")
    inner = two.get_layer(denoiser.name)
    assert not inner.trainable and all(np.array_equal(a, b) for a, b in zip(inner.get_weights(), denoiser.get_weights()))
    x = np.random.default_rng(0).normal(300.0, 200.0, (2, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(inner.predict(x, verbose=0), denoiser.predict(x, verbose=0), atol=1e-6)
    assert keras.ops.shape(two.output) == (None, 5)
    with pytest.raises(ValueError, match="builds on the run of sersic-v1-denoise"):
        rp.reproduce("sersic-v1-two-stage", tmp_path / "alone" / "x", n=40, seed=5, epochs=1, workers=1,
                     results_dir=tmp_path / "res2", data=work / "data" / "sersic_v1")


def test_the_psf_aware_xception_trains_on_the_image_and_its_conditions(v1, tmp_path):
    res = fit("sersic-v3-conditions", v1, tmp_path / "run", epochs=1, batch_size=8, verbose=0,
              model_args=TINY_XCEPTION, allow_other_recipe=True, classical=False)
    assert set(res["metrics"]) == {"flux", "n", "re", "g1", "g2"} and res["metrics"]["flux"]["rmse"] > 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["model_args"]["conditions"] == 2
    assert run["settings"]["normalization"]["mode"] == "global"  # the image's statistics, as sersic-v3
