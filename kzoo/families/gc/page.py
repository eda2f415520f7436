"""The Galactic-centre suite page's own parts: the Fisher / Cramer-Rao floor of the amplitudes and its cells."""

from __future__ import annotations

import time
from pathlib import Path

from kzoo.io import write_json
from kzoo.reproduce import Suite


def gc_fisher_section(out: Path, results_dir: Path, records=()) -> str:
    """The Cramer-Rao floor and Fisher forecasts on the Galactic-centre amplitudes of the recipe
    ``galactic_center`` (``kzoo.families.gc.reference.galactic_center_fisher``), computed once per work directory
    and sky (``out/fisher.json``, or the recorded ``results/gc-fisher.json``; recomputed when the recipe's
    parameters change) and copied to ``results/gc-fisher.json``."""
    from kzoo.data.recipes import load_recipe
    from kzoo.io import read_json
    from kzoo.families.gc.reference import galactic_center_fisher

    params = load_recipe("galactic_center")["params"]
    cache = out / "fisher.json"
    f = read_json(cache, default=None) or read_json(results_dir / "gc-fisher.json", default=None)  # or recorded
    if f is None or f.get("params") != params or "commit" not in f:  # a record names its commit, command, machine
        from kzoo.runs import provenance_fields

        t0 = time.time()
        f = galactic_center_fisher(n_images=100, n_cov=32768, seed=0, progress=True, **params)
        f["seconds"] = round(time.time() - t0, 1)
        f["params"] = params
        f.update(provenance_fields())
        write_json(cache, f)
    write_json(results_dir / "gc-fisher.json", f)
    lines = ["## Physical floor: Fisher / Cramer-Rao errors on the amplitudes (recipe `galactic_center`)", "",
             "| amplitude | state of knowledge | sigma (mean) | MAE of [0, 1]-scaled A (mae_scaled) | relative error |",
             "|---|---|---|---|---|"]
    for state, label in (("known_maps", "every map known but the amplitudes (exact Poisson bound)"),
                         ("gaussian_unknown_gas", "gas unknown, point sources known (Gaussian approximation)"),
                         ("gaussian_unknown_fields", "gas and point sources unknown (Gaussian approximation)")):
        for name, v in f.get(state, {}).items():
            lines.append(f"| {name} | {label} | {v['sigma_mean']:.4f} | {v['mae_scaled']:.4f} | "
                         f"{v['relative_error']:.4f} |")
    lines += ["", f"{f['n_images']} fresh images from the prior; field covariances from {f['n_cov']} simulated maps "
              f"(Hartlap factor {f['hartlap_factor']:.3f}); {f.get('seconds', '?')} s. mae_scaled = sqrt(2/pi) "
              "mean(sigma) / (high - low), what an efficient unbiased estimator reaches in the metric set beside the "
              "seed's numbers; relative error = sqrt(2/pi) mean(sigma) / mean(A). The first state is a true lower "
              "bound for any unbiased estimator that sees one counts map; the others are not bounds (a network "
              "may use the non-Gaussian shape of the fields).", ""]
    return "\n".join(lines)


def gc_floors(results_dir):
    """Floor cells of a Galactic-centre record whose recipe simulates the sky of ``results/gc-fisher.json``:
    for each amplitude in ``mae_scaled``, the Cramer-Rao bound with every map known and the Gaussian forecast
    with gas and point sources unknown, and how many times the bound the network's error is."""
    from kzoo.data.recipes import load_recipe
    from kzoo.io import read_json

    f = read_json(Path(results_dir) / "gc-fisher.json", default=None)

    def cells(r: dict) -> dict:
        if not f or load_recipe(r["experiment"]["recipe"])["params"] != f.get("params"):
            return {}
        out = {}
        for name, known in f.get("known_maps", {}).items():
            value = r["metrics"].get(name, {}).get("mae_scaled")
            if value is None:
                continue
            unknown = f.get("gaussian_unknown_fields", {}).get(name, {}).get("mae_scaled")
            out[(name, "mae_scaled")] = (f"{known['mae_scaled']:.3f} bound (kzoo {value / known['mae_scaled']:.1f}x)"
                                         + (f"; {unknown:.3f} forecast" if unknown is not None else ""))
        return out
    return cells


def gc_scans_section(records) -> list[str]:
    """The source notebooks' two numberless scans, each as one table from the records: the denoiser's latent size
    (gc-dae-gaussian and its -latent<k> runs) and the U-net's cut factor (gc-ps-unet and its -cut<percent> runs)."""
    from kzoo.report import md_table

    by = {r["experiment"]["name"]: r for r in records}
    lines = []
    latent = sorted((r["experiment"]["model_args"].get("latent", 6), r) for n, r in by.items()
                    if n == "gc-dae-gaussian" or n.startswith("gc-dae-gaussian-latent"))
    if len(latent) > 1:
        rows = [[k, f"[{r['experiment']['name']}]({r['experiment']['name']}.md)", f"{r['metrics']['denoised']['mse']:.6f}",
                 f"{(r.get('validation') or {}).get('val_loss', float('nan')):.6f}", r["epochs_run"],
                 r["settings"].get("precision", ""), r["machine"]["cpu"]] for k, r in latent]
        lines += ["## The denoiser's latent size (the source notebooks' scan, 2-10; they kept 6)", "",
                  "Gaussian noise; test MSE and the best epoch's validation MSE (the seed's 0.0011 is its plotted loss "
                  "at its latent of 6).", "",
                  md_table(["latent", "run", "test MSE", "validation MSE (best epoch)", "epochs", "precision", "CPU"],
                           rows), ""]
    cuts = sorted((r["experiment"].get("loss_args", {}).get("cut_factor", 1.08), r) for n, r in by.items()
                  if n == "gc-ps-unet" or n.startswith("gc-ps-unet-cut"))
    if len(cuts) > 1:
        rows = [[f"{c * 100:.0f} %", f"[{r['experiment']['name']}]({r['experiment']['name']}.md)",
                 *(f"{r['metrics'][a][k]:.4f}" for a in ("A", "B") for k in ("auc_mean", "accuracy_mean")),
                 r["epochs_run"], r["settings"].get("precision", ""), r["machine"]["cpu"]] for c, r in cuts]
        lines += ["## The U-net's cut factor (the source notebooks' scan, 105-120 %; they kept 108 %)", "",
                  "The count penalty's cut as a fraction of the smallest true source flux; evaluations A and B as "
                  "the source notebooks define them (seed: AUC 0.92 / 0.97, accuracy 0.80 / 0.94 at 108 %).", "",
                  md_table(["cut", "run", "AUC A", "accuracy A", "AUC B", "accuracy B", "epochs", "precision", "CPU"],
                           rows), ""]
    return lines


def gc_section(out: Path, results_dir: Path, records=()) -> str:
    """The Galactic-centre page's own part: the Fisher floors, then the source notebooks' scans."""
    return "\n".join([gc_fisher_section(out, results_dir, records), *gc_scans_section(records)])


SUITE = Suite(section=gc_section, floors=gc_floors)
