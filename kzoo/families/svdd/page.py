"""The Deep SVDD suite page's own parts: the sky figure, the per-class table and the PCA reference a run's record
keeps."""

from __future__ import annotations

from pathlib import Path

from kzoo.report import goal_status, seed_reference, variant_links
from kzoo.reproduce import Suite, other_data_dir


def svdd_sky_figure(path: Path, per_class: int = 2) -> list[str]:
    """Markdown lines showing what the Deep SVDD runs see: ``per_class`` galaxies of each class drawn (seed 0) by
    the labelled recipe ``morphology`` and by the simulation-like one, as the networks get them (after the sky's
    stretch, before contrast normalisation)."""
    import numpy as np

    from kzoo import plots
    from kzoo.data.recipes import load_recipe
    from kzoo.families.svdd.sky import CLASSES, simulate

    images, titles = [], []
    for recipe in ("morphology", "morphology_simlike"):
        drawn = simulate(np.random.default_rng(0), 16 * per_class, **load_recipe(recipe).get("params", {}))
        for k, name in enumerate(CLASSES):
            for i in np.flatnonzero(drawn["labels"][:, 0] == k)[:per_class]:
                lab = drawn["labels"][i]
                titles.append(f"{recipe}: {name}" + (f", bar {lab[-1]:.2f}" if name == "barred" else ""))
                images.append(drawn["image"][i])
    plots.sample_grid(images, path, titles=titles, ncols=len(CLASSES) * per_class, log=False,
                      title="the three classes, as trained on (top) and simulation-like (bottom)")
    return ["## The sky", "", f"![galaxies of each class]({path.name})", ""]


def svdd_section(out: Path, results_dir: Path, records=()) -> str:
    """Seed 002 in three tables: each Deep SVDD's AUROC on the labelled test set (all three classes) beside the
    seed's accuracy, per objective, with the accuracy at the middle of the undecided zone and the AUROC against
    each anomalous class; the five zones' thresholds; and how the simulation-like set falls into the zones."""
    from kzoo.evaluate import ZONE_LABELS

    runs = [r for r in records if r["experiment"]["evaluation"] == "anomaly"]
    if not runs:
        return ""
    lines = [*svdd_sky_figure(results_dir / "svdd-sky.png"),
             "## Normal against anomalous: AUROC on the test split of recipe `morphology` (the seed's Table 5)", "",
             "Each Deep SVDD saw one class only; the test images of all three classes (about 500 each) are scored, the "
             "other two classes anomalous. AUROC = the probability that an anomalous image scores above a normal "
             "one; 'accuracy' = the fraction labelled right by one threshold in the middle of the undecided zone. "
             "The seed's Table 5 ('accuracy'; by our reading the AUC that Ruff et al.'s code logs) was measured on "
             "its training photographs (it had no held-out set): 'on its training images' is the same AUROC with the "
             "normal class's training images against the other classes' images (recipe morphology's training split), "
             "the seed's measurement, where the record has it.", "",
             "| normal class | objective | AUROC | AUROC vs each anomalous class | accuracy | AUROC on its training "
             "images | seed's Table 5 | goal | epochs | classical: PCA reconstruction AUROC (vs each) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        e, m = r["experiment"], r.get("also_on", {}).get("morphology", {})
        if "auroc" not in m.get("all", {}):
            continue
        normal = e["recipe"].split("_", 1)[-1]
        per = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in m.items() if k != "all" and "auroc" in v)
        seed = seed_reference(r).get("auroc", {}).get("all", "")
        own = (r.get("training_auroc") or {}).get("auroc")
        binning = e["model_args"].get("binning", 1)
        objective = e["model_args"].get("objective", "") + (f", {binning} x {binning}-binned" if binning > 1 else "")
        lines.append(f"| {normal} | [{objective}]({e['name']}.md) | {m['all']['auroc']:.4f} | {per} | "
                     f"{m['all']['accuracy_at_midpoint']:.4f} | {'' if own is None else f'{own:.4f}'} | {seed} | "
                     f"{goal_status(m['all']['auroc'], ('>=', 0.95))} "
                     f"| {r['epochs_run']} | {_pca_num(r.get('pca_reference', {}).get('morphology'))} |")
    lines += ["", "Classical: " + next((r["pca_reference"]["method"] for r in runs if r.get("pca_reference")),
                                       "not recorded for these runs") + ", the same AUROC.",
              "", "## The five zones (thresholds on the anomaly score, chosen on the labelled test set)", "",
              "t1 = 1st and t2 = 10th percentile of the anomalous scores, t3 = 90th and t4 = 99th percentile of the "
              "normal ones (sorted); zone labels " + ", ".join(f"{v:.1f}" for v in ZONE_LABELS) + " from definitely "
              "normal to definitely anomalous, as the seed labelled its application images. Counts of normal / "
              "anomalous test images in each zone.", "",
              "| experiment | t1 | t2 | t3 | t4 | normal per zone | anomalous per zone |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        m = r.get("also_on", {}).get("morphology", {}).get("all", {})
        if "thresholds" in m:
            lines.append(f"| [{r['experiment']['name']}]({r['experiment']['name']}.md) | "
                         + " | ".join(f"{t:.4g}" for t in m["thresholds"])
                         + f" | {m['zones']['normal']} | {m['zones']['anomalous']} |")
    lines += ["", "## The simulation-like set (recipe `morphology_simlike`: broader PSF, more noise, fainter arms), "
                  "labelled with the zones", "",
              "The seed applied its models to unlabelled simulated galaxies; ours are labelled, so the table shows "
              "what fraction of each class lands in each zone (0.0 .. 1.0), and the AUROC there.", "",
              "| experiment | class | " + " | ".join(f"zone {v:.1f}" for v in ZONE_LABELS) + " | AUROC |",
              "|---|---|" + "---|" * len(ZONE_LABELS) + "---|"]
    for r in runs:
        m = r.get("also_on", {}).get("morphology_simlike", {}).get("all", {})
        for cls, counts in m.get("zones_per_class", {}).items():
            total = max(sum(counts), 1)
            lines.append(f"| [{r['experiment']['name']}]({r['experiment']['name']}.md) | {cls} | "
                         + " | ".join(f"{c / total:.2f}" for c in counts) + f" | {m.get('auroc', float('nan')):.3f} |")
    lines += ["", "What each run directory holds, against the seed's program's outputs: `metrics.json` (its "
                  "results.json: AUROC, accuracy, zones), `run.json` (its config.json), `model.keras` (c and R "
                  "inside), `zones.json` (the thresholds), `scores_test.txt` (its test scores with labels) and, from "
                  "`kzoo predict RUN images... [--resize]`, the application scores with their zone labels.", ""]
    return "\n".join(lines + variant_links(results_dir, records))


def _pca_num(m: dict | None) -> str:
    if not m or m.get("all", {}).get("auroc") is None:
        return ""
    per = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in m.items() if k != "all" and v.get("auroc") is not None)
    return f"{m['all']['auroc']:.4f} ({per})"


def svdd_pca_record(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """What a Deep SVDD run adds to its record: the classical reference on the same images
    (:func:`kzoo.families.svdd.reference.pca_anomaly_scorer`, PCA fitted on the run's training split of the normal class)
    judged as the network is (:func:`kzoo.evaluate.anomaly_metrics_per_class`, AUROC overall and per anomalous class) on
    the test split of each ``also_on`` recipe (their datasets as reproduce made them)."""
    if exp.evaluation != "anomaly":
        return None
    from kzoo.data.reader import load_arrays
    from kzoo.evaluate import anomaly_metrics_per_class
    from kzoo.families.svdd.reference import pca_anomaly_scorer
    from kzoo.families.svdd.sky import CLASSES

    (target,) = exp.targets
    normal = int((exp.evaluation_args or {}).get("normal_class", 0))
    x_train, _ = load_arrays(data, "train", inputs=exp.inputs, targets=[target], verify=False)
    components, block = 32, 4
    score = pca_anomaly_scorer(x_train, components, block)
    found = {"method": f"squared reconstruction error from a {components}-component PCA of the normal class's "
                       f"training images (contrast-normalised, {block} x {block} block-averaged)",
             "n_train": int(len(x_train))}
    for other in (exp.evaluation_args or {}).get("also_on", []):
        x, y = load_arrays(other_data_dir(exp, data, out, other), "test", inputs=exp.inputs, targets=[target],
                           verify=False)
        labels = y[:, 0].astype(int)
        per = anomaly_metrics_per_class(score(x), labels, normal, dict(enumerate(CLASSES)))
        found[other] = {k: {"auroc": v.get("auroc")} for k, v in per.items()}
    return found


def svdd_training_auroc(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """The seed's own measurement of a one-class run (its Table 5 was measured on the images it trained on): the
    AUROC of the run's training images (all of the normal class) against the other classes' images of recipe
    morphology's training split (never trained on, as the seed's other classes were not), scored by the finished
    model. ``{"auroc", "n_normal", "n_anomalous"}``."""
    if exp.evaluation != "anomaly":
        return None
    import numpy as np

    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args
    from kzoo.export import infer, load_model
    from kzoo.metrics import roc_auc

    model, args = load_model(Path(run_dir) / "model.keras"), pipeline_args(exp)

    def scored(data_dir):
        scores, labels = [], []
        for x, y in batches(data_dir, "train", **args, batch_size=64, shuffle=False, verify=False):
            labels.append(np.asarray(y)[:, 0].astype(int))
            scores.append(np.asarray(infer(model, x, np.float64)).reshape(len(labels[-1])))
        return np.concatenate(scores), np.concatenate(labels)

    normal = int((exp.evaluation_args or {}).get("normal_class", 0))
    own, _ = scored(data)
    other, labels = scored(other_data_dir(exp, data, out, "morphology"))
    other = other[labels != normal]
    truth = np.concatenate([np.zeros(len(own)), np.ones(len(other))])
    return {"auroc": roc_auc(truth, np.concatenate([own, other])), "n_normal": int(len(own)),
            "n_anomalous": int(len(other))}


SUITE = Suite(section=svdd_section, record_extras={"pca_reference": svdd_pca_record,
                                                   "training_auroc": svdd_training_auroc})
