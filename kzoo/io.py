"""Writing files so that a reader never sees half of one: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error remove it.

    Works for files and for directories (a SavedModel): an existing target is replaced only once the
    new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: keras insists that a .keras file's name ends in ".keras".
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename is None:
            e.filename = str(path)  # "No space left on device" alone does not say which file
        raise


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def write_text(path, text: str):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path, obj):
    try:
        text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    except (TypeError, ValueError) as e:  # not JSON-serialisable: name the file; the old one stays
        raise type(e)(f"{path}: cannot write as JSON: {e}") from e
    write_text(path, text)


def remove_stale_temps(path: str | os.PathLike):
    """Remove the temporary files of ``path`` (see atomic_path) that processes which no longer run left.

    A temporary name carries its writer's process id; one whose process is gone on this machine is a
    leftover of a kill. Temporaries of live processes are kept. Best effort: errors are ignored.
    (Process ids are this machine's: do not point writers on other machines at the same directory.)
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    path = Path(path)
    head, tail = f".{path.stem}.tmp-", path.suffix
    try:
        candidates = list(path.parent.glob(f"{glob.escape(head)}*{glob.escape(tail)}"))
    except OSError:
        return
    for tmp in candidates:
        pid = tmp.name[len(head):len(tmp.name) - len(tail)]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            _remove(tmp)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or cannot tell: keep its files
        return True
    return True


def sha256_file(path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json(path, default=None):
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


def ensure_dir(path: str | os.PathLike, what: str = "output directory", for_file: bool = False) -> Path:
    """Check, before a command starts its work, that ``path`` is or can be made a writable directory.

    With ``for_file``, ``path`` is a file (or SavedModel folder) to be written: its folder is checked.
    Raises NotADirectoryError or PermissionError naming ``what`` and ``path`` (e.g. ``--out`` under an
    existing file). Nothing is created, so a command that then refuses its input leaves no empty
    folder behind.
    """
    path = Path(path)
    if path.exists() and not path.is_dir() and not for_file:
        raise NotADirectoryError(f"{what} {path} is an existing file, not a directory; give a directory path")
    parent = path.parent if for_file else path
    while not parent.exists() and parent != parent.parent:  # the nearest existing ancestor
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{what} {path}: {parent} is a file, so no directory can be made under it; "
                                 f"give another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: {parent} is not writable; give a path you can write to")
    return path
