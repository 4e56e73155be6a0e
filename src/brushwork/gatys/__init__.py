"""The Gatys job: optimise a picture's pixels against VGG content and style losses.

``settings`` (every option, declared once), ``presets`` (named settings), ``stylizer`` (the
coarse-to-fine run), ``tiling`` (print sizes, window by window) and ``regions`` (a style per
masked region).  Names are imported on first use (see :mod:`brushwork.core.lazy`).
"""

from typing import TYPE_CHECKING

from ..core.lazy import exports

if TYPE_CHECKING:
    from .presets import PRESETS, settings_from
    from .settings import COLOR_MODES, SCHEDULES, STYLE_LOSSES, StylizeSettings
    from .stylizer import Stylizer, StylizeResult, stylize

__getattr__ = exports(__name__, {
    "PRESETS": ".presets", "settings_from": ".presets",
    "COLOR_MODES": ".settings", "SCHEDULES": ".settings", "STYLE_LOSSES": ".settings", "StylizeSettings": ".settings",
    "Stylizer": ".stylizer", "StylizeResult": ".stylizer", "stylize": ".stylizer",
})
__all__ = ["COLOR_MODES", "PRESETS", "SCHEDULES", "STYLE_LOSSES", "StylizeResult", "StylizeSettings", "Stylizer",
           "settings_from", "stylize"]
