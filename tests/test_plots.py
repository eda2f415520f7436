import numpy as np
import pytest

from kzoo import plots


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions make, kept open instead of saved."""
    made = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: made.append(fig))
    return made


def test_loss_curves_have_whole_epoch_ticks(figures):
    plots.loss_curves({"epoch": [0.0, 1.0, 2.0], "loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]}, "unused.png")
    ax = figures[0].axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1.0, 2.0, 3.0] and ax.get_yscale() == "log"


def test_loss_curves_keep_a_linear_scale_when_the_validation_loss_goes_negative(figures):
    # a GAN's validation loss (the critic's Wasserstein estimate) can be negative: every epoch stays on the plot
    plots.loss_curves({"epoch": [0.0, 1.0, 2.0], "loss": [3.0, 2.0, 1.0], "val_loss": [2.0, -0.5, 0.3]}, "unused.png")
    assert figures[0].axes[0].get_yscale() == "linear"


def test_predicted_vs_true_spans_the_truths_range_and_counts_what_lies_outside(figures):
    truth = np.linspace(0.01, 0.99, 50)
    pred = truth.copy()
    pred[:10] = 0.0  # a fit at its bound A >= 0
    pred[10:13] = [1.5, 2.0, -0.2]
    plots.predicted_vs_true(truth, pred, ["A_dm"], "unused.png", ranges=np.array([[0.0, 1.0]]))
    top = figures[0].axes[0]
    assert top.get_xlim() == top.get_ylim() == pytest.approx((-0.02, 1.02))
    assert "3 of 50 outside [0, 1] (1 below, 2 above), at the edge" in top.get_title()
    assert "10 exactly at 0 (the bound >= 0)" in top.get_title()
    plots.predicted_vs_true(truth, truth, ["A_dm"], "unused.png")  # no ranges: the true values' own
    assert figures[1].axes[0].get_xlim() == pytest.approx((0.01 - 0.0196, 0.99 + 0.0196))
    assert plots.range_note(truth, 0, 1) == "0 of 50 outside [0, 1]"


def test_crb_curves_mark_each_parameters_own_bound_whatever_order_the_record_holds(figures):
    names = ["flux", "n", "re", "g1", "g2"]
    crb60 = [5639.0, 0.78, 0.029, 0.054, 0.055]
    fixed = {"snr": {"60": {"crb": crb60}, "30": {"crb": [2 * c for c in crb60]}}}
    bins = {"n": [5, 5], "rmse": [1.0, 2.0], "crb_rms": [1.0, 2.0]}
    curves = {"x": {"edges": [10, 30, 100], "params": {p: bins for p in sorted(names)}}}  # as read back from JSON
    from kzoo.families.sersic.plots import crb_curves

    crb_curves(curves, fixed, "unused.png", names, seed_crb60=crb60)
    axes = figures[0].axes
    assert [ax.get_title() for ax in axes] == names
    for ax, c in zip(axes, crb60):
        (dots,) = [line for line in ax.get_lines() if line.get_label() == "CRB, fixed galaxy"]
        assert list(dots.get_ydata()) == pytest.approx([2 * c, c])  # SNR 30, 60
