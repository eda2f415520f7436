"""Sphinx configuration of kzoo's documentation site; build it with ``python docs/build.py`` (see there).

Sphinx with the PyData theme, the one numpy and astropy use, so the site looks like the astronomy ecosystem's
other documentation; pages are Markdown (MyST, the README's own format), the notebooks are rendered by myst-nb
from their saved outputs (never executed here), the command-line reference comes from kzoo's argparse parser
(sphinx-argparse) and the API reference from the docstrings (autodoc).
"""

import kzoo.version

project = "kzoo"
author = "the kzoo developers"
copyright = "2026, the kzoo developers (MIT licence)"
release = version = kzoo.version.__version__

extensions = [
    "myst_nb",                 # Markdown pages (it includes myst_parser) and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",     # the docstrings' "Args:" / "Returns:" sections
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "conf.py"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"      # the notebooks' saved outputs; python docs/build.py --execute-notebooks makes them
nb_merge_streams = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True       # dataclass fields: listed once under "Attributes", not again as members
# Pages copied from results/ skip heading levels (their tables and plots come first); that is not an error.
suppress_warnings = ["myst.header"]

html_theme = "pydata_sphinx_theme"
html_title = "kzoo"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_last_updated_fmt = ""


import re

_LITERAL = re.compile(r"(``.*?``)")
_BARS = re.compile(r"(?<![\\|`])\|(?=\S)([^|\n`]*?\S)\|(?!`)")


def _plain_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values as ``|g|`` and ``|pred - true|``, which reStructuredText reads as
    substitutions: escape the bars outside literals so that they stay bars."""
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if p.startswith("``") else _BARS.sub(r"\\|\1\\|", p) for p in parts)


def setup(app):
    app.connect("autodoc-process-docstring", _plain_bars)
