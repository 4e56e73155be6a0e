"""Region masks: paint each style in its own part of the picture (sky in one painting's manner,
land in another's, a face left as photo).

A mask is a greyscale image of the content's shape, white where its style applies; grey values
are allowed and blend softly (a blurred edge gives a gradual transition).  Mask *i* goes with
style *i*.  Where masks overlap their styles are mixed; where no mask reaches, only the content
and smoothness terms act, so the picture stays close to the photo.

The style of a region is compared through statistics of the output's features inside the mask
(carried to each layer's resolution by :func:`brushwork.core.vgg.propagate_mask`), normalised by the
region's area, against the style image's whole-image statistics: see ``Stylizer._style_terms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ..core import color
from ..core.errors import InputError, SettingsError
from ..core.image import aspect_differs, load_image, to_tensor

#: Largest relative difference between a mask's and the content's aspect ratios that is taken as
#: rounding (a mask saved from a resized copy of the photo) rather than a different picture.
ASPECT_TOLERANCE = 0.02


def load_region_mask(path: str | Path) -> Image.Image:
    """A mask file as a greyscale image (any format Pillow reads; colour images are converted)."""
    return load_image(path, "mask").convert("L")


def check_counts(n_styles: int, n_masks: int | None, blend: Sequence[float] | None) -> None:
    """Refuse, before any work, blend weights or masks whose number does not match the styles."""
    if not n_styles:
        raise SettingsError("give at least one style image.")
    if blend is not None and len(blend) != n_styles:
        raise SettingsError(f"{len(blend)} style blend weights for {n_styles} style images: give one per image.")
    if n_masks is None:
        return
    if blend is not None:
        raise SettingsError("style-blend mixes the styles over the whole picture and masks give each its own region: "
                            "use one or the other.")
    if n_masks != n_styles:
        raise SettingsError(f"{n_masks} mask(s) for {n_styles} style image(s): give one --mask per style, in the "
                            "same order.")


def prepare_masks(
    masks: Sequence[Image.Image | torch.Tensor],
    n_styles: int,
    content_size: tuple[int, int],
    blend: Sequence[float] | None = None,
) -> list[torch.Tensor]:
    """Check the masks and bring each to the content's size as a 1×1×H×W tensor in [0, 1].

    A mask of the content's aspect ratio but another size is resized (bilinear); one of another
    shape, or one that covers nothing, is refused with the fix in the message.
    """
    check_counts(n_styles, len(masks), blend)
    cw, ch = content_size
    out = []
    for i, m in enumerate(masks, 1):
        t = _as_tensor(m)
        mh, mw = t.shape[-2:]
        if aspect_differs((mw, mh), (cw, ch), ASPECT_TOLERANCE):
            raise InputError(f"mask {i} is {mw}×{mh} but the content is {cw}×{ch}: a mask must have the content's "
                             f"shape; crop or resize it to {cw}×{ch}.")
        if float(t.max()) < 0.5 / 255:
            raise InputError(f"mask {i} is all black, so its style would apply nowhere: paint its region white.")
        if (mw, mh) != (cw, ch):
            t = at_size(t, (cw, ch))
        out.append(t)
    return out


def _as_tensor(mask: Image.Image | torch.Tensor) -> torch.Tensor:
    if isinstance(mask, Image.Image):
        return to_tensor(mask.convert("L"))[:, :1]
    t = mask.detach().float()
    while t.dim() < 4:
        t = t.unsqueeze(0)
    if t.shape[:2] != (1, 1):
        raise InputError(f"a mask tensor must be H×W or 1×1×H×W, not {tuple(mask.shape)}: give one greyscale mask.")
    if float(t.min()) < 0 or float(t.max()) > 1:
        raise InputError("mask values must lie in [0, 1]: scale the mask (white = 1).")
    return t


def at_size(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``mask`` (1×1×H×W) resized to ``size`` (width, height), averaging when it shrinks."""
    if tuple(mask.shape[-2:]) == (size[1], size[0]):
        return mask
    return F.interpolate(mask, size=(size[1], size[0]), mode="bilinear", align_corners=False,
                         antialias=True).clamp(0, 1)


def recolor(content: Image.Image, styles: Sequence[Image.Image], masks: Sequence[torch.Tensor] | None) -> Image.Image:
    """The photo in the styles' colours: without masks the first style's palette over the whole
    picture; with masks each region takes its own style's palette (matched on that region's
    pixels), soft edges blending, and uncovered parts keep the photo's colours."""
    if masks is None:
        return color.match_colors(content, styles[0])
    base = to_tensor(content)
    cover = torch.stack([m[0, 0] for m in masks]).sum(0)
    scale = cover.clamp_min(1.0)  # overlapping masks share a pixel instead of over-painting it
    out = base * (1 - cover.clamp(max=1.0))
    for style, m in zip(styles, masks):
        region = m[0, 0].numpy() > 0.5 if float(m.max()) > 0.5 else m[0, 0].numpy() > 0
        out = out + to_tensor(color.match_colors(content, style, region)) * (m[0, 0] / scale)
    arr = (out[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")
