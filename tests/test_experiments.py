import keras
import pytest

from kzoo.experiments import declared, get_experiment, list_experiments


@pytest.mark.parametrize("name", sorted(declared()))
def test_every_declared_experiment_is_complete(name):
    import kzoo
    from kzoo import losses
    from kzoo.data.records import TRANSFORM_NAMES
    from kzoo.data.recipes import load_recipe
    from kzoo.evaluate import evaluators
    from kzoo.reference import estimated_targets, references

    from kzoo.sims import get_sky

    exp = get_experiment(name)
    recipe = load_recipe(exp.recipe)
    labels = get_sky(recipe["sky"]).LABELS
    inputs = exp.inputs if isinstance(exp.inputs, dict) else {None: exp.inputs}
    for source in inputs.values():  # a stored array, or label names
        assert source in recipe["features"] if isinstance(source, str) else set(source) <= set(labels), source
    assert exp.model in kzoo.list_models()
    for loss in (exp.loss.values() if isinstance(exp.loss, dict) else [exp.loss]):
        assert loss == "model" or loss in losses.LOSSES or keras.losses.get(loss) is not None, loss
    assert exp.evaluation in evaluators()
    assert not exp.reference_method or exp.reference_method in references()[0]
    if exp.reference_method:  # it estimates at least one of the experiment's label targets
        from kzoo.experiments import label_output

        assert set(estimated_targets(exp.reference_method, recipe["sky"])) & set(label_output(exp.targets)[1])
    for t in (exp.target_transform, exp.input_transform):
        for one in (t.values() if isinstance(t, dict) else [t]):
            assert not one or one in TRANSFORM_NAMES
    targets = exp.targets if isinstance(exp.targets, dict) else {None: exp.targets}
    for source in targets.values():  # label targets may be sums of labels ("n_ps_gc+n_ps_disk")
        assert source in recipe["features"] if isinstance(source, str) else (
            {part for t in source for part in t.split("+")} <= set(labels)), source
    for metric, goals in exp.goals.items():
        for target, goal in goals.items():
            assert (goal[0] in ("<=", ">=") and len(goal) == 2 and isinstance(goal[1], float)) or (
                goal[0] == "within" and len(goal) == 3 and all(isinstance(b, float) for b in goal[1:])), (metric, target)
    assert exp.seed and exp.description
    from kzoo.experiments import OPTIMIZERS

    assert exp.optimizer in OPTIMIZERS


def test_the_galactic_centre_suite_and_its_goals():
    names = list_experiments("gc-*")
    assert {"gc-dm", "gc-dm-nps", "gc-dm-nps-split", "gc-dm-nps-nll", "gc-ps-unet", "gc-ps-unet-soft",
            "gc-dae-gaussian", "gc-dae-poisson", "gc-dae-masked", "gc-dae-salt-and-pepper"} <= set(names)
    assert get_experiment("gc-dm").goals == {"mae_scaled": {"A_dm": ("<=", 0.08)}}
    assert get_experiment("gc-dm-nps").goals == {"mae_scaled": {"n_ps_gc+n_ps_disk": ("<=", 0.035)}}
    assert get_experiment("gc-ps-unet-soft").goals["auc_mean"]["B"] == (">=", 0.97)
    assert get_experiment("gc-dae-gaussian").goals["mse"]["denoised"] == ("<=", 0.0011)
    assert get_experiment("gc-dae-salt-and-pepper").goals["mse"]["denoised"] == ("<=", 0.0019)
    assert get_experiment("gc-dm-nps-nll").goals["coverage_68"]["A_dm"] == ("within", 0.6827, 0.02)
    assert not get_experiment("gc-dm-smooth-gas").goals  # an ablation: the goal is the seed's setting


def test_regression_experiments_are_compared_with_the_seed_by_the_mae_of_scaled_targets():
    import numpy as np

    from kzoo.metrics import regression_metrics

    for name in list_experiments("gc-*"):
        exp = get_experiment(name)
        if exp.evaluation == "regression" and exp.reference:
            assert set(exp.reference) == {"mae_scaled"}, name
            assert set(exp.goals) <= {"mae_scaled", "coverage_68", "coverage_95"}, name
    # mae_scaled = mean|pred - true| / (high - low), the MAE on the [0, 1] scale of scale_targets
    t, p = np.array([[0.2, 1000.0], [0.8, 4000.0]]), np.array([[0.3, 1300.0], [0.5, 4000.0]])
    m = regression_metrics(t, p, ["A_dm", "n_ps_disk"], ranges=[[0.0, 1.0], [1000.0, 3999.0]])
    assert m["A_dm"]["mae_scaled"] == pytest.approx(0.2) and m["A_dm"]["mae"] == pytest.approx(0.2)
    assert m["n_ps_disk"]["mae_scaled"] == pytest.approx(150 / 2999) and m["n_ps_disk"]["mae"] == 150
    assert "mae_scaled" not in regression_metrics(t, p, ["a", "b"])["a"]  # only with the label ranges
    with pytest.raises(ValueError, match="ranges"):
        regression_metrics(t, p, ["a", "b"], ranges=[[0.0, 1.0]])


def test_the_sersic_suite_declares_the_seeds_table():
    names = list_experiments("sersic-*")
    assert {"sersic-v1-noiseless", "sersic-v1", "sersic-v2", "sersic-v3", "sersic-v1-nll", "sersic-v1-ae"} <= set(names)
    v1 = get_experiment("sersic-v1")
    assert v1.model == "xception_sersic" and v1.target_scale == (-1.0, 1.0) and v1.batch_size == 32
    assert v1.reference["rmse"] == {"flux": 5913.0, "n": 0.78, "re": 0.046, "g1": 0.074, "g2": 0.074}
    assert get_experiment("sersic-v1-noiseless").inputs == "noiseless"
    ae = get_experiment("sersic-v1-ae")
    assert ae.loss_weights == {"params": 5.0, "noiseless": 1.0} and set(ae.targets) == {"params", "noiseless"}


def test_every_classical_reference_says_what_it_estimates():
    from kzoo.reference import references

    methods, estimates = references()
    assert set(estimates) == set(methods) and len(methods) >= 8
