"""Post-processing of a harmonized crop: chroma denoising, the painting's palette on monochrome
paintings, and the blend into the painting through the feathered tight mask."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

from ..core.color import from_lab, to_lab
from .masks import scaled


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """OpenCV-contrib's colour guided filter; where only plain OpenCV is installed, the
    grey-guide form of the same filter (He et al. 2010) built from box filters."""
    if hasattr(cv2, "ximgproc"):
        return cv2.ximgproc.guidedFilter(guide, src, radius, eps)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k)

    mean_i, mean_p = box(grey), box(src)
    a = (box(grey * src) - mean_i * mean_p) / (box(grey * grey) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return box(a) * grey + box(b)


def denoise_chroma(x: torch.Tensor, guide: torch.Tensor, side: int) -> torch.Tensor:
    """Smooth the CIELAB chroma (a, b) of ``x`` with a guided filter whose guide is ``guide``
    (the composite): colour speckle left by the optimisation goes, while colour edges stay
    where the composite has edges.  Luminance, which carries the brush texture, is kept."""
    g = guide[0].permute(1, 2, 0).detach().float().cpu().numpy()
    lab = to_lab(x)
    radius = max(1, round(scaled(4, side)))
    for c in (1, 2):
        lab[..., c] = _guided_filter(np.ascontiguousarray(g), np.ascontiguousarray(lab[..., c]), radius, 1e-3)
    return from_lab(lab, x)


#: Within-luminance chroma spread (CIELAB units) of a painting: at or below LO it counts as
#: monochrome (sepia engravings, ink drawings: 2.3 on shared examples 2 and 7), at or above HI as
#: coloured (every other shared example: 8.1–22.5).  In between the pull fades linearly.
MONOCHROME_LO, MONOCHROME_HI = 3.0, 8.0
_L_BINS = 32


def palette_pull(x: torch.Tensor, painting: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Pull ``x``'s colours onto the painting's own luminance → colour relation, as far as the
    painting is monochrome; returns the picture and the strength used (0 to 1).

    Why: the style losses match per-channel feature statistics, and on a near-monochrome painting
    those can be met by hues the painting never uses (example 7: a wooden bat in a sepia ink
    drawing stayed peach and mauve).  In such a painting each lightness has essentially one
    colour, so the colour an object pixel should have follows from its lightness: the painting's
    mean (a, b) at that L.  Colourful paintings (wide chroma spread at each lightness) are left
    alone, since there a lightness does not say which colour to use.
    """
    p = to_lab(painting).reshape(-1, 3)
    bins = np.clip((p[:, 0] / 100.0 * _L_BINS).astype(int), 0, _L_BINS - 1)
    counts = np.bincount(bins, minlength=_L_BINS)
    filled = counts > 0
    sums = np.stack([np.bincount(bins, p[:, c], _L_BINS) for c in (1, 2)], 1)
    means = sums / np.maximum(counts, 1)[:, None]  # the mean (a, b) per lightness bin; empty bins unused
    spread = float(np.sqrt(((p[:, 1:] - means[bins]) ** 2).sum(1).mean()))
    strength = float(np.clip((MONOCHROME_HI - spread) / (MONOCHROME_HI - MONOCHROME_LO), 0.0, 1.0))
    if strength == 0.0:
        return x, 0.0
    img = to_lab(x)
    centres = (np.nonzero(filled)[0] + 0.5) * 100.0 / _L_BINS
    for k, c in enumerate((1, 2)):
        target = np.interp(img[..., 0], centres, means[filled, k]).astype(np.float32)
        img[..., c] += strength * (target - img[..., c])
    return from_lab(img, x), strength


def blend(painting: Image.Image, result: Image.Image, tight: np.ndarray, loose: np.ndarray, sigma: float) -> Image.Image:
    """``result`` blended into ``painting`` through the blurred tight mask, cut to the loose mask.

    Pixels outside the loose mask are the painting's, byte for byte (asserted).
    """
    size = painting.size
    if result.size != size:
        result = result.resize(size, Image.Resampling.BICUBIC)
    w = tight.astype(np.float32)
    if sigma > 0:
        w = cv2.GaussianBlur(w, (0, 0), sigma)
    w = np.clip(w, 0, 1) * loose
    p = np.asarray(painting, dtype=np.float32)
    r = np.asarray(result, dtype=np.float32)
    out = np.clip(p + w[..., None] * (r - p) + 0.5, 0, 255).astype(np.uint8)
    keep = w <= 0
    out[keep] = np.asarray(painting)[keep]
    outside = ~loose
    if not np.array_equal(out[outside], np.asarray(painting)[outside]):  # a promise, checked even under -O
        raise RuntimeError("harmonization changed the painting outside the loose mask")
    return Image.fromarray(out, "RGB")


