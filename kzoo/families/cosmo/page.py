"""The cosmology suite page's own part: what each experiment learns, in its own suite and across suites."""

from __future__ import annotations

from pathlib import Path

from kzoo.report import variant_links
from kzoo.reproduce import Suite


def cosmo_section(out: Path, results_dir: Path, records=()) -> str:
    """Which parameters each cosmology experiment learns, in its own suite and in the other: relative error
    mean|pred - true| / mean|true| and R^2 per parameter (R^2 near 0: not learned), and the coverage of the
    predicted sigmas where the model gives them."""
    lines = ["## What is learned, in-suite and across suites (groups E and H)", "",
             "Per parameter on the test split: relative error = mean|pred - true| / mean|true| and R^2 (1: learned, "
             "0: no better than the mean); a model that predicts sigmas adds the coverage of its 68 % intervals "
             "(calibrated on the validation split). 'across' is the test split of the other suite, never seen in "
             "training: the seeds' question of whether a network learns the physics or the simulator.", "",
             "| experiment | model | trained on | tested on | parameter | relative error | R^2 | coverage 68 % |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        e = r["experiment"]
        for where, metrics in [(e["recipe"], r["metrics"]), *r.get("also_on", {}).items()]:
            for t in e["targets"]:
                m = metrics.get(t, {})
                if "relative_error" not in m:
                    continue
                cov = f"{m['coverage_68']:.2f}" if "coverage_68" in m else ""
                lines.append(f"| [{e['name']}]({e['name']}.md) | `{e['model']}` | {e['recipe']} | {where} | {t} | "
                             f"{m['relative_error']:.3f} | {m['r2']:.3f} | {cov} |")
    return "\n".join(lines + ["", *variant_links(results_dir, records)])


SUITE = Suite(section=cosmo_section)
