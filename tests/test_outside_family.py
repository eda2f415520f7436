"""A family published outside kzoo (tests/outside_family, entry-point group kzoo.families) is found by every
command: installed with pip into a folder of its own, then listed, simulated, trained, evaluated, exported and
reproduced through the kzoo command line, and searched by the tuners."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent


def test_a_family_installed_as_a_package_runs_end_to_end(tmp_path):
    site, src = tmp_path / "site", tmp_path / "src"
    shutil.copytree(HERE / "outside_family", src)  # the build writes beside its sources: not into the checkout
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    assert (site / "kzoo_dots" / "recipes" / "dots.yaml").exists()
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from kzoo.cli import main

        def run(*args):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = main(list(args))
            return rc, out.getvalue()

        w = {str(tmp_path)!r}
        found = {{}}
        found["list"] = run("list", "dots*")
        found["experiments"] = run("list", "--experiments", "dots*")
        found["simulate"] = run("simulate", "dots", "--out", w + "/data", "--no-progress")
        found["train"] = run("train", "dots-brightness", "--data", w + "/data", "--out", w + "/run", "--quiet")
        found["evaluate"] = run("evaluate", w + "/run")
        found["export"] = run("export", w + "/run", "--format", "keras")
        found["reproduce"] = run("reproduce", "dots-brightness", "--out", w + "/work", "--results", w + "/results",
                                 "--workers", "1")
        found["tune"] = run("tune", "dots-brightness", "--data", w + "/data", "--out", w + "/search", "--tuner",
                            "random", "--max-trials", "1", "--epochs", "1")
        found["suite"] = run("reproduce", "dots", "--from-results", "--out", w + "/work", "--results", w + "/results")
        print(json.dumps(found))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    found = json.loads(p.stdout.strip().splitlines()[-1])
    assert all(rc == 0 for rc, _ in found.values()), {k: v for k, v in found.items() if v[0]}
    assert "dots_cnn" in found["list"][1] and "673" in found["list"][1]
    assert "dots-brightness" in found["experiments"][1]
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["recipe"]["sky"] == "dots"
    assert (tmp_path / "run" / "model.keras").exists() and (tmp_path / "run" / "export" / "model.keras").exists()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert "mae_scaled" in metrics["brightness"]
    assert (tmp_path / "search" / "trials.md").exists() and (tmp_path / "search" / "best" / "model.keras").exists()
    page = (tmp_path / "results" / "dots.md").read_text()
    assert page.startswith("# Suite `dots`: 1 experiments") and "[dots-brightness](dots-brightness.md)" in page
