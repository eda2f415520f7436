"""kzoo's build backend: setuptools', after writing kzoo/_build.json with the commit the package is built from.

A wheel installed from it then keeps its provenance (``kzoo --version``, run.json, preset and dataset manifests)
outside a git checkout. Written by hand because setuptools-scm, the library for this, also derives the version from
git tags: kzoo's version is its release number (kzoo/version.py), which dataset manifests record and which must not
change with every commit (a manifest written again makes every run on the dataset another run).
"""

import json
import subprocess
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the hooks this module does not wrap)

STAMP = Path(__file__).resolve().parent.parent / "kzoo" / "_build.json"


def _stamp():
    root = STAMP.parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], capture_output=True, text=True, timeout=10).stdout.strip()
        found = commit.stdout.strip() + ("+uncommitted" if dirty else "") if commit.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found or not STAMP.exists():  # an sdist unpacked elsewhere keeps the stamp it was built with
        STAMP.write_text(json.dumps({"commit": found or "unknown"}) + "\n")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _stamp()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    _stamp()
    return _setuptools.build_sdist(sdist_directory, config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _stamp()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
