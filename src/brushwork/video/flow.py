"""Motion between video frames: optical flow, where it can be trusted, warping, and scene cuts.

Temporal consistency (Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos", 2016)
needs, for every pixel of frame t, where it was in frame t−1 and whether that answer is
reliable.  OpenCV's DIS flow gives both directions; a pixel is trusted only when the two agree
(it was not hidden in the previous frame) and it is not on a motion boundary, using the paper's
two tests.  Everything here works on ``H×W×3`` uint8 RGB arrays (frames as decoded) and float32
``H×W×2`` flows in pixels, ``flow[..., 0]`` horizontal; this module knows nothing of styles.

Conventions: ``flow_ab = dis_flow(a, b)`` is defined on the pixels of ``a`` and points to where
they are in ``b``, so ``warp(b, flow_ab)`` looks like ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.errors import SettingsError
from .settings import FLOW_PRESETS

PRESETS = dict(zip(FLOW_PRESETS, (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, cv2.DISOPTICAL_FLOW_PRESET_FAST,
                                  cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), strict=True))

#: Disocclusion test of Ruder et al.: |w̃ + ŵ|² > DISOCC_REL·(|w̃|² + |ŵ|²) + DISOCC_ABS (pixels²).
DISOCC_REL, DISOCC_ABS = 0.01, 0.5
#: Motion-boundary test of Ruder et al.: |∇û|² + |∇v̂|² > BOUNDARY_REL·|ŵ|² + BOUNDARY_ABS.
BOUNDARY_REL, BOUNDARY_ABS = 0.01, 0.002


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _dis(preset: str) -> cv2.DISOpticalFlow:
    if preset not in PRESETS:
        raise SettingsError(f"flow preset must be one of {', '.join(PRESETS)}, not {preset!r}.")
    return cv2.DISOpticalFlow_create(PRESETS[preset])


def dis_flow(a: np.ndarray, b: np.ndarray, preset: str = "fast") -> np.ndarray:
    """Dense flow from frame ``a`` to frame ``b`` (H×W×2 float32, pixels) with OpenCV's DIS."""
    return _dis(preset).calc(_gray(a), _gray(b), None)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample ``image`` at ``x + flow(x)`` for every pixel x of the flow's grid (``cv2.remap``).

    Points outside ``image`` take the nearest edge pixel; :func:`inside` says which they are.
    ``image`` may be uint8 or float, with or without a channel axis.
    """
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def inside(flow: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """True where ``x + flow(x)`` lands inside an image of ``shape`` (default: the flow's own)."""
    h, w = shape or flow.shape[:2]
    xs, ys = _grid(*flow.shape[:2])
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)


def consistency_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Where the backward flow of frame t can be trusted: float32 H×W, 1 = reliable, 0 = not.

    ``forward`` is the flow from frame t−1 to t (on t−1's pixels), ``backward`` from t to t−1
    (on t's pixels).  A pixel of t is unreliable when it was hidden in t−1 (forward and backward
    flow do not cancel), when it lies on a motion boundary (the backward flow changes sharply),
    or when it comes from outside frame t−1.  Thresholds are the paper's, in pixels.
    """
    fwd_at_t = warp(forward, backward)  # w̃(x) = w(x + ŵ(x))
    total = fwd_at_t + backward
    disoccluded = (total**2).sum(-1) > DISOCC_REL * ((fwd_at_t**2).sum(-1) + (backward**2).sum(-1)) + DISOCC_ABS
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    grad = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    boundary = grad > BOUNDARY_REL * (backward**2).sum(-1) + BOUNDARY_ABS
    ok = ~disoccluded & ~boundary & inside(backward)
    return ok.astype(np.float32)


def histogram_distance(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """Total-variation distance (0 = same, 1 = disjoint) between the brightness histograms.

    Brightness histograms barely change under camera motion but jump at a cut.
    """
    ha = cv2.calcHist([_gray(a)], [0], None, [bins], [0, 256]).ravel()
    hb = cv2.calcHist([_gray(b)], [0], None, [bins], [0, 256]).ravel()
    return float(0.5 * np.abs(ha / max(ha.sum(), 1) - hb / max(hb.sum(), 1)).sum())


@dataclass
class Motion:
    """How frame t relates to frame t−1, at the size of frame t.

    ``backward`` is the flow from t to t−1 (``warp(prev, backward)`` aligns ``prev`` with t);
    ``mask`` is 1 where that is reliable.  ``cut`` says the frames are from different shots, in
    which case nothing may be carried over; ``reason`` says why.
    """

    backward: np.ndarray
    mask: np.ndarray
    cut: bool
    reason: str = ""

    @property
    def reliable(self) -> float:
        """Fraction of pixels whose motion is reliable."""
        return float(self.mask.mean())


def _scale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H×W×2 flow to (width, height) and scale its vectors to match."""
    h, w = flow.shape[:2]
    if (w, h) == size:
        return flow
    out = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= size[0] / w
    out[..., 1] *= size[1] / h
    return out


def estimate_motion(
    prev: np.ndarray,
    cur: np.ndarray,
    flow_side: int = 320,
    preset: str = "fast",
    cut_threshold: float = 0.3,
    min_reliable: float = 0.2,
) -> Motion:
    """Flow, reliability mask and scene-cut decision for two consecutive frames (H×W×3 uint8).

    Flow is computed with the longest side at most ``flow_side`` (DIS is linear in pixels, and
    smooth camera motion loses little), then scaled to the frames' size.  A cut is declared when
    the brightness histograms differ by more than ``cut_threshold`` or fewer than
    ``min_reliable`` of the pixels have reliable motion.
    """
    h, w = cur.shape[:2]
    scale = min(1.0, flow_side / max(h, w))
    small = (max(8, round(w * scale)), max(8, round(h * scale)))
    a = cv2.resize(_gray(prev), small, interpolation=cv2.INTER_AREA) if scale < 1 else _gray(prev)
    b = cv2.resize(_gray(cur), small, interpolation=cv2.INTER_AREA) if scale < 1 else _gray(cur)
    dis = _dis(preset)
    forward, backward = dis.calc(a, b, None), dis.calc(b, a, None)
    mask = consistency_mask(forward, backward)
    if scale < 1:
        # bilinear then "fully reliable only": unreliable regions grow by about one flow pixel.
        mask = (cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR) > 0.999).astype(np.float32)
    backward = _scale_flow(backward, (w, h))
    distance = histogram_distance(a, b)
    reliable = float(mask.mean())
    if distance > cut_threshold:
        return Motion(backward, mask, True, f"brightness histograms differ by {distance:.2f}")
    if reliable < min_reliable:
        return Motion(backward, mask, True, f"only {reliable:.0%} of the pixels have reliable motion")
    return Motion(backward, mask, False)
