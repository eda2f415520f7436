"""The reionization family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="reionization",
    title=("21-cm maps of reionization of source notebooks 004 (21cmFAST): redshift and escape fraction, the source notebooks' "
           "autoencoder, PCA + SVM"),
    seed="004_8f2d4ba38ebb956d.txt",
    skies={"reionization": "sky"},
    aliases=("reion",),
    preset_limits=("Trained on kzoo's 21cmFAST brightness-temperature maps at the recipe's resolution, without "
                   "instrument noise or foregrounds, not on observed 21-cm data; the redshift and escape-fraction "
                   "classes are those of the training grid only."),
)
