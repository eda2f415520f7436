import json

import numpy as np
import pytest

from kzoo.data import DataError
from kzoo.evaluate import evaluate
from kzoo.metrics import regression_metrics
from kzoo.runs import read_history
from kzoo.train import TrainingError, fit, recalibrate_run

TINY = {"filters": (4, 4, 8, 8), "dense": (16,)}


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "gc-dm"
    res = fit("gc-dm", tiny_data, out, epochs=2, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
    return out, res


def test_fit_writes_a_complete_run(tiny_run):
    out, res = tiny_run
    for name in ("run.json", "model.keras", "history.csv", "metrics.json", "loss_curves.png", "predicted_vs_true.png"):
        assert (out / name).exists(), name
    assert not (out / ".staging").exists()
    assert list((out / "logs").rglob("events.out.tfevents*"))
    hist = read_history(out / "history.csv")
    assert hist["epoch"] == [0.0, 1.0] and "val_loss" in hist
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test" and m["count"] == 28
    a = m["metrics"]["A_dm"]
    assert set(a) >= {"mae", "rmse", "relative_error", "mean_relative_error", "r2"}
    assert m["reference"]["mae_scaled"]["A_dm"] == 0.0807
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["normalization"]["mode"] == "global" and run["epochs_run"] == 2


def test_evaluate_recomputes_the_metrics(tiny_run, tiny_data):
    out, res = tiny_run
    again = evaluate(out)
    assert again["metrics"]["A_dm"] == pytest.approx(res["metrics"]["A_dm"], rel=1e-5)
    with pytest.raises(DataError, match="no split 'holdout'"):
        evaluate(out, tiny_data, split="holdout")
    with pytest.raises(FileNotFoundError, match="not a kzoo run"):
        evaluate(tiny_data)


def test_a_killed_run_resumes_where_it_stopped(tiny_data, tmp_path):
    import keras

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("simulated kill")

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit("gc-dm", tiny_data, out, epochs=4, batch_size=16, model_args=TINY, callbacks=[Crash()], verbose=0,
            allow_other_recipe=True)
    assert (out / ".staging" / "backup").exists() and not (out / "model.keras").exists()
    assert read_history(out / ".staging" / "history.csv")["epoch"] == [0.0, 1.0]
    fit("gc-dm", tiny_data, out, epochs=4, batch_size=16, model_args=TINY, verbose=0, allow_other_recipe=True)
    assert read_history(out / "history.csv")["epoch"] == [0.0, 1.0, 2.0, 3.0]
    assert json.loads((out / "run.json").read_text())["resumed"] is True


def test_nan_loss_stops_with_the_batch_named(tiny_data, tmp_path):
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, batch \d+"):
        fit("gc-dm", tiny_data, tmp_path / "run", epochs=2, batch_size=16, learning_rate=1e30,
            model_args={**TINY, "output_activation": "exponential"}, verbose=0, allow_other_recipe=True)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_dataset_from_another_recipe_is_refused(tiny_data, tmp_path):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(tiny_data, d)
    m = json.loads((d / "manifest.json").read_text())
    m["sky"] = "sersic"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="gc-dm needs a galactic_center dataset"):
        fit("gc-dm", d, tmp_path / "run", epochs=1, verbose=0)
    with pytest.raises(KeyError, match="gc-dm"):
        fit("gc-dn", d, tmp_path / "run")
    with pytest.raises(ValueError, match="precision"):
        fit("gc-dm", tiny_data, tmp_path / "run", precision="float8")


def test_regression_metrics_by_hand():
    t = np.array([[1.0], [2.0], [4.0]])
    p = np.array([[1.5], [2.0], [3.0]])
    m = regression_metrics(t, p, ["a"])["a"]
    assert m["mae"] == pytest.approx(0.5)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 1) / 3))
    assert m["relative_error"] == pytest.approx(0.5 / (7 / 3))
    assert m["mean_relative_error"] == pytest.approx((0.5 + 0 + 0.25) / 3)
    assert m["bias"] == pytest.approx(-0.5 / 3)


def test_poisson_template_fit_recovers_known_amplitudes_from_a_noiseless_map():
    from kzoo.families.gc.reference import poisson_template_fit
    from kzoo.families.gc import sky as gc

    T = gc.mean_templates(npix=32)
    truth = dict(zip(T, [0.3, 0.7, 0.2, 0.9, 1.1, 0.8]))
    mu = sum(truth[k] * T[k] for k in T)[None]
    fit = poisson_template_fit(mu, T)
    for k in T:
        assert fit[k][0] == pytest.approx(truth[k], rel=1e-3), k
    with pytest.raises(ValueError, match="rotate"):
        gc.mean_templates(rotate=True)


def test_cramer_rao_errors_match_the_scatter_of_maximum_likelihood_fits():
    from kzoo.families.gc.reference import poisson_cramer_rao, poisson_template_fit
    from kzoo.families.gc import sky as gc

    sim = gc.simulate(np.random.default_rng(4), 1, components=True, npix=16)
    comp, amps = sim["components"][0].astype(np.float64), np.array([0.6, 0.5, 0.4, 0.7])
    sigma = poisson_cramer_rao(comp[:4], amps, comp[4])
    mu = np.tensordot(amps, comp[:4], 1) + comp[4]
    draws = np.random.default_rng(5).poisson(np.broadcast_to(mu, (300, 16, 16))).astype(np.float64)
    fit = poisson_template_fit(draws, dict(zip(["dm", "pi0", "ic", "bubbles"], comp[:4])),
                               background=np.broadcast_to(comp[4], draws.shape))
    scatter = np.array([np.std(fit[k]) for k in ("dm", "pi0", "ic", "bubbles")])
    np.testing.assert_allclose(scatter, sigma, rtol=0.2)  # the ML fit is efficient: it reaches the bound
    with pytest.raises(ValueError, match="positive"):
        poisson_cramer_rao(comp[:4], np.zeros(4))


def test_fisher_errors_grow_when_the_fields_are_unknown():
    from kzoo.families.gc.reference import galactic_center_fisher

    f = galactic_center_fisher(n_images=3, n_cov=600, chunk=200, npix=12, n_gc_range=[20, 80],
                               n_disk_range=[100, 400])
    for name, known in f["known_maps"].items():
        unknown = f["gaussian_unknown_fields"][name]
        assert 0 < known["sigma_mean"] < unknown["sigma_mean"], name
        assert known["relative_error"] == pytest.approx(np.sqrt(2 / np.pi) * known["sigma_mean"] / 0.5, rel=0.8)
    with pytest.raises(ValueError, match="n_cov"):
        galactic_center_fisher(n_images=1, n_cov=100, npix=12)


def test_the_classical_reference_stands_beside_the_network(tiny_run):
    out, res = tiny_run
    cl = res["classical_reference"]
    assert cl["method"] == "poisson_template_fit" and cl["metrics"]["A_dm"]["n"] == 28
    assert (out / "classical_predicted_vs_true.png").exists() and (out / "classical_test.json").exists()


def test_segmentation_experiment_end_to_end(tiny_data, tmp_path):
    res = fit("gc-ps-unet", tiny_data, tmp_path / "unet", epochs=1, batch_size=16,
              model_args={"base_filters": 2, "depth": 2}, verbose=0, allow_other_recipe=True)
    for approach in ("A", "B"):
        m = res["metrics"][approach]
        assert 0 <= m["accuracy_mean"] <= 1 and m["n_images"] <= 28
    assert 0 <= res["metrics"]["A"]["auc_mean"] <= 1
    assert (tmp_path / "unet" / "roc.png").exists() and (tmp_path / "unet" / "masks.png").exists()
    assert res["reference"]["auc_mean"]["A"] == 0.92
    # the cut-factor scan's runs train with their own cut (Experiment.loss_args), saved with the model
    fit("gc-ps-unet-cut120", tiny_data, tmp_path / "cut", epochs=1, batch_size=16,
        model_args={"base_filters": 2, "depth": 2}, verbose=0, allow_other_recipe=True)
    from kzoo.export import load_model

    assert load_model(tmp_path / "cut" / "model.keras", compile=True).loss.cut_factor == 1.2


def test_the_selected_target_keeps_the_brightest_pixels_above_the_seed_cut():
    from kzoo.data.pipeline import TRANSFORMS

    flux = np.zeros((2, 2, 4, 1), "float32")
    flux[0, 0, :, 0] = [50.0, 0.5, 1.5, 0.0]      # max 50: normalised 1, 0.01, 0.03, 0 -> N = 2
    flux[0, 1, :, 0] = [1.0, 25.0, 0.0, 1.0]      #          0.02 (not above the cut), 0.5, 0, 0.02
    flux[1, 0, :, 0] = [2.0, 2.0, 2.0, 2.0]       # max 2: all four kept (N = 4), fluxes 1
    want = np.zeros_like(flux)
    want[0, 0, 0, 0], want[0, 0, 2, 0], want[0, 1, 1, 0] = 1.0, 0.03, 0.5
    want[1, 0, :, 0] = 1.0
    got = TRANSFORMS["selected"](flux).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    norm = TRANSFORMS["per_image_max"](flux).numpy()
    for f, g in zip(norm.reshape(2, -1), got.reshape(2, -1)):  # the N brightest of the flux map, N = #(> 0.02)
        n = int((f > 0.02).sum())
        assert set(np.flatnonzero(g)) == set(np.argsort(-f, kind="stable")[:n])


def test_selected_segmentation_is_judged_on_the_full_flux_map(tiny_data, tmp_path):
    from kzoo.data.pipeline import dataset
    from kzoo.metrics import segmentation_metrics
    from kzoo.experiments import get_experiment, pipeline_args

    exp = get_experiment("gc-ps-unet-selected")
    assert (exp.model, exp.recipe, exp.loss) == ("gc_unet", "galactic_center_segmentation", "count_penalty_bce")
    _, y = next(iter(dataset(tiny_data, "train", **pipeline_args(exp), batch_size=16, shuffle=False)))
    _, full = next(iter(dataset(tiny_data, "train", targets="ps_flux", target_transform="per_image_max",
                                batch_size=16, shuffle=False)))
    y, full = y.numpy(), full.numpy()
    assert 0 < (y > 0).sum() < (full > 0).sum() and np.all((y == 0) | (y == full)) and y[y > 0].min() > 0.02
    out = tmp_path / "sel"
    res = fit(exp.name, tiny_data, out, epochs=1, batch_size=16, model_args={"base_filters": 2, "depth": 2},
              verbose=0, allow_other_recipe=True)
    assert res["reference"] == {"auc_mean": {"B": 0.97}, "accuracy_mean": {"B": 0.94}}
    for approach in ("A", "B"):
        assert 0 <= res["metrics"][approach]["accuracy_mean"] <= 1
    # the metrics are those of the saved model against the per-image max-normalised flux map, not its target
    from kzoo.export import load_model

    model = load_model(out / "model.keras")
    flux, prob = [], []
    for x, f in dataset(tiny_data, "test", targets="ps_flux", target_transform="per_image_max", batch_size=64,
                        shuffle=False):
        flux.append(f.numpy())
        prob.append(np.asarray(model(x, training=False)))
    want, _ = segmentation_metrics(np.concatenate(flux), np.concatenate(prob))
    for approach in ("A", "B"):
        assert res["metrics"][approach] == pytest.approx(want[approach], nan_ok=True)


def test_roc_auc_and_the_two_seed_evaluations_by_hand():
    from kzoo.metrics import roc_auc, segmentation_metrics

    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    flux = np.array([[0.0, 0.0, 0.5, 1.0]])
    prob = np.array([[0.01, 0.5, 0.03, 0.9]])  # predicted above 0.02: pixels 1, 2, 3
    m, _ = segmentation_metrics(flux, prob, cut=0.02)
    assert m["A"]["accuracy_mean"] == pytest.approx(0.75)   # pixel 1 is a false positive
    assert m["A"]["auc_mean"] == pytest.approx(0.75)
    # B: N = 3 predicted; the 3 brightest true pixels are 3, 2 and (a tie at 0) pixel 0
    assert m["B"]["accuracy_mean"] == pytest.approx(0.5)


def test_denoising_experiment_end_to_end(tiny_data, tmp_path):
    res = fit("gc-dae-gaussian", tiny_data, tmp_path / "dae", epochs=1, batch_size=16,
              model_args={"filters": (4, 4, 8), "strides": (2, 2, 1), "hidden": 8}, verbose=0, allow_other_recipe=True)
    m = res["metrics"]
    assert set(m) == {"denoised", "noisy_input", "median_3x3", "gaussian_1px"}
    assert all(0 <= v["mse"] < 1 for v in m.values())
    assert 0.0064 < m["noisy_input"]["mse"] < 0.04  # Gaussian noise of 0.2, clipped at 0 on dark pixels
    assert (tmp_path / "dae" / "denoising_examples.png").exists()
    assert res["reference"]["mse"]["denoised"] == 0.0011
    run = json.loads((tmp_path / "dae" / "run.json").read_text())
    bn = run["batchnorm_recalibration"]
    assert bn["layers"] > 0 and bn["batches"] == 5 and bn["kept"] == (bn["val_loss_after"] < bn["val_loss_before"])
    stamp = (tmp_path / "dae" / "model.keras").stat().st_mtime_ns
    assert recalibrate_run(tmp_path / "dae", tiny_data) == bn  # done once, at fit: not again
    assert (tmp_path / "dae" / "model.keras").stat().st_mtime_ns == stamp


def test_batchnorm_recalibration_replaces_stale_statistics_only_when_validation_improves():
    import keras
    import tensorflow as tf

    from kzoo.train import recalibrate_batchnorm

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (512, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    inp = keras.Input((4,))
    h = keras.layers.Dense(4, kernel_initializer="identity")(inp)
    bn = keras.layers.BatchNormalization(center=False, scale=False)
    # a fixed head (weights 1): the shifted statistics below move the predictions away from y whatever the random
    # state (a random head of negative weights is moved towards y, and the test flipped with the test order)
    model = keras.Model(inp, keras.layers.Dense(1, kernel_initializer="ones")(bn(h)))
    model.compile(loss="mse")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    bn.moving_mean.assign(np.full(4, 50.0))  # stale statistics
    r = recalibrate_batchnorm(model, ds, ds)
    assert r["kept"] and r["batches"] == 8 and r["val_loss_after"] < r["val_loss_before"]
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=0), rtol=0.05)
    assert bn.momentum == 0.99
    shifted = tf.data.Dataset.from_tensor_slices((x + 10.0, y)).batch(64)  # statistics of other data: worse
    before = bn.moving_mean.numpy()
    r = recalibrate_batchnorm(model, shifted, ds)
    assert not r["kept"] and np.array_equal(bn.moving_mean.numpy(), before)
    assert recalibrate_batchnorm(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), ds) is None


def test_noisy_inputs_are_reproducible_and_targets_clean(tiny_data):
    from kzoo.data.pipeline import dataset

    args = dict(targets="counts", input_transform="per_image_max", target_transform="per_image_max",
                input_noise={"kind": "gaussian", "amount": 0.2}, batch_size=8, shuffle=False)
    (x1, y1), (x2, _) = [next(iter(dataset(tiny_data, "test", seed=5, **args))) for _ in range(2)]
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    assert y1.numpy().max() == pytest.approx(1.0) and not np.allclose(x1.numpy(), y1.numpy())
    assert 0.08 < np.std(x1.numpy() - y1.numpy()) < 0.2  # clipping at 0 removes much of it (maps are mostly dark)
    with pytest.raises(ValueError, match="input_noise"):
        dataset(tiny_data, "test", input_noise={"kind": "pink"})


def test_multi_output_experiment_reports_physical_units(tiny_data, tmp_path):
    from kzoo.data.reader import load_arrays

    res = fit("gc-dm-nps", tiny_data, tmp_path / "multi", epochs=1, batch_size=16,
              model_args={"blocks": ((4,), (4,)), "kernel_sizes": (3, 5), "dense": (8,)}, verbose=0, allow_other_recipe=True)
    assert set(res["metrics"]) == {"A_dm", "n_ps_gc+n_ps_disk"}
    _, y = load_arrays(tiny_data, "test", targets=["n_ps_gc+n_ps_disk", "n_ps_gc", "n_ps_disk"])
    np.testing.assert_array_equal(y[:, 0], y[:, 1] + y[:, 2])
    pred = np.load(tmp_path / "multi" / "predictions_test.npz")["y_pred"]
    assert pred[:, 1].max() > 10  # point-source counts come back in physical units, not [0, 1]


def test_known_source_template_fit_recovers_amplitudes_from_a_noiseless_map():
    from kzoo.families.gc.reference import poisson_template_fit
    from kzoo.families.gc import sky as gc

    T = {k: v for k, v in gc.mean_templates(npix=32).items() if not k.startswith("ps_")}
    truth = dict(zip(T, [0.4, 0.6, 0.3, 0.8]))
    background = np.random.default_rng(0).uniform(0, 5, (1, 32, 32))
    mu = sum(truth[k] * T[k] for k in T)[None] + background
    fit = poisson_template_fit(mu, T, background=background)
    for k in T:
        assert fit[k][0] == pytest.approx(truth[k], rel=1e-3), k


def test_the_classical_reference_is_computed_once_per_dataset(tiny_run, tiny_data, tmp_path, monkeypatch, caplog):
    import shutil

    from kzoo import evaluate as ev
    from kzoo.families.gc import reference

    out, _ = tiny_run
    d = tmp_path / "data"
    shutil.copytree(tiny_data, d)
    shutil.rmtree(d / ev.REFERENCE_CACHE, ignore_errors=True)
    real, calls = reference.REFERENCES["poisson_template_fit"], []
    monkeypatch.setitem(reference.REFERENCES, "poisson_template_fit", lambda *a, **k: calls.append(k) or real(*a, **k))
    caplog.set_level("INFO", logger="kzoo")
    first = evaluate(out, d, out=tmp_path / "a")["classical_reference"]
    cache = d / ev.REFERENCE_CACHE / "poisson_template_fit_test.json"
    assert len(calls) == 1 and calls[0]["progress"] and first["cache"] == str(cache) and cache.exists()
    assert "computing it once for this dataset" in caplog.text
    caplog.clear()

    def refit(*a, **k):
        raise AssertionError("the classical reference was computed again")

    monkeypatch.setitem(reference.REFERENCES, "poisson_template_fit", refit)
    second = evaluate(out, d, out=tmp_path / "b")["classical_reference"]  # another output folder, the same dataset
    assert second["metrics"] == first["metrics"] and (tmp_path / "b" / "classical_predicted_vs_true.png").exists()
    assert f"reusing {cache}" in caplog.text
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "dataset_sha256": "0" * 64}))
    with pytest.raises(AssertionError, match="computed again"):  # a cache of another dataset is not used
        evaluate(out, d, out=tmp_path / "c")

    # a dataset folder that cannot be written: the cache goes to the output folder
    monkeypatch.setitem(reference.REFERENCES, "poisson_template_fit", real)
    cache.unlink()
    write_json = ev.write_json

    def read_only(path, obj):
        if d in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        write_json(path, obj)

    monkeypatch.setattr(ev, "write_json", read_only)
    third = evaluate(out, d, out=tmp_path / "e")["classical_reference"]
    assert third["cache"] == str(tmp_path / "e" / ev.REFERENCE_CACHE / "poisson_template_fit_test.json")
    assert third["metrics"] == first["metrics"] and not cache.exists()
    assert "cannot cache the classical reference" in caplog.text


def test_an_experiment_trains_with_the_optimizer_it_declares(tiny_data, tmp_path):
    import dataclasses

    from kzoo.experiments import get_experiment
    from kzoo.reproduce import compiled_optimizer

    exp = dataclasses.replace(get_experiment("gc-dm"), name="gc-dm-sgd", optimizer="sgd", learning_rate=1e-2)
    fit(exp, tiny_data, tmp_path / "run", epochs=1, batch_size=16, model_args={"filters": (4, 4, 8, 8),
        "dense": (16,)}, verbose=0, allow_other_recipe=True)
    assert compiled_optimizer(tmp_path / "run" / "model.keras") == "SGD"
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'sgd'\], got 'rmsprop'"):
        fit(dataclasses.replace(exp, optimizer="rmsprop"), tiny_data, tmp_path / "run2", epochs=1, verbose=0,
            allow_other_recipe=True, model_args={"filters": (4, 4, 8, 8), "dense": (16,)})
    assert not (tmp_path / "run2").exists()  # refused before anything was written
