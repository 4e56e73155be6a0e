"""The style level τ and the pass-2 TV share, read from the painting's own texture and noise."""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from .settings import REFERENCE_SIDE


def _luminance(img: Image.Image, side: int = REFERENCE_SIDE) -> np.ndarray:
    w, h = img.size
    s = side / max(w, h)
    small = img.convert("RGB").resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    return np.asarray(small.convert("L"), dtype=np.float32) / 255.0


def texture_energy(painting: Image.Image) -> float:
    """Mean absolute detail of the painting's luminance at 700 px: |L − Gaussian_σ=1.5(L)|.

    It measures how much brush texture there is at the scale of strokes and grain.
    """
    lum = _luminance(painting)
    return float(np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 1.5)).mean())


#: Texture energy of a typical painting (the median of the ten shared examples, measured).
TYPICAL_TEXTURE = 0.047


def estimate_style_level(painting: Image.Image) -> float:
    """Automatic style level τ ∈ [1, 10]: 5 for a painting of typical texture, proportional to
    its :func:`texture_energy` (smooth, realistic paintings get less, heavy brushwork more).

    No formula was published (the paper uses a classifier trained on WikiArt); this one and how
    it was checked are described in docs/harmonization.md.
    """
    return float(np.clip(5.0 * texture_energy(painting) / TYPICAL_TEXTURE, 1.0, 10.0))


def noise_level(painting: Image.Image) -> float:
    """Median of the squared neighbour differences (½(dx² + dy²)) of the painting at 700 px, in [0, 1] units."""
    x = np.asarray(painting.convert("RGB").resize(
        (max(1, round(painting.width * REFERENCE_SIDE / max(painting.size))),
         max(1, round(painting.height * REFERENCE_SIDE / max(painting.size)))), Image.Resampling.BILINEAR),
        dtype=np.float32) / 255.0
    dx = x[:-1, 1:] - x[:-1, :-1]
    dy = x[1:, :-1] - x[:-1, :-1]
    return float(np.median((dx**2 + dy**2) / 2))


def refine_tv_share(painting: Image.Image) -> float:
    """The TV share w ∈ (0, 10) of pass 2: 10/(1 + exp(10⁴·noise − 25)).

    Smooth paintings (low noise) get w ≈ 10, so smoothing dominates the histogram term
    (weight 10 − w); noisy, grainy ones get w → 0, so their grain is reproduced instead.
    """
    return 10.0 / (1.0 + math.exp(min(50.0, 1e4 * noise_level(painting) - 25.0)))


