"""Loading saved models safely, and exporting them as .keras, SavedModel or ONNX."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from kzoo.io import atomic_path, ensure_dir, remove_stale_temps

FORMATS = {"keras": "model.keras", "savedmodel": "savedmodel", "onnx": "model.onnx"}


class ModelFileError(ValueError):
    """A model file that is not one, or that safe loading refuses."""


def load_model(path, compile: bool = False):
    """Load a .keras file with ``safe_mode=True`` (no Lambda layers, no arbitrary code).

    Custom kzoo layers and losses are registered on import of kzoo; anything else unknown is refused.
    """
    import keras

    import kzoo.layers  # noqa: F401  (registers the custom objects)
    import kzoo.losses  # noqa: F401
    from kzoo.families import parts

    parts("models")  # every family's layers and model classes (e.g. the rings family's ConditionalVAE)

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras model file (a zip archive named *.keras, written by model.save)")
    with zipfile.ZipFile(path) as z:  # a model AutoKeras found (kzoo automl) holds AutoKeras's own layers
        made_by_autokeras = "config.json" in z.namelist() and b'"module": "autokeras' in z.read("config.json")
    if made_by_autokeras:
        try:
            import autokeras  # noqa: F401  (registers its layers, e.g. CastToFloat32)
        except ImportError as e:
            raise ModelFileError(f"{path}: a model found by AutoKeras; its layers need AutoKeras to load: pip install "
                                 f"'kzoo[automl]'") from e
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as e:  # keras raises ValueError/TypeError with its reason
        raise ModelFileError(f"{path}: refused by safe loading: {str(e).splitlines()[0]}") from e


def infer(model, x, dtype=np.float32):
    """``model(x, training=False)`` as numpy arrays of ``dtype`` (a dict of them for named outputs), on any Keras
    backend: on PyTorch without recording gradients (a tensor that requires grad has no ``numpy()``)."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        with torch.no_grad():
            out = model(x, training=False)
    else:
        out = model(x, training=False)
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t), dtype), out)


def model_input_shape(model):
    """The shape of a model's one image input without the batch axis, or None for named inputs: from its symbolic
    input, or for a subclassed zoo model (Deep SVDD, the conditional VAE, the WGAN) from its ``example_inputs``."""
    if getattr(model, "inputs", None):
        return tuple(model.input_shape[1:]) if len(model.inputs) == 1 and not isinstance(model.input, dict) else None
    example = model.example_inputs()
    return None if isinstance(example, dict) else tuple(example.shape[1:])


def export(model_or_run, fmt: str = "savedmodel", out=None) -> Path:
    """Write the model of a run directory (or a keras.Model) in ``fmt`` ("keras", "savedmodel", "onnx").

    The default destination is ``RUN/export/<model.keras|savedmodel|model.onnx>``. SavedModel and
    ONNX artefacts load without kzoo (``tf.saved_model.load`` / ``onnxruntime``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if isinstance(model_or_run, (str, Path)):
        run = Path(model_or_run)
        if run.is_dir():
            from kzoo.runs import recover

            recover(run)  # a swap of a new run that a kill cut short
        what = "--out" if out else "export path"
        out = Path(out) if out else (run if run.is_dir() else run.parent) / "export" / FORMATS[fmt]
        ensure_dir(out, what, for_file=True)
        for name in FORMATS.values():  # what killed exports of any format left beside this one
            remove_stale_temps(out.parent / name)
        model = load_model(run / "model.keras" if run.is_dir() else run)
    else:
        model = model_or_run
        if out is None:
            raise ValueError("export(model, ...) needs `out` when given a model rather than a run directory")
        out = Path(out)
        ensure_dir(out, "out", for_file=True)
    # Trace once so every layer is built (ONNX conversion needs a called model).
    if getattr(model, "inputs", None):
        zeros = [np.zeros([1 if d is None else d for d in t.shape], dtype="float32") for t in model.inputs]
        model(zeros[0] if len(zeros) == 1 else {t.name: z for t, z in zip(model.inputs, zeros)}, training=False)
    else:  # a subclassed zoo model (kzoo.families.rings.models.ConditionalVAE) gives its own example inputs
        model(model.example_inputs(), training=False)
    with atomic_path(out) as tmp:
        if fmt == "keras":
            model.save(tmp)
        elif fmt == "savedmodel":
            model.export(str(tmp), format="tf_saved_model", verbose=False)
        else:
            try:
                import tf2onnx  # noqa: F401
            except ImportError:
                raise ImportError("ONNX export needs tf2onnx and onnx: pip install 'kzoo[onnx]'") from None
            model.export(str(tmp), format="onnx", verbose=False)
    return out


def run_exported(path, x: np.ndarray) -> np.ndarray:
    """Predict with an exported artefact the way a user without kzoo would."""
    path = Path(path)
    x = np.asarray(x, dtype=np.float32)
    if path.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    if path.suffix == ".keras":
        return np.asarray(load_model(path)(x, training=False))
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # keep a reference: serve() needs its variables alive
    return np.asarray(loaded.serve(tf.constant(x)))
