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
