"""The photo-z suite page's own part."""

from __future__ import annotations

from pathlib import Path

from kzoo.report import variant_links
from kzoo.reproduce import Suite


EXTRA_REFERENCES = ("svr",)  # seed 001 C's models that are no experiment's reference, judged beside photoz-mlp


def photoz_extra_references(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """What ``kzoo reproduce photoz-mlp`` adds to its record: seed 001 C's other classical models
    (``EXTRA_REFERENCES``) on the same test split, ``{method: {"description", "seconds", "metrics"}}``."""
    if exp.name != "photoz-mlp":
        return None
    import numpy as np

    from kzoo.data.records import target_ranges
    from kzoo.data.shards import load_manifest
    from kzoo.evaluate import classical_predictions
    from kzoo.metrics import regression_metrics

    manifest = load_manifest(data, verify=False)
    found = {}
    for method in EXTRA_REFERENCES:
        pred = classical_predictions(method, manifest, data, "test", run_dir)
        found[method] = {"description": pred["description"], "seconds": pred["seconds"],
                         "metrics": regression_metrics(np.asarray(pred["y_true"]), np.asarray(pred["y_pred"]),
                                                       pred["names"], ranges=target_ranges(manifest, pred["names"]))}
    return found


def photoz_section(out: Path, results_dir: Path, records=()) -> str:
    """Seed 001 C's comparison in one table: each photo-z model (the MLP on magnitudes, colours or both, and the
    trees fitted beside them) by NMAD, outlier fraction, median bias of dz = (z_pred - z) / (1 + z), RMSE and R^2
    on the same test split."""
    rows = []
    for r in records:
        e = r["experiment"]
        m = r["metrics"].get("z", {})
        if "nmad" in m:
            rows.append((f"[{e['name']}]({e['name']}.md): MLP on `{e['inputs']}`", m, r["epochs_run"]))
        cl = r.get("classical_reference") or {}
        if "nmad" in cl.get("metrics", {}).get("z", {}):
            on = "the six magnitudes" if cl["method"] == "template_fit" else "`mags_colours`"
            rows.append((f"{cl['method']} on {on} (beside {e['name']})", cl["metrics"]["z"], ""))
        for method, extra in (r.get("extra_references") or {}).items():
            rows.append((f"{method} on `mags_colours` (beside {e['name']})", extra["metrics"]["z"], ""))
    if not rows:
        return ""
    lines = ["## Which model, which features: photo-z quality on the test split (seed 001 C's question)", "",
             "dz = (z_pred - z) / (1 + z); NMAD = 1.4826 median|dz - median dz|; outliers: |dz| > 0.15. Goals for the "
             "MLP on magnitudes + colours: NMAD <= 0.03, outliers <= 5 %. The seed's table (3D-HST, its best a "
             "random forest) gave R^2 0.71, MAE 0.22.", "",
             "| model | NMAD | outlier fraction | bias (median dz) | RMSE | R^2 | epochs |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {m['nmad']:.4f} | {m['outlier_fraction']:.4f} | {m['bias_dz']:+.4f} | {m['rmse']:.4f} | "
              f"{m['r2']:.4f} | {ep} |" for name, m, ep in rows]
    return "\n".join(lines + ["", *variant_links(results_dir, records)])


SUITE = Suite(section=photoz_section, record_extras={"extra_references": photoz_extra_references})
