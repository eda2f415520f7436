import subprocess
import sys
import zipfile

import numpy as np
import pytest

import kzoo
from kzoo.export import ModelFileError, export, load_model, run_exported


@pytest.fixture(scope="module")
def model():
    return kzoo.build("gc_cnn", input_shape=(16, 16, 1), filters=(4, 4, 8, 8), dense=(16,),
                      normalization={"mode": "global", "mean": 5.0, "std": 2.0})


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).poisson(5.0, (4, 16, 16, 1)).astype("float32")


@pytest.mark.parametrize("fmt,name", [("keras", "m.keras"), ("savedmodel", "sm"), ("onnx", "m.onnx")])
def test_exports_match_the_in_memory_model(model, batch, tmp_path, fmt, name):
    path = export(model, fmt, out=tmp_path / name)
    assert path.exists()
    np.testing.assert_allclose(run_exported(path, batch), np.asarray(model(batch)), rtol=1e-5, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_exports_load_without_kzoo(model, batch, tmp_path):
    export(model, "savedmodel", out=tmp_path / "sm")
    export(model, "onnx", out=tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", batch)
    code = f"""
import sys
sys.modules['kzoo'] = None  # any import of kzoo now fails
import numpy as np, tensorflow as tf, onnxruntime as ort
x = np.load(r'{tmp_path / "x.npy"}')
sm = tf.saved_model.load(r'{tmp_path / "sm"}')
a = sm.serve(tf.constant(x)).numpy()
s = ort.InferenceSession(r'{tmp_path / "m.onnx"}', providers=['CPUExecutionProvider'])
b = s.run(None, {{s.get_inputs()[0].name: x}})[0]
np.save(r'{tmp_path / "out.npy"}', np.stack([a, b]))
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    a, b = np.load(tmp_path / "out.npy")
    ref = np.asarray(model(batch))
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, ref, rtol=1e-5, atol=1e-6)


def test_safe_loading_refuses_bad_files(tmp_path):
    import keras

    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a .keras model file"):
        load_model(bogus)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")
    inp = keras.Input((3,))
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp))
    lam.save(tmp_path / "lambda.keras")
    assert zipfile.is_zipfile(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="lambda.keras: refused by safe loading"):
        load_model(tmp_path / "lambda.keras")


def test_bad_format(model, tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        export(model, "tflite", out=tmp_path / "x")
