"""The package as a user installs it: a wheel keeps the commit it was built from, and ships the licence."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_keeps_its_commit_and_licence_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("kzoo-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    assert "kzoo/_build.json" in names and any(n.endswith("licenses/LICENSE") for n in names)
    assert any(n.startswith("kzoo/presets/") and n.endswith(".keras") for n in names)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", "import kzoo, kzoo.cli; print(kzoo.__file__); "
                          "print(kzoo.cli.version_line())"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == str(site / "kzoo" / "__init__.py")  # the wheel's kzoo, not the checkout's
    from kzoo.runs import git_commit

    here = git_commit()
    assert out[1] == f"{kzoo_version()} (commit {here} (built))", out
    assert here != "unknown"


def kzoo_version():
    from kzoo.version import __version__

    return __version__
