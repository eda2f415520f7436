"""Search an experiment's hyper-parameters with keras-tuner.

    python -m tuners.search gc-dm --data DIR --out DIR [--tuner bayesian] [--trials 20] [--epochs 10]
    kzoo train gc-dm --data DIR --out RUN --hyperparameters DIR/best_hyperparameters.json

A rerun with the same --out resumes the search (overwrite=False). For many machines, start the same
command on each with keras-tuner's variables set: the chief with KERASTUNER_TUNER_ID=chief, the
workers with KERASTUNER_TUNER_ID=tuner0, tuner1, ..., all with KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT pointing at the chief. Needs the `tune` extra (keras-tuner; scikit-learn for
the Bayesian tuner; grpcio and protobuf for chief and workers).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kzoo.cli import HelpFormatter

TUNERS = {"random": "RandomSearch", "bayesian": "BayesianOptimization", "hyperband": "Hyperband"}


def search(experiment, data_dir, out, tuner: str = "bayesian", trials: int = 20, epochs: int = 10,
           seed: int = 0, **fixed_model_args):
    """Run (or resume) the search; returns the tuner.

    ``fixed_model_args`` are builder arguments held fixed (over the search space's). The best trial's
    hyper-parameters and the fixed arguments go to OUT/best_hyperparameters.json, which
    ``kzoo train --hyperparameters`` takes.
    """
    import keras
    import keras_tuner as kt

    from kzoo.io import write_json
    from tuners.hypermodel import ExperimentHyperModel, decoded

    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {sorted(TUNERS)}, got {tuner!r}")
    hm = ExperimentHyperModel(experiment, data_dir, seed=seed, **fixed_model_args)
    kw = {"max_epochs": epochs} if tuner == "hyperband" else {"max_trials": trials}
    t = getattr(kt, TUNERS[tuner])(hm, objective="val_loss", directory=str(out), project_name=hm.exp.name,
                                   overwrite=False, seed=seed, **kw)
    t.search(epochs=epochs, verbose=2,
             callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)])
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        best = t.get_best_hyperparameters(1)
        if best:
            write_json(Path(out) / "best_hyperparameters.json", {**decoded(hm.space, best[0].values), **hm.fixed})
    return t


class _HelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """kzoo's help (each option's default), with the module docstring's lines kept as written."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tuners.search", description=__doc__, formatter_class=_HelpFormatter)
    p.add_argument("experiment", help="a declared experiment, e.g. gc-dm (see `kzoo list --experiments`); its "
                                      "model's spec.search_space is searched (`kzoo info MODEL`)")
    p.add_argument("--data", required=True, help="dataset directory from `kzoo simulate`")
    p.add_argument("--out", required=True, help="search directory: the trials, and best_hyperparameters.json for "
                                                "`kzoo train --hyperparameters`; a rerun resumes the search")
    p.add_argument("--tuner", default="bayesian", choices=sorted(TUNERS),
                   help="keras-tuner's search: bayesian (Gaussian-process optimisation, needs scikit-learn), "
                        "random or hyperband")
    p.add_argument("--trials", type=int, default=20, help="models to try (bayesian, random; hyperband decides "
                                                          "its own number from --epochs)")
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs per trial (early stopping "
                                                          "after 3 without a lower val_loss)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the tuner and the data pipeline")
    p.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                   help="a builder argument held fixed in every trial, VALUE as JSON or else a plain string, "
                        "e.g. --model-arg filters=[16,32] (repeatable); it wins over the search space")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error instead of one line (or set KZOO_DEBUG=1)")
    return p


def main(argv=None) -> int:
    """Run the search; any error prints one line ``python -m tuners.search: error: ...`` and returns 2."""
    from kzoo.cli import model_args, run_reporting

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    a = parser().parse_args(argv)

    def run():
        search(a.experiment, a.data, a.out, tuner=a.tuner, trials=a.trials, epochs=a.epochs, seed=a.seed,
               **model_args(a.model_arg))
        print(f"best hyper-parameters: {Path(a.out) / 'best_hyperparameters.json'}")

    return run_reporting("python -m tuners.search", run, a.debug)


if __name__ == "__main__":
    sys.exit(main())
