"""Typed outcomes of a long run: why it ended early, and the user-facing error that goes with it.

Kept apart from the optimiser (and free of torch) so settings and result types can name them
without loading the numerical stack.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .errors import BrushworkError, Diverged, Interrupted


class Stop(enum.Enum):
    """Why a run ended early."""

    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"


@dataclass(frozen=True)
class Outcome:
    """An early end: what stopped the run and at which iteration (counted over the whole job)."""

    stop: Stop
    iteration: int
    loss: float = math.nan
    where: str = ""

    def __str__(self) -> str:
        if self.stop is Stop.INTERRUPTED:
            return f"interrupted at iteration {self.iteration}"
        return f"the loss became {self.loss} at iteration {self.iteration}{self.where}"

    @property
    def interrupted(self) -> bool:
        return self.stop is Stop.INTERRUPTED

    def error(self, kept: object, advice: str) -> BrushworkError:
        """The user-facing error for this end, saying where the last good result (``kept``) is;
        ``advice`` (for a divergence) says which setting to lower."""
        if self.interrupted:
            return Interrupted(f"{self}; the last good image is in {kept}")
        return Diverged(f"{self}; the last good image is in {kept}. {advice}")
