"""The harmonization masks: the tight mask on the pasted object, and the loose one around it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..core.errors import InputError
from ..core.image import aspect_differs, load_image
from .settings import REFERENCE_SIDE


def _as_grey(src: str | Path | Image.Image, what: str) -> Image.Image:
    img = src if isinstance(src, Image.Image) else load_image(src, what)
    if img.mode in ("RGBA", "LA"):
        img = img.convert("RGBA").getchannel("A") if img.getextrema()[-1][0] < 255 else img
    return img.convert("L")


def load_object_mask(src: str | Path | Image.Image, size: tuple[int, int], what: str = "mask") -> np.ndarray:
    """A mask as a boolean H×W array at ``size`` (width, height).

    White marks the pasted object.  Handling, documented in docs/harmonization.md:
    * grey values count as inside from 50 % up (JPEG fringes and soft edges are fine);
    * a mask of another size but the same aspect ratio (within 2 %) is resized; another aspect
      ratio is refused;
    * an empty mask, a mask with no pixel above 50 %, a mask covering more than 90 % of the image
      (probably inverted) and a mask that is mostly mid-grey (probably a photo) are refused.
    """
    grey = _as_grey(src, what)
    w, h = size
    if grey.size != (w, h):
        gw, gh = grey.size
        if aspect_differs((gw, gh), (w, h)):
            raise InputError(
                f"{what} is {gw}×{gh} but the images are {w}×{h}: use a mask of the images' size "
                "(white on the pasted object, black elsewhere)."
            )
        grey = grey.resize((w, h), Image.Resampling.BILINEAR)
    m = np.asarray(grey, dtype=np.float32) / 255.0
    inside = m > 0.5
    if not inside.any():
        if m.max() < 0.02:
            raise InputError(f"{what} is empty (all black): paint the pasted object white.")
        raise InputError(
            f"{what} has no pixel brighter than 50 % (the brightest is {m.max():.0%}): paint the pasted object white."
        )
    if ((m > 0.1) & (m < 0.9)).mean() > 0.25:
        raise InputError(f"{what} is mostly mid-grey and looks like a photo, not a mask: use a black-and-white mask.")
    if inside.mean() > 0.9:
        raise InputError(
            f"{what} covers {inside.mean():.0%} of the image: it must be white only on the pasted object "
            "(invert it if the object is black)."
        )
    return inside


def derive_loose_mask(tight: np.ndarray, radius: int) -> np.ndarray:
    """The loose mask the method optimises in: the tight mask dilated by a disc of ``radius`` px."""
    if radius <= 0:
        return tight.copy()
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(tight.astype(np.uint8), k).astype(bool)


def scaled(px: float, side: int) -> float:
    """A length given for a 700 px image, at an image whose longest side is ``side``."""
    return px * side / REFERENCE_SIDE


