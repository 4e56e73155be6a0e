"""Named presets: tuned :class:`StylizeSettings` instances, each value with its reason."""

from __future__ import annotations

import warnings
from dataclasses import fields, replace

from ..core.errors import SettingsError
from .settings import StylizeSettings

#: The documented defaults (Gatys et al. 2016 layers; weights as balanced at 512 px).
DEFAULT = StylizeSettings()

#: Chinese ink-wash painting (guohua).  See docs/presets.md for the measurements behind it.
GUOHUA = replace(
    DEFAULT,
    # Ink paintings have almost no colour: a photo's colours survive a plain transfer as coloured
    # noise on the paper, so the photo first takes the painting's palette (ink on paper).
    color_mode="match-style",
    # relu5_1 carries the painting's large-scale layout (calligraphy columns, seals); without it
    # the brush texture is kept and those marks are not scattered over the paper.
    style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
    # Wide blank paper and simple shapes: a stronger content term keeps the subject's outline,
    # and a strong smoothness term keeps washes flat instead of speckled.
    content_weight=20.0,
    tv_weight=1e6,
    # Tuned with the plain Gram loss from the photo itself (the weights above are in its units);
    # the default's palette start and per-layer normalisation would undo the match-style step.
    style_weight=1000.0,
    style_normalize=False,
    init="content",
)

PRESETS: dict[str, StylizeSettings] = {"default": DEFAULT, "guohua": GUOHUA}

#: Settings replaced by ``color_mode``, still accepted (with a DeprecationWarning): the old
#: ``preserve_colors`` matched the style's luminance to the photo's, as ``preserve-matched`` does.
DEPRECATED_COLOR_FLAGS = {"preserve_colors": "preserve-matched", "match_style_colors": "match-style"}


def _translate_color_flags(overrides: dict[str, object]) -> None:
    for old, mode in DEPRECATED_COLOR_FLAGS.items():
        if old not in overrides:
            continue
        on = overrides.pop(old)
        warnings.warn(f"{old} is deprecated: use color_mode='{mode}'.", DeprecationWarning, stacklevel=3)
        if not on:
            continue
        if overrides.get("color_mode", mode) != mode:
            raise SettingsError(f"{old} asks for color-mode {mode} but color-mode is {overrides['color_mode']}: "
                                "give only --color-mode.")
        overrides["color_mode"] = mode


def settings_from(preset: str | None = None, **overrides: object) -> StylizeSettings:
    """A preset with some fields replaced; unknown names are refused with the list of valid ones."""
    _translate_color_flags(overrides)
    name = preset or "default"
    if name not in PRESETS:
        raise SettingsError(f"unknown preset '{name}': use one of {', '.join(PRESETS)}.")
    valid = {f.name for f in fields(StylizeSettings)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}: see `brushwork stylize --help`.")
    for key in ("content_layers", "style_layers", "style_layer_weights", "style_blend"):
        if key in overrides and isinstance(overrides[key], list):
            overrides[key] = tuple(overrides[key])  # type: ignore[arg-type]
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]
