"""Photometric redshifts (seed 001, group C): the source notebooks' MLP regressor on magnitudes, colours, or both."""

from __future__ import annotations

import keras

from kzoo.layers import normalization_layer
from kzoo.registry import register

SEED_001C = "001_08a5d74de1e70061.txt, Predicting Galaxy redshifts with ML (group C)"


@register(
    parameters=137557,  # at the defaults (kzoo list; checked by tests/test_models.py)
    task="regression",
    input_shape=(21, 1),
    outputs="`outputs` regression values: the redshift z by default",
    loss="mae",
    metrics=("mse",),
    seed=SEED_001C,
    reference={"r2": 0.7124, "source": "the source notebooks' MLP regressor: hidden layers (256, 256, 256), L1 loss, on the HST "
                                       "photometry of 3D-HST; its best model, a random forest, reached R^2 0.7124 "
                                       "(MAE 0.2238) in its PyCaret table"},
    search_space={
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
        "batch_size": {"type": "choice", "values": [128, 256, 512]},
        "hidden": {"type": "choice", "values": [[256, 256, 256], [512, 512], [128, 128, 128, 128]]},
        "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.1},
    },
    description="The source notebooks' MLP: the catalogue's numbers (magnitudes, colours or both) standardised per feature by a "
                "batch normalisation, three dense ReLU layers of 256 and a linear output; trained with the L1 loss.",
)
def photoz_mlp(input_shape=(21, 1), outputs=1, hidden=(256, 256, 256), dropout=0.0, normalization=None,
               name="photoz_mlp"):
    """An MLP on a vector of photometry (stored as (features,), fed as (features, 1)).

    Examples:
        >>> import kzoo
        >>> model = kzoo.build("photoz_mlp", input_shape=(6, 1))
    """
    inputs = keras.Input(shape=tuple(input_shape), name="photometry")
    norm = normalization_layer(normalization)
    x = keras.layers.Flatten(name="flatten")(norm(inputs) if norm is not None else inputs)
    # magnitudes (~24) and colours (~0.5) differ in scale: each feature standardised by its own batch statistics
    x = keras.layers.BatchNormalization(name="standardize")(x)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="output", dtype="float32")(x), name=name)
