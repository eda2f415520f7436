"""Results pages in markdown, from reproduction records: an experiment's table and page, a suite's summary rows,
goals met or missed, and the provenance lines (machine, commit, command) every page carries."""

from __future__ import annotations

from pathlib import Path


def md_table(header, rows) -> str:
    """A markdown table of ``header`` and ``rows`` (each cell ``str()``-ed, its ``|`` escaped, its newlines made
    spaces), without a final newline."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


HEADLINE_METRICS = ("mae_scaled", "mse", "auc_mean", "rmse")  # what a summary shows where the seed is silent


def headline_metric(exp: dict, metrics: dict) -> str:
    """The metric a summary shows for ``exp``: the one the seed reports, else one with a goal, else the first of
    HEADLINE_METRICS it has, else its first."""
    for key in (*exp.get("reference", {}), *exp.get("goals", {}), *HEADLINE_METRICS):
        if any(isinstance(m.get(key), float) for m in metrics.values() if isinstance(m, dict)):
            return key
    return next(k for m in metrics.values() for k, v in m.items() if isinstance(v, float))


def provenance(record: dict) -> list[str]:
    lines = ["", f"Machine: {record['machine']['cpu']}, {record['machine']['cores']} cores; commit {record['commit']}.",
             f"Command: `{record['command']}`", ""]
    return lines + ([f"Note: {record['note']}", ""] if record["note"] else [])


def goal_status(value: float, goal) -> str:
    """``"<= 0.08: met"`` or ``"<= 0.08: **missed**"`` for a goal ``(op, bound)`` with op "<=" or ">=", or
    ``"0.6827 +- 0.02: met"`` for ``("within", target, tolerance)``; "" without one."""
    if not goal:
        return ""
    if goal[0] == "within":
        _, target, tol = goal
        met, text = abs(value - target) <= tol, f"{target} +- {tol}"
    else:
        op, bound = goal
        met, text = (value <= bound if op == "<=" else value >= bound), f"{op} {bound}"
    return f"{text}: {'met' if met else '**missed**'}"


def _recalibration_line(bn) -> list[str]:
    if not bn:
        return []
    when = " (applied after training, to the finished run)" if bn.get("applied") else ""
    return [f"Batch-norm recalibration over {bn['batches']} training batches{when}: validation loss "
            f"{bn['val_loss_before']:.5g} -> {bn['val_loss_after']:.5g}, "
            f"{'kept' if bn['kept'] else 'not kept (no gain)'}.", ""]


def num(v: float) -> str:
    """A table cell: 4 decimals, or 4 significant digits for a number below 0.01 (a denoiser's MSE of 8e-6 is not
    0.0000)."""
    return f"{v:.4f}" if v == 0 or abs(v) >= 0.01 or v != v else f"{v:.4g}"


def metric_table(r: dict) -> list[str]:
    """The lines of a reproduction record's metric table: kzoo's number, the classical reference's, the
    seed's and the goal, per target and metric."""
    exp, cl = r["experiment"], r.get("classical_reference")
    lines = [f"| target | metric | kzoo `{exp['model']}` | {cl['method'] if cl else 'classical reference'} | seed | goal |",
             "|---|---|---|---|---|---|"]
    reference, classical = seed_reference(r), shown_metrics(r, cl["metrics"]) if cl else {}
    for target, m in shown_metrics(r).items():
        for key in [k for k, v in m.items() if isinstance(v, float)]:
            ref = reference.get(key, {}).get(target, "")
            c = classical.get(target, {}).get(key)
            lines.append(f"| {target} | {key} | {num(m[key])} | {'' if c is None else num(c)} | {ref} | "
                         f"{goal_status(m[key], exp.get('goals', {}).get(key, {}).get(target))} |")
    return lines


def _validation_line(v: dict | None) -> list[str]:
    """The best epoch's training and validation values: the measurement of seeds that quote a training or validation
    "loss" (the test metrics above are on held-out images the model never chose its epoch on)."""
    if not v:
        return []
    shown = ", ".join(f"{k} {x:.4g}" for k, x in v.items() if k != "epoch" and isinstance(x, float))
    return [f"Validation, the epoch of the lowest val_loss ({v['epoch']}): {shown}.", ""]


def also_on_lines(r: dict) -> list[str]:
    """The tables of a record's run judged on other recipes' test splits (``also_on``): a one-class run's AUROC per
    anomalous class with its five zones, or a regression's metrics beside its own recipe's."""
    exp, lines = r["experiment"], []
    for other, m in r.get("also_on", {}).items():  # the same run on another recipe's test split
        keys = [k for k in ("relative_error", "mae_scaled", "rmse", "coverage_68") if all(k in v for v in m.values())]
        if not keys and "auroc" in m.get("all", {}):  # a one-class run judged on a set of every class
            a = m["all"]
            lines += ["", f"The same run on the test split of recipe `{other}` (AUROC of the normal class against "
                          f"the rest; the five zones' thresholds {', '.join(f'{t:.4g}' for t in a['thresholds'])}):",
                      "", "| anomalous class | AUROC | accuracy at the undecided zone's middle | images per zone "
                          "(0.0 .. 1.0) |", "|---|---|---|---|"]
            per = a.get("zones_per_class", {})
            lines += [f"| {c} | {v['auroc']:.4f} | {v.get('accuracy_at_midpoint', float('nan')):.4f} | "
                      f"{per.get(c, a['zones']['anomalous'] if c == 'all' else '')} |" for c, v in m.items() if "auroc" in v]
            lines += [f"| {c} (the normal class) | | | {z} |" for c, z in per.items() if c not in m]
            continue
        if not keys:
            continue
        lines += ["", f"The same run on the test split of recipe `{other}`:", "",
                  "| target | " + " | ".join(f"{k} ({exp['recipe']})" + f" | {k} ({other})" for k in keys) + " |",
                  "|---|" + "---|---|" * len(keys)]
        for t, v in m.items():
            own = r["metrics"].get(t, {})
            lines.append(f"| {t} | " + " | ".join(f"{own.get(k, float('nan')):.4f} | {v[k]:.4f}" for k in keys) + " |")
    return lines


def markdown(r: dict) -> str:
    """The results table of a reproduction record."""
    exp = r["experiment"]
    cl = r.get("classical_reference")
    lines = [f"# {exp['name']}: {exp['description']}", "",
             f"Seed: `{exp['seed']}`. Model `{exp['model']}`, dataset recipe `{exp['recipe']}` "
             f"(splits {r['splits']}, dataset seed {r['dataset_seed']}).", "", *metric_table(r)]
    if cl:
        lines += ["", f"Classical reference ({cl['method']}, {cl['seconds']} s): {cl['description']}."]
    lines += also_on_lines(r)
    s = r["settings"]
    lines += ["", "Definitions: " + " ".join(r["definitions"].split()), "",
              f"Settings: batch {s['batch_size']}, {r.get('optimizer', 'Adam')} lr {s['learning_rate']}, up to {s['epochs']} epochs "
              f"(early stopping, patience {s['patience']}), {r['epochs_run']} run; precision {s['precision']}; "
              f"input normalisation {s['normalization']['mode'] if isinstance(s['normalization'], dict) else s['normalization']}.",
              "", *_validation_line(r.get("validation")), *_recalibration_line(r.get("batchnorm_recalibration")),
              f"Time: simulate {r['seconds']['simulate']} s, train + evaluate {r['seconds']['train_and_evaluate']} s "
              f"on {r['machine']['device']}, {r['machine']['cpu']}.",
              f"Versions: {r['versions']}. Trained at commit {r['train_commit']}, reported at commit {r['commit']}.", "",
              f"Command: `{r['command']}`", ""]
    if r.get("note"):
        lines += [f"Note: {r['note']}", ""]
    lines += [f"![{png[:-4].replace('_', ' ')}]({exp['name']}/{png})\n" for png in r.get("figures", [])]
    return "\n".join(lines)


def _declared(exp: dict, field: str, default):
    """``field`` of today's declaration of ``exp`` (how a result is reported, not what was trained: a record made
    before the field existed or was reviewed lacks it), else the record's own."""
    import kzoo.experiments as experiments

    try:
        return getattr(experiments.get_experiment(exp["name"]), field)
    except KeyError:  # an experiment of a user's file, or one no longer declared
        return exp.get(field, default)


def comparison(exp: dict) -> str:
    """Whether an experiment's number is measured as the source notebooks measured theirs (``Experiment.comparison``)."""
    return _declared(exp, "comparison", "")


def seed_reference(r: dict) -> dict:
    """The source notebooks' numbers for a record, ``{metric: {target: value}}``: today's declaration
    (``Experiment.reference``, the seed's figures as read now), else those the record was made with."""
    return _declared(r["experiment"], "reference", None) or r.get("reference") or {}


def shown_metrics(r: dict, metrics: dict | None = None) -> dict:
    """A record's metrics (or ``metrics``, its classical reference's), plus ``mse_scaled`` (the MSE of the [0, 1]-scaled
    target) where the seed's number is one: (rmse / (high - low))^2, the range read from the same metrics as
    mae / mae_scaled (``mae_scaled``'s definition, kzoo.metrics.regression_metrics), so it needs no rerun."""
    wanted = seed_reference(r).get("mse_scaled", {})
    out = {}
    for target, m in (r["metrics"] if metrics is None else metrics).items():
        m = dict(m) if isinstance(m, dict) else m
        if target in wanted and "mse_scaled" not in m and all(isinstance(m.get(k), float) for k in
                                                                ("rmse", "mae", "mae_scaled")) and m["mae"] > 0:
            m["mse_scaled"] = (m["rmse"] * m["mae_scaled"] / m["mae"]) ** 2
        out[target] = m
    return out


LOWER_IS_BETTER = ("mse", "mae", "rmse", "nmad", "outlier_fraction", "z_error")  # a metric's name starts with one
HIGHER_IS_BETTER = ("accuracy", "auc", "auroc", "r2")


def seed_status(value: float, ref, key: str) -> str:
    """The seed's number with kzoo's verdict beside it: ``"0.0807: met"`` where kzoo's ``value`` is as good or
    better (lower for errors, higher for accuracies and AUCs), ``"0.0807: **missed**"`` where worse; the number
    alone where the metric has no direction (a ratio, a coverage) or the seed's figure is not a number."""
    if ref is None:
        return ""
    base = key.split(",")[0]
    if not isinstance(ref, (int, float)) or value != value:
        return str(ref)
    if base.startswith(LOWER_IS_BETTER):
        met = value <= ref
    elif base.startswith(HIGHER_IS_BETTER):
        met = value >= ref
    else:
        return str(ref)
    return f"{ref}: {'met' if met else '**missed**'}"


def validation_value(r: dict, key: str, field: str = "validation"):
    """The record's value of metric ``key`` on the validation split at the best epoch (``r["validation"]``, from
    history.csv; ``field="validation_last"``: at the last epoch): ``val_<key>``, or ``val_loss`` when ``key`` is the
    experiment's loss; None when not recorded."""
    v = r.get(field) or {}
    loss = r["experiment"].get("loss")
    value = v.get(f"val_{key}", v.get("val_loss") if key == loss else None)
    return value if isinstance(value, float) else None


def one_class_auroc(also_on: dict | None) -> tuple[str | None, float | None]:
    """``(recipe, AUROC)`` of a one-class run on the first labelled recipe it was judged on (its ``also_on``), else
    ``(None, None)``."""
    for where, m in (also_on or {}).items():
        if isinstance(m.get("all", {}).get("auroc"), float):
            return where, m["all"]["auroc"]
    return None, None


def headline_rows(r: dict, floors=None) -> list[str]:
    """One summary-table row per metric that the seed reports or that has a goal (an experiment with
    neither shows its AUROC on a labelled recipe (``also_on``: a one-class run) or else its headline metric).
    ``floors(r)`` gives the floor cells, ``{(target, metric): text}``."""
    exp, cl = r["experiment"], r.get("classical_reference")
    floor = floors(r) if floors else {}
    same, reference = comparison(exp) or "not reviewed yet", seed_reference(r)

    classical = shown_metrics(r, cl["metrics"]) if cl else {}

    def row(target, key, value, ref, goal, c=None, runs=None):  # c: the classical cell; runs: other runs' epochs,
        if c is None and runs is None:                                # precision and seconds (a cross-validation's)
            c = classical.get(target, {}).get(key)
        epochs, precision, seconds = (runs["epochs"], runs["precision"], runs["seconds"]) if runs else \
            (r["epochs_run"], r["settings"].get("precision", ""), r["seconds"].get("train_and_evaluate"))
        return (f"| [{exp['name']}]({exp['name']}.md) | {target} | {key} | {num(value)} | "
                f"{'' if c is None else num(c)} | {seed_status(value, ref, key)} | "
                f"{floor.get((target, key), '')} | {goal_status(value, goal)} | {epochs} | {precision} | {seconds} | "
                f"{same} |")

    rows = []
    for target, m in shown_metrics(r).items():
        for key, value in m.items():
            if not isinstance(value, float):
                continue
            ref = reference.get(key, {}).get(target)
            goal = exp.get("goals", {}).get(key, {}).get(target)
            if ref is not None or goal is not None:
                rows.append(row(target, key, value, ref, goal))
            held = (r.get("held_out") or {}).get(f"{target} {key}")  # a cross-validation's held-out folds
            if ref is not None and held:
                rows.append(row(target, f"{key}, held-out folds (mean of {r['held_out']['folds']})", held["mean"], ref,
                                None, runs=r["held_out"]))
            if ref is None or exp.get("reference_split") != "validation":
                continue
            for field, when in (("validation", "best epoch"), ("validation_last", "last epoch")):
                val = validation_value(r, key, field)
                if val is not None and not (field == "validation_last" and r[field]["epoch"] == r["validation"]["epoch"]):
                    rows.append(row(target, f"{key}, validation ({when}: {r[field]['epoch']})", val, ref, None))
    if rows or not r["metrics"]:
        return rows
    where, auroc = one_class_auroc(r.get("also_on"))  # a one-class run's worth is its AUROC on a labelled recipe
    if auroc is not None:
        pca = r.get("pca_reference", {}).get(where, {}).get("all", {}).get("auroc")  # its classical AUROC
        ref = reference.get("auroc", {}).get("all")
        own = (r.get("training_auroc") or {}).get("auroc")  # on the images it trained on: a seed's measurement
        return [row(f"all, on {where}", "auroc", auroc, ref, None, pca)] + \
            ([row("all, on its training images", "auroc", own, ref, None)] if own is not None else [])
    key = headline_metric(exp, r["metrics"])  # neither a seed's number nor a goal: the experiment's main metric
    return [row(t, key, m[key], None, None) for t, m in r["metrics"].items()
            if isinstance(m, dict) and isinstance(m.get(key), float)]  # of every target that has it


def variant_links(results_dir: Path, records) -> list[str]:
    """Links to the learning curves, ensembles, cross-validations and seed spreads recorded beside a suite's
    experiments."""
    found = [f"[{r['experiment']['name']}{v}]({r['experiment']['name']}{v}.md)" for r in records
             for v in ("-cv", "-learning-curve", "-ensemble", "-seeds") if (results_dir / f"{r['experiment']['name']}{v}.md").exists()]
    return ["Also recorded: " + ", ".join(found) + ".", ""] if found else []
