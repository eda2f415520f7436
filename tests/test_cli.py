import json

import pytest
import yaml

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
    assert "A_dm: mae_scaled " in out and "(seed: 0.0807, poisson_template_fit:" in out
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
