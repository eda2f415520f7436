"""The Deep SVDD experiments of source notebooks 002: one normal galaxy class at a time (barred, elliptical, spiral), an
autoencoder pre-training, then the one-class and the soft-boundary objective, judged on all three classes."""

from __future__ import annotations

import itertools

from kzoo.experiments import Experiment, add

SEED_002 = "002_71e814634fb5d959.txt, Deep SVDD on galaxy images (Table 5)"
# Table 5 of the seed ("accuracy" 94.97 / 99.66 / 96.05 %): by our reading the test AUC that Ruff et al.'s Deep SVDD code
# (which the seed ran "mostly unchanged") logs as "Test set AUC: xx.xx%", on the seed's test set, which was its
# training set; four hand-set thresholds with an undecided zone between them define no single accuracy
SEED_TABLE5 = {"barred": 0.9497, "elliptical": 0.9966, "spiral": 0.9605}

# the source notebooks' network as it is, and the same network on 2 x 2-binned images (``-bin2``: model argument binning=2;
# it still takes and reconstructs the 256 x 256 images): on kzoo's noisy 256 x 256 galaxies it learns far faster
_VARIANTS = (("", {}, ""), ("-bin2", {"binning": 2}, " The variant -bin2: phi sees the image averaged over 2 x 2 "
                                                         "pixels (128 x 128), the output repeated 2 x 2."))
for (_sfx, _bin, _say), (_k, _cls) in itertools.product(_VARIANTS, enumerate(("barred", "elliptical", "spiral"))):
    add(Experiment(
        name=f"svdd-{_cls}-ae{_sfx}",
        recipe=f"morphology_{_cls}",
        model="svdd_autoencoder",
        model_args=dict(_bin),
        inputs="image",
        targets="image",
        normalization="gcn_l1",
        loss="mse",
        metrics=("mae",),
        batch_size=200,  # the source notebooks'
        learning_rate=1e-4,
        epochs=100,  # the source notebooks' ae_n_epochs
        patience=10,
        evaluation="reconstruction",
        reference={},
        comparison="the source notebooks give no number (the autoencoder is Deep SVDD's pre-training; no "
                   "reconstruction error reported)",
        seed=SEED_002,
        description=f"Pre-training for the Deep SVDD of normal class {_cls}: the source notebooks' autoencoder reconstructs "
                    f"{_cls} galaxies (global contrast normalisation inside); its encoder initialises phi." + _say,
    ))
    for _objective, _short in (("one-class", "oneclass"), ("soft-boundary", "soft")):
        add(Experiment(
            name=f"svdd-{_cls}-{_short}{_sfx}",
            recipe=f"morphology_{_cls}",
            model="deep_svdd",
            model_args={"objective": _objective, "nu": 0.1, "pretrained": f"run:svdd-{_cls}-ae{_sfx}", **_bin},
            inputs="image",
            targets=("morph_class",),  # not trained on: the evaluation tells normal from anomalous by it
            normalization="gcn_l1",
            loss="model",
            metrics=(),
            batch_size=200,  # the source notebooks'
            learning_rate=1e-4,
            epochs=100,  # the source notebooks' n_epochs
            patience=10,
            evaluation="anomaly",
            # judged on every class (recipe morphology) and on the simulation-like set (morphology_simlike)
            evaluation_args={"normal_class": _k, "also_on": ["morphology", "morphology_simlike"]},
            reference={"auroc": {"all": SEED_TABLE5[_cls]}} if _objective == "one-class" else {},
            reference_split="training",
            comparison=(f"their Table 5 'accuracy', by our reading the AUC of Ruff et al.'s code, on the photographs "
                        f"they trained on (~60-70 of a class, 500 augmented copies; no held-out set) at 256 x 256, 100 + "
                        f"100 epochs; ours the AUROC on simulated galaxies{', binned 2 x 2' if _bin else ''} (the row "
                        "'its training images' is their measurement)" if _objective == "one-class" else
                        "the source notebooks give no number (they describe the soft-boundary objective and ran the "
                        f"one-class one only; their Table 5 belongs to svdd-{_cls}-oneclass)"),
            seed=SEED_002,
            description=f"Deep SVDD ({_objective}, nu 0.1) trained on {_cls} galaxies only, from the pre-trained "
                        f"encoder of svdd-{_cls}-ae{_sfx}: AUROC of {_cls} against the other two classes on the test "
                        "split of recipe morphology, the source notebooks' five zones, and how the simulation-like set falls "
                        "into them. The source notebooks' Table 5 (an AUC by our reading) is on its training images (no held-out set)." + _say,
        ))
