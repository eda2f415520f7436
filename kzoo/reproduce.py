"""Reproduce a seed experiment at the seed's sizes in one call: simulate, train, evaluate, report.

``kzoo reproduce gc-dm --out WORK`` writes ``results/<experiment>.md`` and ``.json``: our numbers
beside the seed's, with how long each step took on which machine, and the plots beside them.
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import shutil
import time
from pathlib import Path

from kzoo.io import write_json, write_text
from kzoo.report import goal_status, headline_metric, headline_rows, markdown, num, provenance, variant_links
from kzoo.runs import cpu_info, git_commit


def reproduce(experiment, out, *, seed: int = 1, workers: int = 2, precision: str = "float32",
              epochs: int | None = None, n: int | None = None, results_dir="results", note: str = "",
              data=None) -> dict:
    """Run ``experiment`` end to end at its recipe's sizes (or ``n`` images) and write the results table.

    The dataset goes to ``data`` (default ``out/data``; a suite shares one per recipe), the run to ``out/run``."""
    from kzoo.data.shards import write_shards
    from kzoo.experiments import get_experiment
    from kzoo.train import fit, recalibrate_run

    from kzoo.evaluate import evaluate
    from kzoo.io import read_json

    exp = get_experiment(experiment)
    out, results_dir = Path(out), Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings = read_json(out / "timings.json", default={})
    t0 = time.time()
    data = Path(data) if data is not None else out / "data"
    manifest = write_shards(exp.recipe, data, seed=seed, n=n, workers=workers)
    timings.setdefault("simulate", round(time.time() - t0, 1))  # a rerun that found the shards keeps the first time
    write_json(out / "timings.json", timings)
    run_dir = out / "run"
    finished = (run_dir / "model.keras").exists() and not (run_dir / ".staging").exists()
    changed = finished and _declaration_changed(run_dir, exp)  # trained before the experiment was redeclared
    if finished and "train_and_evaluate" in timings and not changed:
        # A finished run is not trained again: re-evaluate it with the current evaluation code, after
        # the batch-norm recalibration that fit now ends with (once; recorded in run.json).
        recalibrate_run(run_dir, data)
        res = evaluate(run_dir, data, model=None)
    else:
        t1 = time.time()
        res = fit(exp, data, run_dir, seed=seed, precision=precision, epochs=epochs, verbose=2,
                  overwrite=changed, model_args=resolve_run_arguments(exp, out))
        timings["train_and_evaluate"] = round(time.time() - t1, 1)
        write_json(out / "timings.json", timings)
    run = json.loads((run_dir / "run.json").read_text())
    if run["settings"]["epochs"] != exp.epochs:  # a reused run keeps the epoch limit it was trained with
        epochs = run["settings"]["epochs"]
    precision = run["settings"].get("precision", precision)

    elsewhere = {}
    figs = results_dir / exp.name
    figs.mkdir(parents=True, exist_ok=True)
    for other in (exp.evaluation_args or {}).get("also_on", []):  # the run judged on another recipe's test split
        other_data = other_data_dir(exp, data, out, other)
        write_shards(other, other_data, seed=seed, n=n, workers=workers)
        elsewhere[other] = evaluate(run_dir, other_data, out=out / f"on-{other}", classical=False)["metrics"]
        if (out / f"on-{other}" / "scores.png").exists():  # an anomaly score's histograms there
            shutil.copyfile(out / f"on-{other}" / "scores.png", figs / f"scores_{other}.png")
    for png in ("loss_curves.png", "predicted_vs_true.png", "classical_predicted_vs_true.png", "roc.png", "masks.png",
                "denoising_examples.png", "saliency.png", "confusion.png", "classical_confusion.png", "rings.png",
                "generated.png", "latent_walk.png", "reconstruction_examples.png", "power_spectra.png", "scores.png"):
        if not (run_dir / png).exists():
            continue
        shutil.copyfile(run_dir / png, figs / png)
    record = {
        "experiment": exp.to_dict(),
        "splits": {k: v["count"] for k, v in manifest["splits"].items()},
        "dataset_seed": seed,
        "data_dir": str(data),
        "recipe_sha256": manifest["recipe_sha256"],
        "metrics": res["metrics"],
        "reference": exp.reference,
        "classical_reference": res.get("classical_reference"),
        **({"also_on": elsewhere} if elsewhere else {}),
        "definitions": res["definitions"],
        "epochs_run": run.get("epochs_run"),
        "batchnorm_recalibration": run.get("batchnorm_recalibration"),
        "settings": run["settings"],
        "optimizer": compiled_optimizer(run_dir / "model.keras"),
        "seconds": timings,
        "machine": {"cores": os.cpu_count(), "cpu": cpu_info()["cpu_model"], "device": run["device"],
                    "platform": platform.platform()},
        "versions": run["versions"],
        "commit": git_commit(),
        "train_commit": run["versions"].get("commit", "not recorded"),
        "note": note,
        "figures": sorted(p.name for p in figs.glob("*.png")),
        "command": f"kzoo reproduce {exp.name} --out {out} --seed {seed} --workers {workers} --precision {precision}"
                   + (f" --epochs {epochs}" if epochs else "") + (f" --n {n}" if n else "")
                   + (f" --backend {run['settings']['backend']}" if run["settings"].get("backend") else ""),
    }
    for suite, (field, extra) in EXPERIMENT_EXTRAS.items():  # what a suite's section needs of each run
        if fnmatch.fnmatch(exp.name, SUITES[suite]) and (value := extra(exp, run_dir, data, out)) is not None:
            record[field] = value
    write_json(results_dir / f"{exp.name}.json", record)
    write_text(results_dir / f"{exp.name}.md", markdown(record))
    return record


def compiled_optimizer(model_path) -> str:
    """The class name of the optimizer a saved ``.keras`` model was compiled with (Adam for the supervised
    fit, RMSprop for the GANs), read from the archive's config without loading the model."""
    import zipfile

    with zipfile.ZipFile(model_path) as z:
        config = json.loads(z.read("config.json"))
    return ((config.get("compile_config") or {}).get("optimizer") or {}).get("class_name", "not compiled")


def fit_runs(exp, data, out: Path, runs: list[tuple[str, str, dict]], *, precision: str, epochs) -> list[dict]:
    """Train (or reuse, when finished) several runs of ``exp`` on the dataset ``data``: ``runs`` lists
    ``(key, run folder under out, fit keyword arguments)``. Times are kept in ``out/timings.json`` under each key
    (a reused run keeps the time of the session that trained it). Returns, per run, its key, folder, test
    metrics, epochs run and seconds."""
    from kzoo.io import read_json
    from kzoo.train import fit

    timings = read_json(out / "timings.json", default={})
    done = []
    for key, folder, kwargs in runs:
        t0 = time.time()
        res = fit(exp, data, out / folder, precision=precision, epochs=epochs, verbose=2,
                  model_args=resolve_run_arguments(exp, out), **kwargs)
        if res["training"]["status"] != "up_to_date":
            timings[key] = round(time.time() - t0, 1)
            write_json(out / "timings.json", timings)
        run = json.loads((out / folder / "run.json").read_text())
        done.append({"key": key, "run": str(out / folder), "metrics": res["metrics"],
                     "epochs_run": run.get("epochs_run"), "seconds": timings.get(key)})
    return done


def variant_record(exp, manifest: dict, data, *, seed: int, precision: str, note: str, command: str) -> dict:
    """The fields every multi-run results record (learning curve, ensemble, cross-validation) shares."""
    return {"experiment": exp.to_dict(), "dataset_seed": seed,
            "splits": {k: v["count"] for k, v in manifest["splits"].items()}, "data_dir": str(data),
            "precision": precision, "machine": {"cores": os.cpu_count(), "cpu": cpu_info()["cpu_model"],
                                                "platform": platform.platform()},
            "commit": git_commit(), "note": note, "command": command}


def learning_curve(experiment, out, sizes, *, seed: int = 1, workers: int = 2, precision: str = "float32",
                   epochs: int | None = None, n: int | None = None, results_dir="results", data=None,
                   note: str = "") -> dict:
    """Train ``experiment`` on the first N images of its training split for each N in ``sizes`` (validation
    and test splits unchanged; ``out/run-n<N>``, finished runs reused) and write
    ``results/<experiment>-learning-curve.{md,json,png}``: the test metric per target against N, beside the
    seed's number, so that a gap to the seed reads as data or method."""
    from kzoo import plots
    from kzoo.data.pipeline import records_for_limit
    from kzoo.data.shards import write_shards
    from kzoo.experiments import get_experiment

    exp = get_experiment(experiment)
    out, results_dir = Path(out), Path(results_dir)
    sizes = sorted({int(v) for v in sizes})
    data = Path(data) if data is not None else out / "data"
    manifest = write_shards(exp.recipe, data, seed=seed, n=n, workers=workers)
    for size in sizes:  # every size checked before anything trains
        records_for_limit(manifest["splits"]["train"], int(manifest["block"]), size,
                          f"--train-sizes {size} ({data})")
    done = fit_runs(exp, data, out, [(str(k), f"run-n{k}", {"seed": seed, "train_size": k}) for k in sizes],
                    precision=precision, epochs=epochs)
    points = [{"train_size": k, **{f: r[f] for f in ("metrics", "epochs_run", "seconds")}} for k, r in zip(sizes, done)]
    d = exp.to_dict()
    metric = headline_metric(d, points[-1]["metrics"])
    names = [t for t, m in points[-1]["metrics"].items() if isinstance(m.get(metric), float)]
    seed_ref = d.get("reference", {}).get(metric, {})
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=(
        f"kzoo reproduce {exp.name} --out {out} --train-sizes {','.join(map(str, sizes))} --seed {seed} "
        f"--precision {precision}" + (f" --epochs {epochs}" if epochs else "") + (f" --n {n}" if n else ""))),
        "metric": metric, "points": points}
    stem = f"{exp.name}-learning-curve"
    write_json(results_dir / f"{stem}.json", record)
    plots.learning_curve(sizes, {t: [p["metrics"][t][metric] for p in points] for t in names},
                         results_dir / f"{stem}.png", metric, title=f"{exp.name}: test {metric}", reference=seed_ref)
    lines = [f"# {exp.name}: learning curve", "",
             f"Test-split {metric} of `{exp.model}` trained on the first N images of the training split (shard "
             f"order; validation {record['splits'].get('val', 0)} and test {record['splits'].get('test', 0)} images "
             f"the same for every N), dataset recipe `{exp.recipe}`, seed {seed}, precision {precision}.", "",
             "| training images | " + " | ".join(names) + " | epochs | train + evaluate s |",
             "|---|" + "---|" * (len(names) + 2)]
    for p in points:
        lines.append(f"| {p['train_size']} | " + " | ".join(f"{p['metrics'][t][metric]:.4g}" for t in names)
                     + f" | {p['epochs_run']} | {p['seconds'] if p['seconds'] is not None else ''} |")
    if seed_ref:
        lines.append("| seed | " + " | ".join(str(seed_ref.get(t, "")) for t in names) + " | | |")
    lines += [*provenance(record), f"![learning curve]({stem}.png)\n"]
    write_text(results_dir / f"{stem}.md", "\n".join(lines))
    return record


def ensemble(experiment, out, members: int, *, seed: int = 1, workers: int = 2, precision: str = "float32",
             epochs: int | None = None, n: int | None = None, results_dir="results", data=None,
             note: str = "") -> dict:
    """A deep ensemble of a regression experiment: ``members`` runs on one dataset (dataset seed ``seed``)
    that differ only in their training seed (``seed``, ``seed + 1``, ...: initial weights, shuffling,
    augmentation), their test predictions averaged. Member 0 is ``out/run``, the run ``kzoo reproduce``
    itself makes (reused when finished); the others ``out/run-seed<s>``. Writes
    ``results/<experiment>-ensemble.{md,json}`` and the averaged predicted-vs-true plot: each member's
    metrics and the ensemble's, beside the seed's number and the goal."""
    import numpy as np

    from kzoo import plots
    from kzoo.data.shards import write_shards
    from kzoo.metrics import regression_metrics
    from kzoo.experiments import get_experiment

    from kzoo.losses import predicts_sigma

    exp = get_experiment(experiment)
    if exp.evaluation != "regression" or predicts_sigma(exp.loss) or isinstance(exp.targets, dict):
        raise ValueError(f"--members: {exp.name} is not a plain regression experiment (evaluation "
                         f"{exp.evaluation!r}, loss {exp.loss!r}); ensembles average regression predictions")
    if int(members) < 2:
        raise ValueError(f"--members must be at least 2, got {members}")
    out, results_dir = Path(out), Path(results_dir)
    data = Path(data) if data is not None else out / "data"
    manifest = write_shards(exp.recipe, data, seed=seed, n=n, workers=workers)
    seeds = [seed + i for i in range(int(members))]
    runs = [{"seed": s_, **{f: r[f] for f in ("run", "metrics", "epochs_run", "seconds")}} for s_, r in zip(seeds, fit_runs(
        exp, data, out, [("train_and_evaluate" if i == 0 else f"train_and_evaluate_seed{s_}", "run" if i == 0 else
                          f"run-seed{s_}", {"seed": s_}) for i, s_ in enumerate(seeds)], precision=precision,
        epochs=epochs))]
    preds = [np.load(Path(r["run"]) / "predictions_test.npz") for r in runs]
    y_true = preds[0]["y_true"]
    if any(not np.array_equal(p["y_true"], y_true) for p in preds):
        raise ValueError(f"{out}: the members' test splits differ; an ensemble needs one dataset")
    names = [str(v) for v in preds[0]["names"]]
    ranges = json.loads((out / "run" / "run.json").read_text())["target_ranges"]
    y_mean = np.mean([p["y_pred"] for p in preds], axis=0)
    metrics = regression_metrics(y_true, y_mean, names, ranges=ranges)
    d = exp.to_dict()
    stem = f"{exp.name}-ensemble"
    plots.predicted_vs_true(y_true, y_mean, names, results_dir / f"{stem}.png",
                            title=f"{exp.name}: mean of {members} members, test split ({len(y_true)} images)",
                            ranges=ranges)
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=(
        f"kzoo reproduce {exp.name} --out {out} --members {members} --seed {seed} --precision {precision}"
        + (f" --epochs {epochs}" if epochs else "") + (f" --n {n}" if n else ""))), "members": runs, "metrics": metrics}
    write_json(results_dir / f"{stem}.json", record)
    metric = headline_metric(d, metrics)
    lines = [f"# {exp.name}: ensemble of {members} runs", "",
             f"`{exp.model}` trained {members} times on one dataset (recipe `{exp.recipe}`, dataset seed {seed}, splits "
             f"{record['splits']}) with training seeds {', '.join(str(r['seed']) for r in runs)} (initial weights, "
             f"shuffling, augmentation); the ensemble's prediction is the mean of the members'. Test split, "
             f"precision {precision}.", "",
             "| | " + " | ".join(f"{t} {metric}" for t in names) + " | epochs | train + evaluate s |",
             "|---|" + "---|" * (len(names) + 2)]
    for r in runs:
        lines.append(f"| member, seed {r['seed']} | " + " | ".join(f"{r['metrics'][t][metric]:.4f}" for t in names)
                     + f" | {r['epochs_run']} | {r['seconds'] if r['seconds'] is not None else ''} |")
    goals = d.get("goals", {}).get(metric, {})
    lines.append("| **ensemble (mean)** | " + " | ".join(f"**{metrics[t][metric]:.4f}**" for t in names) + " | | |")
    ref = d.get("reference", {}).get(metric, {})
    if ref:
        lines.append("| seed | " + " | ".join(str(ref.get(t, "")) for t in names) + " | | |")
    if goals:
        lines.append("| goal | " + " | ".join(goal_status(metrics[t][metric], goals.get(t)) for t in names) + " | | |")
    lines += [*provenance(record), f"![ensemble predicted vs true]({stem}.png)\n"]
    write_text(results_dir / f"{stem}.md", "\n".join(lines))
    return record


def cross_validate(experiment, out, folds: int, *, seed: int = 1, workers: int = 2, precision: str = "float32",
                   epochs: int | None = None, n: int | None = None, results_dir="results", data=None,
                   note: str = "") -> dict:
    """k-fold cross-validation: ``folds`` runs (``out/fold-<i>``), each trained on the training split's records
    outside fold i and validated on fold i (record j is in fold j % k), all judged on the one test split; writes
    ``results/<experiment>-cv.{md,json}``: every fold's test metrics and their mean and spread (sample standard
    deviation), so that differences between models can be held against the noise of one split (seed 001 G)."""
    import numpy as np

    from kzoo.data.shards import write_shards
    from kzoo.experiments import get_experiment

    exp = get_experiment(experiment)
    if int(folds) < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}")
    out, results_dir = Path(out), Path(results_dir)
    data = Path(data) if data is not None else out / "data"
    manifest = write_shards(exp.recipe, data, seed=seed, n=n, workers=workers)
    rows = [{"fold": i, **{f: r[f] for f in ("metrics", "epochs_run", "seconds")}} for i, r in enumerate(fit_runs(
        exp, data, out, [(f"fold-{i}", f"fold-{i}", {"seed": seed, "fold": (i, int(folds))}) for i in range(int(folds))],
        precision=precision, epochs=epochs))]
    d = exp.to_dict()
    first = rows[0]["metrics"]
    summary = {t: {k: {"mean": float(np.mean([r["metrics"][t][k] for r in rows])),
                       "std": float(np.std([r["metrics"][t][k] for r in rows], ddof=1))}
                   for k, v in m.items() if isinstance(v, float)} for t, m in first.items() if isinstance(m, dict)}
    metric = headline_metric(d, first)
    names = [t for t in summary if metric in summary[t]]
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=(
        f"kzoo reproduce {exp.name} --out {out} --folds {folds} --seed {seed} --precision {precision}"
        + (f" --epochs {epochs}" if epochs else "") + (f" --n {n}" if n else ""))),
        "folds": int(folds), "runs": rows, "summary": summary, "metric": metric}
    stem = f"{exp.name}-cv"
    write_json(results_dir / f"{stem}.json", record)
    extra = [k for k in ("rotated_over_unrotated", "bias", "std") if k != metric and all(k in summary[t] for t in names)]
    cols = [(t, k) for t in names for k in (metric, *extra)]
    lines = [f"# {exp.name}: {folds}-fold cross-validation", "",
             f"`{exp.model}` trained {folds} times on the training split ({record['splits'].get('train')} images, "
             f"recipe `{exp.recipe}`, dataset seed {seed}) less one fold of its records, validated on that fold "
             f"(record j in fold j mod {folds}), each judged on the same test split ({record['splits'].get('test')} "
             f"images); precision {precision}.", "",
             "| fold | " + " | ".join(f"{t} {k}" for t, k in cols) + " | epochs | train + evaluate s |",
             "|---|" + "---|" * (len(cols) + 2)]
    for r in rows:
        lines.append(f"| {r['fold']} | " + " | ".join(f"{r['metrics'][t][k]:.4g}" for t, k in cols)
                     + f" | {r['epochs_run']} | {r['seconds'] if r['seconds'] is not None else ''} |")
    lines.append("| **mean +- std** | " + " | ".join(f"**{summary[t][k]['mean']:.4g} +- {summary[t][k]['std']:.2g}**"
                                                  for t, k in cols) + " | | |")
    goals = d.get("goals", {})
    met = [f"{t} {k}: {goal_status(summary[t][k]['mean'], goals[k][t])} (mean over folds)"
           for t, k in cols if t in goals.get(k, {})]
    lines += ["", *([("Goals: " + "; ".join(met) + "."), ""] if met else []), *provenance(record)[1:]]
    write_text(results_dir / f"{stem}.md", "\n".join(lines))
    return record


def run_dependencies(exp) -> list[str]:
    """The experiments whose runs ``exp`` builds on or is judged with: its model and evaluation arguments
    ``"run:<experiment>"``."""
    values = [*exp.model_args.values(), *(exp.evaluation_args or {}).values()]
    return [v[4:] for v in values if isinstance(v, str) and v.startswith("run:")]


def resolve_run_arguments(exp, out: Path) -> dict:
    """``exp``'s model arguments ``"run:<experiment>"`` as the run directories beside ``out`` (a suite's layout,
    ``WORK/<experiment>/run``), which must hold finished runs; {} when it has none."""
    resolved = {}
    for key, value in exp.model_args.items():
        if isinstance(value, str) and value.startswith("run:"):
            run = (Path(out).parent / value[4:] / "run").resolve()
            if not (run / "model.keras").exists():
                raise ValueError(f"{exp.name} builds on the run of {value[4:]} ({key}), not found at {run}; run "
                                 f"kzoo reproduce {value[4:]} --out {Path(out).parent / value[4:]} first (a suite "
                                 f"runs it first)")
            resolved[key] = str(run)
    return resolved


def _declaration_changed(run_dir: Path, exp) -> bool:
    """Whether the finished run in ``run_dir`` was trained under another declaration of ``exp`` than the
    current one (what is trained, not how it is reported: ``kzoo.runs.identity``)."""
    from kzoo.runs import identity

    run = json.loads((run_dir / "run.json").read_text())
    return identity({"experiment": run["experiment"]}) != identity({"experiment": exp.to_dict()})


SUITES = {"gc": "gc-*", "sersic": "sersic-*", "clusters": "clusters-*", "cosmo": "cosmo-*", "rings": "rings-*",
          "reionization": "reion-*", "svdd": "svdd-*", "photoz": "photoz-*", "spectra": "spectra-*"}  # a seed's experiments by wildcard: `kzoo reproduce gc` runs them all


def gc_fisher_section(out: Path, results_dir: Path, records=()) -> str:
    """The Cramer-Rao floor and Fisher forecasts on the Galactic-centre amplitudes of the recipe
    ``galactic_center`` (``kzoo.reference.galactic_center_fisher``), computed once per work directory
    and sky (``out/fisher.json``, or the recorded ``results/gc-fisher.json``; recomputed when the recipe's
    parameters change) and copied to ``results/gc-fisher.json``."""
    from kzoo.data.recipes import load_recipe
    from kzoo.io import read_json
    from kzoo.reference import galactic_center_fisher

    params = load_recipe("galactic_center")["params"]
    cache = out / "fisher.json"
    f = read_json(cache, default=None) or read_json(results_dir / "gc-fisher.json", default=None)  # or recorded
    if f is None or f.get("params") != params:
        t0 = time.time()
        f = galactic_center_fisher(n_images=100, n_cov=32768, seed=0, progress=True, **params)
        f["seconds"] = round(time.time() - t0, 1)
        f["params"] = params
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


SERSIC_FIXED = {"params": (1e5, 3.0, 0.3, -0.069, 0.15), "psf_fwhm": 0.5}  # the seed's fixed test galaxy
# The seed's typed-in Cramer-Rao sigmas of that galaxy at SNR 60 (twice these at SNR 30), and its Xception's std.
SERSIC_SEED_CRB60 = (0.056e5, 0.78, 0.028, 0.054, 0.054)
SERSIC_SEED_STD60 = (0.063e5, 0.765, 0.035, 0.048, 0.055)
SERSIC_CRB_IMAGES = 200  # test images whose own Cramer-Rao bound is computed (~0.5 s each) for the SNR bins
SERSIC_FIXED_IMAGES = None  # noise realisations of the fixed galaxy (None: the recipes' 1,000)


def _sees_noisy_image(e: dict) -> bool:
    """A Sersic experiment that estimates the parameters from the noisy image (perhaps beside conditions or
    the PSF image): its targets are the labels, or a "params" output among others (the autoencoder's latent;
    its run's predictions hold that output alone), not an image."""
    i, t = e["inputs"], e["targets"]
    estimates = isinstance(t, (list, tuple)) or isinstance(t, dict) and "params" in t
    return estimates and (i == "image" or isinstance(i, dict) and i.get("image") == "image")


def sersic_fixed_bounds(cache: Path) -> dict:
    """The Cramer-Rao bound of the seed's fixed galaxy at SNR 60 and 30, cached in ``cache`` (JSON)."""
    from kzoo.io import read_json
    from kzoo.reference import sersic_fisher, sersic_sigma_for_snr

    fixed = read_json(cache, default=None)
    if fixed is None or fixed.get("galaxy") != json.loads(json.dumps(SERSIC_FIXED)):
        fixed = {"galaxy": SERSIC_FIXED, "snr": {}}
        for snr in (60, 30):
            sigma = sersic_sigma_for_snr(SERSIC_FIXED["params"], SERSIC_FIXED["psf_fwhm"], snr)
            f = sersic_fisher(SERSIC_FIXED["params"], SERSIC_FIXED["psf_fwhm"], sigma)
            fixed["snr"][str(snr)] = {"sigma": sigma, "crb": [float(c) for c in f["crb"]]}
        write_json(cache, fixed)
    return json.loads(json.dumps(fixed))


def sersic_crb_record(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """What a Sersic run adds to its reproduction record, so that the suite's Cramer-Rao section is made from
    records alone (``kzoo reproduce sersic --from-results``, on another day or machine): the run's bias and
    standard deviation per parameter on the seed's fixed galaxy at SNR 60 and 30 (recipes ``sersic_fixed_snr60``
    / ``_snr30``, their own seeds, many noise realisations of one galaxy), and over the first
    ``SERSIC_CRB_IMAGES`` test images the rms error against the rms of each image's own bound, in SNR bins.
    None for a run that does not estimate the parameters from the noisy image. The fixed-galaxy datasets go beside
    ``data`` (a suite's shared data folder) or into ``out``; the test images' bounds are cached in
    ``out/crb_test.npz``."""
    import numpy as np

    from kzoo.data.pipeline import load_arrays
    from kzoo.data.shards import write_shards
    from kzoo.evaluate import evaluate
    from kzoo.metrics import binned_errors
    from kzoo.sims.sersic import LABELS
    from kzoo.reference import sersic_crb_for

    e = exp.to_dict()
    if not _sees_noisy_image(e):
        return None
    names = list(LABELS[:5])
    fixed = {}
    for snr in ("60", "30"):
        recipe = f"sersic_fixed_snr{snr}"
        where = data.parent / recipe if data.name == exp.recipe else out / f"data-{recipe}"
        write_shards(recipe, where, n=SERSIC_FIXED_IMAGES)  # the recipe's own seed
        m = evaluate(run_dir, where, out=out / f"fixed_snr{snr}", classical=False)["metrics"]
        fixed[snr] = {"images": len(np.load(out / f"fixed_snr{snr}" / "predictions_test.npz")["y_true"]),
                      "std": [float(m[p]["std"]) for p in names], "bias": [float(m[p]["bias"]) for p in names]}
    cache = out / "crb_test.npz"
    pred = np.load(run_dir / "predictions_test.npz")
    k = min(SERSIC_CRB_IMAGES, len(pred["y_true"]))
    if cache.exists():
        c = np.load(cache)
        if len(c["labels"]) != k or not np.allclose(c["labels"][:, :5], pred["y_true"][:k], rtol=1e-5):
            cache.unlink()  # made for another test split
    if not cache.exists():
        _, labels = load_arrays(data, "test", inputs="image", targets=list(LABELS))
        np.savez(cache, crb=sersic_crb_for(labels[:k], names=LABELS, progress=True), labels=labels[:k])
    c = np.load(cache)
    snr_k, edges = c["labels"][:, list(LABELS).index("snr")], e["evaluation_args"]["bins"]
    bins = {"edges": list(edges), "images": k, "params": {}}
    for j, p in enumerate(names):
        err = binned_errors(pred["y_true"][:k, j], pred["y_pred"][:k, j], snr_k, "snr", edges)
        bound = binned_errors(np.zeros(k), c["crb"][:, j], snr_k, "snr", edges)["rmse"]  # rms of the bounds
        bins["params"][p] = {"n": err["n"], "rmse": err["rmse"], "crb_rms": bound}
    return {"fixed_galaxy": fixed, "snr_bins": bins}


def sersic_rmse_table(records, names) -> list[str]:
    """Test RMSE per parameter of every record that estimates the parameters, in physical units, with its
    classical fit and the seed's number (where they exist) in the rows below it."""
    rows = []
    for r in records:
        exp, cl = r["experiment"], (r.get("classical_reference") or {}).get("metrics", {})
        link = f"[{exp['name']}]({exp['name']}.md)"
        for i, (who, m) in enumerate(((f"kzoo `{exp['model']}`", r["metrics"]),
                                      (exp.get("reference_method") or "classical", cl),
                                      ("seed", {p: {"rmse": v} for p, v in r["reference"].get("rmse", {}).items()}))):
            rmse = [m.get(p, {}).get("rmse") for p in names]
            if all(isinstance(v, float) for v in rmse):
                rows.append(f"| {link} | {who} | " + " | ".join(num(v) for v in rmse) + " |")
            elif i == 0:
                break  # no estimate of its own: neither are its references shown
    return ["## Test RMSE per parameter, every estimator", "", "| experiment | estimator | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names), *rows, ""] if rows else []


def sersic_crb_section(out: Path, results_dir: Path, records=()) -> str:
    """Every noisy-image Sersic model held against the Cramer-Rao bound (``kzoo.reference.sersic_fisher``), from
    what each record holds (``sersic_crb_record``): on the seed's fixed galaxy at SNR 60 and 30 (bias, std and
    std / CRB per parameter; goal std / CRB <= 1.2 at SNR 60, bias below std) and over the test split in SNR bins
    (rms error / rms bound). The fixed galaxy's bound is cached in ``out/sersic_crb.json``."""
    from kzoo import plots
    from kzoo.sims.sersic import LABELS

    names = list(LABELS[:5])
    fixed = sersic_fixed_bounds(out / "sersic_crb.json")
    lines = sersic_rmse_table(records, names) + [
             "## The physical limit: Cramer-Rao bound (`kzoo.reference.sersic_fisher`)", "",
             f"The seed's fixed galaxy (flux, n, re, g1, g2) = {tuple(SERSIC_FIXED['params'])}, PSF FWHM "
             f"{SERSIC_FIXED['psf_fwhm']} arcsec; Poisson + Gaussian pixel variance; derivatives of GalSim's image "
             "by central differences. Seed: its typed-in bound (not computed) and its Xception's std at SNR 60.", "",
             "| SNR | | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for snr in ("60", "30"):
        crb = fixed["snr"][snr]["crb"]
        seed = [c * (60 / int(snr)) for c in SERSIC_SEED_CRB60]
        lines += [f"| {snr} | kzoo CRB sigma | " + " | ".join(f"{c:.4g}" for c in crb) + " |",
                  f"| {snr} | seed's typed CRB | " + " | ".join(f"{c:.4g}" for c in seed) + " |",
                  f"| {snr} | kzoo / seed | " + " | ".join(f"{a / b:.2f}" for a, b in zip(crb, seed)) + " |"]
    lines.append("| 60 | seed's Xception std | " + " | ".join(f"{c:.4g}" for c in SERSIC_SEED_STD60) + " |")
    noisy = [r for r in records if _sees_noisy_image(r["experiment"])]
    if not noisy:
        return "\n".join(lines + [""])
    missing = [r["experiment"]["name"] for r in noisy if not r.get("crb")]
    noisy = [r for r in noisy if r.get("crb")]
    if missing:
        lines += ["", "Not held against the bound (recorded before a run's record carried its fixed-galaxy and "
                      "per-image bounds; `kzoo reproduce EXPERIMENT` again adds them): " + ", ".join(missing) + "."]
    if not noisy:
        return "\n".join(lines + [""])
    lines += ["", "### Networks on the fixed galaxy (many noise realisations)", "",
              "| experiment | SNR | | " + " | ".join(names) + " | goal |", "|---|---|---|" + "---|" * len(names) + "---|"]
    curves = {}
    for r in noisy:
        exp = r["experiment"]["name"]
        for snr in ("60", "30"):
            m, crb = r["crb"]["fixed_galaxy"][snr], fixed["snr"][snr]["crb"]
            ratio = [sd / c for sd, c in zip(m["std"], crb)]
            goal = ""
            if snr == "60":
                met = all(x <= 1.2 for x in ratio) and all(abs(b) < sd for b, sd in zip(m["bias"], m["std"]))
                goal = f"std/CRB <= 1.2 and abs(bias) < std: {'met' if met else '**missed**'}"
            lines += [f"| {exp} | {snr} | std | " + " | ".join(f"{v:.4g}" for v in m["std"]) + " | |",
                      f"| {exp} | {snr} | bias | " + " | ".join(f"{v:.3g}" for v in m["bias"]) + " | |",
                      f"| {exp} | {snr} | std / CRB | " + " | ".join(f"{x:.2f}" for x in ratio) + f" | {goal} |"]
        curves[exp] = r["crb"]["snr_bins"]
    k = max(cv.get("images", SERSIC_CRB_IMAGES) for cv in curves.values())
    lines += ["", f"### Test split in SNR bins (first {k} test images): rms error / rms CRB", ""]
    for exp, cv in curves.items():
        e = cv["edges"]
        lines += [f"{exp}:", "", "| SNR | images | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for b in range(len(e) - 1):
            cells = [f"{cv['params'][p]['rmse'][b] / cv['params'][p]['crb_rms'][b]:.2f}"
                     if cv["params"][p]["n"][b] else "" for p in names]
            lines.append(f"| {e[b]:g}-{e[b + 1]:g} | {cv['params'][names[0]]['n'][b]} | " + " | ".join(cells) + " |")
        lines.append("")
    write_json(results_dir / "sersic-crb.json", {"fixed_galaxy": fixed, "snr_bins": curves})
    plots.crb_curves(curves, fixed, results_dir / "sersic-crb.png", names, seed_crb60=SERSIC_SEED_CRB60)
    lines += ["![Cramer-Rao bound and network errors by SNR](sersic-crb.png)", ""]
    return "\n".join(lines)


def _dex_percent(dex: float) -> float:
    """A scatter of ``dex`` in log10 M as a percentage of M (10^dex - 1)."""
    return 100.0 * (10.0 ** dex - 1.0)


def clusters_section(out: Path, results_dir: Path, records=()) -> str:
    """Seeds D and G's rotation test for every cluster experiment in one table (MSE of log10 M500 on the test
    split as it is, turned by random angles and by random quarter turns, and their ratio against the goal),
    with bias and scatter in dex beside the classical estimator on the same images and Ntampaka et al. 2019."""
    rows, classical = [], None
    for r in records:
        m, e = r["metrics"].get("log_m500", {}), r["experiment"]
        if "mse_rotated" not in m:
            continue
        aug = [k if v is True else f"{k} {v:g} deg" for k, v in (e.get("augment") or {}).items() if v]
        if e["model_args"].get("rotation_layers"):
            aug.append(f"RandomRotation layer (factor {e['model_args'].get('rotation_factor', '')})")
        goal = e.get("goals", {}).get("rotated_over_unrotated", {}).get("log_m500")
        rows.append(f"| [{e['name']}]({e['name']}.md) | `{e['model']}` | {', '.join(aug) or 'none'} | {m['mse']:.4f} | "
                    f"{m['mse_rotated']:.4f} | {m['mse_rot90']:.4f} | {m['rotated_over_unrotated']:.2f} | "
                    f"{goal_status(m['rotated_over_unrotated'], goal) if goal else ''} | {m['bias']:+.3f} | "
                    f"{m['std']:.3f} ({_dex_percent(m['std']):.0f} %) |")
        classical = classical or r.get("classical_reference")
    if not rows:
        return ""
    lines = ["## Rotation test, bias and scatter (seeds D and G)", "",
             "MSE of log10 M500 (dex^2) on the test split as it is, turned by a random angle per image (bilinear, "
             "zero fill, as the training augmentation) and by a random multiple of 90 degrees (an exact permutation "
             "of the pixels); bias = mean(pred - true) and scatter = the standard deviation of pred - true, in dex "
             "(and as 10^scatter - 1). Seed D's plain CNN: MSE ~0.0025 unrotated, 0.03-0.09 rotated (a ratio of "
             "~37-74).", "",
             "| experiment | model | augmentation (training only) | MSE | MSE rotated | MSE quarter-turned | "
             "rotated / unrotated | goal | bias dex | scatter dex |",
             "|---|---|---|---|---|---|---|---|---|---|", *rows]
    c = (classical or {}).get("metrics", {}).get("log_m500")
    if c:
        lines.append(f"| classical: {classical['method']} | the same test images | | {c['rmse'] ** 2:.4f} | | | | | "
                     f"{c['bias']:+.3f} | {c['std']:.3f} ({_dex_percent(c['std']):.0f} %) |")
    lines += ["| Ntampaka et al. 2019 (their mocks) | | | | | | | | -0.02 | 8-12 %; L_X scaling 15-18 % |", "",
              *(["Classical: " + classical["description"], ""] if c else []), *variant_links(results_dir, records)]
    return "\n".join(lines)


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
                    "50 x 50 crops, one hidden layer" if e["model"] == "reion_mlp" else "the maps")
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


def svdd_sky_figure(path: Path, per_class: int = 2) -> list[str]:
    """Markdown lines showing what the Deep SVDD runs see: ``per_class`` galaxies of each class drawn (seed 0) by
    the labelled recipe ``morphology`` and by the simulation-like one, as the networks get them (after the sky's
    stretch, before contrast normalisation)."""
    import numpy as np

    from kzoo import plots
    from kzoo.data.recipes import load_recipe
    from kzoo.sims.morphology import CLASSES, simulate

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
             "The seed's accuracy was measured on its training photographs (it had no held-out set).", "",
             "| normal class | objective | AUROC | AUROC vs each anomalous class | accuracy | seed accuracy | goal | "
             "epochs | classical: PCA reconstruction AUROC (vs each) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        e, m = r["experiment"], r.get("also_on", {}).get("morphology", {})
        if "auroc" not in m.get("all", {}):
            continue
        normal = e["recipe"].split("_", 1)[-1]
        per = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in m.items() if k != "all" and "auroc" in v)
        seed = r["reference"].get("accuracy", {}).get("all", "")
        binning = e["model_args"].get("binning", 1)
        objective = e["model_args"].get("objective", "") + (f", {binning} x {binning}-binned" if binning > 1 else "")
        lines.append(f"| {normal} | [{objective}]({e['name']}.md) | {m['all']['auroc']:.4f} | {per} | "
                     f"{m['all']['accuracy_at_midpoint']:.4f} | {seed} | {goal_status(m['all']['auroc'], ('>=', 0.95))} "
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
            rows.append((f"{cl['method']} on `mags_colours` (beside {e['name']})", cl["metrics"]["z"], ""))
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


def identical_input_ceiling(data_dir, target: str, split: str = "test") -> float | None:
    """The highest accuracy any classifier of ``target`` can reach on ``split`` when identical inputs (blank maps:
    every pixel 0) carry different classes: all other images right, the blank ones all given their most common
    class. None when the dataset is not at hand."""
    import numpy as np

    from kzoo.data.pipeline import load_arrays

    if not data_dir or not (Path(data_dir) / "manifest.json").exists():
        return None
    x, y = load_arrays(data_dir, split, inputs="map", targets=[target], verify=False)
    blank = np.all(x.reshape(len(x), -1) == 0, axis=1)
    classes = y[:, 0].astype(int)
    best = (~blank).sum() + (np.bincount(classes[blank]).max() if blank.any() else 0)
    return float(best / len(x))


def load_recipe_param(recipe: str, key: str):
    """A parameter of a built-in recipe as its sky reads it (the sky's default where the recipe is silent)."""
    from kzoo.data.recipes import load_recipe
    from kzoo.sims import get_sky

    r = load_recipe(recipe)
    return get_sky(r["sky"]).validate_params(r.get("params", {}))[key]


# per-experiment extras: computed by `kzoo reproduce EXPERIMENT` from its run and stored in its record (field
# given), so that the suite's section needs the records only: {suite: (record field, function)}
def other_data_dir(exp, data: Path, out: Path, other: str) -> Path:
    """Where reproduce keeps the dataset of recipe ``other`` that ``exp``'s run is also judged on: beside the
    experiment's own dataset in a suite's layout, else in OUT/data-<other>."""
    return data.parent / other if data.name == exp.recipe else out / f"data-{other}"


def _pca_num(m: dict | None) -> str:
    if not m or m.get("all", {}).get("auroc") is None:
        return ""
    per = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in m.items() if k != "all" and v.get("auroc") is not None)
    return f"{m['all']['auroc']:.4f} ({per})"


def svdd_pca_record(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """What a Deep SVDD run adds to its record: the classical reference on the same images
    (:func:`kzoo.reference.pca_anomaly_scorer`, PCA fitted on the run's training split of the normal class)
    judged as the network is (:func:`kzoo.evaluate.anomaly_metrics_per_class`, AUROC overall and per anomalous class) on
    the test split of each ``also_on`` recipe (their datasets as reproduce made them)."""
    if exp.evaluation != "anomaly":
        return None
    from kzoo.data.pipeline import load_arrays
    from kzoo.evaluate import anomaly_metrics_per_class
    from kzoo.reference import pca_anomaly_scorer
    from kzoo.sims.morphology import CLASSES

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


def reionization_ceiling_record(exp, run_dir: Path, data: Path, out: Path) -> float | None:
    """What a seed 004 classifier adds to its record: :func:`identical_input_ceiling` of its target on the test
    split, so that the suite page states it without the dataset at hand (``--from-results``)."""
    return identical_input_ceiling(data, exp.targets[0]) if exp.evaluation == "classification" else None


EXPERIMENT_EXTRAS = {"sersic": ("crb", sersic_crb_record), "svdd": ("pca_reference", svdd_pca_record),
                     "reionization": ("blank_ceiling", reionization_ceiling_record)}
SUITE_EXTRAS = {"gc": gc_fisher_section, "sersic": sersic_crb_section, "clusters": clusters_section,
                "cosmo": cosmo_section, "rings": rings_section, "reionization": reionization_section,
                "svdd": svdd_section, "photoz": photoz_section, "spectra": spectra_section}  # physical references and cross-experiment tables, once per suite


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


SUITE_FLOORS = {"gc": gc_floors}  # per suite: results_dir -> (record -> {(target, metric): floor cell})


def recorded(name: str, results_dir) -> tuple[dict | None, str | None]:
    """The reproduction record ``results_dir/<name>.json`` of experiment ``name``, or why it cannot stand for
    the experiment as declared now: missing, made from another recipe (its parameters, splits or seed: the
    recipe's sha256 at the record's seed and splits differs) or under another declaration (what is trained)."""
    from kzoo.data.recipes import load_recipe
    from kzoo.data.shards import recipe_sha256
    from kzoo.experiments import get_experiment
    from kzoo.io import read_json
    from kzoo.runs import identity

    path = Path(results_dir) / f"{name}.json"
    r = read_json(path, default=None)
    if r is None:
        return None, f"{path} is missing"
    exp = get_experiment(name)
    recipe = load_recipe(exp.recipe)
    recipe["seed"], recipe["splits"] = r["dataset_seed"], r["splits"]
    if recipe_sha256(recipe) != r.get("recipe_sha256"):
        return None, f"{path} was made from another recipe than today's '{exp.recipe}'"
    if identity({"experiment": r["experiment"]}) != identity({"experiment": exp.to_dict()}):
        return None, f"{path} was trained under another declaration of {name}"
    return r, None


def reproduce_suite(suite: str, out, results_dir="results", from_results: bool = False, **kwargs) -> list[dict]:
    """Reproduce every experiment of a suite (each in ``out/<experiment>``, finished ones reused) and
    write ``results/<suite>.md``: one table of our numbers beside the seed's, the physical floor and the
    goals, the suite's physical references, then each experiment's full table.

    ``from_results=True`` trains nothing: the page is assembled from the records ``results/<experiment>.json``
    that earlier ``kzoo reproduce`` runs wrote (each names its commit, command and machine), and refused,
    naming every record that is missing or was made from another recipe or declaration than today's."""
    from kzoo.experiments import get_experiment, list_experiments

    names = list_experiments(SUITES[suite])
    names = [n for n in names if not run_dependencies(get_experiment(n))] + \
        [n for n in names if run_dependencies(get_experiment(n))]  # the runs others build on come first
    out, results_dir = Path(out), Path(results_dir)
    if from_results:
        found = [recorded(name, results_dir) for name in names]
        problems = [why for _, why in found if why]
        if problems:
            raise ValueError(f"--from-results: {len(problems)} of {len(names)} records cannot be used: "
                             + "; ".join(problems) + f"; rerun those with kzoo reproduce EXPERIMENT --out "
                             f"{out}/EXPERIMENT, or the whole suite without --from-results")
        records = [r for r, _ in found]
    else:
        # experiments of one recipe share its dataset (out/data/<recipe>), each its own run (out/<experiment>/run)
        records = [reproduce(name, out / name, results_dir=results_dir,
                             data=out / "data" / get_experiment(name).recipe, **kwargs) for name in names]
    extra = SUITE_EXTRAS[suite](out, results_dir, records) if suite in SUITE_EXTRAS else ""
    floors = SUITE_FLOORS[suite](results_dir) if suite in SUITE_FLOORS else None
    machines = sorted({f"{r['machine']['device']}, {r['machine']['cpu']}" for r in records})
    parts = [f"# Suite `{suite}`: {len(records)} experiments\n",
             "Every number comes from the run recorded in the experiment's own page (linked), which names its "
             "commit, command and machine; 'classical' is the experiment's non-network reference; 'floor' is the "
             "physical limit of the sky where one is computed (below). Times are wall-clock seconds of training "
             "and evaluation on " + "; ".join(machines) + ", in the precision of each row.\n",
             "| experiment | target | metric | kzoo | classical | seed | floor | goal | epochs | precision | "
             "train + evaluate s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        parts += headline_rows(r, floors)
    parts.append("")
    if extra:
        parts.append(extra)
    parts += [(results_dir / f"{r['experiment']['name']}.md").read_text().replace("\n# ", "\n## ", 1)
              .replace("# ", "## ", 1) for r in records]
    write_text(results_dir / f"{suite}.md", "\n".join(parts))
    return records
