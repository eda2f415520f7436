"""The spectra suite page's own part."""

from __future__ import annotations

from pathlib import Path

from kzoo.report import variant_links
from kzoo.reproduce import Suite


def spectra_section(out: Path, results_dir: Path, records=()) -> str:
    """Seed 001 A/B in one table: each spectrum GAN judged by cross-correlation against the CWW templates and by a
    Frechet distance, every number beside its real-vs-real floor."""
    from kzoo.registry import spec

    rows = []
    for r in records:
        e, m = r["experiment"], r["metrics"]
        xc, fd = m.get("cross_correlation", {}), m.get("frechet", {})
        if not xc:
            continue
        z = (f"{xc['z_error_generated']:.4f} ({xc['z_error_real']:.4f})" if "z_error_generated" in xc else "")
        a = {**spec(e["model"]).arguments(), **e["model_args"]}  # the builder's defaults where the declaration is silent
        noise = f"{a['noise']} x {a['latent_dim']}" if a["latent_dim"] else "none (the parameters alone)"
        spread = f"{m['noise']['draw_std']:.3f}" if "noise" in m else ""
        rows.append(f"| [{e['name']}]({e['name']}.md) | {e['inputs']['spectrum']} | {a.get('penalty')} | {noise} | "
                    f"{xc['r_median_generated']:.3f} ({xc['r_median_real']:.3f}) | {xc['r_ks']:.3f} | "
                    f"{xc['template_agreement']:.3f} | {z} | {fd.get('generated', float('nan')):.4f} "
                    f"({fd.get('real_vs_real', float('nan')):.4f}) | {spread} | {r['epochs_run']} |")
    if not rows:
        return ""
    return "\n".join(["## Generated against real spectra (seed 001 A's planned validation)", "",
                      "For one spectrum generated at each test spectrum's parameters: the median best correlation r "
                      "with the CWW templates (real spectra in brackets), the Kolmogorov-Smirnov distance between the "
                      "two distributions of r, how often the best template agrees, the median redshift error "
                      "|z_xc - z| / (1 + z) measured on generated observed-frame spectra (on the real ones in "
                      "brackets: the method's floor) and the Frechet distance in a small CNN's features (real against "
                      "real in brackets); group B's columns: the generator's noise (distribution x size) and the "
                      "median standard deviation of 8 spectra drawn for the same parameters (0: the noise is "
                      "ignored).", "",
                      "| experiment | frame | Lipschitz | noise | r, generated (real) | KS(r) | same template | "
                      "z error (real) | Frechet (real-real) | spread of draws | epochs |",
                      "|---|---|---|---|---|---|---|---|---|---|---|", *rows, "",
                      *noise_spread_section(results_dir), *variant_links(results_dir, records)])


NOISES = ("spectra-wgan-gaussian", "spectra-wgan-uniform")  # group B's two noises, the same in all else
SPREAD = (("frechet", "generated", "Frechet"), ("cross_correlation", "r_ks", "KS(r)"),
          ("cross_correlation", "template_agreement", "same template"))


def noise_spread_section(results_dir: Path) -> list[str]:
    """Group B's Gaussian against uniform noise held against the training-seed spread of each
    (``results/<experiment>-seeds.json``, ``kzoo reproduce EXPERIMENT --seeds K``): every seed's numbers, their mean
    and standard deviation, and the difference of the means with Welch's t-test."""
    import math

    from kzoo.io import read_json

    found = {e: read_json(Path(results_dir) / f"{e}-seeds.json", default=None) for e in NOISES}
    found = {e: r for e, r in found.items() if r}
    if not found:
        return []
    lines = ["## Gaussian against uniform noise across training seeds (seed 001 B)", "",
             "Group B found Gaussian and uniform latent noise 'qualitatively not much different'. Each noise trained "
             "with several training seeds on one dataset, all judged in one feature space (the Frechet network's "
             "seed is fixed); each cell the seeds' values, then mean +- standard deviation.", "",
             "| experiment | seeds | " + " | ".join(label for _, _, label in SPREAD) + " | epochs |",
             "|---|---|" + "---|" * (len(SPREAD) + 1)]
    for e, r in found.items():
        cells = [", ".join(f"{run['metrics'][t][k]:.4f}" for run in r["runs"])
                 + f" ({r['summary'][t][k]['mean']:.4f} +- {r['summary'][t][k]['std']:.4f})" for t, k, _ in SPREAD]
        lines.append(f"| [{e}]({e}-seeds.md) | {', '.join(str(run['seed']) for run in r['runs'])} | "
                     + " | ".join(cells) + f" | {', '.join(str(run['epochs_run']) for run in r['runs'])} |")
    if len(found) == len(NOISES):
        from scipy.stats import ttest_ind

        (_, g), (_, u) = found.items()
        parts = []
        for t, k, label in SPREAD:
            gv, uv = ([run["metrics"][t][k] for run in r["runs"]] for r in (g, u))
            spread = len(set(gv)) > 1 or len(set(uv)) > 1  # seeds that all agree leave no test to make
            test = ttest_ind(uv, gv, equal_var=False) if spread else None
            parts.append(f"{label} {u['summary'][t][k]['mean'] - g['summary'][t][k]['mean']:+.4f}"
                         + (f" (Welch's t {test.statistic:.2f}, p {test.pvalue:.2g})"
                            if test is not None and math.isfinite(test.pvalue) else ""))
        lines += ["", "Uniform minus Gaussian, mean against mean (Welch's t-test over the seeds, scipy): "
                  + "; ".join(parts) + "."]
    return [*lines, ""]


SUITE = Suite(section=spectra_section)
