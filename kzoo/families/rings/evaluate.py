"""The rings family's evaluator: a conditional generator (the cVAE) judged on a split, and the figure of true and
predicted rings over test images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kzoo.export import infer
from kzoo import plots


def find_run(reference: str, near: Path) -> Path | None:
    """The run directory that ``"run:<experiment>"`` names, in a suite's layout (``WORK/<experiment>/run``)
    beside ``near`` (a run, or its staging area), or None where there is none finished."""
    name = reference[4:] if reference.startswith("run:") else reference
    for parent in list(Path(near).resolve().parents)[:4]:
        if (parent / name / "run" / "model.keras").exists():
            return parent / name / "run"
    return None


def _generation(model, run, data_dir, split, manifest, out_dir):
    """A conditional generator (``kzoo.families.rings.models.ConditionalVAE``) on a split. ``reconstruction``: ``mse`` =
    mean (reconstruction - image)^2 and ``bce_per_pixel`` = the mean binary cross-entropy per pixel, the
    reconstruction decoded from the mean of q(z | image, c). Per condition (e.g. ``r``), for one image generated
    from z ~ N(0, 1) at every image's own conditions: ``rmse_generated`` = sqrt(mean (measured - requested)^2)
    and ``bias_generated`` = mean(measured - requested), measured by a trained regressor
    (``evaluation_args["regressor"]``, "run:<experiment>", in physical units), and ``rmse_real`` = the same
    regressor's error on the real images (what a perfect generator would score)."""
    from kzoo.data.reader import batches
    from kzoo.data.records import unscale_targets
    from kzoo.experiments import pipeline_args
    from kzoo.export import load_model

    exp = run["experiment"]
    opts = exp.get("evaluation_args") or {}
    real, recon, cond, gen = [], [], [], []
    for i, (x, y) in enumerate(batches(data_dir, split, **pipeline_args(exp), batch_size=256, shuffle=False,
                                       manifest=manifest, verify=False)):
        real.append(np.asarray(y))
        recon.append(infer(model, x, np.float32))
        cond.append(np.asarray(x["conditions"]))
        gen.append(model.generate(cond[-1], seed=int(run["seed"]) + i))
    real, recon, cond, gen = (np.concatenate(a) for a in (real, recon, cond, gen))
    eps = 1e-7
    p = np.clip(recon, eps, 1 - eps)
    metrics = {"reconstruction": {"n": int(len(real)), "mse": float(np.mean((recon - real) ** 2)),
                                  "bce_per_pixel": float(np.mean(-(real * np.log(p) + (1 - real) * np.log(1 - p))))}}
    names = list(exp["inputs"]["conditions"])
    where = find_run(opts["regressor"], out_dir) if opts.get("regressor") else None
    if opts.get("regressor") and where is None:
        metrics["reconstruction"]["regressor_run"] = (
            f"not found: {opts['regressor']} (train it first, beside this run: kzoo reproduce "
            f"{opts['regressor'][4:]} --out WORK/{opts['regressor'][4:]})")
    elif where is not None:
        reg_run = json.loads((where / "run.json").read_text())
        reg = load_model(where / "model.keras")

        def measure(images):
            y = np.concatenate([infer(reg, images[s:s + 512], np.float64)
                                for s in range(0, len(images), 512)])
            if reg_run["experiment"]["scale_targets"]:
                y = unscale_targets(y, reg_run["target_ranges"], reg_run["experiment"]["target_scale"])
            return y

        reg_names = list(reg_run["experiment"]["targets"])
        cols = [reg_names.index(t) for t in names]
        on_gen, on_real = measure(gen)[:, cols], measure(real)[:, cols]
        metrics["reconstruction"]["regressor_run"] = str(where)
        metrics.update({t: {"n": int(len(cond)),
                            "rmse_generated": float(np.sqrt(np.mean((on_gen[:, j] - cond[:, j]) ** 2))),
                            "rmse_real": float(np.sqrt(np.mean((on_real[:, j] - cond[:, j]) ** 2))),
                            "bias_generated": float(np.mean(on_gen[:, j] - cond[:, j]))} for j, t in enumerate(names)})
    generated_examples(real[:6], recon[:6], gen[:6], [dict(zip(names, c)) for c in cond[:6]],
                             out_dir / "generated.png", title=f"{exp['name']}: {split} split")
    return metrics


def ring_overlays(images, y_true, y_pred, names, path, npix: int = 28, title: str = ""):
    """Seed 001 F's figure: each image with its true ring (red) and the predicted one (cyan), from the labels
    ``cx``, ``cy``, ``r`` (fractions of ``npix``) and, in the caption, thickness and deformation."""
    plt = plots.pyplot()
    n = len(images)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.9 * rows), squeeze=False)
    j = {k: names.index(k) for k in ("cx", "cy", "r")}
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(np.asarray(images[i])[..., 0], cmap="gray", origin="upper")
        for y, color in ((y_true[i], "red"), (y_pred[i], "cyan")):
            ax.add_patch(plt.Circle((y[j["cx"]] * npix, y[j["cy"]] * npix), y[j["r"]] * npix, fill=False,
                                    color=color, lw=1.2))
        rest = [k for k in names if k not in j]
        ax.set_title("\n".join(f"{k}: {y_true[i][names.index(k)]:.2f} | {y_pred[i][names.index(k)]:.2f}"
                               for k in ("cx", "cy", "r", *rest)), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def generated_examples(real, reconstructed, generated, conditions, path, title: str = ""):
    """Columns of (real image, its reconstruction, an image generated for its conditions), the conditions
    written above each column."""
    plt = plots.pyplot()
    n = len(real)
    fig, axes = plt.subplots(3, n, figsize=(2.0 * n, 6.6), squeeze=False)
    for i in range(n):
        for row, (img, name) in enumerate(((real, "real"), (reconstructed, "reconstructed"), (generated, "generated"))):
            ax = axes[row, i]
            ax.imshow(np.asarray(img[i])[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name)
        axes[0, i].set_title("\n".join(f"{k} {v:.2f}" for k, v in conditions[i].items()), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def ring_overlays_figure(k, run, data_dir, split, manifest, out_dir, y_true, y_pred, names):
    """Seed 001 F's figure, for ``evaluation_args={"ring_overlays": k}``: true (red) and predicted (cyan) rings over
    the first ``k`` images of the split (``rings.png``)."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp, k = run["experiment"], int(k)
    x0 = np.asarray(next(iter(batches(data_dir, split, inputs=pipeline_args(exp)["inputs"], targets=None, batch_size=k,
                           shuffle=False, manifest=manifest, verify=False))))
    ring_overlays(x0, y_true[:k], y_pred[:k], names, Path(out_dir) / "rings.png",
                  npix=int(manifest["recipe"]["params"].get("npix", x0.shape[1])),
                  title=f"{exp['name']}: true (red) and predicted (cyan) rings, {split} split")


EVALUATORS = {"generation": _generation}
FIGURES = {"ring_overlays": ring_overlays_figure}
FIGURE_FILES = ("rings.png", "generated.png")  # what a results page shows of what these draw
