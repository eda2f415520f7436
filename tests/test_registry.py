import pytest

import kzoo
from kzoo.errors import UnknownNameError


def test_list_models_and_wildcards():
    names = kzoo.list_models()
    assert "gc_cnn" in names and names == sorted(names)
    assert kzoo.list_models("gc*") == [n for n in names if n.startswith("gc")]
    assert kzoo.list_models("nothing-like-this*") == []


def test_spec_describes_the_model():
    s = kzoo.spec("gc_cnn")
    assert s.input_shape == (64, 64, 1)
    assert s.task == "regression" and s.loss == "mse"
    assert "000_" in s.seed
    assert s.reference["mae_scaled_A_dm"] == 0.0807 and "mean relative error" in s.reference["metric_definition"]
    assert "learning_rate" in s.search_space
    assert s.arguments()["outputs"] == 1
    assert kzoo.spec("cnn_dm") is s  # alias
    assert s.to_dict()["name"] == "gc_cnn"


def test_unknown_model_names_closest():
    with pytest.raises(KeyError) as e:
        kzoo.build("gc_cn")
    assert isinstance(e.value, UnknownNameError)
    assert "gc_cnn" in str(e.value)
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        kzoo.build("nope")


def test_unknown_override_is_named():
    with pytest.raises(TypeError, match="widthz"):
        kzoo.build("gc_cnn", widthz=3)


def test_overrides_change_the_network():
    m = kzoo.build("gc_cnn", input_shape=(32, 32, 2), outputs=3, filters=(8, 8, 16, 16), dense=(32,))
    assert m.input_shape == (None, 32, 32, 2)
    assert m.output_shape == (None, 3)
    assert len([l for l in m.layers if l.name.startswith("conv")]) == 4
    with pytest.raises(ValueError, match="convs_per_block"):
        kzoo.build("gc_cnn", filters=(8, 8, 16))


def test_seed_parameter_count():
    # The seed's table: Total params: 1,447,393 at 64 x 64 x 1.
    assert kzoo.build("gc_cnn").count_params() == 1_447_393
    assert kzoo.build("gc_cnn", normalization={"mode": "global", "mean": 3.0, "std": 2.0}).count_params() == 1_447_393


def test_multi_output_parameter_count():
    # The seed's table for the multiple-output CNN (two outputs): Total params: 400,658.
    assert kzoo.build("gc_cnn_multi").count_params() == 400_658
