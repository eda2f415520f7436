"""The ``kzoo`` command line: list, info, simulate, import, verify, train, evaluate, export, predict, reproduce, tune,
automl, explore."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from kzoo.cli_options import (BACKEND_HELP, READER_HELP, NO_REFERENCE_HELP, PRECISION_HELP, HelpFormatter, Parser,
                               log_to_stderr, model_args, run_reporting)


def _cmd_list(a):
    from kzoo.experiments import list_experiments

    if a.experiments:
        from kzoo.experiments import get_experiment

        rows = [(name, e.model, e.recipe, e.description) for name, e in
                ((name, get_experiment(name)) for name in list_experiments(a.pattern))]
        print(_table(("experiment", "model", "recipe", "description"), rows))
        return
    if a.presets:
        from kzoo.presets import SUMMARY_COLUMNS, summary

        print(_table(SUMMARY_COLUMNS, summary(a.pattern)))
        return
    import fnmatch

    from kzoo.registry import index, parameter_count

    rows = [(name, ", ".join(s["aliases"]) or "-", s["task"],
             f"{s['parameters'] if s['parameters'] is not None else parameter_count(name):,}",
             "x".join(str(d) for d in s["input_shape"]), str(s["outputs"]))
            for name, s in sorted(index().items()) if fnmatch.fnmatchcase(name, a.pattern)]
    print(_table(("model", "aliases", "task", "parameters", "input", "outputs"), rows))


def _table(header, rows, width: int | None = None) -> str:
    """Columns as wide as their widest entry, two spaces apart; the last column wrapped (not cut) to the
    terminal's width, its continuation lines under its start (on lines of their own where less than 30
    characters would be left for it)."""
    import shutil
    import textwrap

    if not rows:
        return ""
    rows = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    width = width or shutil.get_terminal_size((120, 24)).columns
    start = sum(widths) + 2 * len(widths)
    indent = start if width - start >= 30 else 4
    lines = []
    for r in rows:
        head = "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  "
        wrapped = textwrap.wrap(r[-1], max(width - indent, 30), break_on_hyphens=False) or [""]
        if indent == start:
            lines.append(head + wrapped[0])
            wrapped = wrapped[1:]
        else:
            lines.append(head.rstrip())
        lines += [" " * indent + w for w in wrapped]
    return "\n".join(line.rstrip() for line in lines)


def _cmd_info(a):
    from kzoo.experiments import declared
    from kzoo.presets import is_preset, preset_entry
    from kzoo.registry import index_entry
    from kzoo.seeds import seed_title

    from kzoo.experiment_files import is_experiment_file, resolve

    if a.name in declared() or is_experiment_file(a.name):
        d = resolve(a.name).to_dict()
        d["seed_title"] = seed_title(d["seed"]) if d["seed"] else ""
    elif is_preset(a.name):
        d = preset_entry(a.name)
    else:
        d = index_entry(a.name)  # without importing Keras
    print(json.dumps(d, indent=2, default=str))


def _cmd_import(a):
    from kzoo.io import ensure_dir
    from kzoo.sims.image_folder import import_images

    ensure_dir(a.out, "--out")
    m = import_images(a.table, a.out, classes=a.classes, label=a.label, npix=a.npix, grow_to=a.grow_to,
                      val_fraction=a.val_fraction, test_fraction=a.test_fraction, split_seed=a.split_seed,
                      noise=a.noise, seed=a.seed, shards=a.shards, workers=a.workers, progress=not a.no_progress,
                      targets=a.targets or (), mask_column=a.mask_column or "", cutout_image=a.cutout_from or "",
                      hdu=a.hdu, resize=a.resize, rescale=a.rescale, fill=a.fill, nan_mask=a.nan_mask)
    p = m["recipe"]["params"]
    counts = ", ".join(f"{k} {v['count']}" for k, v in m["splits"].items())
    what = [f"label {p['label']!r}: {', '.join(p['classes'])}" if p["classes"] else "",
            f"targets {', '.join(p['targets'])}" if p["targets"] else "",
            f"mask {p['mask_column']!r}" if p["mask_column"] else ""]
    scale = f"{p['pixel_scale']:g} arcsec/pixel" if p["pixel_scale"] else "pixel scale not known"
    units = f"; units {p['bunit'] or 'not given (no BUNIT)'}, {scale}"
    print(f"wrote {a.out}: {counts} images of {p['npix']} x {p['npix']}; {'; '.join(w for w in what if w) or 'no labels'}"
          f"; pixels {'kept in their units' if p['rescale'] == 'none' else 'min-max scaled to [0, 1]'}{units}")
    if m["missing"]["pixels"]:
        print(f"note: {m['missing']['pixels']:,} missing pixel(s) (NaN, inf or outside a cutout's image) in "
              f"{m['missing']['images']} image(s) set to {p['fill']:g}"
              f"{' and marked 0 in the second channel' if p['nan_mask'] else '; --nan-mask marks them for the model'}")
    for split, n in m["repeated"].items():
        print(f"note: split {split} holds {n} row(s) naming an image listed before (the same image counted again)")


def _import_arguments(s, photographs: bool):
    """The options of kzoo import; ``photographs``: kzoo import-images's defaults (grey, resized to 256 x 256,
    min-max scaled, as source notebooks 002 loaded their photographs)."""
    s.add_argument("table", help="a table read with astropy.table (.csv, .ecsv, a FITS table .fits, a VOTable .vot/"
                                 ".xml), a row per image: location (the image file, relative to the table's folder, "
                                 "or absolute; or ra, dec in degrees with --cutout-from), label (a class name; empty: "
                                 "unlabelled, split apply), the --targets and --mask-column columns, and optionally "
                                 "split (train, val, test, apply)")
    s.add_argument("--out", required=True, help="the dataset directory (shards + manifest.json)")
    s.add_argument("--targets", type=lambda v: [c.strip() for c in v.split(",") if c.strip()], metavar="COL,COL",
                   help="regression: the table's columns of numbers to predict, stored as labels of the same names "
                        "(every row needs a finite value)")
    s.add_argument("--mask-column", metavar="COL",
                   help="segmentation: the table's column naming a mask image per row (of the image's size), "
                        "stored as the feature mask")
    s.add_argument("--classes", type=lambda v: [c.strip() for c in v.split(",") if c.strip()],
                   help="classification: the class names of the label column in index order, comma-separated "
                        "(default: the labels found, sorted; with --targets or --mask-column, only when given); "
                        "barred,elliptical,spiral matches the morphology runs")
    s.add_argument("--label", default="label", help="the class label's name in the dataset (morph_class to judge a "
                                                   "morphology run on these images)")
    s.add_argument("--cutout-from", metavar="IMAGE.fits",
                   help="one large FITS image with a celestial WCS: each row's ra, dec (degrees) is cut out of it "
                        "(astropy Cutout2D, --npix square; the part outside the image counts as missing pixels)")
    s.add_argument("--hdu", type=int, default=-1, help="the FITS HDU to read, by index (-1: the first image HDU)")
    s.add_argument("--npix", type=int, default=256 if photographs else None,
                   help="the images' side" + (" they are resized to" if photographs else
                                              " (default: the first image's; a cutout's side, needed with "
                                              "--cutout-from)"))
    s.add_argument("--resize", action=argparse.BooleanOptionalAction, default=photographs,
                   help="resize images of another size to --npix (area averaging; the aspect ratio is not kept); "
                        "without it such an image is refused by its line")
    s.add_argument("--rescale", choices=["none", "minmax"], default="minmax" if photographs else "none",
                   help="none: keep the pixel values in their physical units (the model's first layer normalises); "
                        "minmax: scale each image to [0, 1] by its own extremes (source notebooks 002's photographs)")
    s.add_argument("--fill", type=float, default=0.0,
                   help="the value missing pixels (NaN, inf, outside a cutout's image) are set to")
    s.add_argument("--nan-mask", action="store_true",
                   help="add a second image channel, 1 where a pixel was measured and 0 where it was filled")
    s.add_argument("--grow-to", type=int, default=0, metavar="N",
                   help="grow the train split to N images per class by augmented copies: a random rotation, a "
                        "flip half the time, Gaussian noise (source notebooks 002 grew ~65 photographs a class to ~560; "
                        "classification with --rescale minmax only)")
    s.add_argument("--noise", type=float, default=0.02, help="the augmentation's noise sigma, on images scaled to "
                                                             "[0, 1]")
    s.add_argument("--val-fraction", type=float, default=0.15, help="of the rows without a split (of each class), "
                                                                     "to val")
    s.add_argument("--test-fraction", type=float, default=0.15, help="of the rows without a split (of each class), "
                                                                      "to test")
    s.add_argument("--split-seed", type=int, default=0, help="random seed of the shuffle that assigns rows to splits")
    s.add_argument("--seed", type=int, default=0, help="random seed of the augmentation")
    s.add_argument("--shards", type=int, default=4, help="number of shards")
    s.add_argument("--workers", type=int, default=1, help="processes reading images in parallel")
    s.add_argument("--no-progress", action="store_true", help="print no progress bar")
    s.set_defaults(fn=_cmd_import)


def _cmd_simulate(a):
    from kzoo.data.shards import write_shards
    from kzoo.io import ensure_dir

    ensure_dir(a.out, "--out")
    m = write_shards(a.recipe, a.out, n=a.n, seed=a.seed, shards=a.shards, workers=a.workers,
                     progress=not a.no_progress, shard_range=a.shard_range)
    w = m["written"]
    if a.shard_range:
        lo, hi = m["range"]
        print(f"wrote {len(w['shards'])} of shards {lo}..{hi - 1} ({w['reused']} were already complete) of "
              f"{m['shards_total']} and partial.json to {a.out}; combine the parts with kzoo data merge OUT PART ...")
        return
    counts = ", ".join(f"{k} {v['count']}" for k, v in m["splits"].items())
    if not w["shards"]:
        did = "nothing written" if not w["manifest"] else "only manifest.json written"
        print(f"up to date: {a.out} holds all {w['of']} shards ({counts}); {did}")
    elif w["reused"]:
        print(f"wrote {len(w['shards'])} of {w['of']} shards ({w['reused']} were already complete; {counts}) and "
              f"manifest.json to {a.out}")
    else:
        print(f"wrote {w['of']} shards ({counts}) and manifest.json to {a.out}")


def _cmd_data(a):
    from kzoo.data.shards import merge_shards
    from kzoo.io import ensure_dir

    ensure_dir(a.out, "OUT")
    m = merge_shards(a.out, a.parts)
    counts = ", ".join(f"{k} {v['count']}" for k, v in m["splits"].items())
    n = sum(len(v["shards"]) for v in m["splits"].values())
    print(f"merged {len(a.parts)} parts into {a.out}: {n} shards ({counts}) and manifest.json")


def shard_range(text: str) -> tuple[int, int]:
    """``(2, 5)`` from ``"2:5"`` (argparse type of --shard-range)."""
    a, sep, b = text.partition(":")
    try:
        if sep:
            return int(a), int(b)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected A:B (shards A .. B-1), e.g. 0:4; got {text!r}")


def _cmd_tune(a):
    from tuners.search import run_args

    run_args(a)


def _cmd_automl(a):
    from tuners.automl import automl

    res = automl(a.experiment, a.data, a.out, max_trials=a.max_trials, epochs=a.epochs, block_type=a.block_type,
                 max_images=a.max_images, seed=a.seed, allow_other_recipe=a.allow_other_recipe,
                 classical=not a.no_reference)
    _print_metrics(res)
    print(f"best AutoKeras model: {a.out}/run (trials in {a.out}/trials.md)")


def _cmd_explore(a):
    import kzoo.explore as explore

    explore.serve(a.start, a.host, a.port, browser=not a.no_browser)


def _cmd_verify(a):
    from kzoo.data.shards import load_manifest

    m = load_manifest(a.data, verify="full")
    n = sum(len(v["shards"]) for v in m["splits"].values())
    print(f"{a.data}: {n} shards match manifest.json ({m['sky']}, random seed {m['seed']})")


def sizes_list(text: str) -> list[int]:
    """``[4096, 8192]`` from ``"4096,8192"`` (argparse type of --train-sizes)."""
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive image counts separated by commas, e.g. 4096,8192,16384; "
                                         f"got {text!r}")
    return sizes


def _cmd_train(a):
    from kzoo.io import ensure_dir
    from kzoo.train import fit, read_hyperparameters, use_backend

    backend = use_backend(a.backend)  # before Keras is imported

    ensure_dir(a.out, "--out")
    settings, args = read_hyperparameters(a.hyperparameters) if a.hyperparameters else ({}, {})
    args.update(model_args(a.model_arg))  # the command line wins over the file
    strategy, out, worker = None, a.out, None
    if a.strategy == "multiworker":
        from kzoo.train import join_workers

        worker = join_workers(backend)
        out = a.out if worker[0] == 0 else f"{a.out}.worker{worker[0]}"  # the first worker's run is the run
    if a.strategy == "mirrored":
        if backend != "tensorflow":
            raise ValueError(f"--strategy mirrored needs --backend tensorflow, not {backend!r}")
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
    res = fit(a.experiment, a.data, out, epochs=a.epochs,
              batch_size=a.batch_size if a.batch_size is not None else settings.get("batch_size"),
              learning_rate=a.lr if a.lr is not None else settings.get("learning_rate"),
              patience=a.patience, seed=a.seed, precision=a.precision, strategy=strategy,
              cache=False if a.no_cache else "auto",
              verbose=2 if a.quiet or not sys.stdout.isatty() else "auto", overwrite=a.overwrite,  # a log gets lines
              allow_other_recipe=a.allow_other_recipe, model_args=args, classical=not a.no_reference,
              worker=worker, init=a.init, freeze_epochs=a.freeze_epochs, reader=a.reader)
    _print_metrics(res)
    print(res["training"]["message"])


def _print_metrics(res):
    print(f"{res['experiment']} on the {res['split']} split ({res['count']} images):")
    ref = res.get("reference", {})
    for target, m in res["metrics"].items():
        if not isinstance(m, dict):
            continue
        line = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float))
        print(f"  {target}: {line}")
        classical = (res.get("classical_reference") or {}).get("metrics", {}).get(target, {})
        for key, vals in ref.items():
            if isinstance(vals, dict) and target in vals and key in m:
                extra = f", {res['classical_reference']['method']}: {classical[key]:.4f}" if key in classical else ""
                print(f"  {target}: {key} {m[key]:.4f}  (source notebooks: {vals[target]}{extra})")


def _cmd_evaluate(a):
    from kzoo.evaluate import evaluate

    if a.out:
        from kzoo.io import ensure_dir

        ensure_dir(a.out, "--out")
    _print_metrics(evaluate(a.run, a.data, split=a.split, out=a.out, classical=not a.no_reference))


def _cmd_export(a):
    from kzoo.export import export

    what = {"keras": "a .keras file", "savedmodel": "a TensorFlow SavedModel", "onnx": "an ONNX file"}[a.format]
    print(f"wrote {export(a.run, a.format, out=a.out)}: {what} (--format {a.format}"
          f"{', the default; --format keras or onnx for the others' if a.format == 'savedmodel' else ''})")


def _cmd_predict(a):
    from kzoo.predict import predict

    res = predict(a.run, a.images, out=a.out, resize=a.resize)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    if "outputs" in res:  # image outputs, written to files
        print(f"file\t{res['targets'][0]} image (transform {res['transform']})\tmin\tmax")
        for f, dest in res["outputs"].items():
            lo, hi = res["predictions"][f]
            print(f"{f}\t{dest}\t{lo:.4g}\t{hi:.4g}")
        return
    print("file\t" + "\t".join(res["targets"]))
    for f, vals in res["predictions"].items():
        print(f + "\t" + "\t".join(f"{v:.6g}" for v in vals))


def _cmd_reproduce(a):
    from kzoo.io import ensure_dir
    from kzoo.train import use_backend

    use_backend(a.backend)  # before Keras is imported
    from kzoo.reproduce import reproduce, reproduce_suite, suites

    ensure_dir(a.out, "--out")
    ensure_dir(a.results, "--results")
    kw = dict(seed=a.seed, workers=a.workers, precision=a.precision, epochs=a.epochs, n=a.n, results_dir=a.results,
              note=a.note)
    from kzoo.errors import UnknownNameError
    from kzoo.experiments import declared
    from kzoo.families import get_family

    if a.experiment not in declared():  # a family by one of its other names (its sky's: galactic_center)
        try:
            a.experiment = get_family(a.experiment).name
        except UnknownNameError:
            pass  # reproduce() names the closest experiments
    if a.experiment in suites():
        if a.train_sizes or a.members or a.folds or a.seeds:
            raise ValueError(f"--train-sizes, --members, --folds and --seeds take one experiment, not the suite "
                             f"{a.experiment}")
        if a.data:
            raise ValueError(f"--data takes one experiment; the suite {a.experiment} keeps one dataset per "
                             f"recipe under {a.out}/data")
        records = reproduce_suite(a.experiment, a.out, from_results=a.from_results, **kw)
        print(f"wrote {a.results}/{a.experiment}.md ({len(records)} experiments"
              + (", from their recorded results)" if a.from_results else ")"))
        return
    if a.from_results:
        raise ValueError(f"--from-results takes a suite ({', '.join(suites())}), not the experiment {a.experiment}")
    if sum(map(bool, (a.members, a.train_sizes, a.folds, a.seeds))) > 1:
        raise ValueError("give one of --members, --train-sizes, --folds and --seeds")
    if a.seeds:
        from kzoo.reproduce import seed_spread

        r = seed_spread(a.experiment, a.out, a.seeds, data=a.data, **kw)
        print(f"wrote {a.results}/{r['experiment']['name']}-seeds.md and .json ({a.seeds} training seeds)")
        return
    if a.folds:
        from kzoo.reproduce import cross_validate

        r = cross_validate(a.experiment, a.out, a.folds, data=a.data, **kw)
        print(f"wrote {a.results}/{r['experiment']['name']}-cv.md and .json ({a.folds} folds)")
        return
    if a.members:
        from kzoo.reproduce import ensemble

        r = ensemble(a.experiment, a.out, a.members, data=a.data, **kw)
        print(f"wrote {a.results}/{r['experiment']['name']}-ensemble.md, .json and .png ({a.members} members)")
        return
    if a.train_sizes:
        from kzoo.reproduce import learning_curve

        r = learning_curve(a.experiment, a.out, a.train_sizes, data=a.data, init=a.init,
                           freeze_epochs=a.freeze_epochs, **kw)
        print(f"wrote {a.results}/{r['experiment']['name']}-{'finetune' if a.init else 'learning-curve'}.md, .json "
              f"and .png ({len(r['points'])} training-set sizes)")
        return
    if a.init or a.freeze_epochs:
        raise ValueError("--init and --freeze-epochs make a fine-tuning curve: give --train-sizes too")
    r = reproduce(a.experiment, a.out, data=a.data, **kw)
    print(f"wrote {a.results}/{r['experiment']['name']}.md and .json")


def version_line() -> str:
    """kzoo's version and the commit of the source it runs from ("unknown" outside a git checkout)."""
    from kzoo.runs import git_commit
    from kzoo.version import __version__

    return f"{__version__} (commit {git_commit()})"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="kzoo", description="Astrophysics model zoo: simulate, train, evaluate, export.",
               formatter_class=HelpFormatter)
    p.add_argument("--version", action="version", version=f"kzoo {version_line()}",
                   help="print kzoo's version and the commit it runs from, and exit")
    p.add_argument("-q", action="store_true", help="say only warnings and errors (kzoo's messages through logging; "
                                                  "progress bars stay)")
    p.add_argument("-v", action="store_true", help="say debugging messages too")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error instead of one line (or set KZOO_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="what to do; `kzoo COMMAND --help` explains each")

    def command(name, text):
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                              formatter_class=HelpFormatter)

    s = command("list", "list zoo models with aliases and parameter counts (or --experiments, --presets)")
    s.add_argument("pattern", nargs="?", default="*", help="shell wildcard on the names, e.g. 'gc*'")
    s.add_argument("--experiments", action="store_true", help="list declared experiments instead of models")
    s.add_argument("--presets", action="store_true",
                   help="list pretrained presets (kzoo.load(name), kzoo predict NAME ...) with their test metrics "
                        "beside the source notebooks'")
    s.set_defaults(fn=_cmd_list)

    s = command("info", "the spec of a model, the declaration of an experiment or a preset's manifest entry, as "
                        "JSON (with the title of the source notebooks)")
    s.add_argument("name", help="a model (e.g. gc_cnn), an experiment (e.g. gc-dm) or a preset; see `kzoo list`")
    s.set_defaults(fn=_cmd_info)

    s = command("simulate", "simulate a recipe into TFRecord shards + manifest.json")
    s.add_argument("recipe", help="built-in recipe (e.g. galactic_center) or a .yaml/.json file")
    s.add_argument("--out", required=True, help="dataset directory; a rerun makes only missing or corrupt shards")
    s.add_argument("--n", type=int, help="images in all, the recipe's split proportions kept (default: the "
                                         "recipe's split sizes)")
    s.add_argument("--seed", type=int, help="random seed (default: the recipe's)")
    s.add_argument("--shards", type=int, help="number of shards (default: the recipe's)")
    s.add_argument("--workers", type=int, default=1, help="processes simulating shards in parallel")
    s.add_argument("--no-progress", action="store_true", help="print no progress bar")
    s.add_argument("--shard-range", type=shard_range, metavar="A:B",
                   help="make only shards A .. B-1 of the dataset (one task of a cluster job array, e.g. "
                        "$((SLURM_ARRAY_TASK_ID * 4)):$((SLURM_ARRAY_TASK_ID * 4 + 4))), each range in a folder of "
                        "its own with partial.json; a shard depends only on the random seed and its index, so `kzoo data "
                        "merge` then makes the dataset byte-identical to one made in one go")
    s.set_defaults(fn=_cmd_simulate)

    s = command("import", "make shards of your own images and catalogue (a table naming FITS, .npy, PNG or JPEG "
                          "files, or sky positions in one large FITS image) for regression, segmentation or "
                          "classification, trained, evaluated and exported like simulated ones")
    _import_arguments(s, photographs=False)
    s = command("import-images", "kzoo import with source notebooks 002's loading of photographs as defaults: grey, resized to "
                                 "256 x 256 and min-max scaled to [0, 1] (kzoo import keeps units and sizes)")
    _import_arguments(s, photographs=True)

    s = command("data", "work on datasets: `kzoo data merge OUT PART [PART ...]` combines the folders of kzoo "
                        "simulate --shard-range into one dataset")
    s.add_argument("action", choices=["merge"], help="merge: check the parts (one recipe, random seed and size; no "
                                                     "overlap, no gap, every sha256) and write OUT")
    s.add_argument("out", help="the new dataset directory (not one holding a dataset)")
    s.add_argument("parts", nargs="+", help="folders written by kzoo simulate --shard-range")
    s.set_defaults(fn=_cmd_data)

    s = command("tune", "search an experiment's hyper-parameters with keras-tuner (every trial a kzoo run; resumable; "
                        "chief and workers on many machines)")
    from tuners.search import add_arguments  # tuners sits above kzoo; imported only to build this parser

    add_arguments(s)
    s.set_defaults(fn=_cmd_tune)

    s = command("automl", "search an experiment's model with AutoKeras and keep the best as a kzoo run (regression "
                          "experiments; the automl extra)")
    s.add_argument("experiment", help="a regression experiment of one image input, e.g. gc-dm or sersic-v1")
    s.add_argument("--data", required=True, help="dataset directory from `kzoo simulate`; its training and validation "
                                                 "splits are read into memory (AutoKeras takes numpy arrays)")
    s.add_argument("--out", required=True, help="search directory: autokeras/ (AutoKeras's trials; a rerun resumes), "
                                                "trials.md and run/ (the best model as a kzoo run: kzoo evaluate, export "
                                                "and predict take it)")
    s.add_argument("--max-trials", type=int, default=10, metavar="N", help="models AutoKeras tries")
    s.add_argument("--epochs", type=int, default=10, help="epochs per trial")
    s.add_argument("--block-type", choices=["resnet", "xception", "vanilla", "efficient"],
                   help="the kind of network AutoKeras searches (default: AutoKeras chooses among them)")
    s.add_argument("--max-images", type=int, metavar="N",
                   help="only the first N training images (shard order), where all of them would not fit in memory "
                        "(refused above half the available memory)")
    s.add_argument("--seed", type=int, default=0,
                   help="random seed of the search (AutoKeras's tuner gets SEED + 1: keras-tuner reads 0 as no seed)")
    s.add_argument("--allow-other-recipe", action="store_true",
                   help="search on a dataset made from another recipe than the experiment's (e.g. tiny test maps)")
    s.add_argument("--no-reference", action="store_true", help=NO_REFERENCE_HELP)
    s.set_defaults(fn=_cmd_automl)

    s = command("explore", "open a local web page with a control per simulator parameter and the random seed, the "
                           "image they draw, its labels and, where a preset was trained on that sky, the preset's "
                           "prediction beside the true values")
    s.add_argument("start", nargs="?", metavar="RECIPE|SKY",
                   help="the recipe (or a sky, at the recipe its preset was trained on) the page starts at; every "
                        "recipe can be chosen on the page (default: the first sky in alphabetical order)")
    s.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, with no password)")
    s.add_argument("--port", type=int, default=8765, help="the port to listen on (default 8765; 0 picks a free one)")
    s.add_argument("--no-browser", action="store_true", help="do not open the page in the default web browser")
    s.set_defaults(fn=_cmd_explore)

    s = command("verify", "check a dataset's shards against its manifest")
    s.add_argument("data", help="dataset directory from `kzoo simulate`; every shard's size and sha256 is checked")
    s.set_defaults(fn=_cmd_verify)

    s = command("train", "train a declared experiment (resumes a killed run in the same --out; a finished one is "
                         "left as it is)")
    s.add_argument("experiment", help="a declared experiment, e.g. gc-dm (see `kzoo list --experiments`), or your own "
                                      "in a YAML file (my-experiment.yaml: the fields `kzoo info gc-dm` shows; name "
                                      "and model required; without a recipe it trains on --data as it is)")
    s.add_argument("--data", required=True, help="dataset directory from `kzoo simulate` or `kzoo import`")
    s.add_argument("--out", required=True, help="run directory")
    s.add_argument("--epochs", type=int, help="at most this many epochs (default: the experiment's)")
    s.add_argument("--batch-size", type=int, help="images per step (default: --hyperparameters' batch_size, "
                                                  "else the experiment's)")
    s.add_argument("--lr", type=float, help="learning rate (default: --hyperparameters' learning_rate, else the "
                                            "experiment's)")
    s.add_argument("--patience", type=int, help="early-stopping patience in epochs (default: the experiment's)")
    s.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                   help="an argument of the experiment's model builder, VALUE as JSON or else a plain string, "
                        "e.g. --model-arg dense=[256,64] --model-arg dropout=0.2 (repeatable; `kzoo info MODEL` "
                        "lists the arguments); recorded in run.json, so other values make another run")
    s.add_argument("--hyperparameters", metavar="JSON",
                   help="a JSON object of hyper-parameters, e.g. the best_hyperparameters.json of `python -m "
                        "tuners.search`: learning_rate and batch_size set the fit, the other keys are model "
                        "arguments; --lr, --batch-size and --model-arg win over it")
    s.add_argument("--seed", type=int, default=0, help="random seed of the weights, shuffling and augmentation")
    s.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help=PRECISION_HELP)
    s.add_argument("--backend", choices=["tensorflow", "jax", "torch"], help=BACKEND_HELP)
    s.add_argument("--reader", choices=["auto", "tf.data", "numpy"], default="auto", help=READER_HELP)
    s.add_argument("--strategy", default="default", choices=["default", "mirrored", "multiworker"],
                   help="default (one device); mirrored (tf.distribute over every local GPU; tensorflow backend "
                        "only); multiworker (data parallel over the processes named by TF_CONFIG, or those of a "
                        "SLURM srun / Open MPI mpirun job without it, one per machine "
                        "or per device, each started with the same command; jax backend: Keras's DataParallel; "
                        "worker 0 writes --out, worker i --out.worker<i>; --batch-size is the global batch)")
    s.add_argument("--no-cache", action="store_true",
                   help="stream the training split from its shards every epoch; by default its records are kept in "
                        "memory after the first epoch when they take at most half of what this process may use "
                        "(a cluster job's memory cgroup included), and streamed otherwise (one line says which)")
    s.add_argument("--overwrite", action="store_true",
                   help="train a new run in --out even if it holds this run finished, or a run of another "
                        "experiment, dataset, random seed or setting (that run stays until the new one is complete); "
                        "without it such a --out is refused, this run finished is left as it is, and a killed "
                        "run of the same command is continued")
    s.add_argument("--allow-other-recipe", action="store_true",
                   help="train on a dataset simulated with other parameters than the experiment's recipe "
                        "(e.g. a small test recipe); without it such a dataset is refused")
    s.add_argument("--init", metavar="PRESET|RUN",
                   help="fine-tune: start from the weights of a preset (kzoo list --presets), a finished run's "
                        "directory or a .keras file; layers of the same name and shapes are copied, the others (a "
                        "head for other targets) built anew and named; the source's input normalisation is kept; "
                        "the weights' sha256 is part of the run, so another --init is another run")
    s.add_argument("--freeze-epochs", type=int, default=0, metavar="K",
                   help="with --init: train only the layers built anew for K epochs, then every layer (the best "
                        "epoch and early stopping count from then)")
    s.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar (always so when "
                                                        "the output is not a terminal)")
    s.add_argument("--no-reference", action="store_true", help=NO_REFERENCE_HELP)
    s.set_defaults(fn=_cmd_train)

    s = command("evaluate", "recompute RUN/metrics.json from the saved model, or judge it on another dataset of "
                            "its sky")
    s.add_argument("run", help="a run directory made by kzoo train")
    s.add_argument("--data", help="dataset directory (default: the one the run was trained on); another dataset of "
                                  "the same sky is judged with the training set's label ranges (e.g. many noise "
                                  "realisations of one galaxy: recipe sersic_fixed_snr60)")
    s.add_argument("--split", default="test", help="the split to judge")
    s.add_argument("--out", help="where metrics.json and the plots go (default: RUN itself; give one when --data "
                                 "is another dataset, so the run's own evaluation stays)")
    s.add_argument("--no-reference", action="store_true", help=NO_REFERENCE_HELP)
    s.set_defaults(fn=_cmd_evaluate)

    s = command("export", "export a run's model: keras, savedmodel or onnx")
    s.add_argument("run", help="a run directory made by kzoo train")
    s.add_argument("--format", default="savedmodel", choices=["keras", "savedmodel", "onnx"],
                   help="keras: a .keras file (loads with kzoo installed); savedmodel (the default): a TensorFlow "
                        "SavedModel folder, for TF Serving and TensorFlow without kzoo; onnx: an .onnx file for "
                        "onnxruntime (the onnx extra)")
    s.add_argument("--out", help="destination (default: RUN/export/...)")
    s.set_defaults(fn=_cmd_export)

    s = command("predict", "apply a run's model or a pretrained preset to FITS, .npy, PNG or JPEG images (a Deep "
                           "SVDD run: the anomaly score and the zone label 0 .. 1 of each)")
    s.add_argument("run", help="a run directory made by kzoo train or kzoo reproduce, or a preset name "
                               "(kzoo list --presets)")
    s.add_argument("images", nargs="+", help="FITS files (first 2-D image HDU), .npy arrays, PNG or JPEG images")
    s.add_argument("--resize", action="store_true",
                   help="make each image grey, resized to the model's square input and min-max scaled to [0, 1], as "
                        "kzoo import-images makes photographs (default: refuse an image that does not fit)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--out", default=".", help="where a model whose output is an image (a U-net, a denoiser) writes "
                                              "it, as <image stem>.<target>.npy")
    s.set_defaults(fn=_cmd_predict)

    s = command("reproduce", "simulate, train and evaluate an experiment at the source notebooks' sizes; write "
                             "results/<experiment>.md beside their numbers")
    from kzoo.families import families  # light: each family's declaration only

    s.add_argument("experiment", help="an experiment, or a suite: a family's experiments, all of them ("
                   + ", ".join(families()) + ")")
    s.add_argument("--out", required=True, help="work directory (data/ and run/ go there; a suite: one per experiment)")
    s.add_argument("--data", help="the dataset directory (default: OUT/data; a suite shares OUT/data/<recipe> per "
                                  "recipe); an existing dataset of the same recipe, random seed and size is reused")
    s.add_argument("--seed", type=int, default=1, help="dataset seed; the same seed gives the same bytes")
    s.add_argument("--workers", type=int, default=2, help="simulation worker processes")
    s.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help=PRECISION_HELP)
    s.add_argument("--backend", choices=["tensorflow", "jax", "torch"], help=BACKEND_HELP)
    s.add_argument("--epochs", type=int, help="at most this many epochs (default: the experiment's)")
    s.add_argument("--n", type=int, help="images in all (default: the recipe's split sizes)")
    s.add_argument("--results", default="results",
                   help="where the .md/.json results go; a learning curve, ensemble or seed spread also records each "
                        "finished run in RESULTS/runs/, and a run recorded there is not trained again (a study made "
                        "in parts, across sessions or machines)")
    s.add_argument("--note", default="", help="a sentence recorded with the results (e.g. how the run was made)")
    s.add_argument("--train-sizes", type=sizes_list, metavar="N,N,...",
                   help="one experiment only: a learning curve instead: train on the first N images of the training "
                        "split for each N (multiples of the recipe's block; validation and test unchanged) and "
                        "write RESULTS/<experiment>-learning-curve.md, .json and .png")
    s.add_argument("--init", metavar="PRESET|RUN",
                   help="with --train-sizes: a fine-tuning curve instead: for each N a run from scratch and one "
                        "fine-tuned from this preset or run (kzoo train --init), the same epochs; writes "
                        "RESULTS/<experiment>-finetune.md, .json and .png with both curves")
    s.add_argument("--freeze-epochs", type=int, default=0, metavar="K",
                   help="with --init: train only the layers built anew for K epochs first (kzoo train "
                        "--freeze-epochs)")
    s.add_argument("--members", type=int, metavar="K",
                   help="one regression experiment only: a deep ensemble instead: K runs on one dataset with training "
                        "random seeds SEED .. SEED+K-1 (the first is OUT/run, as without --members), their test "
                        "predictions averaged; writes RESULTS/<experiment>-ensemble.md, .json and .png")
    s.add_argument("--folds", type=int, metavar="K",
                   help="one experiment only: K-fold cross-validation instead: K runs, each trained on the training "
                        "split less one fold of its records and validated on that fold, all judged on the test split; "
                        "writes RESULTS/<experiment>-cv.md and .json (each fold, mean and spread)")
    s.add_argument("--seeds", type=int, metavar="K",
                   help="one experiment only: its training-seed spread instead: K runs on one dataset with training "
                        "random seeds SEED .. SEED+K-1 (the first is OUT/run, as without --seeds), each judged alone; "
                        "writes RESULTS/<experiment>-seeds.md and .json (each run, mean and standard deviation): what "
                        "a difference between two experiments is to be held against")
    s.add_argument("--from-results", action="store_true",
                   help="a suite only: train nothing and write RESULTS/<suite>.md from each experiment's recorded "
                        "RESULTS/<experiment>.json (made by earlier kzoo reproduce runs, perhaps on other machines); "
                        "refused if any is missing or was made from another recipe or declaration than today's")
    s.set_defaults(fn=_cmd_reproduce)
    return p


def main(argv=None) -> int:
    """Run the command line; any error prints one line ``kzoo <command>: error: ...`` and returns 2.

    ``--debug`` (before the command) or ``KZOO_DEBUG=1`` lets the error through with its traceback.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser().parse_args(argv)
    restore = log_to_stderr(logging.WARNING if args.q else logging.DEBUG if args.v else logging.INFO)
    try:
        return run_reporting(f"kzoo {args.command}", lambda: args.fn(args), args.debug)
    finally:
        restore()


def console() -> int:
    """The ``kzoo`` console script (and ``python -m kzoo.cli``): ``main`` with TensorFlow's native log lines kept
    out of standard error, so that an error is one line."""
    from kzoo.cli_options import console as run

    return run(main)


if __name__ == "__main__":
    sys.exit(console())
