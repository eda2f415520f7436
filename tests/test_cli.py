import argparse
import json
from pathlib import Path

import pytest
import yaml

import kzoo.cli
import tuners.search
from conftest import tiny_recipe
from kzoo.cli import main


def test_list_and_info(capsys):
    assert main(["list", "gc*"]) == 0
    assert "gc_cnn" in capsys.readouterr().out
    assert main(["list", "--experiments"]) == 0
    assert "gc-dm" in capsys.readouterr().out
    assert main(["info", "gc_cnn"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_shape"] == [64, 64, 1] and info["reference"]["parameters"] == 1447393
    assert main(["info", "gc-dm"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "gc_cnn"


def test_unknown_names_exit_2_with_one_clear_line(capsys):
    assert main(["info", "gc_cn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'gc_cnn'" in err[0]
    assert main(["simulate", "galactic_centr", "--out", "/nonexistent/x"]) == 2
    assert "galactic_center" in capsys.readouterr().err


def test_simulate_train_evaluate_export_from_the_command_line(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(features=["counts"])))
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["simulate", str(recipe), "--n", "64", "--out", str(data), "--seed", "7", "--shards", "3",
                 "--no-progress"]) == 0
    assert "manifest.json" in capsys.readouterr().out
    assert main(["verify", str(data)]) == 0
    assert main(["train", "gc-dm", "--data", str(data), "--out", str(run), "--epochs", "1",
                 "--batch-size", "16", "--quiet", "--allow-other-recipe"]) == 0
    out = capsys.readouterr().out
    assert "relative_error" in out and "mae_scaled" in out
    assert "A_dm: mae_scaled " in out and "(source notebooks: 0.0807, poisson_template_fit:" in out
    assert main(["evaluate", str(run)]) == 0
    assert main(["export", str(run), "--format", "savedmodel"]) == 0
    assert (run / "export" / "savedmodel" / "saved_model.pb").exists()
    assert main(["train", "gc-dm", "--data", str(tmp_path / "nodata"), "--out", str(run)]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_bad_recipe_exits_2_listing_problems(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sky: galactic_center\nsplits: {train: 10}\nshards: 0\nextra: 1\n")
    assert main(["simulate", str(bad), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "'extra'" in err and "'shards'" in err and str(bad) in err
    assert not (tmp_path / "d" / "manifest.json").exists()


def _parsers(p):
    """``p`` and every subparser under it."""
    yield p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                yield from _parsers(sub)


@pytest.mark.parametrize("make", [kzoo.cli.parser, tuners.search.parser], ids=["kzoo", "tuners.search"])
def test_every_option_of_every_command_has_a_sentence_and_shows_its_default(make):
    missing, no_default = [], []
    for p in _parsers(make()):
        formatter = p.formatter_class(p.prog)
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction)):  # print and exit: no default
                continue
            name = f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
            if not (a.help or "").strip():
                missing.append(name)
            if isinstance(a, argparse._SubParsersAction):
                missing += [f"{p.prog} {c.dest}" for c in a._choices_actions if not (c.help or "").strip()]
            elif a.option_strings and a.default is not None and a.default is not False:
                if "default" not in (formatter._get_help_string(a) or ""):
                    no_default.append(name)
        assert p.format_help()  # every help string formats (no stray %)
    assert not missing, f"options without a help sentence: {missing}"
    assert not no_default, f"options whose --help hides the default: {no_default}"


def test_train_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "augmentation (default: 0)" in text and "(default: float32)" in text and "--model-arg NAME=VALUE" in text


def test_model_args_and_hyperparameters_reach_the_model_and_run_json(tiny_data, tmp_path, capsys):
    from kzoo.export import load_model

    run = tmp_path / "run"
    train = ["train", "gc-dm", "--data", str(tiny_data), "--out", str(run), "--epochs", "1", "--quiet",
             "--allow-other-recipe", "--model-arg", "filters=[4,4,8,8]"]
    assert main(train + ["--model-arg", "dense=[8]", "--model-arg", "activation=elu"]) == 0
    settings = json.loads((run / "run.json").read_text())["settings"]
    assert settings["model_args"] == {"filters": [4, 4, 8, 8], "dense": [8], "activation": "elu"}
    model = load_model(run / "model.keras")
    small = model.count_params()
    assert [layer.units for layer in model.layers if type(layer).__name__ == "Dense"][0] == 8
    capsys.readouterr()

    # other model arguments make another run: refused in the same --out without --overwrite
    assert main(train + ["--model-arg", "dense=[16]"]) == 2
    err = capsys.readouterr().err
    assert "model_args.dense: [8] -> [16]" in err, err

    best = tmp_path / "best_hyperparameters.json"
    best.write_text(json.dumps({"learning_rate": 0.0123, "batch_size": 8, "dense": [16], "activation": "relu",
                                "commit": "abc1234", "command": "kzoo tune gc-dm", "machine": {"cores": 2}}))
    assert main(train + ["--hyperparameters", str(best), "--batch-size", "16", "--model-arg", "activation=elu",
                         "--overwrite"]) == 0
    settings = json.loads((run / "run.json").read_text())["settings"]
    assert settings["learning_rate"] == 0.0123 and settings["batch_size"] == 16  # the command line wins
    assert settings["model_args"] == {"filters": [4, 4, 8, 8], "dense": [16], "activation": "elu"}
    model = load_model(run / "model.keras", compile=True)
    assert model.count_params() > small
    assert model.optimizer.get_config()["learning_rate"]["config"]["initial_learning_rate"] == pytest.approx(0.0123)


def test_simulate_again_says_what_it_wrote(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(features=["counts"])))
    data = tmp_path / "data"
    args = ["simulate", str(recipe), "--n", "64", "--out", str(data), "--shards", "3", "--no-progress"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith(f"wrote 3 shards (")
    manifest = (data / "manifest.json").stat().st_mtime_ns
    assert main(args) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"up to date: {data} holds all 3 shards (") and out.endswith("; nothing written"), out
    assert (data / "manifest.json").stat().st_mtime_ns == manifest
    shard = sorted(data.glob("train-*.tfrecord"))[0]
    shard.unlink()
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("wrote 1 of 3 shards (2 were already complete; ")
    assert shard.exists()


def test_train_again_says_what_it_did_and_no_reference_skips_the_classical_fit(tmp_path, capsys):
    from conftest import TINY_RECIPE

    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["simulate", str(TINY_RECIPE), "--out", str(data), "--no-progress"]) == 0
    train = ["train", "gc-dm", "--data", str(data), "--out", str(run), "--epochs", "1", "--batch-size", "16",
             "--quiet", "--allow-other-recipe", "--no-reference"]
    capsys.readouterr()
    assert main(train) == 0
    assert capsys.readouterr().out.strip().endswith(f"trained: {run} holds the new run (1 epochs)")
    assert not list(run.glob("classical_*")) and not (data / ".kzoo-reference").exists()
    assert json.loads((run / "metrics.json").read_text())["classical_reference"] is None
    model = (run / "model.keras").stat().st_mtime_ns
    assert main(train) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"up to date: {run} holds this run (finished, 1 epochs); nothing trained"
    assert (run / "model.keras").stat().st_mtime_ns == model
    assert main(train + ["--overwrite"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (f"retraining: --overwrite given; {run} holds the "
                                                                f"new run (1 epochs)")
    assert main(["evaluate", str(run), "--out", str(tmp_path / "judged"), "--no-reference"]) == 0
    assert (tmp_path / "judged" / "metrics.json").exists() and not list((tmp_path / "judged").glob("classical_*"))
    judged = json.loads((tmp_path / "judged" / "metrics.json").read_text())  # names what made it
    assert judged["commit"] and judged["command"] and judged["machine"]["cores"]
    assert not list(run.glob("classical_*"))


def test_list_experiments_aligns_columns_and_wraps_descriptions(capsys):
    from kzoo.cli import _table
    from kzoo.experiments import get_experiment, list_experiments

    rows = [("a", "m1", "long description " * 6), ("longer-name", "m", "short")]
    lines = _table(("name", "model", "text"), rows, width=60).splitlines()
    assert lines[0].index("model") == lines[1].index("m1") == lines[-1].index("m ") == len("longer-name") + 2
    assert all(len(line) <= 60 for line in lines) and len(lines) == 5  # header, 3 wrapped lines, 1
    assert " ".join(w.strip() for w in lines[1:4])[lines[1].index("long"):].split() == ("long description " * 6).split()
    assert main(["list", "--experiments", "gc-dm*"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    for name in list_experiments("gc-dm*"):
        assert " ".join(get_experiment(name).description.split()) in printed  # whole, not cut


def test_kzoo_version_says_the_version_and_the_commit(capsys):
    import subprocess

    from kzoo.cli import main
    from kzoo.version import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    out = capsys.readouterr().out.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parent).stdout.strip()
    assert e.value.code == 0 and out.startswith(f"kzoo {__version__} (commit ") and (not head or head in out), out


def test_list_info_and_a_missing_image_answer_without_importing_tensorflow(tmp_path):
    """kzoo list, kzoo info MODEL and kzoo predict with a missing file answer at once: no Keras, no TensorFlow."""
    import subprocess
    import sys

    code = ("import sys; from kzoo.cli import main; rc = [main(a) for a in ({})]; "
            "print([m for m in ('tensorflow', 'keras') if m in sys.modules], rc)")
    for args in ([["list"], ["info", "gc_cnn"], ["info", "unet"], ["list", "--presets"]],
                 [["predict", "gc-dm", str(tmp_path / "nope.fits")]]):
        out = subprocess.run([sys.executable, "-c", code.format(args)], capture_output=True, text=True, cwd=tmp_path)
        assert out.stdout.strip().splitlines()[-1] == f"[] {[0] * len(args) if len(args) > 1 else [2]}", out


def test_progress_is_plain_lines_when_standard_error_is_not_a_terminal(tmp_path):
    """A log file or a cluster job's output gets lines, not carriage returns and ANSI codes."""
    import subprocess
    import sys
    from pathlib import Path

    recipe = Path(__file__).parent.parent / "data" / "gc_tiny.yaml"
    p = subprocess.run([sys.executable, "-m", "kzoo.cli", "simulate", str(recipe), "--out", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr and "\x1b[" not in p.stderr
    assert any(line.startswith("simulate: 100%") for line in p.stderr.splitlines()), p.stderr
