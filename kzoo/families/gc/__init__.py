"""The Galactic-centre gamma-ray sky of seed 000: the family's declaration (see kzoo.families for what its modules hold)."""

from kzoo.families import Family

FAMILY = Family(
    name='gc',
    title='The Galactic-centre gamma-ray sky of seed 000: dark-matter and point-source regression, point-source segmentation (U-net), denoising autoencoders',
    seed='000_5837b5ed42dd2f8c.txt, Parts a-c and Appendices 1-2',
    skies={'galactic_center': 'sky'},
    aliases=('galactic_center',),
)
