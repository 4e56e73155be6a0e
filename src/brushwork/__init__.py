"""brushwork: turn photos into paintings with neural style transfer.

The public API::

    import brushwork
    picture = brushwork.stylize("photo.jpg", "painting.jpg", size=512)
    picture.save("out.png")
    brushwork.fast_stylize("starry_night", "photo.jpg").save("fast.png")   # trained network, one pass

The package is a ``core`` every job uses and one package per job (``gatys``, ``harmonize``,
``fastnet``, ``video``), with thin front ends (``cli``, ``web``): see docs/architecture.md.
"""

from .core.errors import BrushworkError
from .fastnet import fast_stylize
from .gatys import PRESETS, Stylizer, StylizeResult, StylizeSettings, stylize
from .harmonize import HarmonizeSettings, harmonize

__version__ = "0.1.0"
__all__ = [
    "BrushworkError", "HarmonizeSettings", "PRESETS", "StylizeResult", "StylizeSettings", "Stylizer",
    "fast_stylize", "harmonize", "stylize", "__version__",
]
