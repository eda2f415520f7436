"""The Sersic family's evaluation figure: the source notebooks' panels of their autoencoder (the noisy image it is
given, the noiseless image it should give back, and the one it generates from its parameter latent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo import plots

FIGURE_FILES = ("reconstructions.png",)


def reconstruction_panels(count, run, data_dir, split, manifest, out_dir, y_true, y_pred, names) -> None:
    """``count`` galaxies of the split (spread over its first 256) in rows of three panels, as the source notebooks
    showed their autoencoder: the noisy input, the noiseless truth and the generated image (the model's output named
    "noiseless"), titled with the true and the latent's parameters (``y_true``, ``y_pred``: physical units):
    RUN/reconstructions.png."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args
    from kzoo.export import infer, load_model

    exp = run["experiment"]
    model = load_model(Path(run["run_dir"]) / "model.keras")
    x, y = next(iter(batches(data_dir, split, **pipeline_args(exp), batch_size=256, shuffle=False, manifest=manifest,
                             verify=False)))
    pick = np.unique(np.linspace(0, len(y["noiseless"]) - 1, int(count)).astype(int))
    out = infer(model, {k: np.asarray(v)[pick] for k, v in x.items()})["noiseless"]

    def said(values) -> str:
        return ", ".join(f"{n} {v:.3g}" for n, v in zip(names, values))

    rows = [[(np.asarray(x["image"])[i], "noisy input"), (np.asarray(y["noiseless"])[i], "noiseless (truth)\n"
             + said(y_true[i][:3])), (out[j], "generated\n" + said(y_pred[i][:3]))] for j, i in enumerate(pick)]
    plots.image_rows(rows, Path(out_dir) / "reconstructions.png",
                     title=f"{exp['name']}: {split} split, input, truth and the autoencoder's image")


FIGURES = {"panels": reconstruction_panels}
