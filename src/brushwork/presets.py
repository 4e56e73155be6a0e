"""Named presets: tuned :class:`StylizeSettings` instances, each value with its reason."""

from __future__ import annotations

from dataclasses import fields, replace

from .errors import SettingsError
from .optimize import StylizeSettings

#: The documented defaults (Gatys et al. 2016 layers; weights as balanced at 512 px).
DEFAULT = StylizeSettings()

#: Chinese ink-wash painting (guohua).  See docs/presets.md for the measurements behind it.
GUOHUA = replace(
    DEFAULT,
    preserve_colors=False,
)

PRESETS: dict[str, StylizeSettings] = {"default": DEFAULT, "guohua": GUOHUA}


def settings_from(preset: str | None = None, **overrides: object) -> StylizeSettings:
    """A preset with some fields replaced; unknown names are refused with the list of valid ones."""
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
