"""The 21-cm suite page's own part, and the blank-map ceiling a classifier's record keeps."""

from __future__ import annotations

from pathlib import Path

from kzoo.data.recipes import load_recipe_param
from kzoo.report import variant_links
from kzoo.reproduce import Suite


def mlp_input(e: dict) -> str:
    """What the MLP of experiment ``e`` (its declaration) sees: a crop of the map, or the whole map."""
    import inspect

    from kzoo.families.reionization.models import reion_mlp

    crop = e["model_args"].get("crop", inspect.signature(reion_mlp).parameters["crop"].default)
    whole = crop >= load_recipe_param(e["recipe"], "npix")
    return f"{crop} x {crop} {'maps' if whole else 'crops'}, one hidden layer"


def reionization_section(out: Path, results_dir: Path, records=()) -> str:
    """Seed 004 in two tables: every classifier's test accuracy beside its classical reference and the seed's
    number, by question (redshift at one escape fraction, redshift over all, escape fraction at one redshift)
    and input (maps, the autoencoder's code, 50 x 50 crops); and the autoencoder's reconstruction beside PCA."""
    lines = []
    clf = [r for r in records if r["experiment"]["evaluation"] == "classification"]
    if clf:
        lines += ["## Which redshift, which escape fraction: test accuracy", "",
                  "The test split is other initial conditions than the training split; chance is 1/17 = 0.059 for "
                  "the redshift and 1/12 = 0.083 for the escape fraction. The seed quoted validation accuracies on "
                  "slices of the same boxes it trained on.", "",
                  "| experiment | question | input | kzoo accuracy | within one class | classical reference | seed | "
                  "epochs |", "|---|---|---|---|---|---|---|---|"]
        ceilings = []
        for r in clf:
            e = r["experiment"]
            (t,) = e["targets"]
            z = load_recipe_param(e["recipe"], "redshift_range")
            f = load_recipe_param(e["recipe"], "escape_fraction_range")
            question = ("redshift" if t == "z_class" else "escape fraction") + (
                f" at escape fraction {f[0]:g}" if f[0] == f[1] else f" at redshift {z[0]:g}" if z[0] == z[1]
                else ", every escape fraction")
            what = ("the autoencoder's code" if "encoder" in e["model_args"] else
                    mlp_input(e) if e["model"] == "reion_mlp" else "the maps")
            c = (r.get("classical_reference") or {})
            cl = (f"{c['metrics'][t]['accuracy']:.3f} ({c['method']})" if t in c.get("metrics", {}) else "")
            seed = (e.get("reference") or {}).get("accuracy", {}).get(t, "")
            m = r["metrics"][t]
            within = f"{m['accuracy_within_one']:.3f}" if "accuracy_within_one" in m else ""
            best = r["blank_ceiling"] if "blank_ceiling" in r else identical_input_ceiling(r.get("data_dir"), t)
            if best is not None and best < 1:
                ceilings.append(f"{e['name']}: {best:.3f}")
            lines.append(f"| [{e['name']}]({e['name']}.md) | {question} | {what} | {m['accuracy']:.3f} | {within} | "
                         f"{cl} | {seed} | {r.get('epochs_run', '')} |")
        lines.append("")
        if ceilings:
            lines += ["The best accuracy any classifier can reach on the test split, where a fully ionised box gives "
                      "blank maps that are the same at several redshifts (the most common of those redshifts "
                      "assumed for all of them): " + "; ".join(ceilings) + ".", ""]
    for r in (r for r in records if r["experiment"]["evaluation"] == "reconstruction"):
        e, m = r["experiment"], r["metrics"]
        lines += [f"## Compression: [{e['name']}]({e['name']}.md) beside PCA of the same size", "",
                  "| method | numbers kept | test MSE | mean per-map RMS |", "|---|---|---|---|"]
        lines += [f"| {k} | {v.get('code_size', '')} | {v['mse']:.2e} | {v['rms_per_image']:.4f} |" for k, v in m.items()
                  if isinstance(v, dict) and "mse" in v]
        lines.append("")
    return "\n".join(lines + variant_links(results_dir, records))


def identical_input_ceiling(data_dir, target: str, split: str = "test") -> float | None:
    """The highest accuracy any classifier of ``target`` can reach on ``split`` when identical inputs (blank maps:
    every pixel 0) carry different classes: all other images right, the blank ones all given their most common
    class. None when the dataset is not at hand."""
    import numpy as np

    from kzoo.data.reader import load_arrays

    if not data_dir or not (Path(data_dir) / "manifest.json").exists():
        return None
    x, y = load_arrays(data_dir, split, inputs="map", targets=[target], verify=False)
    blank = np.all(x.reshape(len(x), -1) == 0, axis=1)
    classes = y[:, 0].astype(int)
    best = (~blank).sum() + (np.bincount(classes[blank]).max() if blank.any() else 0)
    return float(best / len(x))


def reionization_ceiling_record(exp, run_dir: Path, data: Path, out: Path) -> float | None:
    """What a seed 004 classifier adds to its record: :func:`identical_input_ceiling` of its target on the test
    split, so that the suite page states it without the dataset at hand (``--from-results``)."""
    return identical_input_ceiling(data, exp.targets[0]) if exp.evaluation == "classification" else None


SUITE = Suite(section=reionization_section, record_extras={"blank_ceiling": reionization_ceiling_record})
