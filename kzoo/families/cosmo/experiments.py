"""The cosmology experiments of source notebooks 001 (groups E and H): Omega_m, sigma_8 and four feedback amplitudes from
two-field maps, trained on one simulation suite and tested on both (the seeds' TNG -> SIMBA question)."""

from __future__ import annotations

from kzoo.experiments import Experiment, add

TWO = ("omega_m", "sigma_8")
SIX = ("omega_m", "sigma_8", "a_sn1", "a_agn1", "a_sn2", "a_agn2")
SEED_EH = "001_08a5d74de1e70061.txt, cosmological parameters from CAMELS maps (groups E and H)"
OTHER = {"tng": "simba", "simba": "tng"}

for _name, _model, _args, _targets, _suite, _loss, _what in (
        ("cosmo-2p", "cosmo_cnn", {}, TWO, "tng", "mse", "the seeds' simple CNN, Omega_m and sigma_8"),
        ("cosmo-6p", "cosmo_cnn", {}, SIX, "tng", "mse", "the seeds' simple CNN, all six parameters"),
        ("cosmo-2p-resnet", "cosmo_resnet18", {"stages": 3}, TWO, "tng", "mse",
         "group E's ResNet-18 with its last stage dropped, Omega_m and sigma_8"),
        ("cosmo-6p-o3", "camels_o3", {}, SIX, "tng", "moment",
         "the CAMELS benchmark network, a mean and a sigma per parameter (moment loss), all six"),
        ("cosmo-2p-simba", "cosmo_cnn", {}, TWO, "simba", "mse", "the simple CNN trained on the other suite"),
        ("cosmo-6p-simba", "cosmo_cnn", {}, SIX, "simba", "mse",
         "the simple CNN trained on the other suite, all six parameters")):
    add(Experiment(
        name=_name,
        recipe=f"cosmo_{_suite}",
        model=_model,
        model_args=_args,
        inputs="maps",
        targets=_targets,
        scale_targets=True,  # the seeds min-max scaled the parameters to [0, 1]
        normalization="global",
        loss=_loss,
        metrics=() if _loss == "moment" else ("mae",),
        batch_size=32,
        learning_rate=3e-4,
        epochs=30,  # the seeds trained 300; the simple CNN takes ~40 s an epoch of 9,000 maps on 2 CPU cores
        patience=6,
        evaluation="regression",
        # the other suite's test split too; gradient and Grad-CAM maps of Omega_m for 6 test maps (group H)
        evaluation_args={"also_on": [f"cosmo_{OTHER[_suite]}"], "saliency": 6},
        reference={},
        seed=SEED_EH,
        description=f"Cosmological and feedback parameters from two-field maps of suite {_suite}: {_what}; relative "
                    f"errors per parameter on the test split of {_suite} and of {OTHER[_suite]} (is what it learned "
                    "the physics or the suite?). The seeds report no numbers, only that Omega_m and sigma_8 are "
                    "learned and the feedback amplitudes barely.",
    ))
