import json
import shutil
from pathlib import Path

import pytest

from kzoo.reproduce import reproduce


SMALL_CNN = {"filters": (4, 4, 8, 8, 8, 8), "dense": (16,)}  # gc_cnn at a fraction of the cost


def small_gc_dm(monkeypatch):
    import dataclasses

    from kzoo.experiments import declared

    monkeypatch.setitem(declared(), "gc-dm", dataclasses.replace(declared()["gc-dm"], model_args=SMALL_CNN))


def test_reproduce_writes_the_table_and_reuses_a_finished_run(tmp_path, monkeypatch):
    results = tmp_path / "results"
    r = reproduce("gc-dm", tmp_path / "work", n=120, epochs=1, workers=1, results_dir=results)
    md = (results / "gc-dm.md").read_text()
    assert "| A_dm | mae_scaled |" in md and "| 0.0807 |" in md and "| A_dm | relative_error |" in md
    assert "poisson_template_fit" in md and "Settings: batch 64, Adam lr 0.001" in md
    assert "| <= 0.08: **missed** |" in md  # one epoch on 74 images cannot reach the DM goal, and the table says so
    for png in ("loss_curves.png", "predicted_vs_true.png", "classical_predicted_vs_true.png"):
        assert (results / "gc-dm" / png).exists()
    saved = json.loads((results / "gc-dm.json").read_text())
    assert saved["splits"] == {"train": 74, "val": 18, "test": 28}
    assert saved["machine"]["cores"] >= 1 and saved["seconds"]["train_and_evaluate"] > 0
    model_time = (tmp_path / "work" / "run" / "model.keras").stat().st_mtime_ns
    again = reproduce("gc-dm", tmp_path / "work", n=120, epochs=1, workers=1, results_dir=results)
    assert (tmp_path / "work" / "run" / "model.keras").stat().st_mtime_ns == model_time  # not retrained
    assert again["metrics"] == r["metrics"] and again["seconds"] == r["seconds"]
    # a new goal is not a new run, but a new learning rate is: the finished run is trained again
    import dataclasses

    from kzoo.experiments import declared

    monkeypatch.setitem(declared(), "gc-dm", dataclasses.replace(declared()["gc-dm"], goals={}))
    reproduce("gc-dm", tmp_path / "work", n=120, epochs=1, workers=1, results_dir=results)
    assert (tmp_path / "work" / "run" / "model.keras").stat().st_mtime_ns == model_time
    monkeypatch.setitem(declared(), "gc-dm", dataclasses.replace(declared()["gc-dm"], learning_rate=5e-4))
    reproduce("gc-dm", tmp_path / "work", n=120, epochs=1, workers=1, results_dir=results)
    assert (tmp_path / "work" / "run" / "model.keras").stat().st_mtime_ns != model_time
    assert json.loads((tmp_path / "work" / "run" / "run.json").read_text())["experiment"]["learning_rate"] == 5e-4


def test_a_suite_runs_each_experiment_and_writes_one_page(tmp_path, monkeypatch):
    from kzoo import reproduce as rp

    monkeypatch.setitem(rp.suites(), "tiny", rp.Suite("tiny", ("gc-dm",)))
    records = rp.reproduce_suite("tiny", tmp_path / "work", n=100, epochs=1, workers=1, results_dir=tmp_path / "res")
    assert [r["experiment"]["name"] for r in records] == ["gc-dm"]
    page = (tmp_path / "res" / "tiny.md").read_text()
    assert "[gc-dm](gc-dm.md)" in page and "## gc-dm:" in page

    # the page again from the recorded results alone: nothing trained, the same rows, with the floor beside them
    import pytest

    from kzoo.data.recipes import load_recipe
    from kzoo.io import write_json

    write_json(tmp_path / "res" / "gc-fisher.json", {
        "params": load_recipe("galactic_center")["params"],
        "known_maps": {"A_dm": {"mae_scaled": 0.03}}, "gaussian_unknown_fields": {"A_dm": {"mae_scaled": 0.186}}})
    from kzoo.families.gc.page import gc_floors

    monkeypatch.setitem(rp.suites(), "tiny", rp.Suite("tiny", ("gc-dm",), floors=gc_floors))
    model = tmp_path / "work" / "gc-dm" / "run" / "model.keras"
    mtime = model.stat().st_mtime_ns
    again = rp.reproduce_suite("tiny", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)
    assert again[0]["metrics"] == records[0]["metrics"] and model.stat().st_mtime_ns == mtime
    assert not (tmp_path / "elsewhere" / "gc-dm").exists()
    value = records[0]["metrics"]["A_dm"]["mae_scaled"]
    row = next(line for line in (tmp_path / "res" / "tiny.md").read_text().splitlines()
               if line.startswith("| [gc-dm]") and "| mae_scaled |" in line)
    assert f"| 0.030 bound (kzoo {value / 0.03:.1f}x); 0.186 forecast |" in row and "| float32 |" in row
    # a record of another dataset seed (another recipe) or another declaration is refused, naming the file
    saved = json.loads((tmp_path / "res" / "gc-dm.json").read_text())
    for field, value in (("dataset_seed", 2), ("experiment", {**saved["experiment"], "learning_rate": 0.5})):
        write_json(tmp_path / "res" / "gc-dm.json", {**saved, field: value})
        with pytest.raises(ValueError, match=r"1 of 1 records cannot be used: .*gc-dm\.json was (made from another "
                                             r"recipe|trained under another declaration)"):
            rp.reproduce_suite("tiny", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)
    # an experiment declared but not recorded yet is listed under the summary; a suite with no record is refused
    write_json(tmp_path / "res" / "gc-dm.json", saved)
    monkeypatch.setitem(rp.suites(), "tiny", rp.Suite("tiny", ("gc-dm", "gc-dm-leaky-relu"), floors=gc_floors))
    assert len(rp.reproduce_suite("tiny", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)) == 1
    assert "Declared, not recorded yet (`kzoo reproduce EXPERIMENT` records one): `gc-dm-leaky-relu`." in \
        (tmp_path / "res" / "tiny.md").read_text()
    (tmp_path / "res" / "gc-dm.json").unlink()
    with pytest.raises(ValueError, match=r"gc-dm\.json is missing"):
        rp.reproduce_suite("tiny", tmp_path / "elsewhere", results_dir=tmp_path / "res", from_results=True)


def test_goal_status_says_met_or_missed():
    from kzoo.report import goal_status

    assert goal_status(0.07, ("<=", 0.08)) == "<= 0.08: met"
    assert goal_status(0.09, ("<=", 0.08)) == "<= 0.08: **missed**"
    assert goal_status(0.97, (">=", 0.97)) == ">= 0.97: met"
    assert goal_status(0.5, None) == ""
    assert goal_status(0.671, ("within", 0.6827, 0.02)) == "0.6827 +- 0.02: met"
    assert goal_status(0.62, ("within", 0.6827, 0.02)) == "0.6827 +- 0.02: **missed**"


def test_a_summary_without_a_seeds_number_shows_every_target_and_small_numbers_legibly():
    from kzoo.experiments import get_experiment
    from kzoo.report import headline_rows

    exp = get_experiment("sersic-v3").to_dict()  # no seed number, no goal: its headline metric, per target
    record = {"experiment": exp, "reference": {}, "epochs_run": 3, "settings": {"precision": "float32"},
              "seconds": {"train_and_evaluate": 1.0}, "classical_reference": None,
              "metrics": {"flux": {"mae_scaled": 0.02, "rmse": 9e3}, "n": {"mae_scaled": 0.17, "rmse": 1.1},
                          "noiseless": {"mse": 6.6e-6}}}
    rows = headline_rows(record)
    assert [r.split(" | ")[1:3] for r in rows] == [["flux", "mae_scaled"], ["n", "mae_scaled"]]
    record["metrics"] = {"denoised": {"mse": 6.575e-6}, "noisy_input": {"mse": 6.64e-4}}
    assert [r.split(" | ")[3] for r in headline_rows(record)] == ["6.575e-06", "0.000664"]


def test_a_learning_curve_trains_on_the_first_n_images_and_writes_its_page(tmp_path, capsys, monkeypatch):
    small_gc_dm(monkeypatch)
    from kzoo.cli import main

    work, res = tmp_path / "work", tmp_path / "res"
    args = ["reproduce", "gc-dm", "--out", str(work), "--n", "160", "--epochs", "1", "--workers", "1",
            "--results", str(res), "--train-sizes", "32,64"]
    assert main(args) == 0
    record = json.loads((res / "gc-dm-learning-curve.json").read_text())
    assert [p["train_size"] for p in record["points"]] == [32, 64] and record["metric"] == "mae_scaled"
    assert record["backend"] == "tensorflow" and "--backend" not in record["command"]  # only another backend is named
    for n in (32, 64):
        run = json.loads((work / f"run-n{n}" / "run.json").read_text())
        assert run["settings"]["train_size"] == n
        assert int(open(work / f"run-n{n}" / "history.csv").read().count("\n")) == 2  # header + one epoch
    md = (res / "gc-dm-learning-curve.md").read_text()
    assert "| 32 | " in md and "| 64 | " in md and "| seed | 0.0807 |" in md
    assert (res / "gc-dm-learning-curve.png").stat().st_size > 0
    before = (work / "run-n32" / "model.keras").stat().st_mtime_ns
    assert main(args) == 0  # finished runs are reused
    assert (work / "run-n32" / "model.keras").stat().st_mtime_ns == before
    capsys.readouterr()
    assert main(args[:-1] + ["30,64"]) == 2  # not a whole record: refused before anything trains
    assert "--train-sizes 30" in capsys.readouterr().err and not (work / "run-n30").exists()
    assert main(["reproduce", "gc", "--out", str(work), "--train-sizes", "32"]) == 2
    # a fine-tuning curve: the same sizes from scratch (reused) and fine-tuned from a run, both on one page
    assert main(args + ["--init", str(work / "run-n64"), "--freeze-epochs", "1"]) == 0
    record = json.loads((res / "gc-dm-finetune.json").read_text())
    assert record["init"]["kind"] == "run" and record["freeze_epochs"] == 1
    assert [p["fine_tuned"]["epochs_run"] for p in record["points"]] == [1, 1]
    run = json.loads((work / "run-n32-init" / "run.json").read_text())
    assert run["settings"]["init"]["sha256"] == record["init"]["sha256"] and run["settings"]["train_size"] == 32
    md = (res / "gc-dm-finetune.md").read_text()
    assert "| training images | A_dm from scratch | A_dm fine-tuned |" in md and "fine-tuned from run" in md
    assert (work / "run-n32" / "model.keras").stat().st_mtime_ns == before  # the scratch runs reused


def test_an_ensemble_averages_members_that_differ_only_in_their_training_seed(tmp_path, capsys, monkeypatch):
    small_gc_dm(monkeypatch)
    import numpy as np

    from kzoo.cli import main
    from kzoo.metrics import regression_metrics

    work, res = tmp_path / "work", tmp_path / "res"
    args = ["reproduce", "gc-dm", "--out", str(work), "--n", "120", "--epochs", "1", "--workers", "1",
            "--results", str(res), "--members", "2"]
    assert main(args) == 0
    record = json.loads((res / "gc-dm-ensemble.json").read_text())
    assert [m["seed"] for m in record["members"]] == [1, 2]
    a, b = (np.load(work / d / "predictions_test.npz") for d in ("run", "run-seed2"))
    assert not np.array_equal(a["y_pred"], b["y_pred"])  # another training seed, another network
    ranges = json.loads((work / "run" / "run.json").read_text())["target_ranges"]
    want = regression_metrics(a["y_true"], (a["y_pred"] + b["y_pred"]) / 2, ["A_dm"], ranges=ranges)
    assert record["metrics"]["A_dm"]["mae_scaled"] == want["A_dm"]["mae_scaled"]
    md = (res / "gc-dm-ensemble.md").read_text()
    assert "| member, seed 2 |" in md and "**ensemble (mean)**" in md and "| seed | 0.0807 |" in md
    assert "<= 0.08: " in md and (res / "gc-dm-ensemble.png").exists()
    assert json.loads((work / "run-seed2" / "run.json").read_text())["seed"] == 2

    # a study in parts (another session, another machine): a member recorded in results/runs/ is not trained again
    ledger = json.loads((res / "runs" / "gc-dm-ensemble.json").read_text())
    assert set(ledger["runs"]) == {"train_and_evaluate", "train_and_evaluate_seed2"} and ledger["commit"]
    assert ledger["command"] and ledger["machine"]["cores"] and ledger["runs"]["train_and_evaluate_seed2"]["commit"]
    shutil.rmtree(work / "run-seed2")
    assert main(args) == 0 and not (work / "run-seed2").exists()
    again = json.loads((res / "gc-dm-ensemble.json").read_text())
    assert again["metrics"] == record["metrics"] and again["members"][1]["made_earlier"]["commit"]
    assert "made_earlier" not in again["members"][0]
    assert "Read from the record of runs made earlier" in (res / "gc-dm-ensemble.md").read_text()
    ledger["runs"]["train_and_evaluate_seed2"]["identity"]["seed"] = 7  # recorded under another identity: trained
    (res / "runs" / "gc-dm-ensemble.json").write_text(json.dumps(ledger))
    assert main(args) == 0 and (work / "run-seed2" / "model.keras").exists()
    assert json.loads((res / "runs" / "gc-dm-ensemble.json").read_text())["runs"]["train_and_evaluate_seed2"][
        "identity"]["seed"] == 2
    capsys.readouterr()
    assert main(["reproduce", "gc-ps-unet", "--out", str(work), "--members", "2"]) == 2
    assert "not a plain regression experiment" in capsys.readouterr().err


def test_cross_validation_trains_each_fold_on_the_others_and_reports_the_spread(tmp_path, capsys, monkeypatch):
    small_gc_dm(monkeypatch)
    import numpy as np

    from kzoo.cli import main
    from kzoo.data import load_arrays, load_manifest
    from kzoo.data.records import fold_records, record_sizes

    work, res = tmp_path / "work", tmp_path / "res"
    args = ["reproduce", "gc-dm", "--out", str(work), "--n", "160", "--epochs", "1", "--workers", "1",
            "--results", str(res), "--folds", "2"]
    assert main(args) == 0
    record = json.loads((res / "gc-dm-cv.json").read_text())
    maes = [r["metrics"]["A_dm"]["mae_scaled"] for r in record["runs"]]
    assert len(maes) == 2 and record["summary"]["A_dm"]["mae_scaled"]["mean"] == sum(maes) / 2
    assert record["summary"]["A_dm"]["mae_scaled"]["std"] == np.std(maes, ddof=1)
    m = load_manifest(work / "data")
    info, block = m["splits"]["train"], m["block"]
    for i in range(2):  # fold i's run trained on the records outside fold i: their images and no others
        run = json.loads((work / f"fold-{i}" / "run.json").read_text())
        assert run["settings"]["fold"] == [i, 2]
        out_of_fold = sum(n for n, k in zip(record_sizes(info, block), fold_records(info, block, i, 2, False)) if k)
        _, y = load_arrays(work / "data", "train", targets=["A_dm"], fold=(i, 2, False))
        _, held = load_arrays(work / "data", "train", targets=["A_dm"], fold=(i, 2, True))
        assert len(y) == out_of_fold and len(y) + len(held) == info["count"]
        assert not set(y[:, 0].tolist()) & set(held[:, 0].tolist())
    assert "**mean +- std**" in (res / "gc-dm-cv.md").read_text()
    # each fold's final model on its held-out fold, measured as on the test split: what a seed that validated on
    # its training simulations measured
    from kzoo.export import infer, load_model

    page = (res / "gc-dm-cv.md").read_text()
    for i, r in enumerate(record["runs"]):
        x, held = load_arrays(work / "data", "train", targets=["A_dm"], fold=(i, 2, True))
        pred = infer(load_model(work / f"fold-{i}" / "model.keras"), x)[:, 0]  # gc-dm: A_dm unscaled, in [0, 1]
        assert r["held_out"]["A_dm"]["n"] == len(held)
        assert abs(r["held_out"]["A_dm"]["mae"] - np.mean(np.abs(pred - held[:, 0]))) < 1e-5
        assert f"| {i} | {r['held_out']['A_dm']['mae_scaled']:.4g} |" in page
    assert "held-out A_dm mae_scaled" in page and record["held_out_summary"]["A_dm mae_scaled"]["mean"] > 0
    capsys.readouterr()
    assert main(args[:-2] + ["--folds", "2", "--members", "2"]) == 2


def test_the_spectra_section_names_each_gans_noise_and_its_spread():
    from kzoo.families.spectra.page import spectra_section

    def record(name, **args):
        m = {"cross_correlation": {"r_median_generated": 0.5, "r_median_real": 0.9, "r_ks": 0.6,
                                   "template_agreement": 0.4},
             "frechet": {"generated": 0.2, "real_vs_real": 0.003}}
        if args.get("latent_dim", 16):
            m["noise"] = {"draw_std": 0.125, "n": 16}
        return {"experiment": {"name": name, "model": "spectra_wgan", "inputs": {"spectrum": "spectrum"},
                               "model_args": {"penalty": "gp", **args}}, "metrics": m, "epochs_run": 20}

    page = spectra_section(Path("unused"), Path("unused"), [record("a"), record("b", noise="uniform"),
                                                            record("c", latent_dim=0)])
    rows = [line for line in page.splitlines() if line.startswith("| [")]
    assert "| gp | gaussian x 16 | 0.500 (0.900) |" in rows[0] and "| 0.125 | 20 |" in rows[0]
    assert "| uniform x 16 |" in rows[1]
    assert "| none (the parameters alone) |" in rows[2] and rows[2].endswith("| 0.2000 (0.0030) |  | 20 |")


def test_a_source_number_measured_on_validation_is_shown_beside_the_validation_value():
    from kzoo.report import headline_rows

    r = {"experiment": {"name": "x", "loss": "mse", "reference_split": "validation", "goals": {}},
         "metrics": {"denoised": {"mse": 0.0015}}, "reference": {"mse": {"denoised": 0.0011}},
         "validation": {"epoch": 12, "loss": 0.001, "val_loss": 0.0013}, "classical_reference": None,
         "epochs_run": 20, "settings": {"precision": "float32"}, "seconds": {"train_and_evaluate": 1.0}}
    rows = headline_rows(r)
    assert len(rows) == 2 and "| mse | 0.0015 |" in rows[0] and "| mse, validation (best epoch: 12) | 0.0013 |" in rows[1]
    assert "| 0.0011: **missed** |" in rows[1]  # the seed's number with kzoo's verdict (lower is better for an MSE)
    # a seed that quotes its validation value after its whole schedule: the last epoch too, where it is another one
    r["validation_last"] = {"epoch": 20, "loss": 0.0009, "val_loss": 0.00105}
    rows = headline_rows(r)
    assert len(rows) == 3 and "| mse, validation (last epoch: 20) | 0.00105 |" in rows[2] and "0.0011: met" in rows[2]
    r["experiment"]["reference_split"] = "test"
    assert len(headline_rows(r)) == 1


def test_an_experiment_file_reproduces_as_its_own_comment_says(tmp_path):
    """`kzoo reproduce FILE.yaml` resolves the file, as `--train-sizes` does."""
    from kzoo.cli import main

    f = tmp_path / "my-gc.yaml"
    f.write_text("name: my-gc\nrecipe: galactic_center\nmodel: gc_cnn\ninputs: counts\ntargets: [A_dm]\n"
                 "scale_targets: true\nepochs: 1\n")
    assert main(["reproduce", str(f), "--out", str(tmp_path / "work"), "--n", "120", "--workers", "1",
                 "--results", str(tmp_path / "results")]) == 0
    assert json.loads((tmp_path / "results" / "my-gc.json").read_text())["experiment"]["name"] == "my-gc"


def test_a_cross_validations_held_out_folds_are_a_row_beside_the_seeds_number(tmp_path):
    """The seeds that validated on slices of their training boxes measured what a cross-validation's held-out folds
    measure: the suite's summary shows that mean beside their number, with the folds' epochs, precision and time."""
    from kzoo.experiments import get_experiment
    from kzoo.io import write_json
    from kzoo.report import headline_rows
    from kzoo.reproduce import with_held_out

    exp = get_experiment("reion-z-fesc007-mlp").to_dict()
    r = {"experiment": exp, "metrics": {"z_class": {"accuracy": 0.26}}, "reference": {}, "classical_reference": None,
         "epochs_run": 23, "settings": {"precision": "mixed_bfloat16"}, "seconds": {"train_and_evaluate": 70.1}}
    assert with_held_out(r, tmp_path) is r  # no cross-validation recorded
    write_json(tmp_path / "reion-z-fesc007-mlp-cv.json", {
        "experiment": exp, "folds": 3, "precision": "float32",
        "held_out_summary": {"z_class accuracy": {"mean": 0.105, "std": 0.016}},
        "runs": [{"epochs_run": 27, "seconds": 10.0}, {"epochs_run": 16, "seconds": 5.0}, {"epochs_run": 36, "seconds": 1.5}]})
    rows = headline_rows(with_held_out(r, tmp_path))
    assert "| accuracy | 0.2600 |" in rows[0] and "| 0.48: **missed** |" in rows[0]
    assert "| accuracy, held-out folds (mean of 3) | 0.1050 |  | 0.48: **missed** |" in rows[1]
    assert "| 16-36 | float32 | 16.5 |" in rows[1]
    write_json(tmp_path / "reion-z-fesc007-mlp-cv.json", {"experiment": {**exp, "learning_rate": 0.5}, "folds": 3,
                                                         "held_out_summary": {"z_class accuracy": {"mean": 0.1}}})
    assert with_held_out(r, tmp_path) is r  # made under another declaration: not this experiment's


def test_a_multi_run_record_names_a_backend_other_than_tensorflow_in_its_command(monkeypatch):
    import keras

    from kzoo.experiments import get_experiment as get
    from kzoo.reproduce import variant_record

    manifest = {"splits": {"train": {"count": 8}, "test": {"count": 4}}}
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    r = variant_record(get("gc-dm"), manifest, "d", seed=1, precision="float32", note="", command="kzoo reproduce x")
    assert r["backend"] == "torch" and r["command"] == "kzoo reproduce x --backend torch"
    r = variant_record(get("gc-dm"), manifest, "d", seed=1, precision="float32", note="",
                       command="kzoo reproduce x --backend torch")
    assert r["command"].count("--backend") == 1


def test_a_seed_spread_judges_runs_that_differ_only_in_their_training_seed(tmp_path, capsys, monkeypatch):
    small_gc_dm(monkeypatch)
    from kzoo.cli import main

    work, res = tmp_path / "work", tmp_path / "res"
    args = ["reproduce", "gc-dm", "--out", str(work), "--n", "160", "--epochs", "1", "--workers", "1",
            "--results", str(res), "--seeds", "2"]
    assert main(args) == 0
    record = json.loads((res / "gc-dm-seeds.json").read_text())
    assert [r["seed"] for r in record["runs"]] == [1, 2] and record["metric"] == "mae_scaled"
    assert json.loads((work / "run-seed2" / "run.json").read_text())["seed"] == 2
    a, b = (r["metrics"]["A_dm"]["mae_scaled"] for r in record["runs"])
    assert a != b  # other initial weights and shuffling
    spread = record["summary"]["A_dm"]["mae_scaled"]
    assert spread["mean"] == pytest.approx((a + b) / 2) and spread["std"] == pytest.approx(abs(a - b) / 2 ** 0.5)
    md = (res / "gc-dm-seeds.md").read_text()
    assert "| A_dm | mae_scaled | " in md and "| seed 1 | seed 2 | mean | std |" in md and "--seeds 2" in md
    assert set(json.loads((res / "runs" / "gc-dm-seeds.json").read_text())["runs"]) == {
        "train_and_evaluate", "train_and_evaluate_seed2"}  # each run recorded as it finishes, for a study in parts
    before = (work / "run-seed2" / "model.keras").stat().st_mtime_ns
    assert main(args) == 0 and (work / "run-seed2" / "model.keras").stat().st_mtime_ns == before  # reused
    capsys.readouterr()
    assert main(args[:-1] + ["1"]) == 2 and "--seeds must be at least 2" in capsys.readouterr().err
    assert main(args + ["--members", "2"]) == 2 and "give one of" in capsys.readouterr().err
