"""Search an experiment's hyper-parameters with keras-tuner.

    python -m tuners.search gc-dm --data DIR --out DIR [--tuner bayesian] [--trials 20] [--epochs 10]

A rerun with the same --out resumes the search (overwrite=False). For many machines, start the same
command on each with keras-tuner's variables set: the chief with KERASTUNER_TUNER_ID=chief, the
workers with KERASTUNER_TUNER_ID=tuner0, tuner1, ..., all with KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT pointing at the chief (needs the `tune` extra: grpcio, protobuf).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TUNERS = {"random": "RandomSearch", "bayesian": "BayesianOptimization", "hyperband": "Hyperband"}


def search(experiment, data_dir, out, tuner: str = "bayesian", trials: int = 20, epochs: int = 10,
           seed: int = 0, **fixed_model_args):
    """Run (or resume) the search; returns the tuner. Best hyper-parameters go to OUT/best_hyperparameters.json."""
    import keras
    import keras_tuner as kt

    from kzoo.io import write_json
    from tuners.hypermodel import ExperimentHyperModel

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
            write_json(Path(out) / "best_hyperparameters.json", best[0].values)
    return t


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = argparse.ArgumentParser(prog="python -m tuners.search", description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tuner", default="bayesian", choices=sorted(TUNERS))
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    search(a.experiment, a.data, a.out, tuner=a.tuner, trials=a.trials, epochs=a.epochs, seed=a.seed)
    print(f"best hyper-parameters: {Path(a.out) / 'best_hyperparameters.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
