"""Build kzoo's documentation site: ``python docs/build.py [--out site]``, then open ``site/html/index.html``.

The site's source is assembled in ``OUT/src`` and built there, so the checkout is never written to: the pages
of this folder; one page per family generated from its declaration, its sky's docstring, its models and
experiments, with its results page (``results/<family>.md``, written by ``kzoo reproduce`` from the records)
included; copies of ``results/``, ``benchmarks/results/`` and the presets' model cards for their links and plots;
and the notebooks as tutorials, rendered with the outputs saved in them (``python docs/build.py
--execute-notebooks`` runs them at the tiny size and saves their outputs in ``notebooks/`` first). Sphinx builds
the HTML with warnings as errors (``-W``), which includes every internal link that does not resolve.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from kzoo.report import md_table, seed_reference, seed_status, shown_metrics

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COPIED = {"results": ROOT / "results", "benchmarks/results": ROOT / "benchmarks" / "results",
          "presets/cards": ROOT / "kzoo" / "presets" / "cards"}
LINK = re.compile(r"\[([^\]\n]*)\]\(([^)#\s]+)(?:#[^)\s]*)?\)")  # a markdown link: its text and target


def _fix_links(text: str, page: Path, original: Path) -> str:
    """A link to a file of the repository that is not part of the site (source code, a test) becomes its path in code.

    ``page`` is where the page sits in the site's source, ``original`` where it sits in the repository; a link that
    resolves in neither is left as it is, for Sphinx to report."""

    def fix(m):
        text_, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+:", target) or (page.parent / target).exists():
            return m.group(0)
        there = (original.parent / target).resolve()
        if there.exists() and there.is_relative_to(ROOT):
            return f"{text_} (`{there.relative_to(ROOT)}`)"
        return m.group(0)

    return LINK.sub(fix, text)


def _copy_tree(src_dir: Path, dest: Path) -> None:
    for path in sorted(src_dir.rglob("*")):
        if path.is_file() and path.suffix in {".md", ".png", ".json", ".csv", ".svg"}:
            out = dest / path.relative_to(src_dir)
            out.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".md":  # a page of the site reached by links, not by the table of contents
                out.write_text("---\norphan: true\n---\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
            else:
                shutil.copyfile(path, out)


def _inline(text: str, prefix: str) -> str:
    """A results page shown inside another page: its headings two levels down, its relative links and images
    prefixed to point where they pointed."""
    out, fence = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("#"):
            line = "##" + line
        out.append(line)
    return re.sub(r"(\]\()(?![a-z]+:|#|/)", lambda m: m.group(1) + prefix, "\n".join(out))


def family_page(name: str) -> str:
    """The page of one family, from its declaration, its sky modules, the registry and its experiments."""
    import kzoo.experiments as experiments
    import kzoo.families as families
    import kzoo.seeds as seeds
    import kzoo.registry as registry

    fam = families.get_family(name)
    registry._ensure_loaded()
    index = registry.index()
    models = sorted(m for m in registry.list_models()
                    if getattr(registry.spec(m).builder, "__module__", "").startswith(fam.package + "."))
    exps = [experiments.get_experiment(e) for e in experiments.list_experiments(family=name)]
    short = re.split(r" of source notebooks \d+|:", fam.title)[0]
    out = [f"# {name}: {short[0].lower() + short[1:] if short[:4] == 'The ' else short}", "",
           f"{fam.title[0].upper()}{fam.title[1:]}.", "",
           f"Family `{name}`, in `kzoo/families/{name}/`. Source notebooks: {seeds.seed_title(fam.seed)}"
           f" (`{fam.seed}` in the seeds' folder).", ""]
    if fam.aliases:
        out += [f"It also answers to {', '.join(f'`{a}`' for a in fam.aliases)}.", ""]
    out += ["## The sky", ""]
    for sky, module in fam.skies.items():
        out += [f"### `{sky}`", "", "```{eval-rst}", f".. automodule:: {fam.package}.{module}", "   :no-index:",
                "```", ""]
    if models:
        out += ["## The models", "", md_table(
            ["model", "task", "input", "parameters", "what it is"],
            [[f"`{m}`", index[m]["task"], " x ".join(map(str, index[m]["input_shape"])),
              f"{index[m]['parameters']:,}" if index[m].get("parameters") else "-", index[m]["description"]]
             for m in models]), ""]
    if exps:
        out += ["## The experiments", "", "`kzoo info EXPERIMENT` shows a whole declaration.", "", md_table(
            ["experiment", "recipe", "model", "targets", "what it asks"],
            [[f"`{e.name}`", f"`{e.recipe}`", f"`{e.model}`", ", ".join(map(str, e.targets)) if not
              isinstance(e.targets, dict) else ", ".join(e.targets), e.description or "-"] for e in exps]), ""]
    if fam.preset_limits:
        out += ["## What a preset of this family cannot know", "", fam.preset_limits, ""]
    results = ROOT / "results" / f"{name}.md"
    out += ["## Results", ""]
    if results.exists():
        out += [f"The suite page `results/{name}.md`, written by `kzoo reproduce {name}` from the recorded runs "
                f"([on its own](../results/{name}.md)):", "", _inline(results.read_text(encoding="utf-8"), "../results/")]
    else:
        out += [f"No suite page yet: `kzoo reproduce {name}` writes one.", ""]
    return "\n".join(out)


ZOO_MARK = "<!-- the zoo table: written by docs/build.py from the model registry -->"


def zoo_table() -> str:
    """Every registered model: its aliases, task, input, weights at its defaults and what it is (kzoo/model_index.json,
    which tests keep equal to the registry)."""
    import kzoo.registry as registry

    rows = [[f"`{name}`", ", ".join(f"`{a}`" for a in s["aliases"]) or "-", s["task"],
             " x ".join(map(str, s["input_shape"])), f"{s['parameters']:,}" if s.get("parameters") else "-",
             s["description"]] for name, s in sorted(registry.index().items())]
    return md_table(["model", "aliases", "task", "input", "parameters", "what it is"], rows)


EXPERIMENTS_MARK = "<!-- the experiments table: written by docs/build.py from the declarations -->"


def experiments_table() -> str:
    """Every declared experiment: family, recipe, model, targets, the source notebooks' numbers and how they compare."""
    import kzoo.experiments as experiments

    rows = []
    for name in experiments.list_experiments():
        e = experiments.get_experiment(name)
        targets = e.targets if isinstance(e.targets, str) else ", ".join(e.targets)
        ref = "; ".join(f"{k} {t} {v}" for k, per in e.reference.items() for t, v in per.items()) or "-"
        rows.append([f"`{name}`", experiments.FAMILY_OF.get(name, "-"), f"`{e.recipe}`", f"`{e.model}`", targets, ref,
                     e.comparison or ("-" if ref == "-" else "not reviewed yet")])
    return md_table(["experiment", "family", "recipe", "model", "targets", "source notebooks' number",
                   "measured as they did?"], rows)


PRESETS_MARK = "<!-- the presets table: written by docs/build.py from kzoo/presets/manifest.json (kzoo list --presets) -->"


def presets_table() -> str:
    """The presets as `kzoo list --presets` shows them, each with a link to its model card."""
    import kzoo.presets as presets

    rows = [[f"`{r[0]}`", *r[1:], f"[card](../presets/cards/{r[0]}.md)"] for r in presets.summary()]
    return md_table([*presets.SUMMARY_COLUMNS, "card"], rows)


def assemble(src: Path) -> None:
    """The site's source in ``src``: this folder's pages, the generated family pages, the copies, the notebooks."""
    import kzoo.families as families

    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("build.py", "__pycache__"))
    for name, path in COPIED.items():
        _copy_tree(path, src / name)
    shutil.copyfile(ROOT / "ARCHITECTURE.md", src / "architecture.md")
    fams = sorted(families.families())
    (src / "families").mkdir()
    for name in fams:
        (src / "families" / f"{name}.md").write_text(family_page(name), encoding="utf-8")
    (src / "families" / "index.md").write_text(
        "# The families\n\nOne page per family: its source notebooks, its sky, its models and experiments, and "
        "its results from the recorded runs.\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(fams) + "\n```\n",
        encoding="utf-8")
    for page in src.rglob("*.md"):
        rel = page.relative_to(src).as_posix()
        copied = [name for name in COPIED if rel.startswith(name + "/")]
        original = COPIED[copied[0]] / rel[len(copied[0]) + 1:] if copied else DOCS / rel
        page.write_text(_fix_links(page.read_text(encoding="utf-8"), page, original), encoding="utf-8")
    exp_page = src / "guide" / "experiments.md"
    exp_page.write_text(exp_page.read_text(encoding="utf-8").replace(EXPERIMENTS_MARK, experiments_table()),
                        encoding="utf-8")
    zoo_page = src / "guide" / "zoo.md"
    zoo_page.write_text(zoo_page.read_text(encoding="utf-8").replace(ZOO_MARK, zoo_table()), encoding="utf-8")
    presets_page = src / "guide" / "presets.md"
    presets_page.write_text(presets_page.read_text(encoding="utf-8").replace(PRESETS_MARK, presets_table()),
                            encoding="utf-8")
    (src / "tutorials").mkdir()
    books = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for nb in books:
        shutil.copyfile(nb, src / "tutorials" / nb.name)
    (src / "tutorials" / "index.md").write_text(
        "# Tutorials\n\nThe notebooks of `notebooks/`, shown with the outputs saved in them (made at the tiny size "
        "they run at by default; `KZOO_TINY=0` runs the source notebooks' sizes). Run them yourself with "
        "`pip install -e \".[notebooks]\" && jupyter lab notebooks/`.\n\n```{toctree}\n:maxdepth: 1\n\n"
        + "\n".join(nb.stem for nb in books) + "\n```\n", encoding="utf-8")


# The README's table of families: one headline number per family, read from its record in results/ (written by
# `kzoo reproduce`), beside the source notebooks' number where the record holds it. (family, record, what,
# path to kzoo's number, path to the source notebooks' number or None, format)
HEADLINES = [  # family, experiment, what, the value's path in the record, the seed's number's in its reference, format
    ("gc", "gc-dm", "dark-matter amplitude, `mae_scaled`", ("metrics", "A_dm", "mae_scaled"), ("mae_scaled", "A_dm"),
     "{:.4f}"),
    ("clusters", "clusters-mass", "log M500, MSE of the [0, 1]-scaled mass", ("metrics", "log_m500", "mse_scaled"),
     ("mse_scaled", "log_m500"), "{:.5f}"),
    ("cosmo", "cosmo-2p", "Omega_m, relative error", ("metrics", "omega_m", "relative_error"), None, "{:.3f}"),
    ("photoz", "photoz-mlp", "redshift, NMAD", ("metrics", "z", "nmad"), None, "{:.4f}"),
    ("rings", "rings-count", "1-4 rings counted, accuracy", ("metrics", "ring_class", "accuracy"), None, "{:.3f}"),
    ("spectra", "spectra-wgan-gp", "Frechet distance (real vs real: {floor})", ("metrics", "frechet", "generated"),
     None, "{:.4f}"),
    ("svdd", "svdd-elliptical-oneclass-bin2", "ellipticals as normal, AUROC",
     ("also_on", "morphology", "all", "auroc"), ("auroc", "all"), "{:.3f}"),
    ("sersic", "sersic-v1", "Sersic index n, RMSE", ("metrics", "n", "rmse"), ("rmse", "n"), "{:.3f}"),
    ("reionization", "reion-z", "redshift class (17), accuracy", ("metrics", "z_class", "accuracy"), None, "{:.3f}"),
]
README_BLOCKS = {  # the README's generated parts: (first marker, last marker) -> the function that writes what is between
    ("<!-- the families table: written by `python docs/build.py --readme` from results/*.json -->",
     "<!-- end of the families table -->"): "readme_table",
    ("<!-- the quickstart: written by `python docs/build.py --readme` from benchmarks/results/quickstart.json -->",
     "<!-- end of the quickstart -->"): "readme_quickstart",
}


def _get(record: dict, path):
    for key in path:
        record = record[key]
    return record


def readme_table() -> str:
    """The README's table of the families, every number read from a record in ``results/``."""
    import kzoo.families as families

    fams = families.families()
    rows = []
    for fam, exp, what, path, seed_path, fmt in HEADLINES:
        record = json.loads((ROOT / "results" / f"{exp}.json").read_text())
        record = {**record, "metrics": shown_metrics(record)}  # mse_scaled where the seed's number is one
        if "{floor}" in what:
            what = what.format(floor=fmt.format(record["metrics"]["frechet"]["real_vs_real"]))
        value = _get(record, path)
        seed = seed_status(value, _get(seed_reference(record), seed_path), seed_path[0]) if seed_path else "-"
        machine = record.get("machine", {}).get("cpu", "?")
        title = re.split(r" of source notebooks \d+|:", fams[fam].title)[0]
        rows.append([f"`{fam}` ({fams[fam].seed.split('_')[0]})", title, what,
                     f"[{fmt.format(value)}](results/{exp}.md)", seed, f"`{exp}`, {record['commit']}, {machine}"])
    return md_table(["family", "what it is", "headline", "kzoo", "source notebooks (kzoo met or missed it)",
                     "record (commit, CPU)"], rows)


def readme_quickstart() -> str:
    """What the README's quickstart ended with when it was last timed (``benchmarks/quickstart.py``)."""
    r = json.loads((ROOT / "benchmarks" / "results" / "quickstart.json").read_text())
    simulate, train = r["steps"]
    m = r["machine"]
    return (f"Timed by `benchmarks/quickstart.py` at commit {r['commit']} on a {m['usable_cpus']}-core "
            f"{m['cpu_model']} on {m['date'][:10]}, load average {m['load_average_at_start'][0]:.1f} at the start "
            f"([record](benchmarks/results/quickstart.md); the install not counted): "
            f"`kzoo simulate` {simulate['seconds']:.0f} s, `kzoo train` {train['seconds']:.0f} s. The training "
            "ended with:\n\n```\n" + "\n".join(train["last_lines"]) + "\n```")


def summary_table(suite_page: str) -> list[str]:
    """The lines of a suite page's summary table (results/<family>.md: every experiment's headline rows beside the
    source notebooks' numbers), and its list of experiments declared but not recorded yet."""
    lines, found = suite_page.split("\n"), []
    start = next((i for i, line in enumerate(lines) if line.startswith("| experiment |")), None)
    if start is None:
        return []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        found.append(line)
    found += [""] + [line for line in lines if line.startswith("Declared, not recorded yet")]
    return found


def results_page() -> str:
    """docs/results.md: each family's summary table, read from its suite page (which ``kzoo reproduce FAMILY
    --from-results`` writes from the records), and every benchmark record; no number written by hand."""
    import kzoo.families as families

    out = ["# Results and benchmarks", "",
           "<!-- written by `python docs/build.py --readme` from results/<family>.md and benchmarks/results/: "
           "edit those (by rerunning what wrote them), not this page -->", "",
           "Each family's table below is the summary of its suite page, which `kzoo reproduce FAMILY "
           "--from-results` writes from the records of the runs (each experiment's page names its commit, command "
           "and machine, with the plots). Per row: kzoo's number, the classical reference's, the source "
           "notebooks' number with kzoo's verdict (met or missed), the physical floor where one is computed, "
           "this project's goal, and whether the source notebooks measured theirs the same way (and if not, what "
           "differs).", ""]
    for name, fam in sorted(families.families().items()):
        page = ROOT / "results" / f"{name}.md"
        if not page.exists():
            continue
        title = re.split(r" of source notebooks \d+|:", fam.title)[0]
        out += [f"## {title} (`{name}`, source notebooks {fam.seed.split('_')[0]})", "",
                f"The whole page: [results/{name}.md](results/{name}.md).", "",
                _inline("\n".join(summary_table(page.read_text())), "results/"),
                ""]
    rows = []
    for md in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        record = json.loads(md.with_suffix(".json").read_text()) if md.with_suffix(".json").exists() else {}
        machine = record.get("machine", {})
        cpu = machine.get("cpu") or machine.get("cpu_model") or "not recorded" if isinstance(machine, dict) else "?"
        first = md.read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
        rows.append([f"[{first}](benchmarks/results/{md.name})", record.get("commit", "not recorded"), cpu])
    out += ["## Benchmarks", "", "Each written by its script in `benchmarks/` (`python benchmarks/NAME.py`), with "
            "the machine it ran on; the GPU ones on the device machines lent to some sessions.", "",
            md_table(["benchmark", "commit", "CPU"], rows), ""]
    return "\n".join(out)


def update_readme(check: bool = False) -> bool:
    """Write the generated parts into README.md between their markers, and docs/results.md (or, with ``check``, say
    whether they are up to date)."""
    path = ROOT / "README.md"
    text = new = path.read_text(encoding="utf-8")
    for (begin, end), fn in README_BLOCKS.items():
        head, rest = new.split(begin)
        _, tail = rest.split(end)
        new = f"{head}{begin}\n{globals()[fn]()}\n{end}{tail}"
    results, page = ROOT / "docs" / "results.md", results_page()
    if check:
        return new == text and results.read_text(encoding="utf-8") == page
    path.write_text(new, encoding="utf-8")
    results.write_text(page, encoding="utf-8")
    return True


def execute_notebooks(names: list[str] | None = None) -> None:
    """Run every notebook (or those named) at the tiny size and save it with its outputs, in ``notebooks/``."""
    import nbclient
    import nbformat
    import nbformat.validator

    env = {"KZOO_TINY": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    os.environ.update(env)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if names and path.stem not in names:
            continue
        t0 = time.time()
        nb = nbformat.read(path, as_version=4)
        work = Path(os.environ.get("KZOO_WORK", "/tmp/kzoo-notebooks"))
        os.environ["KZOO_WORK"] = str(work)
        nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}}).execute()
        for cell in nb.cells:  # what TensorFlow and absl print on stderr is not the tutorial's output
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream"
                                                                and o.get("name") == "stderr")]
                cell.metadata.pop("execution", None)
        nb = nbformat.from_dict(nbformat.validator.normalize(nb)[1])  # every cell with its id
        nbformat.write(nb, path)
        print(f"{path.name}: ran in {time.time() - t0:.0f} s", flush=True)


def build(out: Path, quiet: bool = True) -> Path:
    """Assemble and build the site in ``out``; returns the folder of the HTML. Warnings are errors."""
    from sphinx.cmd.build import build_main

    out = Path(out)
    src = out / "src"
    assemble(src)
    html = out / "html"
    args = ["-W", "--keep-going", "-b", "html", "-d", str(out / "doctrees"), str(src), str(html)]
    if build_main((["-q"] if quiet else []) + args) != 0:
        raise SystemExit(f"the documentation did not build cleanly (warnings are errors); see above")
    return html


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python docs/build.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="site", help="the folder to build in (default: site); the HTML is in OUT/html")
    p.add_argument("--verbose", action="store_true", help="show Sphinx's progress, not only its warnings")
    p.add_argument("--execute-notebooks", nargs="*", metavar="NAME",
                   help="first run the notebooks (all, or those named) at the tiny size and save their outputs")
    p.add_argument("--readme", action="store_true",
                   help="only rewrite the README's table of families from the records in results/, and exit")
    a = p.parse_args(argv)
    if a.readme:
        update_readme()
        return 0
    if a.execute_notebooks is not None:
        execute_notebooks(a.execute_notebooks)
    t0 = time.time()
    html = build(Path(a.out), quiet=not a.verbose)
    print(f"built {html / 'index.html'} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
