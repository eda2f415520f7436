"""What every kzoo command line shares (``kzoo`` and ``python -m tuners.search``): the help formatter, the
help texts of options that several commands take, the parsing of ``--model-arg``, and the one-line error report."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import re
import sys
import threading


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusal of bad arguments is one line naming ``--help`` instead of the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}; see {self.prog} --help\n")


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
                "the saved model loads on every backend")
READER_HELP = ("how the shards are read: tf.data (TensorFlow's pipeline), numpy (kzoo's reader, no TensorFlow: the "
               "same batches in the same order as tf.data, read faster, but its augmentation and input noise are "
               "numpy's draws, so for an experiment with those the reader is part of the run's settings), or auto "
               "(default: numpy where TensorFlow is absent or the experiment has no augmentation or input noise and "
               "one process trains, else tf.data)")


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


# The C++ log lines of TensorFlow and the libraries under it (absl's format), which no environment variable
# silences in TensorFlow 2.21: "WARNING: All log messages before absl::InitializeLog() ..." and
# "I0000 00:00:1796614530.230677   22829 port.cc:153] oneDNN custom operations are on...".
NATIVE_LOG = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                        rb"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\] .*)\r?\n?$")


def _could_be_native(segment: bytes) -> bool:
    """Whether the start of a line could be the start of a NATIVE_LOG line."""
    head = b"WARNING: All log messages before absl"
    return (head.startswith(segment) or segment.startswith(head)
            or re.match(rb"[IWEF]\d{0,4}$|[IWEF]\d{4} ", segment) is not None)


# Written through this process's own end of the pipe at exit: the filter ends at it, having passed on everything
# before it, without waiting for the other holders of the pipe to close it (a multiprocessing resource tracker, a
# worker pool's process, which inherit standard error and outlive the command by seconds)
_END = b"\0kzoo-stderr-end\0"


def _held(data: bytes) -> int:
    """How many bytes at the end of ``data`` could begin _END (held back until the next read says)."""
    return next((k for k in range(len(_END) - 1, 0, -1) if data.endswith(_END[:k])), 0)


def filter_native_logs():
    """Route this process's standard error (file descriptor 2, which C++ libraries write to) through a thread
    that drops TensorFlow's native log lines (NATIVE_LOG) and passes everything else on, so that a refused
    command says one line. For the command lines only (``kzoo``, ``python -m tuners.search``), not for kzoo used as
    a library; KZOO_DEBUG=1 keeps every line. Returns the function that restores standard error (registered to
    run at exit; it returns once everything written before it has been passed on), or None when nothing changed."""
    if os.environ.get("KZOO_DEBUG", "") not in ("", "0") or os.name != "posix":
        return None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
        own = os.dup(write_end)  # the end _END goes through
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no usable stderr: leave it as it is
        return None
    out = os.dup(saved)

    def pump():  # whole lines are filtered; a partial one (a progress bar's "\r...") passes at once unless it
        buf = tail = b""  # could begin a native log line, which is held until its newline
        with os.fdopen(read_end, "rb", buffering=0) as src, os.fdopen(out, "wb", buffering=0) as dst:
            while chunk := src.read(65536):
                data = tail + chunk
                end = data.find(_END)
                keep = 0 if end >= 0 else _held(data)
                data, tail = (data[:end], b"") if end >= 0 else (data[:len(data) - keep], data[len(data) - keep:])
                *lines, buf = (buf + data).split(b"\n")
                dst.write(b"".join(line + b"\n" for line in lines if not NATIVE_LOG.match(line + b"\n")))
                if buf and not _could_be_native(buf.rpartition(b"\r")[2]):
                    dst.write(buf)
                    buf = b""
                if end >= 0:
                    break
            buf += tail
            if buf and not NATIVE_LOG.match(buf):
                dst.write(buf)

    thread = threading.Thread(target=pump, name="kzoo-stderr", daemon=True)
    thread.start()
    restored = []

    def restore():  # at exit: what is written so far is passed on, then the thread ends at _END
        if restored:
            return
        restored.append(True)
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        try:
            os.write(own, _END)
            os.close(own)
        except OSError:
            pass
        thread.join(timeout=5)

    atexit.register(restore)
    return restore


def console(main) -> int:
    """A command line's entry point: native log lines filtered (:func:`filter_native_logs`), then ``main()``."""
    filter_native_logs()
    return main()


class _Console(logging.StreamHandler):
    """A handler writing ``kzoo: message`` to whatever sys.stdout (information) or sys.stderr (warnings and errors)
    is when a message comes: standard error keeps to what went wrong, so that a refusal is one line there."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("kzoo: %(message)s"))

    def emit(self, record):
        self._stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        super().emit(record)

    @property
    def stream(self):
        return getattr(self, "_stream", sys.stderr)

    @stream.setter
    def stream(self, value):
        pass


def log_to_stderr(level: int):
    """Show kzoo's library messages (the ``kzoo`` logger) as ``kzoo: message`` lines from ``level`` on (the CLI's -q:
    warnings only; -v: debug too): information on standard output, warnings on standard error; progress bars are
    not messages and stay. Returns a function that undoes it (a command's messages are shown while it runs)."""
    logger = logging.getLogger("kzoo")
    handler, before = _Console(), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def restore():
        logger.removeHandler(handler)
        logger.setLevel(before)

    return restore
