"""Every notebook runs top to bottom at tiny size (KZOO_TINY=1)."""

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("KZOO_TINY", "1")
    monkeypatch.setenv("KZOO_WORK", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # every cell runs, an error is kept in its cell's outputs: all of them are reported below
    errors = [f"cell {i}: {o['ename']}: {o['evalue']}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "\n".join(errors)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # it ran
