"""Custom losses, all keras-serializable (package "kzoo")."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class CountPenaltyBCE(keras.losses.Loss):
    """Binary cross-entropy plus ``weight * |#pixels predicted above the cut - #true source pixels|``.

    The seed's U-net loss (seed 000, part b): the cut is ``cut_factor`` (1.08) times the smallest
    non-zero target in the batch, the weight 1e-7. Counting pixels above a threshold is a step
    function: its gradient is zero almost everywhere, so with ``soft=False`` (the seed's loss) the
    penalty changes the reported loss but **only the BCE term trains the network**. ``soft=True``
    replaces the step by a steep sigmoid of width ``softness`` (relative to the cut), which gives
    the count term a gradient that pushes pixels across the cut.

    Targets are binary masks or normalised fluxes (a pixel is a "true source pixel" when its target
    is > 0); the BCE uses the target as given.
    """

    def __init__(self, weight: float = 1e-7, cut_factor: float = 1.08, soft: bool = False, softness: float = 0.05,
                 name: str = "count_penalty_bce", reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.weight, self.cut_factor, self.soft, self.softness = float(weight), float(cut_factor), bool(soft), float(softness)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=tuple(range(1, len(y_pred.shape) - 1)))
        positive = y_true > 0
        big = ops.cast(1e30, y_true.dtype)
        smallest = ops.min(ops.where(positive, y_true, big))
        cut = ops.where(smallest < big, smallest, ops.cast(0.5, y_true.dtype)) * self.cut_factor
        axes = tuple(range(1, len(y_pred.shape)))
        n_true = ops.sum(ops.cast(positive, y_pred.dtype), axis=axes)
        if self.soft:
            above = ops.sigmoid((y_pred - cut) / (self.softness * cut + 1e-12))
        else:
            above = ops.cast(y_pred > cut, y_pred.dtype)
        n_pred = ops.sum(above, axis=axes)
        return bce + self.weight * ops.abs(n_pred - n_true)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "cut_factor": self.cut_factor, "soft": self.soft,
                "softness": self.softness}


def count_penalty_bce(weight: float = 1e-7, cut_factor: float = 1.08, soft: bool = False) -> CountPenaltyBCE:
    """The seed's count-penalty BCE (see :class:`CountPenaltyBCE`)."""
    return CountPenaltyBCE(weight=weight, cut_factor=cut_factor, soft=soft)


def split_mean_sigma(y_pred):
    """(mean, sigma) from a (B, 2k) output holding k means then k log standard deviations."""
    k = y_pred.shape[-1] // 2
    return y_pred[..., :k], ops.exp(ops.clip(y_pred[..., k:], -10.0, 10.0))


@keras.saving.register_keras_serializable(package="kzoo")
class GaussianNLL(keras.losses.Loss):
    """Gaussian negative log-likelihood of targets (B, k) under a (B, 2k) output of means and log sigmas
    (constant dropped): mean over targets of ``0.5 ((y - mu) / sigma)^2 + log sigma``."""

    def __init__(self, name: str = "gaussian_nll", reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        mu, sigma = split_mean_sigma(y_pred)
        y_true = ops.cast(y_true, mu.dtype)
        return ops.mean(0.5 * ops.square((y_true - mu) / sigma) + ops.log(sigma), axis=-1)


@keras.saving.register_keras_serializable(package="kzoo")
class MomentLoss(keras.losses.Loss):
    """The moment loss of the CAMELS benchmark networks (Villaescusa-Navarro et al. 2021): for each target j,
    log(mean over the batch of d_j^2) + log(mean over the batch of (d_j^2 - sigma_j^2)^2), d = y - mu, summed
    over targets. The mean learns the posterior mean and sigma its standard deviation, with no likelihood
    assumed. The batch is the unit (``reduction=None``: the loss is already one number). Output layout as the
    Gaussian NLL's: k means then k log standard deviations (the benchmark outputs sigma itself; the log keeps
    it positive and shares kzoo's mean-and-sigma path)."""

    def __init__(self, name: str = "moment", reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        mu, sigma = split_mean_sigma(y_pred)
        d2 = ops.square(ops.cast(y_true, mu.dtype) - mu)
        per_target = ops.log(ops.mean(d2, axis=0) + 1e-12) + ops.log(ops.mean(ops.square(d2 - ops.square(sigma)),
                                                                              axis=0) + 1e-12)
        return ops.broadcast_to(ops.sum(per_target), ops.shape(mu)[:1])  # the batch's loss, once per example


LOSSES = {"count_penalty_bce": count_penalty_bce,
          "count_penalty_bce_soft": lambda **kwargs: count_penalty_bce(soft=True, **kwargs),
          "gaussian_nll": GaussianNLL,
          "moment": MomentLoss}
MEAN_SIGMA_LOSSES = ("gaussian_nll", "moment")  # heads of k means then k log sigmas


def predicts_sigma(loss) -> bool:
    """Whether a model trained with ``loss`` outputs a mean and a (log) standard deviation per target."""
    return isinstance(loss, str) and loss in MEAN_SIGMA_LOSSES


def get(loss, **kwargs):
    """A kzoo loss by name (``LOSSES``), built with ``kwargs``, or whatever keras accepts (a name, a Loss, a function;
    no arguments)."""
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss](**kwargs)
    if kwargs:
        raise ValueError(f"loss_args {kwargs} are for a kzoo loss ({', '.join(sorted(LOSSES))}), not {loss!r}")
    return loss
