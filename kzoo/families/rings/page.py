"""The Cherenkov-ring suite page's own part."""

from __future__ import annotations

from pathlib import Path

from kzoo.data.recipes import load_recipe_param
from kzoo.report import variant_links
from kzoo.reproduce import Suite


def rings_section(out: Path, results_dir: Path, records=()) -> str:
    """Seed 001 F in three tables: the ring counter's accuracy against the maximum number of rings, beside the
    PCA + SVM; each ring regressor's RMSE per parameter; and the conditional VAE's generated rings measured by
    the regressor against the same regressor on real rings."""
    lines = []
    counts = sorted((r for r in records if r["experiment"]["evaluation"] == "classification"),
                    key=lambda r: load_recipe_param(r["experiment"]["recipe"], "max_rings"))
    if counts:
        lines += ["## Counting rings: accuracy against the maximum number per image (the seed's question)", "",
                  "| experiment | rings per image | CNN accuracy | PCA (50) + linear SVM accuracy | epochs |",
                  "|---|---|---|---|---|"]
        for r in counts:
            m, c = r["metrics"]["ring_class"], (r.get("classical_reference") or {}).get("metrics", {})
            k = load_recipe_param(r["experiment"]["recipe"], "max_rings")
            cl = f"{c['ring_class']['accuracy']:.3f}" if "ring_class" in c else ""
            lines.append(f"| [{r['experiment']['name']}]({r['experiment']['name']}.md) | 1-{k} | {m['accuracy']:.3f} "
                         f"| {cl} | {r.get('epochs_run', '')} |")
        lines.append("")
    regs = [r for r in records if r["experiment"]["evaluation"] == "regression"]
    if regs:
        names = list(regs[0]["experiment"]["targets"])
        lines += ["## Measuring one ring: RMSE per parameter on the test split", "",
                  "(cx, cy, r as fractions of the 28-pixel image, thickness and deformation in pixels)", "",
                  "| experiment | model | recipe | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
        for r in regs:
            e = r["experiment"]
            lines.append(f"| [{e['name']}]({e['name']}.md) | `{e['model']}` | {e['recipe']} | "
                         + " | ".join(f"{r['metrics'][t]['rmse']:.4f}" for t in names) + " |")
        lines.append("")
    for r in (r for r in records if r["experiment"]["evaluation"] == "generation"):
        e, m = r["experiment"], r["metrics"]
        names = [t for t in e["inputs"]["conditions"] if t in m]
        if names:
            lines += [f"## Generating rings: [{e['name']}]({e['name']}.md) measured by the regressor", "",
                      "RMSE of the parameters the regressor reads from a generated ring against those requested, "
                      "beside its RMSE on real rings (the floor a perfect generator would reach).", "",
                      "| parameter | RMSE, generated | RMSE, real | bias, generated |", "|---|---|---|---|"]
            lines += [f"| {t} | {m[t]['rmse_generated']:.4f} | {m[t]['rmse_real']:.4f} | {m[t]['bias_generated']:+.4f} |"
                      for t in names]
            lines.append("")
    return "\n".join(lines + variant_links(results_dir, records))


SUITE = Suite(section=rings_section)
