"""Reproduce a seed experiment at the seed's sizes in one call: simulate, train, evaluate, report.

``kzoo reproduce gc-dm --out WORK`` writes ``results/<experiment>.md`` and ``.json``: our numbers
beside the seed's, with how long each step took on which machine, and the plots beside them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

from kzoo.io import copy_file, write_json, write_text
from kzoo.report import goal_status, headline_metric, headline_rows, markdown, provenance
from kzoo.runs import cpu_info, git_commit


def reproduce(experiment, out, *, seed: int = 1, workers: int = 2, precision: str = "float32",
              epochs: int | None = None, n: int | None = None, results_dir="results", note: str = "",
              data=None) -> dict:
    """Run ``experiment`` end to end at its recipe's sizes (or ``n`` images) and write the results table.

    The dataset goes to ``data`` (default ``out/data``; a suite shares one per recipe), the run to ``out/run``."""
    from kzoo.data.shards import write_shards
    from kzoo.experiment_files import resolve
    from kzoo.train import fit, recalibrate_run

    from kzoo.evaluate import evaluate
    from kzoo.io import read_json

    exp = resolve(experiment)  # a declared experiment, or one of a YAML file (kzoo reproduce FILE.yaml)
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
            copy_file(out / f"on-{other}" / "scores.png", figs / f"scores_{other}.png")
    for png in FIGURES + family_figure_files(exp.name):
        if not (run_dir / png).exists():
            continue
        copy_file(run_dir / png, figs / png)
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
        "validation": best_epoch(run_dir / "history.csv"),
        "validation_last": best_epoch(run_dir / "history.csv", last=True),
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
    for suite in suites().values():  # what a suite's section needs of each run
        if exp.name in suite.experiments:
            for field, extra in suite.record_extras.items():
                if (value := extra(exp, run_dir, data, out)) is not None:
                    record[field] = value
    write_json(results_dir / f"{exp.name}.json", record)
    write_text(results_dir / f"{exp.name}.md", markdown(record))
    return record


# the figures of the task evaluators (kzoo.evaluate) that a results page shows; a family's evaluate module adds its
# own as FIGURE_FILES
FIGURES = ("loss_curves.png", "predicted_vs_true.png", "classical_predicted_vs_true.png", "roc.png", "masks.png",
           "denoising_examples.png", "saliency.png", "confusion.png", "classical_confusion.png",
           "reconstruction_examples.png", "scores.png")


def family_figure_files(experiment: str) -> tuple:
    """The figures the evaluators of ``experiment``'s family draw (its evaluate module's ``FIGURE_FILES``)."""
    from kzoo.experiments import FAMILY_OF, declared
    from kzoo.families import get_family

    declared()
    family = FAMILY_OF.get(experiment)
    module = get_family(family).part("evaluate") if family else None
    return tuple(getattr(module, "FIGURE_FILES", ()))


def compiled_optimizer(model_path) -> str:
    """The class name of the optimizer a saved ``.keras`` model was compiled with (Adam for the supervised
    fit, RMSprop for the GANs), read from the archive's config without loading the model."""
    import zipfile

    with zipfile.ZipFile(model_path) as z:
        config = json.loads(z.read("config.json"))
    return ((config.get("compile_config") or {}).get("optimizer") or {}).get("class_name", "not compiled")


def fit_runs(exp, data, out: Path, runs: list[tuple[str, str, dict]], *, precision: str, epochs,
             ledger: Path | None = None, predictions: bool = False) -> list[dict]:
    """Train (or reuse, when finished) several runs of ``exp`` on the dataset ``data``: ``runs`` lists
    ``(key, run folder under out, fit keyword arguments)``. Times are kept in ``out/timings.json`` under each key
    (a reused run keeps the time of the session that trained it). Returns, per run, its key, folder, test
    metrics, epochs run and seconds; with ``predictions``, its test predictions too (``y_true``, ``y_pred``,
    ``names``, ``dtype``, ``target_ranges``).

    ``ledger`` (a JSON file under results/, see :func:`ledger_path`): every finished run is recorded there with its
    identity, metrics, commit, command and machine, and a run recorded there under the same identity (the same
    declaration, dataset bytes, seed and settings: :func:`kzoo.runs.identity`) is not trained again where ``out``
    lacks its folder. So a study longer than one session or machine is made in parts: each part's runs are
    committed with the ledger, and the next part, anywhere, trains only what is missing."""
    import logging

    from kzoo.io import read_json
    from kzoo.runs import identity, provenance_fields
    from kzoo.train import fit, plan_run

    timings = read_json(out / "timings.json", default={})
    recorded = (read_json(ledger, default={}) if ledger is not None else {}).get("runs", {})
    done = []
    for key, folder, kwargs in runs:
        args = {"precision": precision, "epochs": epochs, "model_args": resolve_run_arguments(exp, out), **kwargs}
        entry = recorded.get(key)
        if entry is not None and not (out / folder / "run.json").exists() and \
                entry["identity"] == identity(plan_run(exp, data, **args)["run"]):
            logging.getLogger("kzoo").info(f"{key}: recorded in {ledger} (commit {entry['commit']}, "
                                           f"{entry['machine']['cpu']}): not trained again")
            done.append({"key": key, "run": None, **{f: entry.get(f) for f in (
                "metrics", "epochs_run", "seconds", "commit", "machine", *(("predictions",) if predictions else ()))}})
            continue
        t0 = time.time()
        res = fit(exp, data, out / folder, verbose=2, **args)
        if res["training"]["status"] != "up_to_date":
            timings[key] = round(time.time() - t0, 1)
            write_json(out / "timings.json", timings)
        run = json.loads((out / folder / "run.json").read_text())
        row = {"key": key, "run": str(out / folder), "metrics": res["metrics"], "epochs_run": run.get("epochs_run"),
               "seconds": timings.get(key)}
        if predictions:
            row["predictions"] = run_predictions(out / folder, run)
        ident = identity(run)
        if ledger is not None and (entry is None or entry["identity"] != ident):
            made = provenance_fields()
            recorded[key] = {"identity": ident, **{f: row[f] for f in ("metrics", "epochs_run", "seconds")},
                             **made, **({"predictions": row["predictions"]} if predictions else {})}
            write_json(ledger, {"experiment": exp.name, **made, "runs": recorded})
        done.append({**row, **{f: (recorded.get(key) or {}).get(f) for f in ("commit", "machine")}})
    return done


def ledger_path(results_dir, stem: str) -> Path:
    """Where a multi-run study's finished runs are recorded (:func:`fit_runs`): ``results/runs/<stem>.json``."""
    return Path(results_dir) / "runs" / f"{stem}.json"


def run_predictions(run_dir: Path, run: dict) -> dict:
    """A finished regression run's test predictions as JSON values (what an ensemble averages)."""
    import numpy as np

    p = np.load(run_dir / "predictions_test.npz")
    return {"y_true": p["y_true"].tolist(), "y_pred": p["y_pred"].tolist(), "names": [str(v) for v in p["names"]],
            "dtype": str(p["y_pred"].dtype), "target_ranges": run["target_ranges"]}


def study_row(row: dict, fields=("metrics", "epochs_run", "seconds")) -> dict:
    """What a study's record keeps of a run :func:`fit_runs` returned: ``fields``, and ``made_earlier`` (its commit
    and machine) where it was read from the ledger instead of trained here."""
    earlier = {"made_earlier": {"commit": row["commit"], "machine": row["machine"]}} if row.get("run") is None else {}
    return {**{f: row[f] for f in fields}, **earlier}


def recorded_runs_line(rows: list[dict], label, ledger: Path) -> list[str]:
    """A sentence naming the runs of a study that were read from its ledger (made in an earlier session or on
    another machine), with the commit and CPU each was made at; nothing when all were trained here."""
    earlier = [f"{label(r)} (commit {r['commit']}, {r['machine']['cpu']})" for r in rows if r.get("run") is None]
    return ["", f"Read from the record of runs made earlier, `{ledger.as_posix()}`: {', '.join(earlier)}."] \
        if earlier else []


def fit_seeds(exp, data, out: Path, seeds: list[int], *, precision: str, epochs, ledger: Path | None = None,
              predictions: bool = False) -> list[dict]:
    """Runs of ``exp`` on one dataset that differ only in their training seed: the first ``out/run`` (the run ``kzoo
    reproduce`` makes), the others ``out/run-seed<s>`` (an ensemble's members, a seed spread's runs); per run its
    seed, folder, test metrics, epochs run and seconds (and what :func:`fit_runs` adds)."""
    done = fit_runs(exp, data, out, [("train_and_evaluate" if i == 0 else f"train_and_evaluate_seed{s}",
                                      "run" if i == 0 else f"run-seed{s}", {"seed": s}) for i, s in enumerate(seeds)],
                    precision=precision, epochs=epochs, ledger=ledger, predictions=predictions)
    return [{"seed": s, **{f: v for f, v in r.items() if f != "key"}} for s, r in zip(seeds, done)]


def variant_data(exp, out, results_dir, data, *, seed: int, n, workers: int) -> tuple[Path, Path, Path, dict]:
    """What every multi-run study (learning curve, ensemble, seed spread, cross-validation) starts from: its work and
    results folders, and the one dataset all its runs train on (``data``, default ``out/data``; simulated unless
    one of the same recipe, seed and size is there), with that dataset's manifest."""
    from kzoo.data.shards import write_shards

    out, results_dir = Path(out), Path(results_dir)
    data = Path(data) if data is not None else out / "data"
    return out, results_dir, data, write_shards(exp.recipe, data, seed=seed, n=n, workers=workers)


def variant_command(exp, out, options: str, *, seed: int, precision: str, epochs, n, extra: str = "") -> str:
    """The ``kzoo reproduce`` command line of a multi-run study: ``options`` its own (``--members 3``), ``extra``
    what follows the shared ones."""
    return (f"kzoo reproduce {exp.name} --out {out} {options} --seed {seed} --precision {precision}"
            + (f" --epochs {epochs}" if epochs else "") + (f" --n {n}" if n else "") + extra)


def variant_record(exp, manifest: dict, data, *, seed: int, precision: str, note: str, command: str) -> dict:
    """The fields every multi-run results record (learning curve, ensemble, cross-validation) shares; the command
    names the Keras backend the runs trained on where it is not TensorFlow (``--backend``)."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow" and "--backend" not in command:
        command += f" --backend {backend}"
    return {"experiment": exp.to_dict(), "dataset_seed": seed, "backend": backend,
            "splits": {k: v["count"] for k, v in manifest["splits"].items()}, "data_dir": str(data),
            "precision": precision, "machine": {"cores": os.cpu_count(), "cpu": cpu_info()["cpu_model"],
                                                "platform": platform.platform()},
            "commit": git_commit(), "note": note, "command": command}


def learning_curve(experiment, out, sizes, *, seed: int = 1, workers: int = 2, precision: str = "float32",
                   epochs: int | None = None, n: int | None = None, results_dir="results", data=None,
                   note: str = "", init: str | None = None, freeze_epochs: int = 0) -> dict:
    """Train ``experiment`` on the first N images of its training split for each N in ``sizes`` (validation
    and test splits unchanged; ``out/run-n<N>``, finished runs reused) and write
    ``results/<experiment>-learning-curve.{md,json,png}``: the test metric per target against N, beside the
    seed's number, so that a gap to the seed reads as data or method.

    ``init`` (a preset, a run directory): a fine-tuning curve instead: for each N a run from scratch and one
    fine-tuned from ``init`` (``out/run-n<N>-init``, ``freeze_epochs`` as ``kzoo train``), the same epochs and
    data; writes ``results/<experiment>-finetune.{md,json,png}`` with both curves."""
    from kzoo import plots
    from kzoo.data.records import records_for_limit
    from kzoo.experiment_files import resolve

    exp = resolve(experiment)  # a declared experiment, or one of a YAML file (a fine-tuning study)
    sizes = sorted({int(v) for v in sizes})
    source = None
    if init is not None:
        from kzoo.transfer import init_source

        source = init_source(str(init))  # refused before anything is simulated or trained
    out, results_dir, data, manifest = variant_data(exp, out, results_dir, data, seed=seed, n=n, workers=workers)
    for size in sizes:  # every size checked before anything trains
        records_for_limit(manifest["splits"]["train"], int(manifest["block"]), size,
                          f"--train-sizes {size} ({data})")
    runs = [(str(k), f"run-n{k}", {"seed": seed, "train_size": k}) for k in sizes]
    if source is not None:
        runs += [(f"{k}-init", f"run-n{k}-init", {"seed": seed, "train_size": k, "init": str(init),
                                                   "freeze_epochs": freeze_epochs}) for k in sizes]
    stem = f"{exp.name}-{'finetune' if source else 'learning-curve'}"
    ledger = ledger_path(results_dir, stem)
    done = fit_runs(exp, data, out, runs, precision=precision, epochs=epochs, ledger=ledger)
    arms = {"scratch": done[:len(sizes)], **({"fine_tuned": done[len(sizes):]} if source else {})}
    points = [{"train_size": k, **study_row(r)} for k, r in zip(sizes, arms["scratch"])]
    if source:
        for p, r in zip(points, arms["fine_tuned"]):
            p["fine_tuned"] = study_row(r)
    d = exp.to_dict()
    metric = headline_metric(d, points[-1]["metrics"])
    names = [t for t, m in points[-1]["metrics"].items() if isinstance(m.get(metric), float)]
    seed_ref = d.get("reference", {}).get(metric, {})
    command = variant_command(exp, out, f"--train-sizes {','.join(map(str, sizes))}", seed=seed, precision=precision,
                              epochs=epochs, n=n, extra=(f" --init {init}" if source else "")
                              + (f" --freeze-epochs {freeze_epochs}" if freeze_epochs else ""))
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=command),
              "metric": metric, "points": points}
    if source:
        record["init"] = {k: source[k] for k in ("from", "kind", "sha256", "model")}
        record["init"]["experiment"] = (source["experiment"] or {}).get("name")
        record["freeze_epochs"] = freeze_epochs
    write_json(results_dir / f"{stem}.json", record)
    if source:
        where = f"fine-tuned from {(source['experiment'] or {}).get('name') or Path(source['from']).name}"
        curves = {t: {"from scratch": [p["metrics"][t][metric] for p in points],
                      where: [p["fine_tuned"]["metrics"][t][metric] for p in points]} for t in names}
    else:
        curves = {t: [p["metrics"][t][metric] for p in points] for t in names}
    plots.learning_curve(sizes, curves, results_dir / f"{stem}.png", metric, title=f"{exp.name}: test {metric}",
                         reference=seed_ref)
    lines = [f"# {exp.name}: {'fine-tuning curve' if source else 'learning curve'}", "",
             f"Test-split {metric} of `{exp.model}` trained on the first N images of the training split (shard "
             f"order; validation {record['splits'].get('val', 0)} and test {record['splits'].get('test', 0)} images "
             f"the same for every N), dataset recipe `{exp.recipe}`, seed {seed}, precision {precision}."]
    if source:
        e = source["experiment"] or {}
        lines[-1] += (f" Each N twice, for the same epochs: from scratch, and fine-tuned from {source['kind']} "
                      f"`{source['from']}` (`{source['model'] or '?'}`"
                      + (f" of `{e.get('name')}`, trained on recipe `{e.get('recipe')}`" if e else "")
                      + f", weights sha256 `{source['sha256'][:16]}...`; its input normalisation kept"
                      + (f"; only the layers built anew trained for the first {freeze_epochs} epochs" if freeze_epochs
                         else "") + ").")
        lines += ["", "| training images | " + " | ".join(f"{t} from scratch | {t} fine-tuned" for t in names)
                  + " | epochs (scratch, fine-tuned) | train + evaluate s (scratch, fine-tuned) |",
                  "|---|" + "---|" * (2 * len(names) + 2)]
        for p in points:
            f = p["fine_tuned"]
            lines.append(f"| {p['train_size']} | " + " | ".join(
                f"{p['metrics'][t][metric]:.4g} | {f['metrics'][t][metric]:.4g}" for t in names)
                + f" | {p['epochs_run']}, {f['epochs_run']} | {p['seconds'] or ''}, {f['seconds'] or ''} |")
        if seed_ref:
            lines.append("| seed | " + " | ".join(f"{seed_ref.get(t, '')} | " for t in names) + " | |")
    else:
        lines += ["", "| training images | " + " | ".join(names) + " | epochs | train + evaluate s |",
                  "|---|" + "---|" * (len(names) + 2)]
        for p in points:
            lines.append(f"| {p['train_size']} | " + " | ".join(f"{p['metrics'][t][metric]:.4g}" for t in names)
                         + f" | {p['epochs_run']} | {p['seconds'] if p['seconds'] is not None else ''} |")
        if seed_ref:
            lines.append("| seed | " + " | ".join(str(seed_ref.get(t, "")) for t in names) + " | | |")
    lines += recorded_runs_line(done, lambda r: f"N = {r['key']}", ledger)
    lines += [*provenance(record), f"![{'fine-tuning' if source else 'learning'} curve]({stem}.png)\n"]
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
    from kzoo.metrics import regression_metrics
    from kzoo.experiments import get_experiment

    from kzoo.losses import predicts_sigma

    exp = get_experiment(experiment)
    if exp.evaluation != "regression" or predicts_sigma(exp.loss) or isinstance(exp.targets, dict):
        raise ValueError(f"--members: {exp.name} is not a plain regression experiment (evaluation "
                         f"{exp.evaluation!r}, loss {exp.loss!r}); ensembles average regression predictions")
    if int(members) < 2:
        raise ValueError(f"--members must be at least 2, got {members}")
    out, results_dir, data, manifest = variant_data(exp, out, results_dir, data, seed=seed, n=n, workers=workers)
    seeds = [seed + i for i in range(int(members))]
    stem = f"{exp.name}-ensemble"
    ledger = ledger_path(results_dir, stem)
    done = fit_seeds(exp, data, out, seeds, precision=precision, epochs=epochs, ledger=ledger, predictions=True)
    preds = [{k: np.asarray(v, dtype=r["predictions"]["dtype"]) for k, v in r["predictions"].items()
              if k in ("y_true", "y_pred")} for r in done]
    y_true = preds[0]["y_true"]
    if any(not np.array_equal(p["y_true"], y_true) for p in preds):
        raise ValueError(f"{out}: the members' test splits differ; an ensemble needs one dataset")
    names, ranges = done[0]["predictions"]["names"], done[0]["predictions"]["target_ranges"]
    y_mean = np.mean([p["y_pred"] for p in preds], axis=0)
    metrics = regression_metrics(y_true, y_mean, names, ranges=ranges)
    runs = [study_row(r, ("seed", "run", "metrics", "epochs_run", "seconds")) for r in done]
    d = exp.to_dict()
    plots.predicted_vs_true(y_true, y_mean, names, results_dir / f"{stem}.png",
                            title=f"{exp.name}: mean of {members} members, test split ({len(y_true)} images)",
                            ranges=ranges)
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=variant_command(
        exp, out, f"--members {members}", seed=seed, precision=precision, epochs=epochs, n=n)),
        "members": runs, "metrics": metrics}
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
    lines += recorded_runs_line(done, lambda r: f"member, seed {r['seed']}", ledger)
    lines += [*provenance(record), f"![ensemble predicted vs true]({stem}.png)\n"]
    write_text(results_dir / f"{stem}.md", "\n".join(lines))
    return record


def metric_spread(metrics: list[dict]) -> dict:
    """The mean and sample standard deviation over several runs' test metrics (``{target: {metric: value}}`` each) of
    every float metric the first run has: ``{target: {metric: {"mean", "std"}}}``."""
    import numpy as np

    return {t: {k: {"mean": float(np.mean([m[t][k] for m in metrics])),
                    "std": float(np.std([m[t][k] for m in metrics], ddof=1))}
                for k, v in first.items() if isinstance(v, float)}
            for t, first in metrics[0].items() if isinstance(first, dict)}


def seed_spread(experiment, out, runs: int, *, seed: int = 1, workers: int = 2, precision: str = "float32",
                epochs: int | None = None, n: int | None = None, results_dir="results", data=None,
                note: str = "") -> dict:
    """The training-seed spread of an experiment: ``runs`` runs on one dataset (dataset seed ``seed``) that differ
    only in their training seed (``seed``, ``seed + 1``, ...: initial weights, shuffling, augmentation, a
    generator's noise), each judged alone, as ``kzoo reproduce`` judges one. Run 0 is ``out/run``, the run ``kzoo
    reproduce`` itself makes (reused when finished); the others ``out/run-seed<s>``, as an ensemble's members.
    Writes ``results/<experiment>-seeds.{md,json}``: every run's test metrics with their mean and sample standard
    deviation, so that a difference between two experiments can be held against the spread of one."""
    from kzoo.experiments import get_experiment

    exp = get_experiment(experiment)
    if int(runs) < 2:
        raise ValueError(f"--seeds must be at least 2, got {runs}")
    out, results_dir, data, manifest = variant_data(exp, out, results_dir, data, seed=seed, n=n, workers=workers)
    seeds = [seed + i for i in range(int(runs))]
    stem = f"{exp.name}-seeds"
    ledger = ledger_path(results_dir, stem)
    done = fit_seeds(exp, data, out, seeds, precision=precision, epochs=epochs, ledger=ledger)
    rows = [study_row(r, ("seed", "run", "metrics", "epochs_run", "seconds")) for r in done]
    summary = metric_spread([r["metrics"] for r in rows])
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=variant_command(
        exp, out, f"--seeds {runs}", seed=seed, precision=precision, epochs=epochs, n=n)),
        "runs": rows, "summary": summary, "metric": headline_metric(exp.to_dict(), rows[0]["metrics"])}
    lines = [f"# {exp.name}: {runs} training seeds", "",
             f"`{exp.model}` trained {runs} times on one dataset (recipe `{exp.recipe}`, dataset seed {seed}, splits "
             f"{record['splits']}) with training seeds {', '.join(map(str, seeds))} (initial weights, shuffling, "
             f"augmentation, noise draws), each judged alone on the test split; precision {precision}. The spread "
             f"(sample standard deviation) is what a difference between two experiments is to be held against.", "",
             "| target | metric | " + " | ".join(f"seed {s_}" for s_ in seeds) + " | mean | std |",
             "|---|---|" + "---|" * (len(seeds) + 2)]
    for t, ms in summary.items():
        for k, v in ms.items():
            lines.append(f"| {t} | {k} | " + " | ".join(f"{r['metrics'][t][k]:.4g}" for r in rows)
                         + f" | **{v['mean']:.4g}** | {v['std']:.2g} |")
    lines += ["", "| seed | epochs | train + evaluate s |", "|---|---|---|",
              *[f"| {r['seed']} | {r['epochs_run']} | {r['seconds'] if r['seconds'] is not None else ''} |"
                for r in rows], *recorded_runs_line(done, lambda r: f"seed {r['seed']}", ledger), *provenance(record)]
    write_json(results_dir / f"{stem}.json", record)
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

    from kzoo.experiments import get_experiment

    exp = get_experiment(experiment)
    if int(folds) < 2:
        raise ValueError(f"--folds must be at least 2, got {folds}")
    out, results_dir, data, manifest = variant_data(exp, out, results_dir, data, seed=seed, n=n, workers=workers)
    rows = [{"fold": i, **{f: r[f] for f in ("metrics", "epochs_run", "seconds")}} for i, r in enumerate(fit_runs(
        exp, data, out, [(f"fold-{i}", f"fold-{i}", {"seed": seed, "fold": (i, int(folds))}) for i in range(int(folds))],
        precision=precision, epochs=epochs))]
    from kzoo.evaluate import held_out_metrics

    for r in rows:  # the held-out fold: images of the training split's own simulations
        r["validation"] = best_epoch(out / f"fold-{r['fold']}" / "history.csv")
        r["held_out"] = held_out_metrics(out / f"fold-{r['fold']}", data, (r["fold"], int(folds)), manifest)
    d = exp.to_dict()
    first = rows[0]["metrics"]
    summary = metric_spread([r["metrics"] for r in rows])
    metric = headline_metric(d, first)
    names = [t for t in summary if metric in summary[t]]
    record = {**variant_record(exp, manifest, data, seed=seed, precision=precision, note=note, command=variant_command(
        exp, out, f"--folds {folds}", seed=seed, precision=precision, epochs=epochs, n=n)),
        "folds": int(folds), "runs": rows, "summary": summary, "metric": metric}
    stem = f"{exp.name}-cv"
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
    if all(r["held_out"] for r in rows):  # the final model on its held-out fold, measured as on the test split
        held = {(t, k): [r["held_out"][t][k] for r in rows] for t, k in cols if k in r["held_out"].get(t, {})}
        record["held_out_summary"] = {f"{t} {k}": {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))}
                                      for (t, k), v in held.items()}
        lines += ["", "Each fold's final model (the one judged on the test split above) on its held-out fold, measured "
                      "as on the test split (records of the training split: where a sky draws groups across records, "
                      "such as a 21-cm realisation, the same simulations as training; the seeds that validated on "
                      "their training boxes measured this):", "",
                  "| fold | " + " | ".join(f"held-out {t} {k}" for t, k in held) + " | images |",
                  "|---|" + "---|" * (len(held) + 1)]
        for i, r in enumerate(rows):
            lines.append(f"| {r['fold']} | " + " | ".join(f"{v[i]:.4g}" for v in held.values())
                         + f" | {r['held_out'][names[0]]['n'] if 'n' in r['held_out'][names[0]] else ''} |")
        lines.append("| **mean +- std** | " + " | ".join(f"**{np.mean(v):.4g} +- {np.std(v, ddof=1):.2g}**"
                                                      for v in held.values()) + " | |")
    else:
        val_key = next((f"val_{m}" for m in exp.metrics if all(f"val_{m}" in (r["validation"] or {}) for r in rows)),
                       "val_loss")
        if all(r["validation"] and val_key in r["validation"] for r in rows):
            vals = [r["validation"][val_key] for r in rows]
            lines += ["", f"Each held-out fold at its fold's best epoch, as Keras logged it in training (before batch "
                          f"norm recalibration; records of the training split): {val_key} "
                      + ", ".join(f"{v:.4g}" for v in vals) + f"; mean {np.mean(vals):.4g}."]
    lines += ["", *([("Goals: " + "; ".join(met) + "."), ""] if met else []), *provenance(record)[1:]]
    write_json(results_dir / f"{stem}.json", record)
    write_text(results_dir / f"{stem}.md", "\n".join(lines))
    return record


def best_epoch(history_csv, last: bool = False) -> dict | None:
    """The training history's epoch of the lowest validation loss (``last``: its last epoch), with every logged value
    of it (``loss``, ``val_loss``, ``val_mae``, ...): what the seeds that quote a training or validation loss measured
    (at their best epoch, or after their whole schedule), for the rows that set it beside theirs; None without a
    validation loss."""
    from kzoo.runs import read_history

    h = read_history(history_csv) if Path(history_csv).exists() else {}
    losses = h.get("val_loss") or []
    if not losses:
        return None
    i = len(losses) - 1 if last else min(range(len(losses)), key=lambda k: losses[k])
    return {"epoch": int(h["epoch"][i]) + 1 if "epoch" in h else i + 1,
            **{k: float(v[i]) for k, v in h.items() if k != "epoch" and i < len(v)}}


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


def other_data_dir(exp, data: Path, out: Path, other: str) -> Path:
    """Where reproduce keeps the dataset of recipe ``other`` that ``exp``'s run is also judged on: beside the
    experiment's own dataset in a suite's layout, else in OUT/data-<other>."""
    return data.parent / other if data.name == exp.recipe else out / f"data-{other}"


@dataclasses.dataclass(frozen=True)
class Suite:
    """A suite page (``kzoo reproduce <suite>``, ``results/<suite>.md``): a family's experiments, and the page parts
    its ``page`` module declares as ``SUITE = Suite(...)``.

    Attributes:
        name, experiments: the suite's name and experiment names (the family's; filled in by :func:`suites`).
        section: ``(out, results_dir, records) -> markdown``: physical references and cross-experiment tables,
            placed after the summary table.
        floors: ``results_dir -> (record -> {(target, metric): floor cell})``: the summary table's floor column.
        record_extras: ``{record field: (exp, run_dir, data, out) -> value or None}``: what ``kzoo reproduce
            EXPERIMENT`` adds to each record of the suite, so that the section needs the records only.
    """

    name: str = ""
    experiments: tuple = ()
    section: Callable | None = None
    floors: Callable | None = None
    record_extras: dict = dataclasses.field(default_factory=dict)


_SUITES: dict[str, Suite] = {}


def suites() -> dict[str, Suite]:
    """``{name: Suite}``: one per family (see kzoo.families), named as the family, with its experiments."""
    if not _SUITES:
        from kzoo.experiments import list_experiments
        from kzoo.families import families

        for fam in families().values():
            page = fam.part("page")
            declared = getattr(page, "SUITE", None) or Suite()
            _SUITES[fam.name] = dataclasses.replace(declared, name=fam.name,
                                                    experiments=tuple(list_experiments(family=fam.name)))
    return _SUITES


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


def with_held_out(r: dict, results_dir: Path) -> dict:
    """A record with its cross-validation's held-out summary (``results/<experiment>-cv.json``, made under the same
    declaration): each fold's model on records of its own training simulations, the measurement of the seeds that
    validated on slices of their training boxes, for the suite's summary rows."""
    from kzoo.io import read_json
    from kzoo.runs import identity

    cv = read_json(Path(results_dir) / f"{r['experiment']['name']}-cv.json", default=None)
    if not cv or not cv.get("held_out_summary") or \
            identity({"experiment": cv["experiment"]}) != identity({"experiment": r["experiment"]}):
        return r
    epochs = sorted(run["epochs_run"] for run in cv["runs"])
    return {**r, "held_out": {**cv["held_out_summary"], "folds": cv.get("folds"), "precision": cv.get("precision", ""),
                              "epochs": f"{epochs[0]}-{epochs[-1]}" if epochs[0] != epochs[-1] else str(epochs[0]),
                              "seconds": round(sum(run["seconds"] for run in cv["runs"]), 1)}}


def reproduce_suite(suite: str, out, results_dir="results", from_results: bool = False, **kwargs) -> list[dict]:
    """Reproduce every experiment of a suite (each in ``out/<experiment>``, finished ones reused) and
    write ``results/<suite>.md``: one table of our numbers beside the seed's, the physical floor and the
    goals, the suite's physical references, then each experiment's full table.

    ``from_results=True`` trains nothing: the page is assembled from the records ``results/<experiment>.json``
    that earlier ``kzoo reproduce`` runs wrote (each names its commit, command and machine), and refused,
    naming every record that was made from another recipe or declaration than today's; experiments declared but
    not recorded yet are listed under the summary table (refused when none is recorded)."""
    from kzoo.experiments import get_experiment

    the_suite = suites()[suite]
    names = list(the_suite.experiments)
    names = [n for n in names if not run_dependencies(get_experiment(n))] + \
        [n for n in names if run_dependencies(get_experiment(n))]  # the runs others build on come first
    out, results_dir = Path(out), Path(results_dir)
    missing = []
    if from_results:
        found = [recorded(name, results_dir) for name in names]
        missing = [n for n, (_, why) in zip(names, found) if why and why.endswith("is missing")]
        problems = [why for _, why in found if why and not (why.endswith("is missing") and len(missing) < len(names))]
        if problems:
            raise ValueError(f"--from-results: {len(problems)} of {len(names)} records cannot be used: "
                             + "; ".join(problems) + f"; rerun those with kzoo reproduce EXPERIMENT --out "
                             f"{out}/EXPERIMENT, or the whole suite without --from-results")
        records = [r for r, _ in found if r is not None]
    else:
        # experiments of one recipe share its dataset (out/data/<recipe>), each its own run (out/<experiment>/run)
        records = [reproduce(name, out / name, results_dir=results_dir,
                             data=out / "data" / get_experiment(name).recipe, **kwargs) for name in names]
    extra = the_suite.section(out, results_dir, records) if the_suite.section else ""
    floors = the_suite.floors(results_dir) if the_suite.floors else None
    machines = sorted({f"{r['machine']['device']}, {r['machine']['cpu']}" for r in records})
    parts = [f"# Suite `{suite}`: {len(records)} experiments\n",
             "Every number comes from the run recorded in the experiment's own page (linked), which names its "
             "commit, command and machine; 'classical' is the experiment's non-network reference; 'floor' is the "
             "physical limit of the sky where one is computed (below). Times are wall-clock seconds of training "
             "and evaluation on " + "; ".join(machines) + ", in the precision of each row.\n",
             "| experiment | target | metric | kzoo | classical | seed | floor | goal | epochs | precision | "
             "train + evaluate s | as the source notebooks measured? |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        parts += headline_rows(with_held_out(r, results_dir), floors)
    parts.append("")
    if missing:
        parts += ["Declared, not recorded yet (`kzoo reproduce EXPERIMENT` records one): "
                  + ", ".join(f"`{n}`" for n in missing) + ".", ""]
    if extra:
        parts.append(extra)
    parts += [(results_dir / f"{r['experiment']['name']}.md").read_text().replace("\n# ", "\n## ", 1)
              .replace("# ", "## ", 1) for r in records]
    write_text(results_dir / f"{suite}.md", "\n".join(parts))
    return records
