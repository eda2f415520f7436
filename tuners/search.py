"""Search an experiment's hyper-parameters with keras-tuner; every trial is a kzoo run.

    kzoo tune gc-dm --data DIR --out DIR [--tuner bayesian] [--max-trials 20] [--epochs 10]
    kzoo train gc-dm --data DIR --out RUN --hyperparameters DIR/best_hyperparameters.json

(`python -m tuners.search` is the same command.) A rerun with the same --out resumes the search: finished
trials are kept and a killed trial continues from its checkpoint. For many machines, start the chief with
--chief HOST:PORT and each worker with --worker HOST:PORT --id tunerN (or set keras-tuner's KERASTUNER_*
variables yourself); all must see the dataset and --out (a shared file system). Needs the `tune` extra
(keras-tuner; scikit-learn for the Bayesian tuner; grpcio and protobuf for chief and workers).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from kzoo.cli_options import PRECISION_HELP, HelpFormatter, Parser, log_to_stderr, model_args, run_reporting

TUNERS = {"random": "RandomSearchOracle", "bayesian": "BayesianOptimizationOracle", "hyperband": "HyperbandOracle",
          "grid": "GridSearchOracle"}


def _trial_tuner_class():
    """keras-tuner's BaseTuner whose trials are kzoo runs (built here: keras_tuner is imported only when needed)."""
    import keras_tuner as kt

    class FitPathTuner(kt.engine.base_tuner.BaseTuner):
        """A trial is ``kzoo.train.fit`` of the experiment with the trial's hyper-parameters in
        ``OUT/runs/<trial id>``: the same pipeline, checkpoints, NaN guard, precise BN and run.json as ``kzoo
        train``. A trial killed midway is given again by keras-tuner's oracle on resume (its retry queue)
        and continues from its checkpoint; finished trials are kept."""

        def __init__(self, hypermodel, oracle, *, runs_dir, fit_kwargs, **kwargs):
            super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
            self.runs_dir, self.fit_kwargs = Path(runs_dir), fit_kwargs

        def run_trial(self, trial, *args, **kwargs):
            import time

            from kzoo.io import write_json
            from kzoo.runs import read_history
            from kzoo.train import fit

            hp = trial.hyperparameters
            settings, model_args = self.hypermodel.values(hp)
            epochs = self.fit_kwargs["epochs"]
            if "tuner/epochs" in hp.values:  # hyperband's budget for this trial (trained from scratch)
                epochs = int(hp.values["tuner/epochs"])
            run_dir = self.runs_dir / trial.trial_id
            t0 = time.time()
            fit(self.hypermodel.exp, self.hypermodel.data_dir, run_dir, epochs=epochs, model_args=model_args,
                **settings, **{k: v for k, v in self.fit_kwargs.items() if k != "epochs"})
            history = read_history(run_dir / "history.csv")
            best = float(min(history["val_loss"]))
            write_json(run_dir / "trial.json", {"trial_id": trial.trial_id, "val_loss": best,
                                                "tuner_id": os.environ.get("KERASTUNER_TUNER_ID", "chief"),
                                                "epochs_run": len(history["val_loss"]),
                                                "seconds_this_session": round(time.time() - t0, 1),
                                                "settings": settings, "model_args": model_args})
            return {"val_loss": best}

        def save_model(self, trial_id, model, step=0):  # the trial's run directory holds its model
            pass

        def load_model(self, trial):
            from kzoo.export import load_model

            return load_model(self.runs_dir / trial.trial_id / "model.keras")

    return FitPathTuner


def search(experiment, data_dir, out, tuner: str = "bayesian", trials: int = 20, epochs: int = 10,
           seed: int = 0, patience: int | None = None, precision: str = "float32", allow_other_recipe: bool = False,
           verbose=2, **fixed_model_args):
    """Run (or resume) a search of ``experiment``'s model's search space on the dataset ``data_dir``; returns
    the tuner.

    Every trial is a ``kzoo.train.fit`` run in ``OUT/runs/<trial id>`` (at most ``epochs`` epochs, early
    stopping after ``patience`` epochs (default: the experiment's) without a lower validation loss, judged on the validation split; the
    objective is its lowest validation loss). ``fixed_model_args`` are builder arguments held fixed (over
    the search space's). The chief (or a single machine) writes ``OUT/trials.md`` and ``.json`` (each
    trial's hyper-parameters, objective, epochs and seconds), ``OUT/trials.png`` (objective against trial)
    and ``OUT/best_hyperparameters.json`` (for ``kzoo train --hyperparameters``), and copies the best
    trial's run to ``OUT/best`` (``kzoo evaluate`` and ``kzoo export`` take it). A rerun with the same
    ``out`` resumes: finished trials are kept, a killed one continues from its checkpoint.
    """
    import keras_tuner as kt

    from tuners.seeding import tuner_seed
    from tuners.hypermodel import ExperimentHyperModel

    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {sorted(TUNERS)}, got {tuner!r}")
    for name, v in (("trials", trials), ("epochs", epochs)):
        if int(v) <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    hm = ExperimentHyperModel(experiment, data_dir, seed=seed, **fixed_model_args)
    objective = kt.Objective("val_loss", "min")
    kw = {"max_epochs": epochs, "hyperband_iterations": 1} if tuner == "hyperband" else {"max_trials": trials}
    oracle = getattr(kt.oracles, TUNERS[tuner])(objective=objective, seed=tuner_seed(seed), **kw)
    out = Path(out)
    t = _trial_tuner_class()(hm, oracle, runs_dir=out / "runs", directory=str(out), project_name=hm.exp.name,
                             overwrite=False,
                             fit_kwargs={"epochs": int(epochs), "patience": None if patience is None else int(patience), "seed": seed,
                                         "precision": precision, "allow_other_recipe": allow_other_recipe,
                                         "evaluate_split": "val", "classical": False, "verbose": verbose})
    if "KERASTUNER_ORACLE_IP" in os.environ and os.environ.get("KERASTUNER_TUNER_ID") == "chief":
        steady_display(t.oracle)
        waiting = {tuner_id: trial.trial_id for tuner_id, trial in t.oracle.ongoing_trials.items()}
        if waiting:  # a chief started again: its workers' trials stay theirs (keras-tuner gives a worker its own back)
            logging.getLogger("kzoo").info(
                "the chief resumes the search in its folder; trial(s) in training when it stopped: "
                + ", ".join(f"{trial} by {tuner}" for tuner, trial in waiting.items())
                + " (a worker that waits carries on; one started again with the same --id continues its trial)")
    t.search()
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        report(t, hm, out)
    return t


def steady_display(oracle) -> None:
    """keras-tuner's chief prints each trial's end with times it noted at the trial's start; a chief started again
    never saw the start of the trials its workers were running, and its display then raises inside the oracle's
    lock, which is never released: the chief hangs for ever (keras-tuner 1.4.8). Note those times now, and let a
    display that fails say nothing rather than stop the search."""
    import datetime

    d = oracle._display
    now = datetime.datetime.now()
    d.search_start = d.search_start or now
    for number, trial_id in enumerate(sorted(oracle.trials), start=1):
        d.trial_start.setdefault(trial_id, now)
        d.trial_number.setdefault(trial_id, number)
    for name in ("on_trial_begin", "on_trial_end"):
        shown = getattr(d, name)

        def quietly(trial, shown=shown, name=name):
            try:
                shown(trial)
            except Exception as e:  # the display only: the search goes on
                logging.getLogger("kzoo").debug(f"keras-tuner's display ({name}) failed: {e!r}")

        setattr(d, name, quietly)


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (a bind without SO_REUSEPORT: gRPC would share the port with another
    chief instead of failing)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the closed connections of a killed chief do not count
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def chief_answers(where: str, seconds: float) -> bool:
    """Whether the chief at ``where`` (HOST:PORT) accepts a connection within ``seconds``."""
    import grpc

    channel = grpc.insecure_channel(where)
    try:
        grpc.channel_ready_future(channel).result(timeout=max(seconds, 0.1))
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else json.dumps(v)


def report(t, hm, out: Path) -> None:
    """The trial table, its plot, the best hyper-parameters and a copy of the best trial's run in ``out``."""
    import shutil

    from kzoo import plots
    from kzoo.io import read_json, write_json, write_text
    from tuners.hypermodel import decoded

    rows = []
    for trial_id in sorted(t.oracle.trials):
        trial = t.oracle.trials[trial_id]
        info = read_json(out / "runs" / trial_id / "trial.json", default={})
        rows.append({"trial": trial_id, "status": str(trial.status), "val_loss": trial.score,
                     "hyperparameters": decoded(hm.space, {k: v for k, v in trial.hyperparameters.values.items()
                                                           if not k.startswith("tuner/")}),
                     "epochs_run": info.get("epochs_run"), "seconds": info.get("seconds_this_session")})
    from kzoo.report import provenance
    from kzoo.runs import provenance_fields

    made = provenance_fields()
    write_json(out / "trials.json", {"experiment": hm.exp.name, "fixed_model_args": hm.fixed,
                                     "tuner_seed": t.oracle.seed, "trials": rows, **made})
    names = sorted({k for r in rows for k in r["hyperparameters"]})
    lines = [f"# Search of {hm.exp.name} ({hm.exp.model})", "",
             "| trial | status | val_loss | " + " | ".join(names) + " | epochs | seconds |",
             "|---|---|---|" + "---|" * (len(names) + 2)]
    for r in rows:
        cells = [_cell(r["hyperparameters"][k]) if k in r["hyperparameters"] else "" for k in names]
        loss = f"{r['val_loss']:.5g}" if r["val_loss"] is not None else ""
        lines.append(f"| {r['trial']} | {r['status']} | {loss} | " + " | ".join(cells)
                     + f" | {r['epochs_run'] or ''} | {r['seconds'] or ''} |")
    scored = [r for r in rows if r["val_loss"] is not None]
    if scored:
        plots.search_trials([r["trial"] for r in scored], [r["val_loss"] for r in scored], out / "trials.png",
                            title=f"{hm.exp.name}: validation loss per trial")
        best = min(scored, key=lambda r: r["val_loss"])
        settings = read_json(out / "runs" / best["trial"] / "trial.json", default={})
        write_json(out / "best_hyperparameters.json", {**best["hyperparameters"], **hm.fixed, **made})
        tmp = out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out / "runs" / best["trial"], tmp, ignore=shutil.ignore_patterns(".staging", ".kzoo-lock"))
        shutil.rmtree(out / "best", ignore_errors=True)
        tmp.rename(out / "best")
        lines += ["", f"Best: trial {best['trial']}, val_loss {best['val_loss']:.5g}; its run is in `best/` "
                  f"(settings {json.dumps(settings.get('settings', {}))}); `best_hyperparameters.json` for "
                  "`kzoo train --hyperparameters`.", "", "![validation loss per trial](trials.png)", ""]
    lines += provenance({**made, "note": ""})[1:]  # the machine, commit and command that searched
    write_text(out / "trials.md", "\n".join(lines))


class _HelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """kzoo's help (each option's default), with the module docstring's lines kept as written."""


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``kzoo tune`` and ``python -m tuners.search`` (one set for both)."""
    p.add_argument("experiment", help="a declared experiment, e.g. gc-dm (see `kzoo list --experiments`); its "
                                      "model's spec.search_space is searched (`kzoo info MODEL`)")
    p.add_argument("--data", required=True, help="dataset directory from `kzoo simulate`")
    p.add_argument("--out", required=True, help="search directory: runs/<trial> (each trial a kzoo run), trials.md "
                                                "and .png, best/ (the best trial's run) and best_hyperparameters.json "
                                                "for `kzoo train --hyperparameters`; a rerun resumes the search")
    p.add_argument("--tuner", default="bayesian", choices=sorted(TUNERS),
                   help="keras-tuner's oracle: bayesian (Gaussian-process optimisation, needs scikit-learn), random, "
                        "grid (every combination, in order; float ranges need a step) or hyperband (trials of "
                        "growing epoch budgets up to --epochs, each trained from scratch)")
    p.add_argument("--max-trials", "--trials", dest="trials", type=int, default=20, metavar="N",
                   help="models to try (bayesian, random, grid; hyperband decides its own number from --epochs)")
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs per trial")
    p.add_argument("--patience", type=int, default=None,
                   help="a trial stops after this many epochs without a lower val_loss (its objective: the lowest "
                        "val_loss); default: the experiment's, as `kzoo train` (a shorter one favours what learns "
                        "fast, not what ends best)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the tuner (keras-tuner gets SEED + 1: it reads 0 as no seed) and of each "
                        "trial's training; the same seed draws the same trials")
    p.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"],
                   help=PRECISION_HELP)
    p.add_argument("--model-arg", action="append", metavar="NAME=VALUE",
                   help="a builder argument held fixed in every trial, VALUE as JSON or else a plain string, "
                        "e.g. --model-arg filters=[16,32] (repeatable); an entry of the search space of that "
                        "name is then not searched")
    p.add_argument("--allow-other-recipe", action="store_true",
                   help="search on a dataset made from another recipe than the experiment's (e.g. tiny test maps)")
    p.add_argument("--chief", metavar="HOST:PORT",
                   help="run the search's oracle (keras-tuner's chief) at HOST:PORT; workers started with --worker "
                        "HOST:PORT run the trials; the chief writes the reports when the search ends")
    p.add_argument("--worker", metavar="HOST:PORT", help="run trials for the chief at HOST:PORT (give --id)")
    p.add_argument("--id", default="", help="this worker's name, e.g. tuner0 (with --worker; unique per worker)")
    p.add_argument("--wait-chief", type=float, default=600, metavar="SECONDS",
                   help="a worker waits this long for its chief to answer, at the start and whenever it stops "
                        "answering (a chief started again is resumed from --out), then gives up with exit 2")
    return p


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m tuners.search", description=__doc__, formatter_class=_HelpFormatter)
    add_arguments(p)
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error instead of one line (or set KZOO_DEBUG=1)")
    return p


def distribution_env(chief: str | None, worker: str | None, tuner_id: str) -> dict:
    """keras-tuner's KERASTUNER_* variables for ``--chief HOST:PORT`` or ``--worker HOST:PORT --id NAME``."""
    if chief and worker:
        raise ValueError("give --chief or --worker, not both")
    where = chief or worker
    if not where:
        if tuner_id:
            raise ValueError("--id names a worker; give it with --worker HOST:PORT")
        return {}
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--{'chief' if chief else 'worker'} {where!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
    if worker and (not tuner_id or tuner_id == "chief"):
        raise ValueError("--worker needs --id NAME (e.g. tuner0), unique per worker and not 'chief'")
    return {"KERASTUNER_TUNER_ID": "chief" if chief else tuner_id, "KERASTUNER_ORACLE_IP": host,
            "KERASTUNER_ORACLE_PORT": port}


def run_args(a) -> None:
    """Run the search that the parsed options ``a`` describe (``kzoo tune`` and ``python -m tuners.search``).

    A worker says for whom it waits and gives up (exit 2, one line) when no chief answers within ``--wait-chief``
    seconds; when its chief stops answering mid-search it waits for it as long again and carries on with the chief
    started again (its trial's run continues from its checkpoint), or gives up with one line. A chief refuses a port
    already in use and a search folder another chief (or single-machine search) holds."""
    env = distribution_env(a.chief, a.worker, a.id)
    if a.wait_chief <= 0:
        raise ValueError(f"--wait-chief must be > 0 seconds, got {a.wait_chief:g}")
    os.environ.update(env)

    def run():
        search(a.experiment, a.data, a.out, tuner=a.tuner, trials=a.trials, epochs=a.epochs, seed=a.seed,
               patience=a.patience, precision=a.precision, allow_other_recipe=a.allow_other_recipe,
               **model_args(a.model_arg))

    if a.worker:
        import grpc

        from keras_tuner.src.distribute import oracle_client

        oracle_client.TIMEOUT = a.wait_chief  # each call to the chief waits this long for it, then fails
        log = logging.getLogger("kzoo")
        log.info(f"worker {a.id}: waiting for the chief at {a.worker} (up to {a.wait_chief:g} s, --wait-chief)")
        if not chief_answers(a.worker, a.wait_chief):
            raise ValueError(f"worker {a.id}: no chief answered at {a.worker} within {a.wait_chief:g} s; start it "
                             f"with --chief {a.worker} and the same --out, or wait longer with --wait-chief")
        while True:
            try:
                run()
                break
            except grpc.RpcError as e:
                code = e.code().name if hasattr(e, "code") else type(e).__name__
                log.warning(f"worker {a.id}: the chief at {a.worker} stopped answering ({code}); waiting up to "
                            f"{a.wait_chief:g} s for it to be started again")
                if not chief_answers(a.worker, a.wait_chief):
                    raise ValueError(f"worker {a.id}: the chief at {a.worker} stopped answering ({code}) and did not "
                                     f"come back within {a.wait_chief:g} s; the trial's run is kept in {a.out}/runs: "
                                     f"start the chief again, then this worker with --id {a.id}, and it carries "
                                     f"on") from None
                log.info(f"worker {a.id}: the chief at {a.worker} answers again; carrying on")
    else:
        from kzoo.io import LockError, dir_lock

        if a.chief:
            host, _, port = a.chief.rpartition(":")
            if not port_free(host, int(port)):
                raise ValueError(f"--chief {a.chief}: the port is in use (another chief, or another program); "
                                 f"choose another port, or stop what listens there")
        try:
            with dir_lock(a.out, "the chief of this search" if a.chief else "a search"):
                run()
        except LockError as e:
            raise ValueError(f"--out {a.out}: {e}") from None
    if a.worker:
        print(f"worker {a.id}: the chief at {a.worker} has no more trials")
    else:
        print(f"search done: {Path(a.out) / 'trials.md'}; best run {Path(a.out) / 'best'}; best hyper-parameters "
              f"{Path(a.out) / 'best_hyperparameters.json'}")


def main(argv=None) -> int:
    """Run the search; any error prints one line ``python -m tuners.search: error: ...`` and returns 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    a = parser().parse_args(argv)
    restore = log_to_stderr(logging.INFO)
    try:
        return run_reporting("python -m tuners.search", lambda: run_args(a), a.debug)
    finally:
        restore()


if __name__ == "__main__":
    from kzoo.cli_options import console

    sys.exit(console(main))
