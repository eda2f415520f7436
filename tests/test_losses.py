import numpy as np
import pytest

from kzoo.losses import CountPenaltyBCE, count_penalty_bce, get


def test_count_penalty_equals_a_hand_computed_value():
    y_true = np.zeros((1, 4, 4, 1), "float32")
    y_true[0, 0, 0], y_true[0, 1, 1] = 0.5, 1.0          # 2 source pixels; smallest 0.5, cut 0.54
    y_pred = np.full((1, 4, 4, 1), 0.1, "float32")
    y_pred[0, 0, 0], y_pred[0, 2, 2], y_pred[0, 3, 3], y_pred[0, 3, 0] = 0.9, 0.6, 0.7, 0.55  # 4 above the cut
    bce = -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    loss = CountPenaltyBCE(weight=0.01)
    assert float(loss(y_true, y_pred)) == pytest.approx(bce + 0.01 * abs(4 - 2), rel=1e-4)
    assert float(CountPenaltyBCE(weight=0.0)(y_true, y_pred)) == pytest.approx(bce, rel=1e-4)


def test_the_hard_count_has_no_gradient_and_the_soft_one_does():
    import tensorflow as tf

    y_true = np.zeros((2, 8, 8, 1), "float32")
    y_true[:, 2:4, 2:4] = 1.0
    logits = tf.Variable(np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32"))
    grads = {}
    for soft in (False, True):
        for weight in (0.0, 1.0):
            with tf.GradientTape() as tape:
                loss = CountPenaltyBCE(weight=weight, soft=soft)(y_true, tf.sigmoid(logits))
            grads[soft, weight] = tape.gradient(loss, logits).numpy()
            assert np.isfinite(grads[soft, weight]).all()
    np.testing.assert_allclose(grads[False, 1.0], grads[False, 0.0], atol=1e-7)  # the step adds nothing
    assert np.abs(grads[True, 1.0] - grads[True, 0.0]).max() > 1e-4


def test_loss_lookup_and_serialisation():
    import keras

    assert isinstance(get("count_penalty_bce"), CountPenaltyBCE)
    assert get("count_penalty_bce_soft").soft is True
    assert get("mse") == "mse"
    loss = count_penalty_bce(weight=1e-3, soft=True)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, CountPenaltyBCE) and again.weight == 1e-3 and again.soft


def test_gaussian_nll_by_hand_and_its_minimum():
    from kzoo.losses import GaussianNLL

    y = np.array([[1.0, 2.0]], "float32")
    out = np.array([[1.5, 2.0, np.log(0.5), 0.0]], "float32")  # means 1.5, 2; sigmas 0.5, 1
    expected = np.mean([0.5 * (0.5 / 0.5) ** 2 + np.log(0.5), 0.0])
    assert float(GaussianNLL()(y, out)) == pytest.approx(expected, rel=1e-5)
    # for a fixed error the loss is smallest when sigma equals the error
    errs = [float(GaussianNLL()(np.array([[0.0]], "float32"), np.array([[0.3, np.log(s)]], "float32")))
            for s in (0.1, 0.3, 0.9)]
    assert errs[1] < errs[0] and errs[1] < errs[2]


def test_uncertainty_experiment_is_calibrated_on_val_and_reports_coverage(tiny_data, tmp_path):
    import json

    from kzoo.data.pipeline import dataset
    from kzoo.data.records import target_ranges
    from kzoo.data.shards import load_manifest
    from kzoo.metrics import coverage
    from kzoo.export import load_model
    from kzoo.layers import SigmaScale
    from kzoo.losses import split_mean_sigma
    from kzoo.predict import predict
    from kzoo.train import NOMINAL_68, fit

    out = tmp_path / "nll"
    res = fit("gc-dm-nps-nll", tiny_data, out, epochs=1, batch_size=16,
              model_args={"blocks": ((4,), (4,)), "kernel_sizes": (3, 5), "dense": (8,)}, verbose=0, allow_other_recipe=True)
    targets = ["A_dm", "n_ps_gc+n_ps_disk"]
    cal = json.loads((out / "run.json").read_text())["uncertainty_calibration"]
    assert cal["split"] == "val" and cal["n"] == 24 and res["uncertainty_calibration"] == cal  # in metrics.json too
    model = load_model(out / "model.keras")  # safe_mode; the scales travel with the model
    assert isinstance(model.layers[-1], SigmaScale)
    assert model.layers[-1].scales == pytest.approx([cal["targets"][t]["sigma_scale"] for t in targets])
    y, out_val = [], []
    for x, yb in dataset(tiny_data, "val", targets=targets, scale_targets=True, batch_size=64, shuffle=False):
        y.append(yb.numpy())
        out_val.append(np.asarray(model(x, training=False)))
    y = np.concatenate(y)
    mean, sigma = (np.asarray(t) for t in split_mean_sigma(np.concatenate(out_val)))
    for j, t in enumerate(targets):  # on the validation split the loaded model covers 68.27 %, by construction
        c, s = cal["targets"][t], model.layers[-1].scales[j]
        assert abs(c["val_coverage_68_after"] - NOMINAL_68) <= 1 / 24
        assert coverage(y[:, j], mean[:, j], sigma[:, j]) == {"coverage_68": c["val_coverage_68_after"],
                                                              "coverage_95": c["val_coverage_95_after"]}
        assert coverage(y[:, j], mean[:, j], sigma[:, j] / s) == {"coverage_68": c["val_coverage_68_before"],
                                                                  "coverage_95": c["val_coverage_95_before"]}
        m = res["metrics"][t]  # the test split: calibrated and uncalibrated coverage side by side
        assert m["sigma_scale"] == pytest.approx(s) and m["median_sigma"] > 0
        for k in ("coverage_68", "coverage_95", "coverage_68_uncalibrated", "coverage_95_uncalibrated"):
            assert 0 <= m[k] <= 1
    # kzoo predict gives the calibrated sigmas in physical units
    x = next(iter(dataset(tiny_data, "test", targets=None, batch_size=2, shuffle=False))).numpy()
    np.save(tmp_path / "img.npy", x[0, ..., 0])
    p = predict(out, [tmp_path / "img.npy"])
    assert p["targets"] == targets + ["sigma_A_dm", "sigma_n_ps_gc+n_ps_disk"]
    r = target_ranges(load_manifest(tiny_data), targets)
    _, sig = split_mean_sigma(np.asarray(model(x[:1], training=False)))
    np.testing.assert_allclose(p["predictions"][str(tmp_path / "img.npy")][2:], np.asarray(sig)[0] * (r[:, 1] - r[:, 0]),
                               rtol=1e-5)


def test_other_losses_are_not_calibrated():
    from kzoo.experiments import get_experiment
    from kzoo.train import calibrate_uncertainty

    model = object()
    assert calibrate_uncertainty(model, [], get_experiment("gc-dm")) == (model, None)
    assert calibrate_uncertainty(model, None, get_experiment("gc-dm-nps-nll")) == (model, None)
