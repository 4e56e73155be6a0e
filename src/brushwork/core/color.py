"""Colour-space helpers for colour preservation and ink-wash handling.

Luminance-only transfer (Gatys et al., "Preserving Color in Neural Artistic Style Transfer",
2016) stylizes the luminance channel and keeps the content's chroma.  YIQ is used because it is
linear (cheap, differentiable, exactly invertible) and its Y is the usual Rec.601 luma.  The
functions take tensors, except :func:`combine_luma_chroma_array` (NumPy, for the torch-free fast
path); PyTorch and scikit-image are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114],
     [0.595716, -0.274453, -0.321263],
     [0.211456, -0.522591, 0.311135]], dtype=np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ.astype(np.float64)).astype(np.float32)
_KEEP_Y = _YIQ_TO_RGB[:, :1] @ _RGB_TO_YIQ[:1]  # RGB → its Y → RGB
_KEEP_IQ = _YIQ_TO_RGB[:, 1:] @ _RGB_TO_YIQ[1:]  # RGB → its I, Q → RGB


def _apply(matrix: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.einsum("ij,njhw->nihw", torch.from_numpy(matrix).to(x), x)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [0, 1] → YIQ (Y in [0, 1])."""
    return _apply(_RGB_TO_YIQ, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq` (not clamped)."""
    return _apply(_YIQ_TO_RGB, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Luma of an RGB tensor, kept as three equal channels so VGG can read it."""
    y = rgb_to_yiq(x)[:, :1]
    return y.expand(-1, 3, -1, -1).contiguous()


def match_luminance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``source``'s luminance to the mean and deviation of ``target``'s.

    Used on style images before luminance-only transfer, so that a dark painting does not darken
    a bright photo (Gatys et al. 2016, section on luminance-only transfer).
    """
    ys, yt = luminance(source), luminance(target)
    out = (ys - ys.mean()) / (ys.std() + 1e-6) * yt.std() + yt.mean()
    return out.clamp(0, 1)


def combine_luma_chroma(luma_from: torch.Tensor, chroma_from: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of ``luma_from`` and the chroma (I, Q) of ``chroma_from``."""
    y = rgb_to_yiq(luma_from)[:, :1]
    iq = rgb_to_yiq(chroma_from)[:, 1:]
    import torch

    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def combine_luma_chroma_array(luma_from: np.ndarray, chroma_from: np.ndarray) -> np.ndarray:
    """:func:`combine_luma_chroma` for float32 H×W×3 arrays in [0, 1]: one 3×3 matrix per pixel,
    since Y of the one and I, Q of the other, mapped back to RGB, is linear in both."""
    out = luma_from @ _KEEP_Y.T + chroma_from @ _KEEP_IQ.T
    return np.clip(out, 0.0, 1.0, out=out)


def match_colors(image: Image.Image, palette: Image.Image, region: np.ndarray | None = None) -> Image.Image:
    """``image`` with each RGB channel's histogram matched to ``palette``'s.

    Used where the style's palette matters more than the photo's, e.g. ink on paper.  With
    ``region`` (an H×W boolean array) the mapping is fitted to the region's pixels only, so that a
    sky takes the whole palette rather than the part a whole-image match would give it; it is
    then applied to every pixel (the caller keeps the region's part).
    """
    from skimage.exposure import match_histograms

    src = np.asarray(image.convert("RGB"))
    ref = np.asarray(palette.convert("RGB"))
    if region is None:
        out = match_histograms(src, ref, channel_axis=-1)
    else:
        out = np.empty(src.shape, dtype=np.float64)
        q = np.linspace(0, 1, 256)
        for ch in range(3):
            s_q = np.quantile(src[..., ch][region], q)
            r_q = np.quantile(ref[..., ch], q)
            s_q, first = np.unique(s_q, return_index=True)  # np.interp needs rising x
            out[..., ch] = np.interp(src[..., ch], s_q, r_q[first])
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def to_lab(t: torch.Tensor) -> np.ndarray:
    """1×3×H×W RGB tensor in [0, 1] → H×W×3 float32 CIELAB (L 0–100)."""
    import cv2  # only harmonization needs OpenCV here; keep it out of the other jobs' start-up

    return cv2.cvtColor(np.ascontiguousarray(t[0].permute(1, 2, 0).detach().float().cpu().numpy()), cv2.COLOR_RGB2LAB)


def from_lab(lab: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """H×W×3 CIELAB → 1×3×H×W RGB tensor in [0, 1], on ``like``'s device and dtype."""
    import cv2
    import torch

    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].to(like)
