"""The documentation site builds with warnings as errors (internal links included), and its front page, a family
page and the API reference render in a real headless Chromium with every image, stylesheet and script found."""

import importlib.util
import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build_module():
    spec = importlib.util.spec_from_file_location("kzoo_docs_build", ROOT / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_cleanly_and_renders_in_a_headless_browser(tmp_path):
    if os.environ.get("KZOO_REQUIRE_BROWSER") != "1":  # CI installs the docs' tools with the dev extra
        pytest.importorskip("sphinx")
        pytest.importorskip("myst_nb")
    build = _build_module()
    html = build.build(tmp_path / "site")  # raises if Sphinx warns: a broken link, a bad docstring
    families = sorted(p.stem for p in (html / "families").glob("*.html") if p.stem != "index")
    assert len(families) == 9
    gc = (html / "families" / "gc.html").read_text()
    assert "gc_unet" in gc and "gc-dm" in gc and "Results" in gc  # models, experiments, the suite page
    assert "kzoo train" in (html / "cli.html").read_text()  # the parser's commands
    assert "write_shards" in (html / "api.html").read_text()  # the docstrings
    import kzoo

    zoo = (html / "guide" / "zoo.html").read_text()
    assert all(f'<span class="pre">{m}</span>' in zoo for m in kzoo.list_models())  # every model, from the registry
    from kzoo.experiments import list_experiments

    exps = (html / "guide" / "experiments.html").read_text()
    assert all(f'<span class="pre">{e}</span>' in exps for e in list_experiments())  # every declared experiment
    presets_page = (html / "guide" / "presets.html").read_text()
    assert all(f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{p}</span>" in presets_page
               for p in ("gc-dm", "sersic-v1-nll", "cosmo-2p"))  # the table written from the presets' manifest
    assert len(list((html / "tutorials").glob("*.html"))) == 1 + len(list((ROOT / "notebooks").glob("*.ipynb")))

    sys.path.insert(0, str(Path(__file__).parent))
    from test_explore import chromium

    browser = chromium()
    try:
        for page, title in [("index.html", "kzoo"), ("families/gc.html", "Galactic-centre"),
                            ("api.html", "API reference")]:
            browser.get((html / page).as_uri())
            assert title in browser.title, (page, browser.title)
            assets = browser.execute_script(
                "return [...document.querySelectorAll('img[src], script[src], link[rel=stylesheet][href]')]"
                ".map(e => e.src || e.href)")
            local = [unquote(urlparse(a).path) for a in assets if a.startswith("file:")]
            assert local and not [a for a in local if not Path(a).is_file()], page
            broken = browser.execute_script(
                "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            assert not broken, (page, broken)
            # the theme's stylesheet applied: the page is laid out by it, not the browser's defaults
            assert browser.execute_script("return getComputedStyle(document.body).fontFamily") != "Times New Roman"
            shot = tmp_path / (re.sub(r"\W", "_", page) + ".png")
            browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 20_000, page
    finally:
        browser.quit()


def test_the_readme_numbers_are_the_records_numbers():
    build = _build_module()
    assert build.update_readme(check=True), "README.md differs from its records: run python docs/build.py --readme"
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for _, exp, *_ in build.HEADLINES:
        assert f"(results/{exp}.md)" in readme


def test_no_documentation_page_says_the_same_paragraph_twice():
    """A page assembled from several sources once held its whole text twice (docs/guide/using.md)."""
    root = Path(__file__).resolve().parent.parent
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "docs" / "guide").glob("*.md"))]:
        paragraphs = [p.strip() for p in page.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 120]
        repeated = {p[:60] for p in paragraphs if paragraphs.count(p) > 1}
        assert not repeated, (page.name, repeated)
