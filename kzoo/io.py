"""Files in and out: writing so that a reader never sees half of one (a temporary name, then a rename), locks,
hashes, and reading one image file (FITS, .npy, PNG, JPEG) with every refusal naming the file."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import re
import shutil
import socket
import time
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error remove it.

    Works for files and for directories (a SavedModel): an existing target is replaced only once the
    new one is complete. Durable: the new data is fsynced before the rename and the folder after it (a power loss
    on XFS, ext4 or a network file system then leaves the old file or the new one, never an empty one).
    Temporaries of ``path`` that killed processes left are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: keras insists that a .keras file's name ends in ".keras".
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    remove_stale_temps(path)  # what a killed writer of the same file left
    _remove(tmp)
    try:
        yield tmp
        fsync_tree(tmp)  # the data on disk before the name points at it: a power loss leaves old or new, not empty
        if tmp.is_dir() and path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)  # and the rename itself
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename is None:
            e.filename = str(path)  # "No space left on device" alone does not say which file
        raise


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file of a folder (a SavedModel) and the folders themselves."""
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                fsync_tree(Path(root) / name)
            fsync_dir(Path(root))
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that a rename or a new name in it is on disk (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def copy_file(src, dst):
    """Copy ``src`` to ``dst`` through a temporary name and a rename: ``dst`` is the old file or the whole new one,
    never a part (a full disk leaves the old one)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


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
    try:
        return json.loads(path.read_text())
    except RecursionError:
        raise ValueError(f"{path}: its JSON is nested too deeply to read") from None


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


class InputError(ValueError):
    """An input image that cannot be fed to the model; the message names the file."""


_NOT_NUMERIC = {"c": "complex numbers (take .real or abs() first: kzoo does not drop the imaginary part)",
                "V": "a structured or void record", "O": "Python objects", "U": "strings", "S": "bytes",
                "M": "dates", "m": "time intervals"}


def check_shape(path, shape, want=None):
    """Refuse an image of ``shape`` that is not (H, W) or (H, W, C), or does not fit the model input ``want``."""
    shape = tuple(int(d) for d in shape)
    if len(shape) not in (2, 3):
        raise InputError(f"{path}: image has shape {shape}; need (H, W) or (H, W, C)")
    have = shape + (1,) if len(shape) == 2 else shape
    if want is not None and (len(want) != 3 or any(w is not None and w != h for w, h in zip(want, have))):
        raise InputError(f"{path}: image shape {have} does not fit model input {tuple(want)} (height, width, channels)")


def check_npy(path, want=None):
    """Check an .npy file from its header before any data is read: that it is one, holds a real-valued
    numeric array of a shape that fits the model input ``want``, and is as long as its header says."""
    path = Path(path)
    size = path.stat().st_size
    headers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = headers[version](f) if version in headers else None
            offset = f.tell()
    except (ValueError, EOFError, SyntaxError) as e:
        what = "an empty file" if size == 0 else f"{size} bytes without a valid .npy header ({e})"
        raise InputError(f"{path}: not a numpy .npy array: {what}") from None
    if header is None:  # version 3.0 exists for structured arrays with non-ASCII field names
        raise InputError(f"{path}: .npy format version {version[0]}.{version[1]}; kzoo reads plain numeric "
                         f"arrays (versions 1.0 and 2.0)")
    shape, _, dtype = header
    if dtype.kind not in "biuf":
        raise InputError(f"{path}: dtype {dtype} holds {_NOT_NUMERIC.get(dtype.kind, 'non-numeric data')}; "
                         f"kzoo needs an integer or float image")
    check_shape(path, shape, want)
    need = math.prod(shape) * dtype.itemsize
    if size - offset < need:
        raise InputError(f"{path}: the header declares {shape} {dtype} ({need} bytes of data) but the file holds "
                         f"{size - offset}; the file is truncated")


MAX_IMAGE_BYTES = 1 << 30  # an image without a model's shape to fit, as float32: 1 GiB at most (16,384^2 pixels)


def image_file_shape(path: Path) -> tuple:
    """(H, W, C) of a PNG or JPEG from its header, without decoding it; Pillow's decompression-bomb guard stays on
    (its warning, for more than Image.MAX_IMAGE_PIXELS pixels, is a refusal here)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                (w, h), c = im.size, len(im.getbands())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{path}: {' '.join(str(e).split())}; kzoo refuses it before decoding") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: not a readable {path.suffix[1:].upper()} image ({e})") from None
    return h, w, c


def check_declared_size(path, shape, want, source: str) -> None:
    """Refuse, before any pixel is read, an image whose declared ``shape`` (from ``source``, its header) does not
    fit the model input ``want`` or, without one, would take more than MAX_IMAGE_BYTES as float32."""
    if want is not None:
        check_shape(path, shape, want)
    elif math.prod(shape) * 4 > MAX_IMAGE_BYTES:
        raise InputError(f"{path}: {source} declares {' x '.join(map(str, shape))} pixels, "
                         f"{math.prod(shape) * 4 / 2**30:.1f} GiB as float32; kzoo reads images of at most "
                         f"{MAX_IMAGE_BYTES / 2**30:.0f} GiB")


def _fits_image_hdu(path, hdus, hdu=None):
    """The image HDU of an open FITS file: ``hdu`` (an index or an EXTNAME) or the first with 2-D data or more."""
    if hdu is not None:
        try:
            h = hdus[int(hdu) if str(hdu).lstrip("-").isdigit() else hdu]
        except (KeyError, IndexError):
            names = ", ".join(f"{i} ({h.name or type(h).__name__})" for i, h in enumerate(hdus))
            raise InputError(f"{path}: no HDU {hdu!r}; it has {names}") from None
        if not getattr(h, "is_image", False) or len(h.shape or ()) < 2:
            raise InputError(f"{path}: HDU {hdu!r} ({type(h).__name__}) holds no 2-D image; pick another with --hdu")
        return h
    found = [h for h in hdus if getattr(h, "is_image", False) and len(h.shape or ()) >= 2]
    if not found:
        kinds = ", ".join(f"{h.name or i} ({type(h).__name__}, "
                          f"{'table' if not getattr(h, 'is_image', False) else 'no data'})"
                          for i, h in enumerate(hdus))
        raise InputError(f"{path}: no image data in any HDU ({kinds}); kzoo needs a 2-D image HDU")
    return found[0]


def is_fits(path) -> bool:
    """Whether ``path`` names a FITS file (.fits, .fit, .fts, .fits.gz)."""
    name = Path(path).name.lower()
    return name.endswith((".fits", ".fit", ".fts", ".fits.gz"))


def fits_units(path, hdu=None) -> tuple[str, float]:
    """``(BUNIT, pixel scale in arcsec)`` of a FITS image HDU from its header ("" and 0.0 where it says nothing, or
    for other formats); the pixel scale is the mean of the WCS's two axes (astropy.wcs.utils.proj_plane_pixel_scales,
    celestial axes in degrees)."""
    path = Path(path)
    if not is_fits(path):
        return "", 0.0
    import warnings

    from astropy.io import fits

    with warnings.catch_warnings(), fits.open(path, memmap=True) as hdus:
        warnings.simplefilter("ignore")  # a header's odd WCS keywords: what it says is read, what it does not is 0
        header = _fits_image_hdu(path, hdus, hdu).header
        bunit = str(header.get("BUNIT", "")).strip()
        try:
            from astropy.wcs import WCS
            from astropy.wcs.utils import proj_plane_pixel_scales

            w = WCS(header).celestial
            scale = float(np.mean(proj_plane_pixel_scales(w))) * 3600.0 if w.has_celestial else 0.0
        except Exception:  # a header whose WCS astropy cannot read: no pixel scale known
            scale = 0.0
    return bunit, (round(scale, 6) if np.isfinite(scale) else 0.0)


def read_image(path, want=None, hdu=None, finite: bool = True) -> np.ndarray:
    """A 2-D (H, W) or channels-last (H, W, C) float32 image from a FITS, .npy, PNG or JPEG file (PNG and
    JPEG through TensorFlow's decoders, their 0-255 values as they are).

    With ``want`` (the model's input shape, (H, W, C)), an image that does not fit is refused, for
    .npy files from the header, before the data is read. ``hdu``: a FITS file's HDU (index or EXTNAME; default
    the first image HDU). ``finite``: refuse NaN or infinite pixels (False: return them, for the caller to fill).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give an image file (.fits, .npy, .png or .jpg)")
    if path.suffix.lower() == ".npy":
        check_npy(path, want)
        try:
            img = np.load(path, allow_pickle=False)
        except (ValueError, EOFError) as e:
            raise InputError(f"{path}: not a numpy .npy array ({e})") from None
    elif is_fits(path):
        import warnings

        from astropy.io import fits

        caught = []
        try:
            with warnings.catch_warnings(record=True) as caught, fits.open(path, memmap=False) as hdus:
                warnings.simplefilter("always")  # astropy's warnings go into the one line below, not to stderr
                # the image HDU by its header's shape: no data is read before its size is checked
                found = _fits_image_hdu(path, hdus, hdu)
                shape = tuple(int(d) for d in found.shape)
                check_declared_size(path, shape[1:] + shape[:1] if len(shape) == 3 else shape, want, "its header")
                with np.errstate(over="raise", invalid="ignore"):
                    img = np.asarray(found.data, dtype=np.float32)
        except InputError:
            raise
        except FloatingPointError:
            raise InputError(f"{path}: values beyond float32's range (|x| > 3.4e38): finite in the file, infinite as "
                             f"the float32 kzoo computes in; rescale the image") from None
        except (OSError, ValueError, TypeError) as e:
            said = "; ".join(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))  # astropy's, once each
            raise InputError(f"{path}: not a readable FITS file ({said or e})") from None
        if img.ndim == 3:  # FITS cubes are (C, H, W); the model wants channels last
            img = np.moveaxis(img, 0, -1)
    elif path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        check_declared_size(path, image_file_shape(path), want, f"its {path.suffix[1:].upper()} header")
        import tensorflow as tf

        try:
            img = tf.io.decode_image(path.read_bytes(), channels=0, expand_animations=False).numpy()
        except tf.errors.OpError as e:  # TensorFlow's words without its op's name and device
            said = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:\w+\]", "", e.message).strip()
            raise InputError(f"{path}: not a readable {path.suffix[1:].upper()} image ({said})") from None
    else:
        raise InputError(f"{path}: unknown image format {path.suffix!r}; give a .fits, .npy, .png or .jpg file")
    img = np.asarray(img, dtype=np.float32)
    check_shape(path, img.shape, want)
    bad = ~np.isfinite(img)
    if finite and bad.any():
        raise InputError(f"{path}: {int(bad.sum())} pixel(s) are NaN or inf; mask or fill them before predicting")
    return img


def plain_file_name(name: str) -> bool:
    """Whether ``name`` names a file inside a folder: not empty, '.' or '..', no separator, not absolute (what a
    manifest may list; anything else could read or write outside its folder)."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0") and not os.path.isabs(name)


MAX_CONFIG_BYTES = 1 << 20  # a recipe, an experiment or a hyper-parameter file: 1 MiB at most


def excerpt(value, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (and how long it was): a message quotes
    what was given, never all of a megabyte of it."""
    text = "null" if value is None else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def read_config(path, what: str = "file", max_bytes: int = MAX_CONFIG_BYTES):
    """A YAML (or JSON) settings file, parsed: its size checked before it is read, YAML aliases refused (a few
    hundred bytes of nested aliases expand into gigabytes: "billion laughs"). ValueError names the file and what
    is wrong; OSError when it cannot be read."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise ValueError(f"{path}: line {mark.line + 1}: YAML aliases (*name) are not accepted in a kzoo "
                                 f"{what}; write the value out")
            return super().compose_node(parent, index)

    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path}: {size:,} bytes; a kzoo {what} is at most {max_bytes:,} bytes")
    text = path.read_text()
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=NoAliases)  # noqa: S506 (a SafeLoader that also refuses aliases)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:  # [[[[...]]]] ten thousand deep
        raise ValueError(f"{path}: nested too deeply to read; a kzoo {what} is a flat mapping") from None
