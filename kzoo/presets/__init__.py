"""Pretrained presets: the weights of `kzoo reproduce` runs, shipped in the package with a model card each.

    kzoo.list_presets()                          # ['gc-dae-gaussian', 'gc-dm', 'gc-dm-nps', ...]
    model = kzoo.load("gc-dm")                   # a keras.Model taking raw counts maps (normalisation inside)
    model = kzoo.build("gc_cnn", weights="gc-dm")  # the same, checked to be a gc_cnn
    kzoo.predict.predict("gc-dm", ["map.fits"])  # physical units (targets scaled back), as `kzoo predict`

A preset is a ``.keras`` file (the run's model without its optimizer state) beside ``manifest.json``,
which records for each preset: the experiment and its declaration, the dataset recipe, seed, split
sizes and sha256, the commit that trained it, the test metrics (the numbers of ``results/``), the
input normalisation, the label ranges of scaled targets, the file's sha256 and size, and the
licence. The sha256 is checked before every load. A preset is only ever made by :func:`add_preset`
from a ``kzoo reproduce`` record (``results/<experiment>.json``) and the run it reports; its model card
(``cards/<name>.md``, with the run's plots) is generated from the same two.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from kzoo.io import atomic_path, excerpt, plain_file_name, read_json, sha256_file, write_json, write_text

PRESET_DIR = Path(__file__).parent
LICENSE = "MIT (the licence of kzoo; the weights are trained on kzoo's own simulations)"

def limits_of(sky: str) -> str:
    """What a preset trained on ``sky`` cannot know (its family's ``preset_limits``), shown on its card."""
    return _family_text(sky, "preset_limits") or "Trained on kzoo's simulations only, not on observed data."


def usage_of(sky: str) -> str:
    """How a preset trained on ``sky`` is used after loading it (its family's ``preset_usage``), or ""."""
    return _family_text(sky, "preset_usage")


def _family_text(sky: str, field: str) -> str:
    from kzoo.families import sky_family

    family = sky_family(sky)
    return (family and getattr(family, field)) or ""


class PresetError(ValueError):
    """An unknown preset, or a preset file that does not match its manifest."""


# the fields every manifest entry has, with their types; a preset file is a plain .keras name in the folder
ENTRY_FIELDS = {"file": str, "bytes": int, "sha256": str, "model": str, "experiment": str, "sky": str,
                "parameters": int, "test_metrics": dict}


def manifest(directory=None) -> dict:
    """``{preset name: entry}`` of the presets in ``directory`` (default: those shipped with kzoo), each entry
    checked (PresetError names the file, the preset and the field): every field of ENTRY_FIELDS of its type, the
    file a plain ``.keras`` name inside the folder, the sha256 64 hex digits."""
    path = Path(directory or PRESET_DIR) / "manifest.json"
    try:
        found = read_json(path, default={}) or {}
    except ValueError as e:  # not JSON (a truncated file), or nested too deeply
        raise PresetError(f"{path}: not a preset manifest: {' '.join(str(e).split())}") from None
    if not isinstance(found, dict):
        raise PresetError(f"{path}: not a preset manifest: a JSON object {{name: entry}} is needed, got "
                          f"{type(found).__name__}")
    for name, e in found.items():
        problems = [] if isinstance(e, dict) else [f"is a {type(e).__name__}, not an object"]
        for field, kind in ENTRY_FIELDS.items() if isinstance(e, dict) else ():
            if not isinstance(e.get(field), kind) or isinstance(e.get(field), bool):
                problems.append(f"field {field!r} must be a {kind.__name__}, got {excerpt(e.get(field))}")
        if not problems:
            f = e["file"]
            if not plain_file_name(f) or not f.endswith(".keras") or f == ".keras":
                problems.append(f"field 'file' {excerpt(f)} must be a plain .keras file name inside {path.parent}")
            if not re.fullmatch(r"[0-9a-f]{64}", e["sha256"]):
                problems.append(f"field 'sha256' {excerpt(e['sha256'])} must be 64 hexadecimal digits")
            if e["bytes"] < 0:
                problems.append(f"field 'bytes' must be >= 0, got {e['bytes']}")
        if problems:
            raise PresetError(f"{path}: preset {excerpt(name)}: " + "; ".join(problems))
    return found


MAX_ARCHIVE_BYTES = 1 << 31  # a preset archive downloaded: 2 GiB at most


def cache_dir() -> Path:
    """Where downloaded presets are kept: ``KZOO_HOME`` (default: ``$XDG_CACHE_HOME/kzoo``, else ``~/.cache/kzoo``)."""
    home = os.environ.get("KZOO_HOME")
    if home:
        return Path(home)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kzoo"


def _is_url(ref) -> bool:
    return isinstance(ref, str) and ref.startswith(("http://", "https://"))


def locate(ref) -> tuple[str, Path | None] | None:
    """``(preset name, its folder (None: kzoo's own))`` of a preset reference, or None when ``ref`` is none:

    - a name of kzoo's presets (``kzoo list --presets``);
    - a preset folder of one's own (``python -m kzoo.presets add ... --dir FOLDER``): ``FOLDER`` when it holds one
      preset, ``FOLDER/NAME`` for one of several;
    - the URL of a preset archive (``python -m kzoo.presets pack``) with its sha256, ``URL#sha256=<64 hex digits>``:
      downloaded once into :func:`cache_dir`, checked, and read from there afterwards (offline too).
    """
    if not isinstance(ref, (str, os.PathLike)):
        return None
    if _is_url(ref):
        folder = fetch(ref)
        return _only(folder, ref), folder
    ref = str(ref)
    if ref in manifest():
        return ref, None
    path = Path(ref)
    if (path / "manifest.json").is_file() and any(path.glob("*.keras")) and not (path / "run.json").exists():
        return _only(path, ref), path
    # FOLDER/NAME names a preset of a folder of several, never a file or folder that exists (a run inside a
    # dataset's folder, whose manifest.json is the dataset's)
    if not path.exists() and (path.parent / "manifest.json").is_file() and path.name in manifest(path.parent):
        return path.name, path.parent
    return None


def _only(folder: Path, ref) -> str:
    names = list(manifest(folder))
    if len(names) != 1:
        raise PresetError(f"{ref}: a preset folder of {len(names)} presets ({', '.join(names) or 'none'}); name one "
                          f"as {folder}/NAME")
    return names[0]


def fetch(url: str) -> Path:
    """The folder of the preset archive at ``url`` (``URL#sha256=HEX``): from the cache when it is there, else
    downloaded (a progress bar), its sha256 checked before anything is unpacked, unpacked (plain files only) and
    moved into the cache in one rename; a download that fails or does not match leaves nothing behind."""
    import hashlib
    import http.client
    import tarfile
    import tempfile
    import urllib.error
    import urllib.request

    where, _, fragment = url.partition("#")
    m = re.fullmatch(r"sha256=([0-9a-f]{64})", fragment)
    if m is None:
        raise PresetError(f"{excerpt(url)}: give the archive's sha256 after the URL, URL#sha256=<64 hex digits> (python "
                          f"-m kzoo.presets pack prints it); kzoo loads no weights it cannot check")
    sha = m.group(1)
    dest = cache_dir() / "presets" / sha
    if (dest / "manifest.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{sha[:12]}-") as tmp:
        archive, digest, size = Path(tmp) / "preset.tar.gz", hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(where, timeout=60) as r, open(archive, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0) or None
                from kzoo.progress import bar as progress

                with progress(total=total, unit="B", unit_scale=True, desc=f"download {Path(where).name}",
                              leave=False) as bar:
                    while chunk := r.read(1 << 20):
                        size += len(chunk)
                        if size > MAX_ARCHIVE_BYTES:
                            raise PresetError(f"{where}: over {MAX_ARCHIVE_BYTES >> 30} GiB; not a preset archive")
                        digest.update(chunk)
                        f.write(chunk)
                        bar.update(len(chunk))
                if total is not None and size != total:
                    raise PresetError(f"{where}: the download stopped after {size:,} of {total:,} bytes; nothing was "
                                      f"kept, try again")
        except PresetError:
            raise
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            raise PresetError(f"{where}: cannot download the preset ({' '.join(str(reason).split())}); nothing was "
                              f"kept, and no copy is in the cache {dest.parent}") from None
        if digest.hexdigest() != sha:
            raise PresetError(f"{where}: sha256 {digest.hexdigest()[:16]}... of the download, not {sha[:16]}... as "
                              f"given: a corrupted or replaced archive; nothing was kept")
        unpacked = Path(tmp) / "preset"
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
                        raise PresetError(f"{where}: archive member {excerpt(member.name)} is not a plain file inside "
                                          f"it; refused")
                tar.extractall(unpacked, filter="data")
        except (tarfile.TarError, EOFError, OSError) as e:
            raise PresetError(f"{where}: not a preset archive ({e})") from None
        names = list(manifest(unpacked))  # every entry checked
        for name in names:
            preset_file(name, unpacked)  # and every file against its sha256
        try:
            os.replace(unpacked, dest)
        except OSError:  # another process put it there first
            if not (dest / "manifest.json").is_file():
                raise
    return dest


def pack(name: str, out, directory=None) -> str:
    """Write the preset ``name`` (its file, card and plots, and a manifest of it alone) as a .tar.gz archive to
    ``out``, byte-identical for the same preset; returns its sha256 (give it with the URL: ``URL#sha256=...``)."""
    import gzip
    import io
    import tarfile

    located = locate(name) if directory is None else (name, Path(directory))
    if located is None:
        raise preset_error(name, directory)
    name, folder = located
    folder = Path(folder or PRESET_DIR)
    e = preset_entry(name, folder)
    preset_file(name, folder)
    files = [(folder / e["file"], e["file"]), (folder / e["card"], e["card"])]
    figures = folder / "cards" / name
    files += [(f, f"cards/{name}/{f.name}") for f in sorted(figures.glob("*")) if f.is_file()]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname, data):
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))

        add("manifest.json", (json.dumps({name: e}, indent=1, sort_keys=True) + "\n").encode())
        for path, arcname in files:
            if path.is_file():
                add(arcname, path.read_bytes())
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw.getvalue())
    return sha256_file(out)


SUMMARY_COLUMNS = ("preset", "family", "model", "parameters", "MB", "test metric (source notebooks')")


def summary(pattern: str = "*", directory=None) -> list[tuple]:
    """One row per preset (``SUMMARY_COLUMNS``): its family, model, weights, size and test metrics beside the source
    notebooks' numbers (or its experiment's headline metric where they give none); ``kzoo list --presets`` and the
    documentation's table."""
    from kzoo.families import sky_family
    from kzoo.report import headline_metric, one_class_auroc

    rows = []
    for name in list_presets(pattern, directory):
        e = preset_entry(name, directory)
        shown = []
        for key, per_target in e["seed_reference"].items():
            for target, seed in per_target.items():
                value = e["test_metrics"].get(target, {}).get(key)
                if isinstance(value, float):
                    shown.append(f"{target} {key} {value:.4g} ({seed})")
        where, auroc = one_class_auroc(e.get("also_on"))
        if not shown and auroc is not None:  # a one-class model: its AUROC on a labelled recipe
            shown = [f"all auroc {auroc:.4g} on {where}"]
        if not shown:  # the source notebooks give no number: the experiment's headline metric, without one
            key = headline_metric(e.get("experiment_declaration") or {}, e["test_metrics"])
            shown = [f"{t} {key} {m[key]:.4g}" for t, m in e["test_metrics"].items()
                     if isinstance(m, dict) and isinstance(m.get(key), float)]
        family = sky_family(e["sky"])
        rows.append((name, family.name if family else "-", e["model"], f"{e['parameters']:,}",
                     f"{e['bytes'] / 1e6:.1f}", "; ".join(shown)))
    return rows


def list_presets(pattern: str = "*", directory=None) -> list[str]:
    """Sorted preset names matching a shell-style wildcard."""
    return sorted(n for n in manifest(directory) if fnmatch.fnmatchcase(n, pattern))


def _resolve(name, directory):
    """``(name, directory)`` for a reference :func:`locate` knows (a folder, a URL), else as given."""
    if directory is None:
        found = locate(name)
        if found is not None:
            return found
    return name, directory


def preset_entry(name: str, directory=None) -> dict:
    """The manifest entry of a preset (a name, a preset folder or a URL, see :func:`locate`); PresetError names the
    closest presets."""
    name, directory = _resolve(name, directory)
    entries = manifest(directory)
    if name not in entries:
        from kzoo.errors import closest

        raise PresetError(str(closest(name, entries, "preset")) if entries else
                          f"unknown preset {name!r}; no presets in {directory or PRESET_DIR}")
    return entries[name]


def preset_file(name: str, directory=None) -> Path:
    """The preset's ``.keras`` file after checking its size and sha256 against the manifest."""
    name, directory = _resolve(name, directory)
    e = preset_entry(name, directory)
    path = Path(directory or PRESET_DIR) / e["file"]
    if not path.exists():
        raise PresetError(f"{path}: preset file missing (the manifest lists it); reinstall kzoo")
    if path.stat().st_size != e["bytes"] or sha256_file(path) != e["sha256"]:
        raise PresetError(f"{path}: sha256 differs from the preset manifest (damaged or replaced file); "
                          f"reinstall kzoo or remake the preset with kzoo.presets.add_preset")
    return path


def is_preset(name, directory=None) -> bool:
    """Whether ``name`` is a preset: one of ``directory``'s, or (without one) kzoo's, a preset folder or a URL."""
    if directory is not None:
        return isinstance(name, str) and name in manifest(directory)
    return locate(name) is not None


def load(path_or_preset, directory=None):
    """A keras.Model ready to predict on raw inputs (the input normalisation is its first layer).

    ``path_or_preset``: a preset (sha256-checked): a name of kzoo's, a preset folder of one's own or the URL of a
    preset archive with its sha256 (see :func:`locate`); a run directory made by ``kzoo train`` or
    ``kzoo reproduce``; or a ``.keras`` file. Loaded with ``safe_mode=True``. Targets that the
    experiment scaled (``scale_targets``) come out scaled as in training: ``kzoo.predict.predict`` returns
    physical units (the preset's card gives the ranges).
    """
    from kzoo.export import load_model

    if is_preset(path_or_preset, directory):
        return load_model(preset_file(path_or_preset, directory))
    path = Path(path_or_preset)
    if path.is_dir():
        from kzoo.runs import recover

        recover(path)  # a swap of a new run that a kill cut short
        path = path / "model.keras"
    elif not path.exists() and path.suffix != ".keras":
        raise preset_error(str(path_or_preset), directory)
    return load_model(path)


def load_frozen(path_or_preset, who: str, argument: str, input_shape=None, normalization=None):
    """A trained model that a new one builds on (a denoiser, an encoder): loaded as :func:`load` does and frozen
    (its batch normalisations then run in inference mode). ``who`` and ``argument`` name the builder and its
    argument in the errors: for ``"run:<experiment>"`` (pass the run's directory instead), for a
    ``normalization`` other than none (the trained model holds its own) and for a model whose one input is not
    ``input_shape``."""
    if isinstance(path_or_preset, str) and path_or_preset.startswith("run:"):
        raise ValueError(f"{who}: {argument} {path_or_preset!r} names the experiment whose run it is; pass that run's "
                         f"directory (kzoo train ... --model-arg {argument}=RUN_DIR; kzoo reproduce finds it beside "
                         f"this run)")
    if normalization not in (None, "none") and normalization != {"mode": "none"}:
        raise ValueError(f"{who}: a trained {argument} holds its own input normalisation; normalization must be "
                         f"'none', got {normalization!r}")
    from kzoo.export import model_input_shape

    model = load(path_or_preset)
    model.trainable = False
    got = model_input_shape(model)
    if input_shape is not None and got != tuple(input_shape):
        raise ValueError(f"{who}: {argument} {path_or_preset} takes one input of shape {got}, not "
                         f"{tuple(input_shape)}")
    return model


def preset_error(name: str, directory=None) -> PresetError:
    """The error for a name that is neither a preset nor an existing path."""
    names = list_presets(directory=directory)
    from kzoo.errors import closest

    hint = str(closest(name, names, "preset")).split("; ", 1)[1] if names else "no presets installed"
    return PresetError(f"{name}: neither a preset nor an existing run directory or .keras file; {hint}")


def _record_matches_run(record: dict, run: dict, metrics: dict, where: Path):
    """Refuse a run that is not the one the reproduce record reports."""
    from kzoo.runs import identity

    problems = []
    if identity({"experiment": run["experiment"]}) != identity({"experiment": record["experiment"]}):
        problems.append("the experiment's declaration differs")
    if run.get("recipe_sha256") != record.get("recipe_sha256"):
        problems.append("the recipe differs")
    if run.get("epochs_run") != record.get("epochs_run"):
        problems.append(f"epochs {run.get('epochs_run')} in the run, {record.get('epochs_run')} in the record")
    if metrics.get("metrics") != record.get("metrics"):
        problems.append("its metrics.json differs from the record's metrics (evaluated again since?)")
    if problems:
        raise PresetError(f"{where}: not the run that the reproduce record reports: {'; '.join(problems)}")


def store_half(path) -> None:
    """Rewrite the float32 weights of a ``.keras`` file as float16, in place (temporary name and rename): half the
    size; keras loads them into the float32 variables of the model's config as they are, so the model computes in
    float32 with weights rounded to float16's 11 significant bits."""
    import io
    import zipfile

    import h5py
    import numpy as np

    path = Path(path)
    with zipfile.ZipFile(path) as z:
        items = [(info, z.read(info.filename)) for info in z.infolist()]
    weights = dict((i.filename, b) for i, b in items)["model.weights.h5"]
    out = io.BytesIO()

    def copy(src, dst):
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for k, v in src.items():
            if isinstance(v, h5py.Group):
                copy(v, dst.create_group(k))
            else:
                a = v[()]
                dst.create_dataset(k, data=a.astype(np.float16) if getattr(a, "dtype", None) == np.float32 else a)

    with h5py.File(io.BytesIO(weights), "r") as f, h5py.File(out, "w") as g:
        copy(f, g)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as z:
        for info, data in items:
            z.writestr(info, out.getvalue() if info.filename == "model.weights.h5" else data)


def _record_name(record_path: Path) -> str:
    """A record's path from the repository's root where it is inside kzoo's source tree (results/...), else its name."""
    try:
        return record_path.resolve().relative_to(PRESET_DIR.resolve().parents[1]).as_posix()
    except ValueError:
        return record_path.name


def add_preset(record_path, run_dir=None, name: str | None = None, directory=None, half: bool = False) -> dict:
    """Make (or remake) a preset from a ``kzoo reproduce`` record and its run; returns the manifest entry.

    ``record_path``: ``results/<experiment>.json`` written by ``kzoo reproduce``. ``run_dir``: the run
    it reports (default: the ``run`` folder beside the record's ``--out``, read from its command).
    The run must be the one the record reports (same declaration, recipe, epochs and metrics). Writes
    ``<name>.keras`` (no optimizer state), ``cards/<name>.md`` and its plots, and the manifest entry. ``half``: store
    the weights as float16 (:func:`store_half`, half the size, for a large model) and evaluate the stored model on
    the run's test split again: its metrics go beside the run's in the entry (``stored_test_metrics``) and card.
    """
    from kzoo.export import load_model
    from kzoo.runs import run_target_ranges

    record_path = Path(record_path)
    record = read_json(record_path)
    if not record or "experiment" not in record or "command" not in record:
        raise PresetError(f"{record_path}: not a kzoo reproduce record (results/<experiment>.json)")
    exp = record["experiment"]
    if run_dir is None:
        words = record["command"].split()
        run_dir = Path(words[words.index("--out") + 1]) / "run"
    run_dir = Path(run_dir)
    run = read_json(run_dir / "run.json")
    if run is None:
        raise PresetError(f"{run_dir / 'run.json'}: no finished run there")
    metrics = read_json(run_dir / "metrics.json", default={})
    _record_matches_run(record, run, metrics, run_dir)
    name = name or exp["name"]
    directory = Path(directory or PRESET_DIR)
    from kzoo.evaluate import ZONES_FILE
    from kzoo.experiments import get_experiment
    from kzoo.export import model_input_shape

    get_experiment(exp["name"])  # the experiment still exists in this kzoo
    directory.mkdir(parents=True, exist_ok=True)
    file = f"{name}.keras"
    # Everything is made in a staging folder and moved in at the end: a failure leaves the folder as it was.
    with tempfile.TemporaryDirectory(prefix=f".staging-{name}-", dir=directory) as staging:
        staging = Path(staging)
        model = load_model(run_dir / "model.keras")  # compile=False: no optimizer, a third of the size
        model.save(staging / file)
        stored = None
        if half:
            from kzoo.evaluate import evaluate

            store_half(staging / file)
            with tempfile.TemporaryDirectory() as where:  # the shipped weights judged as the run was, on its test split
                stored = evaluate(run_dir, model=load_model(staging / file), out=where, classical=False)["metrics"]
        figures = staging / "figures"
        figures.mkdir()
        for png in record.get("figures", []):  # from the run, or the record's folder (plots made on other recipes)
            for where in (run_dir / png, record_path.parent / exp["name"] / png):
                if where.exists():
                    shutil.copy2(where, figures / png)
                    break
        sky = run.get("sky", "")
        entry = {
            "experiment": exp["name"],
            "model": exp["model"],
            "description": exp["description"],
            "seed_document": exp["seed"],
            "file": file,
            "bytes": (staging / file).stat().st_size,
            "sha256": sha256_file(staging / file),
            "parameters": int(model.count_params()),
            "input_shape": list(shape) if (shape := model_input_shape(model)) else None,
            "inputs": exp["inputs"],
            "targets": exp["targets"],
            "normalization": run["settings"]["normalization"],
            "scale_targets": exp.get("scale_targets", False),
            "target_scale": exp.get("target_scale", [0.0, 1.0]),
            "target_ranges": run_target_ranges(run),
            "image_preparation": run.get("image_preparation"),
            "loss": exp["loss"],
            "sky": sky,
            "recipe": exp["recipe"],
            "recipe_sha256": record["recipe_sha256"],
            "dataset_seed": record["dataset_seed"],
            "dataset_sha256": run.get("dataset_sha256"),
            "splits": record["splits"],
            "train_commit": record["train_commit"],
            "settings": record["settings"],
            "epochs_run": record["epochs_run"],
            "device": record["machine"]["device"],
            "test_metrics": record["metrics"],
            **({"also_on": record["also_on"]} if record.get("also_on") else {}),
            **({"zones": zones} if (zones := read_json(run_dir / ZONES_FILE, default=None)) else {}),
            **({"stored_as": "float16", "stored_test_metrics": stored} if half else {}),
            "seed_reference": record["reference"],
            "goals": exp.get("goals", {}),
            "command": record["command"],
            "record": _record_name(record_path),
            "license": LICENSE,
            "card": f"cards/{name}.md",
            "experiment_declaration": exp,
        }
        (staging / "card.md").write_text(model_card(name, entry, record))
        (directory / "cards").mkdir(exist_ok=True)
        with atomic_path(directory / file) as tmp:
            os.replace(staging / file, tmp)
        with atomic_path(directory / "cards" / name) as tmp:
            os.replace(figures, tmp)
        with atomic_path(directory / "cards" / f"{name}.md") as tmp:
            os.replace(staging / "card.md", tmp)
    entries = manifest(directory)
    entries[name] = entry
    write_json(directory / "manifest.json", dict(sorted(entries.items())))
    return entry


def model_card(name: str, e: dict, record: dict) -> str:
    """The markdown model card of a preset, from its manifest entry and reproduce record."""
    from kzoo.seeds import seed_title
    from kzoo.report import also_on_lines, metric_table

    scaled = ""
    if e["scale_targets"]:
        a, b = e["target_scale"]
        labels = e["targets"] if isinstance(e["targets"], list) else next(
            v for v in e["targets"].values() if not isinstance(v, str))
        ranges = ", ".join(f"{t} [{lo:g}, {hi:g}]" for t, (lo, hi) in zip(labels, e["target_ranges"]))
        scaled = (f" `model.predict` returns the targets mapped linearly onto [{a:g}, {b:g}] from these training "
                  f"ranges: {ranges}; `kzoo.predict.predict` and `kzoo predict` return physical units.")
    norm = e["normalization"]
    norm_text = (f"global standardisation (x - {norm['mean']:.6g}) / {norm['std']:.6g}" if isinstance(norm, dict)
                 and norm.get("mode") == "global" else f"{norm.get('mode', norm) if isinstance(norm, dict) else norm}")
    s = e["settings"]
    lines = [
        f"# Preset `{name}`: {e['model']} trained by `kzoo reproduce {e['experiment']}`", "",
        e["description"], "",
        "```python",
        "import kzoo",
        f"model = kzoo.load({name!r})            # or kzoo.build({e['model']!r}, weights={name!r})",
        *(usage_of(e["sky"]).format(name=name).splitlines() or [
            "from kzoo.predict import predict",
            f"predict({name!r}, ['map.fits'])        # physical units; the command line: kzoo predict {name} map.fits"]),
        "```", "",
        "## What it is", "",
        f"- Model `{e['model']}`, {e['parameters']:,} parameters, file `{e['file']}` ({e['bytes'] / 1e6:.1f} MB, "
        f"sha256 `{e['sha256'][:16]}...`, checked before loading)"
        + (", weights stored as float16 to halve the file (loaded into float32; the test metrics of the stored "
           "weights are below the run's)." if e.get("stored_as") == "float16" else "."),
        f"- Seed: {seed_title(e['seed_document'])} (`{e['seed_document']}`).",
        f"- Inputs: `{e['inputs']}`, shape {tuple(e['input_shape']) if e['input_shape'] else 'named inputs'}, raw "
        f"values; the first layer applies the input normalisation: {norm_text}.",
        f"- Outputs: {e['targets']}, loss `{e['loss']}`.{scaled}", "",
        "## Training data", "",
        f"Recipe `{e['recipe']}` (sky `{e['sky']}`, recipe sha256 `{e['recipe_sha256'][:16]}...`), dataset seed "
        f"{e['dataset_seed']}, splits {e['splits']}, dataset sha256 `{(e['dataset_sha256'] or '')[:16]}...`. "
        f"The same command makes the same bytes: `{e['command']}`.", "",
        f"Fit: batch {s['batch_size']}, {record.get('optimizer', 'Adam')} lr {s['learning_rate']}, {e['epochs_run']} epochs, precision "
        f"{s['precision']}, on {e['device']}; trained at commit {e['train_commit']}.", "",
        "## Test metrics beside the seed's", "",
        *metric_table(record), *also_on_lines(record), "",
        f"The numbers are those of `{e.get('record', 'results/' + e['experiment'] + '.json')[:-5]}.md`, from the same run.", "",
        *(["The stored float16 weights, judged again on the same test split:", "",
           *(f"- {t}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if isinstance(v, float))
             for t, m in (e.get("stored_test_metrics") or {}).items() if isinstance(m, dict)), ""]
          if e.get("stored_as") == "float16" else []),
        "## Known limits", "",
        limits_of(e["sky"]), "",
        "## Licence", "", e["license"] + ".", "",
    ]
    lines += [f"![{png[:-4].replace('_', ' ')}]({name}/{png})\n" for png in record.get("figures", [])]
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m kzoo.presets add results/gc-dm.json [--run RUN] [--name NAME]``: make a preset."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m kzoo.presets",
                                description="Make a pretrained preset from a kzoo reproduce record and its run.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("add", help="add (or remake) a preset in the package's presets folder")
    s.add_argument("record", help="results/<experiment>.json written by kzoo reproduce")
    s.add_argument("--run", help="the run directory it reports (default: the run folder under the record's --out)")
    s.add_argument("--name", help="preset name (default: the experiment's name)")
    s.add_argument("--dir", help="presets folder (default: kzoo/presets in the source tree)")
    k = sub.add_parser("pack", help="write a preset as a .tar.gz archive to publish (kzoo.load('URL#sha256=...'))",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    k.add_argument("name", help="a preset: a name of kzoo's or a preset folder of one's own")
    k.add_argument("--out", required=True, help="the archive to write (NAME.tar.gz)")
    s.add_argument("--half", action="store_true",
                   help="store the weights as float16 (half the file; for a model over ~5 MB) and judge the stored "
                        "weights on the run's test split again")
    a = p.parse_args(argv)
    if a.command == "pack":
        sha = pack(a.name, a.out)
        print(f"wrote {a.out}: load it from where you publish it as kzoo.load('<URL>#sha256={sha}')")
        return 0
    e = add_preset(a.record, a.run, a.name, a.dir, half=a.half)
    print(f"preset {a.name or e['experiment']}: {e['file']} ({e['bytes'] / 1e6:.1f} MB, sha256 {e['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
