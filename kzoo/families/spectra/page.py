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
                      *variant_links(results_dir, records)])


SUITE = Suite(section=spectra_section)
