"""The Gatys job: optimise a picture's pixels against VGG content and style losses.

``settings`` (every option, declared once), ``presets`` (named settings), ``stylizer`` (the
coarse-to-fine run), ``tiling`` (print sizes, window by window) and ``regions`` (a style per
masked region).
"""

from .presets import PRESETS, settings_from
from .settings import COLOR_MODES, SCHEDULES, STYLE_LOSSES, StylizeSettings
from .stylizer import Stylizer, StylizeResult, stylize

__all__ = ["COLOR_MODES", "PRESETS", "SCHEDULES", "STYLE_LOSSES", "StylizeResult", "StylizeSettings", "Stylizer",
           "settings_from", "stylize"]
