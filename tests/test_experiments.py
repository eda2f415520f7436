import pytest

from kzoo.experiments import EXPERIMENTS, get_experiment, list_experiments


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_declared_experiment_is_complete(name):
    import kzoo
    from kzoo import losses
    from kzoo.data.pipeline import TRANSFORMS
    from kzoo.data.recipes import load_recipe
    from kzoo.evaluate import EVALUATORS
    from kzoo.reference import REFERENCES

    exp = get_experiment(name)
    recipe = load_recipe(exp.recipe)
    assert exp.inputs in recipe["features"]
    assert exp.model in kzoo.list_models()
    assert losses.get(exp.loss) is not None
    assert exp.evaluation in EVALUATORS
    assert not exp.reference_method or exp.reference_method in REFERENCES
    for t in (exp.target_transform, exp.input_transform):
        assert not t or t in TRANSFORMS
    for metric, goals in exp.goals.items():
        for target, (op, bound) in goals.items():
            assert op in ("<=", ">=") and isinstance(bound, float), (metric, target)
    assert exp.seed and exp.description


def test_the_galactic_centre_suite_and_its_goals():
    names = list_experiments("gc-*")
    assert {"gc-dm", "gc-dm-nps", "gc-dm-nps-split", "gc-dm-nps-nll", "gc-ps-unet", "gc-ps-unet-soft",
            "gc-dae-gaussian", "gc-dae-poisson", "gc-dae-masked", "gc-dae-salt-and-pepper"} <= set(names)
    assert get_experiment("gc-dm").goals == {"relative_error": {"A_dm": ("<=", 0.08)}}
    assert get_experiment("gc-ps-unet-soft").goals["auc_mean"]["B"] == (">=", 0.97)
    assert get_experiment("gc-dae-gaussian").goals["mse"]["denoised"] == ("<=", 0.0011)
    assert not get_experiment("gc-dm-smooth-gas").goals  # an ablation: the goal is the seed's setting
