"""Figures people would rather look at than read. Every function writes a PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Write ``fig`` as a PNG at ``path`` (a temporary name, then a rename), close it, return the path."""
    from kzoo.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    pyplot().close(fig)
    return Path(path)


def loss_curves(history: dict[str, list], path, title: str = ""):
    """Training and validation curves of every logged quantity (loss on a log scale)."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    keys = [k for k in history if k != "epoch" and not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    epochs = np.asarray(history.get("epoch", range(len(history[keys[0]])))) + 1
    for ax, k in zip(axes[0], keys):
        ax.plot(epochs, history[k], label=f"train {k}")
        if f"val_{k}" in history:
            ax.plot(epochs, history[f"val_{k}"], label=f"val {k}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.set_ylabel(k)
        if k == "loss" and min([*history[k], *history.get(f"val_{k}", [])]) > 0:  # a GAN's validation
            # Wasserstein estimate may go negative: a log scale would drop those epochs
            ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def predicted_vs_true(y_true, y_pred, names, path, title: str = "", color=None, color_label: str = "", ranges=None):
    """Per target: predicted against true with the 1:1 line (top) and residuals against true (bottom),
    points coloured by ``color`` (one value per image, e.g. its SNR) when given.

    Both axes of the top panel span the truth's range: ``ranges`` ((k, 2) lows and highs, e.g. the
    recipe's label ranges) or else the true values' own. Predictions outside it are drawn at its edge
    (as triangles) and counted in the panel's title, beside those exactly at 0 (``range_note``).
    """
    plt = pyplot()
    y_true, y_pred = np.atleast_2d(np.asarray(y_true).T).T, np.atleast_2d(np.asarray(y_pred).T).T
    k = y_true.shape[1]
    fig, axes = plt.subplots(2, k, figsize=(4.5 * k, 7), squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [3, 1.3]})
    for j, name in enumerate(names):
        t, p = y_true[:, j], y_pred[:, j]
        lo, hi = (float(ranges[j][0]), float(ranges[j][1])) if ranges is not None else (float(t.min()), float(t.max()))
        lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))  # never hide a true value
        pad = 0.02 * (hi - lo or 1.0)
        outside = (p < lo) | (p > hi)
        ax = axes[0, j]
        kw = {} if color is None else {"c": np.asarray(color), "cmap": "viridis", "alpha": 0.6}
        inside_kw = {k_: (v[~outside] if k_ == "c" else v) for k_, v in kw.items()}
        points = ax.scatter(t[~outside], p[~outside], s=4, **{"alpha": 0.4, **inside_kw}, lw=0)
        for side, sel, marker in ((lo, p < lo, "v"), (hi, p > hi, "^")):
            if sel.any():
                ax.scatter(t[sel], np.full(sel.sum(), side), s=10, marker=marker, color="tab:red", alpha=0.6, lw=0,
                           label=f"{'below' if side == lo else 'above'} the range, drawn at its edge")
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="1:1")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(f"predicted {name}")
        ax.set_title(f"{name}\n{range_note(p, lo, hi)}", fontsize=8)
        ax.legend(loc="upper left", fontsize=7)
        ax.grid(alpha=0.3)
        if color is not None:
            fig.colorbar(points, ax=ax, label=color_label)
        ax = axes[1, j]
        ax.scatter(t, p - t, s=4, **{"alpha": 0.4, **kw}, lw=0)
        ax.axhline(0, color="k", lw=1, ls="--")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel("pred - true")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def range_note(pred, lo: float, hi: float) -> str:
    """How many of ``pred`` lie outside [lo, hi] and how many sit exactly at 0 (a fit's bound, e.g. a
    template amplitude A >= 0), for a plot's title."""
    pred = np.asarray(pred)
    below, above, zero = int((pred < lo).sum()), int((pred > hi).sum()), int((pred == 0).sum())
    out = f"{below + above} of {pred.size} outside [{lo:.3g}, {hi:.3g}]"
    if below + above:
        out += f" ({below} below, {above} above), at the edge"
    return out + (f"\n{zero} exactly at 0 (the bound >= 0)" if zero else "")


def sample_grid(images, path, titles=None, ncols: int = 4, title: str = "", log: bool = True):
    """A grid of images (e.g. simulated counts maps), log-stretched by default."""
    plt = pyplot()
    images = np.asarray(images)
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = np.squeeze(images[i])
            ax.imshow(np.log1p(np.maximum(img, 0)) if log else img, origin="upper", cmap="magma")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def roc_curves(curves: dict, path, title: str = ""):
    """ROC curves from pooled ``{label: (truth, score)}`` pairs, AUC in the legend."""
    from kzoo.metrics import roc_auc

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for label, (truth, score) in curves.items():
        order = np.argsort(-score, kind="stable")
        t = truth[order].astype(float)
        tpr = np.concatenate([[0], np.cumsum(t) / max(t.sum(), 1)])
        fpr = np.concatenate([[0], np.cumsum(1 - t) / max((1 - t).sum(), 1)])
        ax.plot(fpr, tpr, label=f"{label}: AUC {roc_auc(truth, score):.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def image_rows(rows, path, title: str = ""):
    """A grid of images: ``rows`` is a list of rows, each a list of ``(image, title)`` panels."""
    plt = pyplot()
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.6 * ncols, 2.6 * len(rows)), squeeze=False)
    for ax_row, row in zip(axes, rows):
        for ax in ax_row:
            ax.axis("off")
        for ax, (img, name) in zip(ax_row, row):
            ax.imshow(np.squeeze(img), cmap="magma", origin="upper")
            ax.set_title(name, fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def mask_examples(images, truth, prob, path, cut: float = 0.02):
    """Rows of input, true mask, predicted probability and predicted mask (``prob > cut``)."""
    rows = [[(np.log1p(np.maximum(np.squeeze(images[i]), 0)), "input (log)"), (np.squeeze(truth[i]) > 0, "true sources"),
             (prob[i], "predicted probability"), (np.squeeze(prob[i]) > cut, f"predicted > {cut}")]
            for i in range(len(images))]
    return image_rows(rows, path)


def denoising_examples(noisy, denoised, clean, path, title: str = ""):
    """Rows of noisy input, denoised output and clean target."""
    rows = [[(noisy[i], "noisy"), (denoised[i], "denoised"), (clean[i], "clean")] for i in range(len(noisy))]
    return image_rows(rows, path, title=title)


def learning_curve(sizes, values: dict, path, metric: str, title: str = "", reference: dict | None = None):
    """Test ``metric`` against the number of training images (log-log), one panel per target; the seed's
    number (``reference[target]``) as a dashed line where it has one. ``values[target]`` is a list, or
    ``{curve label: list}`` for several curves in one panel (from scratch and fine-tuned)."""
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    names = list(values)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        curves = values[name] if isinstance(values[name], dict) else {"kzoo": values[name]}
        for label, ys in curves.items():
            ax.plot(sizes, ys, "o-", label=label)
        if reference and reference.get(name) is not None:
            ax.axhline(reference[name], color="k", ls="--", lw=1, label="seed")
        if len(curves) > 1 or reference and reference.get(name) is not None:
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(list(sizes), [f"{int(n):,}" for n in sizes])  # the sizes trained, not 2 x 10^2, 3 x 10^2, ...
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("training images")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def search_trials(trials, values, path, title: str = ""):
    """A search's objective per trial (points) and the best so far (a step line)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(values))
    ax.plot(x, values, "o", label="trial")
    ax.step(x, np.minimum.accumulate(values), where="post", label="best so far")
    ax.set_xticks(x, [str(t) for t in trials], rotation=90 if len(trials) > 20 else 0)
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def saliency_grid(images, gradients, cams, path, titles=None, title: str = ""):
    """Rows of (image, gradient map, Grad-CAM over the image) for a few test images."""
    plt = pyplot()
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    first = [np.asarray(images[i])[..., 0] for i in range(n)]
    counts = min(float(f.min()) for f in first) >= 0  # counts are shown as log(1 + x); maps of logs as they are
    for i in range(n):
        img = np.log1p(first[i]) if counts else first[i]
        axes[i, 0].imshow(img, cmap="magma", origin="lower")
        axes[i, 1].imshow(gradients[i], cmap="viridis", origin="lower")
        axes[i, 2].imshow(img, cmap="gray", origin="lower")
        axes[i, 2].imshow(cams[i], cmap="jet", alpha=0.45, origin="lower")
        axes[i, 0].set_ylabel(titles[i] if titles else "", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, name in zip(axes[0], ("image (log 1+x)" if counts else "image (first channel)",
                                  "|d prediction / d pixel|", "Grad-CAM")):
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def confusion_matrix(confusion, class_names, path, title: str = "", label: str = "class"):
    """A confusion matrix: the fraction of each true class (row) predicted as each class (column), counts
    written in the cells."""
    plt = pyplot()
    c = np.asarray(confusion, np.float64)
    frac = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * k, 1.0 + 0.55 * k))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(c[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=90 if max(map(len, map(str, class_names))) > 3 else 0)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel(f"true {label}")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def score_histograms(scores, labels, names: dict, normal: int, thresholds, path, title: str = ""):
    """Histograms of anomaly scores per class (the normal class filled), the four zone thresholds drawn as
    the seed drew them (outer red, inner blue)."""
    plt = pyplot()
    s, lab = np.asarray(scores, np.float64), np.asarray(labels).astype(int)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(s.min(), np.percentile(s, 99.5) if s.size > 10 else s.max(), 50)
    for k in sorted(set(lab.tolist())):
        ax.hist(s[lab == k], bins=bins, alpha=0.6 if k == normal else 0.4, histtype="stepfilled" if k == normal
                else "step", lw=1.5, label=f"{names.get(k, k)}{' (normal)' if k == normal else ''}", density=True)
    for t, color in zip(thresholds or [], ("red", "blue", "blue", "red")):
        ax.axvline(t, color=color, lw=1)
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


