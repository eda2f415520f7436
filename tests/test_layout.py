"""The layout holds: shared modules name no family, and no import circle (imports inside functions included)."""

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = sorted(p for p in [*(ROOT / "kzoo").rglob("*.py"), *(ROOT / "tuners").rglob("*.py")]
                if "families" not in p.relative_to(ROOT).parts[1:2])


def family_words() -> dict[str, str]:
    """Every word that names a family: its name, aliases, skies and package, mapped to the family."""
    from kzoo.families import families

    words = {}
    for fam in families().values():
        for w in (fam.name, *fam.aliases, *fam.skies, fam.package):
            words[w] = fam.name
    return words


def named_families(path: Path, words: dict, root: Path = ROOT) -> list[str]:
    """Where a file names a family outside its comments: an identifier that is a family's name, alias, sky or
    package; a string that is one of those whole (a key, a value compared against); or a string that names a
    family's module (``kzoo.families.<family>``). Prose in docstrings and help texts may still use an experiment's
    name as an example ("e.g. gc-dm")."""
    modules = re.compile(r"kzoo\.families\.(\w+)")
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        where = f"{path.relative_to(root)}:{tok.start[0]}"
        if tok.type == tokenize.NAME and tok.string in words:
            found.append(f"{where}: identifier {tok.string}")
        elif tok.type == tokenize.STRING:
            value = tok.string.lstrip("rbuRBUfF").strip("\"'")
            if value in words:
                found.append(f"{where}: string {value!r}")
            found += [f"{where}: module kzoo.families.{m}" for m in modules.findall(tok.string) if m in words]
    return found


def test_no_shared_module_names_a_family():
    words = family_words()
    found = [hit for p in SHARED for hit in named_families(p, words)]
    assert not found, "shared modules name families:\n" + "\n".join(found)


def imports(path: Path, module: str, modules: set) -> set:
    """The kzoo/tuners modules ``module`` (at ``path``) imports anywhere in it, functions included; a package's
    own implicit import by its submodules is not an arrow."""
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def circles(graph: dict) -> list[list[str]]:
    """Import circles of ``{module: modules it imports}``, each as the path around it."""
    state, stack, out = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                out.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return out


def test_no_import_circle():
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in [*(ROOT / "kzoo").rglob("*.py"), *(ROOT / "tuners").rglob("*.py")]}
    graph = {m: imports(p, m, set(files)) for m, p in files.items()}
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_checks_see_what_they_look_for(tmp_path):
    """The checks above are not vacuous: a family's name as an identifier, a string that is one and its module
    are found, a comment and an example in prose are not; an import inside a function is an arrow; a circle is
    found."""
    words = family_words()
    assert words["gc"] == words["galactic_center"] == words["kzoo.families.gc"] == "gc"
    p = tmp_path / "probe.py"
    p.write_text("def f(galactic_center):  # sersic, in a comment\n"
                 "    from kzoo.families.gc import sky\n"
                 "    return {'sersic': 1, 'an example, e.g. gc-dm': 2}\n")
    hits = [h.split(": ", 1)[1] for h in named_families(p, words, tmp_path)]
    assert hits == ["identifier galactic_center", "identifier gc", "string 'sersic'"]
    assert "kzoo.families.gc.sky" in imports(p, "kzoo.probe", {"kzoo.probe", "kzoo.families.gc.sky"})
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []
