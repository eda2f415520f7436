"""What every kzoo command line shares (``kzoo`` and ``python -m tuners.search``): the help formatter, the
help texts of options that several commands take, the parsing of ``--model-arg``, and the one-line error report."""

from __future__ import annotations

import argparse
import json
import os
import sys


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` ends each option's sentence with its default, unless the default is None or False (the
    sentence then says what happens without the option) or the sentence already states it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


PRECISION_HELP = ("training precision; mixed_bfloat16 pays off only on GPUs and on CPUs with AMX or AVX512-BF16, "
                  "mixed_float16 only on GPUs")


BACKEND_HELP = ("Keras backend to train on: tensorflow, jax or torch (default: KERAS_BACKEND, else tensorflow); "
                "the data pipeline is tf.data whichever it is, and the saved model loads on every backend")


NO_REFERENCE_HELP = ("skip the experiment's classical reference method (e.g. the Poisson template fit); otherwise "
                     "it is computed once per dataset and split and cached in DATA/.kzoo-reference")


def model_args(pairs) -> dict:
    """``{NAME: VALUE}`` from ``--model-arg NAME=VALUE`` strings: VALUE read as JSON (``dense=[256,64]``,
    ``dropout=0.2``, ``output_activation=null``), else kept as the plain string (``activation=gelu``); the
    last of a repeated NAME wins."""
    out = {}
    for text in pairs or ():
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--model-arg {text!r}: expected NAME=VALUE, e.g. dense=[256,64] or dropout=0.2")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out


def _one_line(text: str) -> str:
    """A message on one line: a RecipeError's list of problems joined with "; "."""
    parts = [line.strip().removeprefix("- ") for line in str(text).splitlines() if line.strip()]
    out = parts[0] if parts else ""
    for part in parts[1:]:
        out += (" " if out.endswith(":") else "; ") + part
    return out


def _message(e: Exception) -> str:
    """What the user reads for ``e``: kzoo's own errors as they are; anything else with its type."""
    from kzoo.errors import UnknownNameError

    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        to = f" -> {e.filename2}" if getattr(e, "filename2", None) else ""
        return f"{e.filename}{to}: {e.strerror}"  # e.g. "/data/manifest.json: No space left on device"
    if isinstance(e, (UnknownNameError, ValueError, OSError, ImportError, RuntimeError)):  # kzoo's errors are these
        return _one_line(e)
    text = _one_line(e)
    return f"{type(e).__name__}{': ' + text if text else ''} (rerun with --debug for the traceback)"


def run_reporting(prog: str, fn, debug: bool = False) -> int:
    """Call ``fn()`` and return 0; an error prints one line ``PROG: error: ...`` and returns 2.

    With ``debug`` or ``KZOO_DEBUG=1`` the error goes through with its traceback. Also used by
    ``python -m tuners.search``.
    """
    debug = debug or os.environ.get("KZOO_DEBUG", "") not in ("", "0")
    try:
        fn()
    except Exception as e:  # KeyboardInterrupt and SystemExit are not errors of the input: they pass
        if debug:
            raise
        print(f"{prog}: error: {_message(e)}", file=sys.stderr)
        return 2
    return 0
