"""Lazy package exports: a package names its public API without importing it.

``import brushwork`` and the settings modules the CLI builds its options from must not load
torch (about a second before any work): each package's ``__init__`` maps its public names to
the submodule that defines them, and the submodule is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``names`` maps a public name to the submodule
    that defines it (relative, such as ``".stylizer"``)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name], package), name)

    return __getattr__
