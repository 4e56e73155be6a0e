"""One progress protocol for every long job.

The core calls ``callback(Progress(...))``; the CLI draws a rich progress bar from it, the web UI
shows the preview image, and API users may pass their own function.  Nothing here depends on a
user interface, so the core never imports rich or gradio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image


@dataclass
class Progress:
    """A snapshot of a running job.

    ``done`` and ``total`` are in work units (for optimisation: iterations weighted by pixels
    relative to the final size), so a bar built on them gives an honest ETA across scales.
    """

    job: str
    stage: str
    step: int
    steps: int
    done: float
    total: float
    loss: float = float("nan")
    parts: dict[str, float] = field(default_factory=dict)
    preview: Callable[[], Image.Image] | None = None


ProgressCallback = Callable[[Progress], None]


def silent(_: Progress) -> None:
    """A callback that ignores progress."""
