"""Evaluation with each seed's own metrics and plots; ``evaluate(run)`` rewrites RUN/metrics.json."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

import kzoo.plots as plots
from kzoo.export import infer
from kzoo.io import read_json, write_json
from kzoo.data.records import class_count
from kzoo.metrics import regression_metrics, coverage, binned_errors, roc_auc, segmentation_metrics, denoising_metrics, classification_metrics

log = logging.getLogger("kzoo")  # kzoo's messages (the CLI shows them as "kzoo: ...")


def run_ranges(run: dict, manifest: dict, targets) -> np.ndarray:
    """The training set's label ranges of a run (a run recorded before they were: the evaluated dataset's, the same
    recipe)."""
    from kzoo.data.records import target_ranges

    return np.asarray(run["target_ranges"], np.float32) if run.get("target_ranges") else target_ranges(manifest, targets)


def physical(exp: dict, y_pred: np.ndarray, ranges) -> tuple[np.ndarray, np.ndarray | None]:
    """A regression model's outputs in the targets' units (the dtype of ``y_pred``): the means and (a Gaussian-NLL
    head) their standard deviations, else None; ``ranges``: the run's label ranges, used for scaled targets."""
    from kzoo.data.records import unscale_targets
    from kzoo.experiments import pipeline_args
    from kzoo.losses import predicts_sigma, split_mean_sigma

    sigma, dtype = None, np.asarray(y_pred).dtype
    if predicts_sigma(exp["loss"]):  # the network predicts a mean and a log standard deviation per target
        y_pred, sigma = (np.asarray(t, dtype) for t in split_mean_sigma(y_pred))
    if exp["scale_targets"]:
        y_pred, sigma_phys = unscale_targets(y_pred, ranges, pipeline_args(exp)["target_scale"],
                                             sigma=0.0 if sigma is None else sigma)
        sigma = None if sigma is None else sigma_phys
    return y_pred, sigma


def _regression(model, run, data_dir, split, manifest, out_dir):
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    from kzoo.experiments import label_output

    exp = run["experiment"]
    args = pipeline_args(exp)
    # a model of named outputs: its label output is judged here, each image output by its MSE and MAE
    key, targets = label_output(args["targets"])
    ds = batches(data_dir, split, **{**args, "scale_targets": False}, batch_size=256, shuffle=False,
                 manifest=manifest, verify=False)
    y_true, y_pred, image_err = [], [], {}
    for x, y in ds:
        pred = infer(model, x)
        if key is not None:
            for out, want in y.items():
                if out != key:
                    d = np.asarray(pred[out], np.float64) - np.asarray(y[out])
                    acc = image_err.setdefault(out, [0.0, 0.0, 0])
                    acc[0], acc[1], acc[2] = acc[0] + np.sum(d**2), acc[1] + np.sum(np.abs(d)), acc[2] + d.size
            y, pred = y[key], pred[key]
        y_true.append(np.asarray(y))
        y_pred.append(np.asarray(pred, dtype=np.float32))
    y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
    r = run_ranges(run, manifest, targets)
    y_pred, sigma = physical(exp, y_pred, r)
    metrics = regression_metrics(y_true, y_pred, targets, ranges=r)
    for out, (sq, ab, n) in image_err.items():  # on the scale the output is trained on (its target_transform)
        metrics[out] = {"n": n, "mse": float(sq / n), "mae": float(ab / n)}
    if sigma is not None:
        from kzoo.layers import SigmaScale

        # a calibrated model ends in SigmaScale (kzoo.train.calibrate_uncertainty): report its coverage and, beside
        # it, the coverage of the sigmas it had before (divided by the scales fitted on the validation split)
        scales = next((np.array(layer.scales) for layer in model.layers if isinstance(layer, SigmaScale)), None)
        for j, t in enumerate(targets):
            metrics[t].update(coverage(y_true[:, j], y_pred[:, j], sigma[:, j]))
            if scales is not None:
                before = coverage(y_true[:, j], y_pred[:, j], sigma[:, j] / scales[j])
                metrics[t].update({f"{k}_uncalibrated": v for k, v in before.items()})
                metrics[t]["sigma_scale"] = float(scales[j])
            metrics[t]["median_sigma"] = float(np.median(sigma[:, j]))
    opts = exp.get("evaluation_args") or {}
    color, by = None, opts.get("color_by") or opts.get("bin_by")
    if by:  # a label of each image (e.g. its SNR), read in the same order
        color = np.concatenate([np.asarray(y)[:, 0] for _, y in batches(
            data_dir, split, inputs=args["inputs"], targets=[by], batch_size=256, shuffle=False, manifest=manifest,
            verify=False)])
    if opts.get("bin_by"):
        for j, t in enumerate(targets):
            metrics[t]["binned"] = binned_errors(y_true[:, j], y_pred[:, j], color, opts["bin_by"], opts["bins"])
    if opts.get("saliency"):  # where the network looks: a few images spread over the first 256 of the split
        x0 = np.asarray(next(iter(batches(data_dir, split, inputs=args["inputs"], targets=None, batch_size=256,
                               shuffle=False, manifest=manifest, verify=False))))
        pick = np.unique(np.linspace(0, len(x0) - 1, int(opts["saliency"])).astype(int))  # not 6 maps of one set
        x0 = x0[pick]
        grads, cams, layer = saliency_maps(model, x0)
        plots.saliency_grid(x0, grads, cams, out_dir / "saliency.png",
                            titles=[f"{targets[0]} true {y_true[i, 0]:.3g}, pred {y_pred[i, 0]:.3g}" for i in pick],
                            title=f"{exp['name']}: gradients and Grad-CAM ({layer})")
    family_figures(opts, run, data_dir, split, manifest, out_dir, y_true, y_pred, targets)
    if opts.get("rotation_test"):  # the seeds' test: the same images turned (does the answer depend on orientation?)
        metrics = rotation_test(model, run, data_dir, split, manifest, y_true, y_pred, targets, r, metrics)
    np.savez_compressed(out_dir / f"predictions_{split}.npz", y_true=y_true, y_pred=y_pred, names=np.array(targets),
                        **({} if sigma is None else {"sigma": sigma}), **({by: color} if by else {}))
    plots.predicted_vs_true(y_true, y_pred, targets, out_dir / "predicted_vs_true.png",
                            title=f"{exp['name']}: {split} split ({len(y_true)} images)",
                            color=color if opts.get("color_by") else None, color_label=opts.get("color_by", ""),
                            ranges=r)
    return metrics


def rotation_test(model, run, data_dir, split, manifest, y_true, y_pred, targets, ranges, metrics) -> dict:
    """Add to each target's metrics its MSE on the split as it is (``mse``), turned by a random angle per image
    (``mse_rotated``: bilinear, zero fill, as ``augment={"rotate": 180}``), and by a random multiple of 90
    degrees (``mse_rot90``: an exact permutation of the pixels), and ``rotated_over_unrotated`` =
    mse_rotated / mse (seed 001 D: ~37 for a CNN trained without augmentation). The turns are seeded by the
    run's seed: the same run gives the same numbers."""
    from kzoo.data.reader import batches
    from kzoo.data.records import unscale_targets
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    args = pipeline_args(exp)
    out = {}
    for key, aug in (("mse_rotated", {"rotate": 180.0}), ("mse_rot90", {"rot90": True})):
        pred = []
        for x, _ in batches(data_dir, split, **{**args, "scale_targets": False}, augment=aug, batch_size=256,
                            shuffle=False, seed=int(run["seed"]) + 1, manifest=manifest, verify=False):
            pred.append(infer(model, x, np.float64))
        pred = np.concatenate(pred)
        if exp["scale_targets"]:
            pred = unscale_targets(pred, ranges, args["target_scale"])
        out[key] = np.mean((pred - y_true) ** 2, axis=0)
    for j, t in enumerate(targets):
        mse = float(np.mean((y_pred[:, j] - y_true[:, j]) ** 2))
        metrics[t].update({"mse": mse, "mse_rotated": float(out["mse_rotated"][j]),
                           "mse_rot90": float(out["mse_rot90"][j]),
                           "rotated_over_unrotated": float(out["mse_rotated"][j] / max(mse, 1e-30))})
    return metrics


def _segmentation(model, run, data_dir, split, manifest, out_dir):
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    # The seed's evaluations judge every U-net against the (per-image max-normalised) point-source flux map,
    # whatever target it trained on (gc-ps-unet-selected trains on its brightest pixels only).
    args = {**pipeline_args(exp), "target_transform": "per_image_max"}
    first, flux, prob = None, [], []
    for x, y in batches(data_dir, split, **args, batch_size=128, shuffle=False, manifest=manifest, verify=False):
        first = np.asarray(x)[:4] if first is None else first
        flux.append(np.asarray(y))
        prob.append(infer(model, x, np.float32))
    flux, prob = np.concatenate(flux), np.concatenate(prob)
    cut = float((exp.get("evaluation_args") or {}).get("cut", 0.02))  # a mask of 0 / 1 (kzoo import): 0.5
    metrics, curves = segmentation_metrics(flux, prob, cut=cut)
    plots.roc_curves(curves, out_dir / "roc.png", title=f"{exp['name']}: {split} split, pooled pixels")
    plots.mask_examples(first, flux[:4], prob[:4], out_dir / "masks.png", cut=cut)
    return metrics


def _denoising(model, run, data_dir, split, manifest, out_dir):
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    noisy, out, clean = [], [], []
    for x, y in batches(data_dir, split, **pipeline_args(exp), batch_size=128, shuffle=False, seed=run["seed"],
                        manifest=manifest, verify=False):
        noisy.append(np.asarray(x))
        out.append(infer(model, x, np.float32))
        clean.append(np.asarray(y))
    noisy, out, clean = np.concatenate(noisy), np.concatenate(out), np.concatenate(clean)
    if exp.get("target_transform") and not exp.get("input_transform"):  # the raw noisy image on the target's scale
        from kzoo.data.reader import array_transform

        noisy = np.asarray(array_transform(exp["target_transform"], exp["targets"], manifest)(noisy), np.float32)
    plots.denoising_examples(noisy[:4], out[:4], clean[:4], out_dir / "denoising_examples.png",
                             title=f"{exp['name']}: {split} split")
    return denoising_metrics(noisy, out, clean)


def pca_reconstruction(train: np.ndarray, images: np.ndarray, components: int) -> np.ndarray:
    """``images`` (n, ...) projected on the top ``components`` principal components of ``train`` (fitted by an
    eigen-decomposition of its pixel covariance) and back: the classical compression at a given size."""
    t = train.reshape(len(train), -1).astype(np.float64)
    mean = t.mean(axis=0)
    t -= mean
    vals, vecs = np.linalg.eigh(t.T @ t)
    top = vecs[:, np.argsort(vals)[::-1][:components]]
    x = images.reshape(len(images), -1).astype(np.float64) - mean
    return ((x @ top) @ top.T + mean).reshape(images.shape).astype(np.float32)


def _reconstruction(model, run, data_dir, split, manifest, out_dir):
    """An autoencoder on a split (input = target). ``autoencoder``: ``mse`` = mean (output - map)^2, ``mae``,
    ``rms_per_image`` = the mean over maps of sqrt(mean over pixels (output - map)^2); ``pca_<k>``: the same
    for the maps projected on the top k principal components of the training split, k = the size of the
    autoencoder's code (its layer "code"; the classical compression at the same size), and ``code_size``."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    x, out = [], []
    for xb, _ in batches(data_dir, split, **pipeline_args(exp), batch_size=128, shuffle=False, manifest=manifest,
                         verify=False):
        x.append(np.asarray(xb))
        out.append(infer(model, xb, np.float32))
    x, out = np.concatenate(x), np.concatenate(out)

    def scores(rec):
        d = (rec.astype(np.float64) - x).reshape(len(x), -1)
        return {"n": int(len(x)), "mse": float(np.mean(d ** 2)), "mae": float(np.mean(np.abs(d))),
                "rms_per_image": float(np.mean(np.sqrt(np.mean(d ** 2, axis=1))))}

    metrics = {"autoencoder": scores(out)}
    shown = list(range(0, len(x), max(1, len(x) // 4)))[:4]
    rows = [[(x[i], "map"), (out[i], "autoencoder")] for i in shown]
    try:
        code = int(np.prod(model.get_layer("code").output.shape[1:]))
    except ValueError:
        code = None
    if code:
        from kzoo.data.reader import load_arrays

        train, _ = load_arrays(data_dir, "train", **pipeline_args(exp), manifest=manifest, verify=False)
        k = min(code, len(train) - 1, int(np.prod(train.shape[1:])))
        pca = pca_reconstruction(train, x, k)
        metrics[f"pca_{k}"] = {**scores(pca), "code_size": k}
        metrics["autoencoder"]["code_size"] = code
        rows = [r + [(pca[i], f"PCA, {k} components")] for r, i in zip(rows, shown)]
    plots.image_rows(rows, out_dir / "reconstruction_examples.png", title=f"{exp['name']}: {split} split")
    return metrics


ZONE_LABELS = (0.0, 0.2, 0.5, 0.8, 1.0)  # the seed's labels of its five zones, definitely normal .. anomalous
ZONES_FILE = "zones.json"  # RUN/zones.json: the thresholds a one-class run labels images with


def anomaly_zones(normal: np.ndarray, anomalous: np.ndarray) -> list[float]:
    """The seed's five zones (definitely normal, probably normal, undecided, probably anomalous, definitely
    anomalous), drawn by hand in the seed, here from the test scores: thresholds t1 = the 1st percentile of the
    anomalous scores, t2 = their 10th percentile, t3 = the 90th percentile of the normal scores, t4 = their 99th,
    sorted (t2 and t3 swap when the classes do not overlap; then the undecided zone is between them)."""
    return sorted(float(v) for v in (np.percentile(anomalous, 1), np.percentile(anomalous, 10),
                                     np.percentile(normal, 90), np.percentile(normal, 99)))


def zone_labels(scores, thresholds) -> np.ndarray:
    """The seed's label of each score's zone: 0.0 (below t1, definitely normal), 0.2, 0.5, 0.8, 1.0 (above t4)."""
    return np.asarray(ZONE_LABELS)[np.searchsorted(np.asarray(thresholds, np.float64), np.asarray(scores), side="right")]


def anomaly_metrics(scores: np.ndarray, is_anomalous: np.ndarray, thresholds=None) -> dict:
    """Scores (higher: more anomalous) judged against the truth: ``auroc`` (the area under the ROC curve,
    anomalous as positive), ``thresholds`` (:func:`anomaly_zones`, or those given: the run's zones.json, chosen on
    the first labelled set it was judged on), ``zones`` = counts of normal and anomalous images in each of the five
    zones, ``accuracy_at_midpoint`` = the fraction labelled right by one threshold in the middle of the undecided
    zone, and the score's mean per class."""
    scores, truth = np.asarray(scores, np.float64).ravel(), np.asarray(is_anomalous, bool).ravel()
    out = {"n": int(scores.size), "n_normal": int((~truth).sum()), "n_anomalous": int(truth.sum())}
    if truth.any() and (~truth).any():
        t = anomaly_zones(scores[~truth], scores[truth]) if thresholds is None else [float(v) for v in thresholds]
        mid = 0.5 * (t[1] + t[2])
        zone = np.searchsorted(t, scores, side="right")
        out.update({"auroc": roc_auc(truth, scores), "thresholds": t,
                    "accuracy_at_midpoint": float(np.mean((scores > mid) == truth)),
                    "zones": {"normal": np.bincount(zone[~truth], minlength=5).tolist(),
                              "anomalous": np.bincount(zone[truth], minlength=5).tolist()},
                    "mean_score_normal": float(scores[~truth].mean()),
                    "mean_score_anomalous": float(scores[truth].mean())})
    elif scores.size:
        out["mean_score"] = float(scores.mean())
    return out


def anomaly_metrics_per_class(scores: np.ndarray, labels: np.ndarray, normal: int, names: dict,
                              thresholds=None) -> dict:
    """:func:`anomaly_metrics` of the labelled images (label >= 0) as "all", and of the normal class against each
    anomalous class k alone under ``names[k]``, with the thresholds of "all" (those given, or chosen there)."""
    known = labels >= 0
    out = {"all": anomaly_metrics(scores[known], labels[known] != normal, thresholds=thresholds)}
    t = thresholds if thresholds is not None else out["all"].get("thresholds")
    for k in sorted(set(labels[known].tolist()) - {normal}):
        sel = (labels == normal) | (labels == k)
        out[names.get(k, str(k))] = anomaly_metrics(scores[sel], labels[sel] != normal, thresholds=t)
    return out


def _anomaly(model, run, data_dir, split, manifest, out_dir):
    """A one-class model's scores on a split (``evaluation_args["normal_class"]`` of the class label in
    ``targets``; every other class anomalous, a label < 0 unlabelled): :func:`anomaly_metrics` overall and per
    anomalous class; the five zones' thresholds from RUN/zones.json, or, on the first split holding normal and
    anomalous images, chosen there and saved to it (delete it to choose again); ``zones_per_class`` = how many
    images of each class (and unlabelled) fall in each zone, labelled 0.0, 0.2, 0.5, 0.8, 1.0 as the seed
    labelled its application images; score histograms per class with the thresholds, and ``scores_<split>.txt``
    (label, score, zone label per image, as the seed's test_output.txt)."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    (target,) = exp["targets"]
    normal = int((exp.get("evaluation_args") or {}).get("normal_class", 0))
    labels, scores = [], []
    for x, y in batches(data_dir, split, **pipeline_args(exp), batch_size=64, shuffle=False, manifest=manifest,
                        verify=False):
        labels.append(np.asarray(y)[:, 0].astype(int))
        scores.append(infer(model, x, np.float64).reshape(len(labels[-1])))
    labels, scores = np.concatenate(labels), np.concatenate(scores)
    zones_file = Path(run["run_dir"]) / ZONES_FILE
    stored = read_json(zones_file, default=None)
    from kzoo.sims import get_sky

    sky = get_sky(manifest["recipe"]["sky"])
    # a sky's class names start at its label range's low end (morphology_elliptical: 1; a list with unlabelled rows: -1)
    low = int(manifest["label_ranges"][target][0])
    names = {low + i: n for i, n in enumerate(sky.class_names(manifest["params"], target)
                                               if hasattr(sky, "class_names") else ())}
    names.setdefault(-1, "unlabelled")
    metrics = anomaly_metrics_per_class(scores, labels, normal, names,
                                        thresholds=stored["thresholds"] if stored else None)
    t = stored["thresholds"] if stored else metrics["all"].get("thresholds")
    if stored is None and t is not None:
        stored = {"thresholds": t, "labels": list(ZONE_LABELS), "rule": anomaly_zones.__doc__.split("\n\n")[0],
                  "chosen_on": {"data_dir": str(data_dir), "split": split, "n_normal": metrics["all"]["n_normal"],
                                "n_anomalous": metrics["all"]["n_anomalous"]}}
        write_json(zones_file, stored)
    zl = zone_labels(scores, t) if t is not None else np.full(len(scores), np.nan)
    if t is not None:
        metrics["all"]["zones_from"] = stored["chosen_on"]
        metrics["all"]["zones_per_class"] = {
            names.get(k, str(k)): np.bincount(np.searchsorted(t, scores[labels == k], side="right"), minlength=5).tolist()
            for k in sorted(set(labels.tolist()))}
    np.savetxt(out_dir / f"scores_{split}.txt", np.stack([labels, scores, zl], axis=1), fmt=["%d", "%.6g", "%.1f"],
               header="label score zone_label (label -1: unlabelled; zone labels 0.0 definitely normal .. 1.0 "
                      "definitely anomalous)")
    plots.score_histograms(scores, labels, names, normal, t, out_dir / "scores.png",
                           title=f"{exp['name']}: {split} split, normal class {names.get(normal, normal)}")
    return metrics


def class_names(exp: dict, classes: int, manifest: dict | None = None, target: str | None = None) -> list[str]:
    """How the classes are shown: what the dataset's sky calls the classes of ``target`` (its
    ``class_names(params, label)``: the redshifts of a 21-cm grid), or class i as i +
    ``evaluation_args["class_offset"]`` (ring counts 1 .. K)."""
    if manifest is not None and target is not None:
        from kzoo.sims import get_sky

        sky = get_sky(manifest["recipe"]["sky"])
        if hasattr(sky, "class_names"):
            names = sky.class_names(manifest["recipe"].get("params", {}), target)
            if len(names) == classes:
                return names
    offset = int((exp.get("evaluation_args") or {}).get("class_offset", 0))
    return [str(i + offset) for i in range(classes)]


def _classification(model, run, data_dir, split, manifest, out_dir):
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args

    exp = run["experiment"]
    (target,) = exp["targets"]
    classes = class_count(manifest, target)
    opts = exp.get("evaluation_args") or {}
    names = class_names(exp, classes, manifest, target)
    y_true, y_pred = [], []
    for x, y in batches(data_dir, split, **pipeline_args(exp), batch_size=256, shuffle=False, manifest=manifest,
                        verify=False):
        y_true.append(np.asarray(y)[:, 0])
        y_pred.append(np.argmax(infer(model, x, np.float32), axis=-1))
    y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
    metrics = classification_metrics(y_true, y_pred, target, classes, names)
    family_figures(opts, run, data_dir, split, manifest, out_dir, y_true, y_pred, names)
    np.savez_compressed(out_dir / f"predictions_{split}.npz", y_true=y_true, y_pred=y_pred)
    plots.confusion_matrix(np.asarray(metrics[target]["confusion"]), names, out_dir / "confusion.png",
                           title=f"{exp['name']}: {split} split ({len(y_true)} images), accuracy "
                                 f"{metrics[target]['accuracy']:.3f}", label=opts.get("class_label", target))
    return metrics


def held_out_metrics(run_dir, data_dir, fold: tuple[int, int], manifest: dict) -> dict | None:
    """A cross-validation run's finished model (the one judged on the test split, batch norm recalibrated) judged on
    its held-out fold ``(i, k)`` of the training split with the test split's metrics: the same model and measurement
    on the fold as on the test split. Classification and plain regression runs; None for the others."""
    from kzoo.data.reader import batches
    from kzoo.experiments import pipeline_args
    from kzoo.export import load_model

    run = json.loads((Path(run_dir) / "run.json").read_text())
    exp, args = run["experiment"], pipeline_args(run["experiment"])
    if exp["evaluation"] not in ("classification", "regression") or not isinstance(args["targets"], list):
        return None
    model = load_model(Path(run_dir) / "model.keras")
    y_true, out = [], []
    for x, y in batches(data_dir, "train", **{**args, "scale_targets": False}, fold=(int(fold[0]), int(fold[1]), True),
                        batch_size=256, shuffle=False, manifest=manifest, verify=False):
        y_true.append(np.asarray(y))
        out.append(np.asarray(infer(model, x, np.float32), np.float64))
    y_true, out = np.concatenate(y_true), np.concatenate(out)
    targets = args["targets"]
    if exp["evaluation"] == "classification":
        classes = class_count(manifest, targets[0])
        return classification_metrics(y_true[:, 0], np.argmax(out, axis=-1), targets[0], classes,
                                      class_names(exp, classes, manifest, targets[0]))
    ranges = run_ranges(run, manifest, targets)
    return regression_metrics(y_true, physical(exp, out, ranges)[0], targets, ranges=ranges)


EVALUATORS = {"regression": _regression, "segmentation": _segmentation, "denoising": _denoising,
              "classification": _classification, "reconstruction": _reconstruction, "anomaly": _anomaly}
# what the page's "Definitions" line quotes for each shared evaluator: the docstring of its metrics
DEFINITIONS = {"regression": regression_metrics, "segmentation": segmentation_metrics, "denoising": denoising_metrics,
               "classification": classification_metrics, "reconstruction": _reconstruction, "anomaly": anomaly_metrics}


def evaluators() -> dict:
    """``{name: evaluator}``: the task evaluators here and those of every family's ``evaluate`` module (its
    ``EVALUATORS``). An evaluator is ``(model, run, data_dir, split, manifest, out_dir) -> metrics``."""
    from kzoo.families import parts

    found = dict(EVALUATORS)
    for family, module in parts("evaluate").items():
        for name, fn in getattr(module, "EVALUATORS", {}).items():
            if name in found:
                raise ImportError(f"evaluator {name!r} is declared twice (family {family})")
            found[name] = fn
    return found


def family_figures(opts: dict, run, data_dir, split, manifest, out_dir, y_true, y_pred, names) -> None:
    """The figures a task evaluator draws for the family of the dataset's sky, as ``evaluation_args`` ask: each
    option of that family's ``evaluate.FIGURES`` that ``opts`` sets, called as
    ``figure(opts[option], run, data_dir, split, manifest, out_dir, y_true, y_pred, names)``."""
    from kzoo.families import sky_family

    family = sky_family(manifest["recipe"]["sky"])
    module = family.part("evaluate") if family else None
    for option, figure in getattr(module, "FIGURES", {}).items():
        if opts.get(option):
            figure(opts[option], run, data_dir, split, manifest, out_dir, y_true, y_pred, names)


REFERENCE_CACHE = ".kzoo-reference"  # DATA/.kzoo-reference/<method>_<split>.json: a classical method's predictions


def classical_predictions(method: str, manifest: dict, data_dir, split: str, fallback_dir) -> dict:
    """The classical ``method``'s predictions of every target it estimates (see ``kzoo.reference.references``)
    on ``split`` of the dataset in ``data_dir``: computed once per dataset (its manifest's sha256),
    method and split, then read from ``DATA/.kzoo-reference/<method>_<split>.json``. Where the
    dataset folder is not writable, the cache goes to ``fallback_dir/.kzoo-reference`` (the run).

    Returns a dict: method, split, dataset_sha256, names, y_true, y_pred (lists, one row per image),
    description, seconds (of the computation), cache (the file).
    """
    from kzoo.reference import estimated_targets, references
    from kzoo.runs import manifest_sha256

    sha = manifest_sha256(manifest)
    where = [Path(data_dir) / REFERENCE_CACHE, Path(fallback_dir) / REFERENCE_CACHE]
    fname = f"{method}_{split}.json"
    for folder in where:
        try:
            cached = read_json(folder / fname)
        except ValueError:  # a damaged cache is computed again
            cached = None
        if cached and cached.get("dataset_sha256") == sha and cached.get("method") == method:
            log.info(f"classical reference {method} on the {split} split: reusing {folder / fname} (computed in "
                     f"{cached['seconds']} s)")
            return {**cached, "cache": str(folder / fname)}
    count = manifest["splits"][split]["count"]
    log.info(f"classical reference {method} on the {split} split of {data_dir} ({count} images): computing it once "
             f"for this dataset (--no-reference skips it)")
    t0 = time.time()
    y_true, y_pred, names, info = references()[0][method](manifest, data_dir, split,
                                                  list(estimated_targets(method, manifest["recipe"]["sky"])),
                                                  progress=True)
    result = {"method": method, "split": split, "dataset_sha256": sha, "recipe_sha256": manifest["recipe_sha256"],
              "names": list(names), "y_true": np.asarray(y_true, np.float64).tolist(),
              "y_pred": np.asarray(y_pred, np.float64).tolist(), "description": info,
              "seconds": round(time.time() - t0, 1)}
    for folder in where:
        try:
            write_json(folder / fname, result)
        except OSError as e:  # a read-only dataset: keep it in the run instead
            if folder == where[-1]:
                raise
            log.info(f"cannot cache the classical reference in {folder} ({e.strerror or e}); caching it in "
                     f"{where[-1]}")
            continue
        return {**result, "cache": str(folder / fname)}


def _classical_reference(exp: dict, manifest: dict, data_dir, split: str, out_dir: Path) -> dict | None:
    """The experiment's classical method on the same split (:func:`classical_predictions`), judged on its
    targets: OUT/classical_<split>.json and OUT/classical_predicted_vs_true.png."""
    method = exp.get("reference_method")
    if not method:
        return None
    from kzoo.data.records import target_ranges
    from kzoo.experiments import label_output

    pred = classical_predictions(method, manifest, data_dir, split, out_dir)
    labels = label_output(exp["targets"])
    cols = [pred["names"].index(t) for t in (labels[1] if labels else []) if t in pred["names"]]
    if not cols:
        raise ValueError(f"{exp['name']}: reference_method {method!r} estimates {pred['names']}, none of the "
                         f"experiment's targets {exp['targets']}")
    names = [pred["names"][j] for j in cols]
    y_true, y_pred = np.asarray(pred["y_true"])[:, cols], np.asarray(pred["y_pred"])[:, cols]
    if exp["evaluation"] == "classification":  # the method predicts class indices
        classes = class_count(manifest, names[0])
        metrics = classification_metrics(y_true[:, 0], y_pred[:, 0], names[0], classes,
                                         class_names(exp, classes, manifest, names[0]))
        plots.confusion_matrix(np.asarray(metrics[names[0]]["confusion"]), metrics[names[0]]["class_names"],
                               out_dir / "classical_confusion.png", title=f"{method}: {split} split ({len(y_true)} "
                               f"images), accuracy {metrics[names[0]]['accuracy']:.3f}")
    else:
        ranges = target_ranges(manifest, names)
        plots.predicted_vs_true(y_true, y_pred, names, out_dir / "classical_predicted_vs_true.png",
                                title=f"{method}: {split} split ({len(y_true)} images)", ranges=ranges)
        metrics = regression_metrics(y_true, y_pred, names, ranges=ranges)
    result = {"method": method, "description": pred["description"], "recipe_sha256": manifest["recipe_sha256"],
              "dataset_sha256": pred["dataset_sha256"], "cache": pred["cache"],
              "metrics": metrics, "seconds": pred["seconds"]}
    write_json(out_dir / f"classical_{split}.json", result)
    return result


def evaluate(run_dir, data_dir=None, split: str = "test", model=None, verify: bool = True, out=None,
             classical: bool = True) -> dict:
    """Recompute ``RUN/metrics.json`` (and the evaluation plots) from the saved model.

    ``data_dir`` defaults to the dataset the run was trained on; another dataset of the same sky may be
    given (e.g. many noise realisations of one galaxy): label targets are scaled back with the training
    set's ranges. ``out``: where metrics.json and the plots go (default RUN itself). ``classical``:
    also evaluate the experiment's classical reference method.
    """
    from kzoo.data.shards import DataError, load_manifest
    from kzoo.export import load_model

    from kzoo.runs import provenance_fields, recover

    run_dir = Path(run_dir)
    recover(run_dir)  # a swap of a new run that a kill cut short
    run_file = run_dir / "run.json"
    if not run_file.exists():
        raise FileNotFoundError(f"{run_file}: not a kzoo run directory (made by `kzoo train`)")
    run = json.loads(run_file.read_text())
    from kzoo.experiments import declared

    if run["experiment"]["name"] in declared():  # evaluate the way the current declaration says
        current = declared()[run["experiment"]["name"]].to_dict()
        run["experiment"].update({k: current[k] for k in ("evaluation", "evaluation_args", "reference_method",
                                                          "reference")})
    data_dir = Path(data_dir or run["data_dir"])
    manifest = load_manifest(data_dir, verify=verify)
    if manifest["sky"] != run["sky"] and manifest["sky"] != "image_folder":  # real images judge any sky's run
        raise DataError(f"{data_dir / 'manifest.json'}: sky {manifest['sky']!r}, but run {run_dir} was trained on {run['sky']!r}")
    if split not in manifest["splits"]:
        raise DataError(f"{data_dir / 'manifest.json'}: no split {split!r} (it has {', '.join(manifest['splits'])})")
    if model is None:
        model = load_model(run_dir / "model.keras")
    from kzoo.data.records import model_shape
    from kzoo.experiments import image_input_name

    inputs, named = image_input_name(run["experiment"]), run["experiment"]["inputs"]
    key = next(k for k, s in named.items() if s == inputs) if isinstance(named, dict) else None
    have = model_shape(manifest["schema"][inputs]["shape"])
    if getattr(model, "inputs", None):
        want = tuple(next(t for t in model.inputs if key is None or t.name == key).shape[1:])
    else:  # a subclassed model (kzoo.families.rings.models.ConditionalVAE) states its image shape
        want = tuple(getattr(model, "image_shape", have))
    if want != have:
        raise DataError(f"{data_dir / 'manifest.json'}: {inputs} examples have shape {have}, "
                        f"but the model of {run_dir} takes {want}")
    t0 = time.time()
    out = run_dir if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if out == run_dir and (run_dir / "history.csv").exists():  # redrawn by every evaluation, with today's plot code
        from kzoo.runs import read_history

        plots.loss_curves(read_history(run_dir / "history.csv"), run_dir / "loss_curves.png",
                          title=f"{run['experiment']['name']} ({run['experiment']['model']})")
    metrics = evaluators()[run["experiment"]["evaluation"]](model, {**run, "run_dir": str(run_dir)}, data_dir, split,
                                                          manifest, out)
    classical = _classical_reference(run["experiment"], manifest, data_dir, split, out) if classical else None
    result = {
        "experiment": run["experiment"]["name"],
        "split": split,
        "count": manifest["splits"][split]["count"],
        "data_dir": str(data_dir),
        "metrics": metrics,
        "reference": run["experiment"]["reference"],
        "classical_reference": classical,
        "definitions": (DEFINITIONS.get(run["experiment"]["evaluation"])
                        or evaluators().get(run["experiment"]["evaluation"], evaluate)).__doc__.strip(),
        "seconds": round(time.time() - t0, 2),
        **provenance_fields(),  # the commit, command and machine that judged it (kzoo evaluate on another dataset)
    }
    if run.get("uncertainty_calibration"):  # the sigma scales and what they did on the validation split
        result["uncertainty_calibration"] = run["uncertainty_calibration"]
    write_json(out / "metrics.json", result)
    return result


def input_gradient(fn, x: np.ndarray) -> np.ndarray:
    """d sum(fn(x)) / d x for a float32 batch ``x``, on the Keras backend in use (tensorflow, jax or torch):
    ``fn`` maps a tensor of the backend to a tensor (a Keras model, or a function of one)."""
    import keras

    backend = keras.backend.backend()
    x = np.asarray(x, np.float32)
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(keras.ops.cast(fn(v), "float32")))(x))
    if backend == "torch":
        v = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        keras.ops.sum(keras.ops.cast(fn(v), "float32")).backward()
        return v.grad.detach().cpu().numpy()
    import tensorflow as tf

    v = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(v)
        y = tf.reduce_sum(tf.cast(fn(v), tf.float32))
    return tape.gradient(y, v).numpy()


def saliency_maps(model, x: np.ndarray, output: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Where the network looks, for images ``x`` (B, H, W, C) and its ``output``-th regression value:

    * the gradient map |d y / d x| (summed over channels): how much each pixel moves the prediction;
    * Grad-CAM (Selvaraju et al. 2017) on the last layer with a spatial map before the pooling: the map's
      channels weighted by the mean gradient of y over them, rectified and scaled up to the image.

    Any Keras backend (:func:`input_gradient`); the network is cut at that layer into the part before
    it and the part after it, so the gradient of y with respect to its map is the gradient of the latter.
    Returns (gradients (B, H, W), grad_cam (B, H, W), the Grad-CAM layer's name)."""
    import keras

    spatial = [layer for layer in model.layers if len(getattr(layer, "output", np.empty(0)).shape or ()) == 4
               and layer.output.shape[1] is not None and layer is not model.layers[0]]
    last = spatial[-1]
    head = keras.Model(model.inputs, last.output)
    tail = keras.Model(last.output, model.output)
    x = np.asarray(x, np.float32)

    def value(net):
        return lambda v: net(v, training=False)[:, output]

    grad_x = np.abs(input_gradient(value(model), x)).sum(axis=-1)
    fmap = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(head(x, training=False), "float32")))
    grad_f = input_gradient(value(tail), fmap)
    cam = np.maximum((fmap * grad_f.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0.0)
    cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam[..., None], x.shape[1:3], interpolation="bilinear"))
    return grad_x, np.asarray(cam[..., 0]), last.name
