"""The clusters family: its declaration (kzoo.families says what a family's modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name="clusters",
    title=("Galaxy-cluster masses from X-ray images of source notebooks 001, groups D and G: the Ntampaka CNN, rotation "
           "augmentation, the p4 group-equivariant CNN, saliency"),
    seed="001_08a5d74de1e70061.txt, groups D and G",
    skies={"clusters": "sky"},
    preset_limits=("Trained on kzoo's mock Chandra-like X-ray images of clusters drawn from the physical model stated in "
                   "kzoo/families/clusters/sky.py (the seeds' IllustrisTNG mocks are not public), not on Chandra data: "
                   "real clusters bring substructure, point sources, backgrounds and exposure maps the model has never "
                   "seen. Inputs must have the recipe's size and counts units; outside the training mass range it "
                   "extrapolates without warning."),
)
