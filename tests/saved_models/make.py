"""Write a tiny saved model of a zoo family for the cross-version loading test.

    python tests/saved_models/make.py gc_cnn

Run it once when a family is added and commit its .keras and .npz. Never regenerate an existing
file: the point is that models saved by earlier kzoo releases keep loading and predicting the same.
"""

import sys
from pathlib import Path

import numpy as np

import kzoo

TINY = {
    "gc_cnn": {"input_shape": (16, 16, 1), "filters": (4, 4, 8, 8), "dense": (16,),
               "normalization": {"mode": "global", "mean": 5.0, "std": 2.0}},
    "gc_unet": {"input_shape": (16, 16, 1), "base_filters": 2, "depth": 2},
    "gc_cnn_multi": {"input_shape": (16, 16, 1), "blocks": ((4,), (4,)), "kernel_sizes": (3, 5), "dense": (8,)},
    "gc_dae": {"input_shape": (16, 16, 1), "filters": (4, 4, 8), "strides": (2, 2, 1), "hidden": 8},
    "xception_sersic": {"input_shape": (16, 16, 1), "conv_filters": 4, "sep_filters": 4, "residual_blocks": 2,
                        "normalization": {"mode": "global", "mean": 5.0, "std": 2.0}},
    "sersic_autoencoder": {"input_shape": (16, 16, 1), "filters": (4, 8), "dense": (16, 8)},
    "cluster_cnn": {"input_shape": (20, 20, 1), "filters": (4, 4), "dense": (8, 4),
                    "normalization": {"mode": "global", "mean": 5.0, "std": 2.0}},
    "cluster_cnn_deep": {"input_shape": (48, 48, 1), "filters": (4, 4, 8), "dense": (8,)},
    "cluster_p4cnn": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (4,),
                      "normalization": {"mode": "global", "mean": 5.0, "std": 2.0}},
    "cosmo_cnn": {"input_shape": (16, 16, 2), "filters": (4, 4), "dense": 8,
                  "normalization": {"mode": "global", "mean": 0.5, "std": 2.0}},
    "cosmo_resnet18": {"input_shape": (16, 16, 2), "stages": 2, "width": 4},
    "camels_o3": {"input_shape": (16, 16, 2), "hidden": 2, "blocks": 4, "outputs": 4},
    "denoise_then_measure": {"input_shape": (16, 16, 1), "denoiser_args": {"base_filters": 2, "depth": 2},
                             "estimator_args": {"conv_filters": 4, "sep_filters": 4, "residual_blocks": 1},
                             "normalization": {"mode": "global", "mean": 5.0, "std": 2.0}},
    "rings_classifier": {"input_shape": (12, 12, 1), "filters": (2, 4), "dense": 4, "outputs": 3,
                         "normalization": {"mode": "global", "mean": 0.2, "std": 0.3}},
    "rings_regressor": {"input_shape": (20, 20, 1), "filters": (2, 4, 4), "dense": (4,)},
    "rings_mlp": {"input_shape": (12, 12, 1), "dense": (8, 4)},
    "rings_cvae": {"input_shape": (8, 8, 1), "filters": (2,), "dense": 4, "latent_dim": 2,
                   "normalization": {"mode": "global", "mean": 0.2, "std": 0.3}},
    "reion_autoencoder": {"input_shape": (16, 16, 1), "filters": (4, 2, 2)},
    "reion_classifier": {"input_shape": (16, 16, 1), "filters": (4, 2), "outputs": 5,
                         "normalization": {"mode": "global", "mean": 0.2, "std": 0.1}},
    "reion_mlp": {"input_shape": (16, 16, 1), "crop": 10, "hidden": 8, "outputs": 5},
    "svdd_autoencoder": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16), "normalization": "gcn_l1"},
    "deep_svdd": {"input_shape": (16, 16, 1), "filters": (2, 4), "dense": (8, 16), "objective": "soft-boundary",
                  "normalization": "gcn_l1"},
    "photoz_mlp": {"input_shape": (21, 1), "hidden": (8, 8)},
    "spectra_wgan": {"input_shape": (32, 1), "hidden": 4, "latent_dim": 3, "blocks": 2},
}


def arrays(prefix, value) -> dict:
    """``{prefix: array}``, or ``{prefix_<name>: array}`` for the named inputs or outputs of a model."""
    if isinstance(value, dict):
        return {f"{prefix}_{k}": np.asarray(v) for k, v in value.items()}
    return {prefix: np.asarray(value)}

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in sys.argv[1:]:
        if (here / f"{name}.keras").exists():
            sys.exit(f"{here / name}.keras exists: saved models are never regenerated")
        import keras

        keras.utils.set_random_seed(0)
        model = kzoo.build(name, **TINY[name])
        rng = np.random.default_rng(0)
        if hasattr(model, "example_inputs") and isinstance(model.example_inputs(), dict):  # ConditionalVAE
            x = {k: rng.uniform(size=(4, *v.shape[1:])).astype("float32") for k, v in model.example_inputs().items()}
        elif hasattr(model, "example_inputs"):  # DeepSVDD: one image input
            x = rng.poisson(5.0, (4, *model.example_inputs().shape[1:])).astype("float32")
        elif isinstance(model.input, dict):
            x = {k: rng.poisson(5.0, (4, *t.shape[1:])).astype("float32") for k, t in model.input.items()}
        else:
            x = rng.poisson(5.0, (4, *model.input_shape[1:])).astype("float32")
        if hasattr(model, "init_center"):  # Deep SVDD: a centre and a radius that the reload must keep
            model.init_center(x)
            model.radius.assign(0.5)
        model.save(here / f"{name}.keras")
        np.savez(here / f"{name}.npz", **arrays("x", x), **arrays("y", model(x, training=False)), kzoo=kzoo.__version__)
        print(f"wrote {name}.keras and {name}.npz (kzoo {kzoo.__version__})")
