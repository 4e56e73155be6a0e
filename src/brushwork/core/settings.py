"""Settings fields that declare their default, help text and allowed values once.

Every job's settings are a frozen dataclass built from :func:`setting` fields.  The CLI options,
the web form and the API keyword arguments are all generated from those fields, so the three
always agree on names, defaults, help and choices, and a value is refused with the same
one-line :class:`~brushwork.core.errors.SettingsError` wherever it comes from:

* :func:`setting` declares a field (default, help, ``choices``, ``minimum``/``maximum``, whether
  a number list may be all zero, which help panel it belongs to);
* :func:`check_fields` (called by :class:`Settings` after construction) enforces those
  declarations, so ``__post_init__`` keeps only the checks that relate several fields;
* :func:`kind` and :func:`parse_text` turn the text a terminal or a form gives into the field's
  type, for the CLI and the web UI alike.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Collection, Mapping
from typing import Any

from .device import PRECISIONS
from .errors import SettingsError

#: Help panels: the options a newcomer needs, and the ones for fine control.
ESSENTIAL, ADVANCED = "essentials", "advanced"


def setting(default: object, help: str, *, choices: Collection[str] | None = None, minimum: float | None = None,
            maximum: float | None = None, above: float | None = None, nonzero: bool = False,
            panel: str = ADVANCED) -> Any:
    """A settings field.

    ``choices``: the words a string field accepts (a mapping's keys, read when checked).
    ``minimum``/``maximum``: inclusive bounds of a number (or of every number of a tuple);
    ``above``: an exclusive lower bound.  Numbers must be finite.  ``nonzero``: a number tuple
    must not be all zero.  ``panel``: where the option is listed in ``--help`` (:data:`ESSENTIAL`
    first).
    """
    # a mapping (a schedule table) stays live, so a value added to it later is accepted too
    allowed = choices if isinstance(choices, Mapping) else tuple(choices) if choices else None
    meta = {"help": help, "choices": allowed, "minimum": minimum, "maximum": maximum,
            "above": above, "nonzero": nonzero, "panel": panel}
    return dataclasses.field(default=default, metadata=meta)


def device_setting(note: str = "") -> Any:
    """The ``device`` field every job has (one help text for all of them; ``note`` adds a job's own rule)."""
    return setting("auto", "auto (a CUDA GPU, else Apple's MPS, else the CPU), cpu, cuda, cuda:N or mps." + note)


def precision_setting(note: str = "") -> Any:
    """The ``precision`` field of the jobs that run convolutions with PyTorch (one help text for all)."""
    return setting("auto", "What the convolutions compute in: auto (bfloat16 on a CPU that has it natively, "
                           "AVX512-BF16 or AMX, about twice as fast with the same look; float32 elsewhere), "
                           "float32 or bfloat16." + note, choices=PRECISIONS)


def flag(name: str) -> str:
    """A field name as users see it in messages and on the command line: ``style_weight`` → ``style-weight``."""
    return name.replace("_", "-")


def check(ok: bool, message: str) -> None:
    """Raise a :class:`SettingsError` with ``message`` (and a full stop) unless ``ok``."""
    if not ok:
        raise SettingsError(message + ".")


def _bounds_text(meta: dict[str, Any]) -> str:
    lo, hi, above = meta["minimum"], meta["maximum"], meta["above"]
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    if above is not None:
        return f"more than {above:g}"
    if lo is not None:
        return f"at least {lo:g}"
    return f"at most {hi:g}"


def _check_number(name: str, value: float, meta: dict[str, Any]) -> None:
    bounded = any(meta[k] is not None for k in ("minimum", "maximum", "above"))
    if not math.isfinite(value):
        raise SettingsError(f"{flag(name)} must be a finite number{' ' + _bounds_text(meta) if bounded else ''}, "
                            f"not {value}.")
    lo, hi, above = meta["minimum"], meta["maximum"], meta["above"]
    if (lo is not None and value < lo) or (hi is not None and value > hi) or (above is not None and value <= above):
        raise SettingsError(f"{flag(name)} must be {_bounds_text(meta)}, not {value:g}.")


def check_fields(obj: object) -> None:
    """Enforce every field's declared choices and bounds on a settings instance."""
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        meta, value = f.metadata, getattr(obj, f.name)
        if not meta or value is None:
            continue
        if meta.get("choices") and value not in meta["choices"]:
            raise SettingsError(f"{flag(f.name)} must be one of {', '.join(meta['choices'])}, not {value!r}.")
        if isinstance(value, bool) or not isinstance(value, (int, float, tuple)):
            continue
        numbers = [v for v in value if isinstance(v, (int, float))] if isinstance(value, tuple) else [value]
        for v in numbers:
            _check_number(f.name, float(v), meta)
        if meta.get("nonzero") and isinstance(value, tuple) and numbers and not any(numbers):
            raise SettingsError(f"{flag(f.name)} must not be all zero: give at least one weight above 0.")


class Settings:
    """Base of the settings dataclasses: checks the declared constraints, then :meth:`check`."""

    def __post_init__(self) -> None:
        check_fields(self)
        self.check()

    def check(self) -> None:
        """Checks that relate several fields (override)."""


def choices(cls: type, name: str) -> tuple[str, ...] | None:
    """The allowed words of a field, or None when it takes any value."""
    allowed = next(f.metadata.get("choices") for f in dataclasses.fields(cls) if f.name == name)
    return tuple(allowed) if allowed else None


def help_text(f: dataclasses.Field) -> str:
    return str(f.metadata.get("help", ""))


def kind(annotation: Any) -> tuple[Any, bool]:
    """(base type, optional) of a field's annotation: ``int | None`` → (int, True); any tuple → (tuple, …)."""
    if typing.get_origin(annotation) is tuple:
        return tuple, False
    args = typing.get_args(annotation)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), annotation) if optional else annotation
    if typing.get_origin(base) is tuple or base is tuple:
        return tuple, optional
    return base, optional


def _tuple_items(annotation: Any) -> tuple[Any, ...]:
    for a in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(a) is tuple:
            return typing.get_args(a)
    return ()


def parse_text(cls: type, name: str, value: Any) -> Any:
    """A field's value from what a terminal or a form gives: comma lists → tuples, '' → None for
    optional fields, number text → numbers.  Bad text is a one-line :class:`SettingsError`."""
    annotation = typing.get_type_hints(cls)[name]
    base, optional = kind(annotation)
    label = flag(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        raise SettingsError(f"{label} is empty: give a value (default {default}).")
    if base is tuple:
        if isinstance(value, tuple):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        if float in _tuple_items(annotation):
            try:
                return tuple(float(v) for v in items)
            except ValueError:
                raise SettingsError(f"{label} takes comma-separated numbers, not '{value}'.") from None
        return tuple(items)
    if base in (int, float) and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{label} must be a number, not '{value}'.") from None
        if base is int:
            if not math.isfinite(number) or number != int(number):
                raise SettingsError(f"{label} must be a whole number, not {value}.")
            return int(number)
        return number
    if base is bool:
        return bool(value)
    return str(value)
