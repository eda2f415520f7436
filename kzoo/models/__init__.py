"""Every architecture family registers its builders on import."""

from kzoo.models import galactic_center  # noqa: F401
