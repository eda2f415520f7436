"""Every architecture family registers its builders on import."""

from kzoo.models import galactic_center  # noqa: F401
from kzoo.models import sersic  # noqa: F401
