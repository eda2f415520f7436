"""The galaxy-cluster experiments of source notebooks 001 (groups D and G, after Ntampaka et al. 2019): log10 M500 from
mock X-ray images, and whether the answer depends on the image's orientation (the rotation test)."""

from __future__ import annotations

from kzoo.experiments import Experiment, add

# evaluation also on the test split turned by random angles and by k x 90 deg; saliency maps of 6 test clusters
ROTATION_TEST = {"rotation_test": True, "saliency": 6}
INVARIANT = {"rotated_over_unrotated": {"log_m500": ("<=", 1.1)}}  # the goal for augmented / equivariant nets
SEED_D = "001_08a5d74de1e70061.txt, Galaxy Cluster Masses with CNNs (groups D and G)"

for _name, _model, _args, _augment, _goals, _what in (
        ("clusters-mass", "cluster_cnn", {}, (), {},
         "Ntampaka et al.'s CNN, no augmentation (seed D's plain model: test MSE 0.0025 unrotated, 0.09 rotated)"),
        ("clusters-mass-aug", "cluster_cnn", {}, {"flip": True, "rot90": True, "rotate": 180.0}, INVARIANT,
         "Ntampaka et al.'s CNN with flips, quarter turns and rotations by any angle in the pipeline (train only)"),
        ("clusters-mass-rotlayer", "cluster_cnn", {"rotation_layers": 1, "rotation_factor": 0.5}, (), INVARIANT,
         "Ntampaka et al.'s CNN with group D's keras RandomRotation layer inside the model (training only)"),
        ("clusters-mass-deep-aug", "cluster_cnn_deep", {}, {"flip": True, "rot90": True, "rotate": 180.0}, INVARIANT,
         "group D's deeper CNN with flips and rotations in the pipeline"),
        ("clusters-mass-p4", "cluster_p4cnn", {}, {"flip": True, "rotate": 180.0}, INVARIANT,
         "the p4 group-equivariant CNN (exactly invariant to quarter turns), with flips and any-angle rotations in "
         "the pipeline for what the group does not cover"),
        ("clusters-mass-aligned", "cluster_cnn", {}, (), {},
         "Ntampaka et al.'s CNN, no augmentation, trained and tested on clusters that all lie along the x axis "
         "(recipe clusters_aligned): can a plain CNN learn the orientation, as seed D's did?"),
        ("clusters-mass-aug-conv128", "cluster_cnn", {"filters": (16, 32, 64, 128)},
         {"flip": True, "rot90": True, "rotate": 180.0}, INVARIANT,
         "group D's best model: Ntampaka et al.'s CNN with one more convolution of 128 filters (and its max-pool), "
         "rotations by any angle and flips in the pipeline (group D: ImageDataGenerator with rotation_range 360 and "
         "both flips; its MSE on the scaled mass 0.001288 unrotated, 0.001349 rotated)"),
        ("clusters-mass-flat", "cluster_cnn", {}, (), {},
         "Ntampaka et al.'s CNN, no augmentation, on clusters drawn flat in log M500 (recipe clusters_flat) instead "
         "of from the steep mass function: the low-mass clusters that dominate the default recipe no longer do, "
         "so does the error at the low- and high-mass ends change?")):
    add(Experiment(
        name=_name,
        recipe={"aligned": "clusters_aligned", "flat": "clusters_flat"}.get(_name.split("-")[-1], "clusters"),
        model=_model,
        model_args=_args,
        inputs="counts",
        targets=("log_m500",),
        scale_targets=True,
        normalization="global",
        augment=_augment,
        loss="mse",
        metrics=("mae",),
        batch_size=16,
        learning_rate=2e-4,
        # what 2 CPU cores train in a session (mixed_bfloat16 on AMX: the plain CNN ~8 s an epoch of 4,096 images,
        # the deep and the p4 CNN ~40 s); a longer schedule is `kzoo reproduce EXP --epochs N`
        epochs=60 if _model == "cluster_cnn" else 30,
        # the p4 CNN's validation loss wanders for a few epochs before it falls (it stopped at 15 with patience 6)
        patience=10 if _model in ("cluster_cnn", "cluster_p4cnn") else 6,
        evaluation="regression",
        evaluation_args={**ROTATION_TEST, "color_by": "cool_core"},
        reference_method="luminosity_mass",
        goals=_goals,
        reference={},
        seed=SEED_D,
        description=f"log10 M500 of mock Chandra-like cluster images: {_what}. Bias and scatter in dex; the MSE on the "
                    "test split as it is, turned by random angles (bilinear, zero fill, as the training augmentation) "
                    "and by random quarter turns (exact).",
    ))
