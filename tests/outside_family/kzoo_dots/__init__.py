"""Dots: a tiny kzoo family published as a package of its own (entry point group ``kzoo.families``)."""

from kzoo.families import Family

FAMILY = Family(name="dots", title="One Gaussian dot per 16 x 16 image; regress its brightness",
                seed="none (a test of families that live outside kzoo)", skies={"dots": "sky"})
