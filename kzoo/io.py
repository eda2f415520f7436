"""Writing files so that a reader never sees half of one: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import socket
import time
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
    try:  # a zombie (Linux) has ended: only its status waits to be collected by its parent
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
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


class LockError(RuntimeError):
    """A folder is being written by another process (see dir_lock); the message names the holder."""


LOCK = ".kzoo-lock"


@contextlib.contextmanager
def dir_lock(path: str | os.PathLike, what: str):
    """Hold ``PATH/.kzoo-lock`` while the block runs, so that one process at a time writes the folder.

    ``what`` says who writes (e.g. "kzoo simulate"); the lock file holds it with the writer's pid,
    host and start time, and appears whole or not at all (written under a temporary name, then
    hard-linked to its name, which fails when the name exists: O_CREAT|O_EXCL with the content in).
    A lock of a live process, of another host or that cannot be read raises LockError naming the
    holder; one of a process of this host that no longer runs (a kill) is taken over. The lock is
    removed when the block ends, normally or by an error. Creates the folder.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    me = {"what": what, "pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tmp = lock.with_name(f".{lock.stem}.tmp-{os.getpid()}{lock.suffix}")  # remove_stale_temps knows the name
    remove_stale_temps(lock)
    for _ in range(100):
        try:
            tmp.write_text(json.dumps(me, sort_keys=True) + "\n")
            os.link(tmp, lock)
            break
        except FileExistsError:
            pass
        except OSError as e:  # a read-only folder, a full disk: name the lock, not its temporary
            raise type(e)(e.errno, e.strerror, str(lock)) from e
        finally:
            tmp.unlink(missing_ok=True)
        holder = _read_lock(lock)
        if holder == {}:  # removed in the meantime: try again
            continue
        pid = holder.get("pid") if holder else None
        if holder and holder.get("host") == me["host"] and isinstance(pid, int) and not _alive(pid):
            # Stale. Move it aside and check that what was moved is that stale lock: another writer
            # may have taken it over since it was read (then put its lock back and refuse below).
            try:
                os.rename(lock, tmp)
            except FileNotFoundError:
                continue
            moved = _read_lock(tmp)
            if moved == holder:
                tmp.unlink()
                continue
            os.rename(tmp, lock)
            holder = moved
        if holder:
            who = (f"{holder.get('what', 'another process')} (pid {holder.get('pid')} on {holder.get('host')}, "
                   f"started {holder.get('started')})")
        else:
            who = "a process this one cannot identify (the lock file is not kzoo's JSON)"
        raise LockError(f"{path} is being written by {who}; wait for it to finish or choose another folder "
                        f"(if that process no longer runs, remove {lock})")
    else:
        raise LockError(f"{lock}: could not take the lock after 100 tries; another process keeps replacing it")
    try:
        yield lock
    finally:
        if _read_lock(lock) == me:
            lock.unlink(missing_ok=True)


def _read_lock(lock: Path) -> dict | None:
    """The lock's JSON; {} when the file does not exist; None when it cannot be read as a lock."""
    try:
        holder = json.loads(lock.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) and holder else None
