"""brushwork: turn photos into paintings with neural style transfer.

The public API::

    import brushwork
    picture = brushwork.stylize("photo.jpg", "painting.jpg", size=512)
    picture.save("out.png")
    brushwork.fast_stylize("starry_night", "photo.jpg").save("fast.png")   # trained network, one pass

The package is a ``core`` every job uses and one package per job (``gatys``, ``harmonization``,
``fastnet``, ``video``), with thin front ends (``cli``, ``web``): see docs/architecture.md.
Importing it loads nothing heavy: each name is imported on first use (torch alone takes about a
second to import, which a command that never needs it should not pay).
"""

from typing import TYPE_CHECKING

from .core.lazy import exports

if TYPE_CHECKING:
    from .core.errors import BrushworkError
    from .fastnet.anyinfer import fast_stylize
    from .gatys.presets import PRESETS
    from .gatys.settings import StylizeSettings
    from .gatys.stylizer import Stylizer, StylizeResult, stylize
    from .harmonization import harmonize
    from .harmonization.settings import HarmonizeSettings

__version__ = "0.1.0"
__getattr__ = exports(__name__, {
    "BrushworkError": ".core.errors", "fast_stylize": ".fastnet.anyinfer", "PRESETS": ".gatys.presets",
    "StylizeSettings": ".gatys.settings", "Stylizer": ".gatys.stylizer", "StylizeResult": ".gatys.stylizer",
    "stylize": ".gatys.stylizer", "harmonize": ".harmonization", "HarmonizeSettings": ".harmonization.settings",
})
__all__ = [
    "BrushworkError", "HarmonizeSettings", "PRESETS", "StylizeResult", "StylizeSettings", "Stylizer",
    "fast_stylize", "harmonize", "stylize", "__version__",
]
