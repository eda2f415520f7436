"""Every architecture family registers its builders on import."""

from kzoo.models import galactic_center  # noqa: F401
from kzoo.models import sersic  # noqa: F401
from kzoo.models import clusters  # noqa: F401
from kzoo.models import cosmology  # noqa: F401
from kzoo.models import rings  # noqa: F401
from kzoo.models import reionization  # noqa: F401
from kzoo.models import morphology  # noqa: F401
from kzoo.models import photometry  # noqa: F401
from kzoo.models import spectra  # noqa: F401


def parameter_count(name: str) -> int:
    """Weights of the model ``name`` built with the seed's defaults (``kzoo list`` shows them)."""
    import keras

    from kzoo.registry import build

    model = build(name)
    count = int(model.count_params())
    del model
    keras.backend.clear_session()
    return count
