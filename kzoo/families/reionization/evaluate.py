"""The 21-cm family's figure: each class's mean power spectrum and its scatter, drawn by the classification
evaluator for an experiment that asks for it (``evaluation_args={"power_spectra": True}``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo.families.reionization.reference import power_spectrum_features
from kzoo import plots


def class_spectra(features, classes, class_names, path, title: str = ""):
    """Per class, the mean and the standard deviation over its maps of ``kzoo.families.reionization.reference.power_spectrum_features``
    (the mean map value, then log10 P(k) per |k| bin): left the means, right the spectra."""
    plt = plots.pyplot()
    f, c = np.asarray(features, np.float64), np.asarray(classes).astype(int)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    colors = plt.cm.viridis(np.linspace(0, 1, max(len(class_names), 2)))
    bins = np.arange(1, f.shape[1])
    for k, name in enumerate(class_names):
        sel = f[c == k]
        if not len(sel):
            continue
        a0.errorbar(k, sel[:, 0].mean(), sel[:, 0].std(), fmt="o", color=colors[k], ms=4)
        m, s = sel[:, 1:].mean(axis=0), sel[:, 1:].std(axis=0)
        a1.plot(bins, m, color=colors[k], label=name)
        a1.fill_between(bins, m - s, m + s, color=colors[k], alpha=0.12)
    a0.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
    a0.set_ylabel("mean of the map (+- 1 sd over maps)")
    a1.set_xlabel("|k| bin (fundamental to Nyquist)")
    a1.set_ylabel("log10 P(k) (band: +- 1 sd over maps)")
    a1.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def power_spectra_figure(value, run, data_dir, split, manifest, out_dir, y_true, y_pred, names):
    """For ``evaluation_args={"power_spectra": True}``: is the information in the maps' statistics at all? Each
    class's mean map value and power spectrum (:func:`power_spectrum_features`) and its scatter
    (``power_spectra.png``)."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    (target,) = exp["targets"]
    features = [power_spectrum_features(np.asarray(x)[..., 0]) for x, _ in batches(
        data_dir, split, **pipeline_args(exp), batch_size=256, shuffle=False, manifest=manifest, verify=False)]
    class_spectra(np.concatenate(features), y_true, names, Path(out_dir) / "power_spectra.png",
                  title=f"{exp['name']}: {split} split, by true "
                        f"{(exp.get('evaluation_args') or {}).get('class_label', target)}")


FIGURES = {"power_spectra": power_spectra_figure}
FIGURE_FILES = ("power_spectra.png",)  # what a results page shows of what these draw
