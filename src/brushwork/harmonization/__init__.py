"""Painterly harmonization (Luan et al. 2018): an object pasted into a painting re-rendered in the
painting's style (the job behind :func:`brushwork.harmonize`).

``settings`` (every option, declared once), ``masks`` (tight and loose masks),
``style_level`` (τ from the painting's texture), ``matching`` (patch nearest neighbours),
``passes`` (the two optimisation passes) and ``post`` (denoising, palette, blending).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..core.errors import SettingsError
from ..core.lazy import exports
from ..core.progress import ProgressCallback, silent
from .settings import SCHEDULES, HarmonizeResult, HarmonizeSettings, harmonize_fields

if TYPE_CHECKING:
    from .passes import Harmonizer
    from .style_level import estimate_style_level

__getattr__ = exports(__name__, {"Harmonizer": ".passes", "estimate_style_level": ".style_level"})


def harmonize(
    painting: str | Path | Image.Image,
    composite: str | Path | Image.Image,
    mask: str | Path | Image.Image,
    loose_mask: str | Path | Image.Image | None = None,
    progress: ProgressCallback = silent,
    **settings: object,
) -> Image.Image:
    """Make the object pasted into ``composite`` look painted like ``painting``; returns the picture.

    ``mask`` is white on the pasted object; ``loose_mask`` (optional) a looser one around it,
    derived by dilating ``mask`` when not given.  ``settings`` are the fields of
    :class:`HarmonizeSettings` (e.g. ``style_level=5``, ``passes=1``).
    """
    valid = set(harmonize_fields())
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}: see `brushwork harmonize --help`.")
    s = replace(HarmonizeSettings(), **settings)  # type: ignore[arg-type]
    from ..core.image import load_image
    from .passes import Harmonizer

    p_img = painting if isinstance(painting, Image.Image) else load_image(painting, "painting")
    c_img = composite if isinstance(composite, Image.Image) else load_image(composite, "composite")
    result = Harmonizer(s).run(p_img, c_img, mask, loose_mask, progress)
    if result.stopped:
        import warnings

        warnings.warn(f"harmonization stopped early: {result.stopped}; returning the last good image", stacklevel=2)
    return result.image


__all__ = ["SCHEDULES", "HarmonizeResult", "HarmonizeSettings", "Harmonizer", "estimate_style_level", "harmonize",
           "harmonize_fields"]
