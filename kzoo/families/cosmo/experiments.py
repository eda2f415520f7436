"""The cosmology experiments of source notebooks 001 (groups E and H): Omega_m, sigma_8 and four feedback amplitudes from
two-field maps, trained on one simulation suite and tested on both (the seeds' TNG -> SIMBA question)."""

from __future__ import annotations

from kzoo.experiments import Experiment, add, set_comparisons

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

# the source notebooks give no error for any parameter (plots only): what each experiment is set beside
_DATA = "their 15,000 CAMELS maps, ours a stand-in sky (kzoo/families/cosmo/sky.py) split by parameter set"
set_comparisons({
    "cosmo-2p": "the source notebooks give no number (plots only; group H: 'Simple model, good performance'; 300 "
                f"epochs, maps shuffled by image, not by simulation); {_DATA}",
    "cosmo-2p-resnet": f"the source notebooks give no number (group E's ResNet-18, plots only; split 6:2:2); {_DATA}",
    "cosmo-2p-simba": "the source notebooks give no number (group E's SIMBA-trained network tested on both suites: "
                      f"plots only); {_DATA}",
    "cosmo-6p": "the source notebooks give no number (group H: 'Can you infer 6 parameters? No:('; group E learns "
                f"Omega_m and sigma_8 on TNG, plots only); {_DATA}",
    "cosmo-6p-o3": "the source notebooks give no number and used neither the CAMELS benchmark network nor a moment "
                   f"loss (their six-parameter verdict 'No:('); {_DATA}",
    "cosmo-6p-simba": "the source notebooks give no number (group E lists Omega_m, sigma_8 and SN1 as learned on "
                      f"SIMBA, plots only); {_DATA}",
})
