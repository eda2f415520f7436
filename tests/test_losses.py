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


def test_uncertainty_experiment_reports_coverage(tiny_data, tmp_path):
    from kzoo.train import fit

    res = fit("gc-dm-nps-nll", tiny_data, tmp_path / "nll", epochs=1, batch_size=16,
              model_args={"blocks": ((4,), (4,)), "kernel_sizes": (3, 5), "dense": (8,)}, verbose=0, allow_other_recipe=True)
    m = res["metrics"]["A_dm"]
    assert 0 <= m["coverage_68"] <= m["coverage_95"] <= 1 and m["median_sigma"] > 0
