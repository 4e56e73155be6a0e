"""Coarse-to-fine schedules: which fraction of the output size to work at, for how long, and
with which optimiser (:class:`Method`).

Most iterations happen at low resolution, where a VGG pass is cheap; each scale starts from the
upsampled result of the one before.  The content/style balance drifts with resolution: per
pixel, the style terms weigh more at a coarse scale, so with the full-size weights a quarter-size
first scale wipes out the content and the finer scales never bring it back.  Each scale
therefore carries a content-weight factor, :func:`content_boost` by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def content_boost(fraction: float) -> float:
    """Content weight factor at ``fraction`` of the full size: 1 + log2(1/fraction), so ×3 at a
    quarter, ×2 at a half and ×1 at full size."""
    return 1.0 + math.log2(1.0 / min(1.0, fraction))


@dataclass(frozen=True)
class Scale:
    """One step of a schedule: work at ``fraction`` of the output size for ``iterations``.

    ``content_boost`` multiplies the content weight at this scale (see the module docstring).
    """

    fraction: float
    iterations: int
    content_boost: float = 1.0


def coarse_to_fine(*steps: tuple[float, int]) -> tuple[Scale, ...]:
    """A schedule from (fraction, iterations) pairs, each with the default :func:`content_boost`."""
    return tuple(Scale(f, n, content_boost(f)) for f, n in steps)


@dataclass(frozen=True)
class Method:
    """How to optimise: ``lbfgs`` or ``adam`` (with its step size and per-iteration decay)."""

    name: str = "lbfgs"
    learning_rate: float = 0.02
    lr_decay: float = 1.0
    #: Stop once the loss improves by less than this fraction over 10 iterations (0: never).
    stall_tolerance: float = 0.0
    #: L-BFGS: start afresh when a step finds no descent (stale curvature pairs).
    restart: bool = True
