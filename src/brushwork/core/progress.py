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


def clock(seconds: float) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``."""
    s = max(0, int(round(seconds)))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class RecentRate:
    """Elapsed time and an ETA from the *recent* pace of a job, not its average since the start.

    The first steps of a run are slow (the network warms up, caches fill) and a busy machine changes
    pace as other work comes and goes, so the rate is taken over the last ``window`` seconds only.
    """

    def __init__(self, window: float = 10.0, now: Callable[[], float] | None = None) -> None:
        import time

        self.window = window
        self.now = now or time.monotonic
        self.start = self.now()
        self.samples: list[tuple[float, float]] = []

    def update(self, done: float) -> None:
        t = self.now()
        if self.samples and done < self.samples[-1][1]:  # a job that starts counting afresh
            self.samples.clear()
        self.samples.append((t, done))
        while len(self.samples) > 2 and t - self.samples[1][0] >= self.window:
            self.samples.pop(0)

    @property
    def elapsed(self) -> float:
        return self.now() - self.start

    def eta(self, total: float) -> float | None:
        """Seconds left at the recent pace; None until there are two samples a moment apart."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 <= 0 or d1 <= d0:
            return None
        return max(0.0, total - d1) * (t1 - t0) / (d1 - d0)
