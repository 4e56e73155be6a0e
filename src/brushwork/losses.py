"""Losses shared by every job: content, Gram style, total variation, temporal.

Each loss is a small ``nn.Module`` that names its VGG layer and carries its weight, so printing an
objective shows every term.  Normalisation follows the common Gatys implementation (and
jcjohnson/neural-style): content is the mean squared feature difference; a Gram matrix is divided
by C·H·W and compared by mean squared difference.  Dividing by the feature-map size makes the style
term comparable across resolutions and across layers of different widths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of N×C×H×W features, normalised by C·H·W → N×C×C."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class ContentLoss(nn.Module):
    """weight × mean((F_layer(x) − F_layer(content))²)."""

    def __init__(self, layer: str, target: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.layer, self.weight = layer, weight
        self.register_buffer("target", target.detach())

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.weight * F.mse_loss(features[self.layer], self.target)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, weight={self.weight:g}"


class StyleLoss(nn.Module):
    """weight × mean((gram(F_layer(x)) − G_target)²); ``target_gram`` is C×C or 1×C×C."""

    def __init__(self, layer: str, target_gram: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.layer, self.weight = layer, weight
        self.register_buffer("target", target_gram.detach().reshape(1, *target_gram.shape[-2:]))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        g = gram(features[self.layer])
        return self.weight * F.mse_loss(g, self.target.expand_as(g))

    def extra_repr(self) -> str:
        return f"layer={self.layer}, weight={self.weight:g}"


class TVLoss(nn.Module):
    """weight × mean of squared differences between neighbouring pixels (image in [0, 1]).

    Squared differences smooth away single-pixel noise without flattening edges as strongly as
    larger kernels would.
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return self.weight * (dx.pow(2).mean() + dy.pow(2).mean())

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"


def style_grams(
    extract: Callable[[torch.Tensor, Iterable[str]], dict[str, torch.Tensor]],
    images: Sequence[torch.Tensor],
    layers: Sequence[str],
    blend: Sequence[float] | None = None,
) -> dict[str, torch.Tensor]:
    """Blended Gram targets of several style images.

    Blending the targets (Σ wᵢ·Gᵢ with Σ wᵢ = 1) gives the same gradient as a weighted sum of one
    style loss per image, at the cost of one Gram comparison per layer.
    """
    if blend is None:
        blend = [1.0] * len(images)
    total = float(sum(blend))
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for img, w in zip(images, blend):
            feats = extract(img, layers)
            for layer in layers:
                g = gram(feats[layer])[0] * (w / total)
                out[layer] = g if layer not in out else out[layer] + g
    return out


class Objective(nn.Module):
    """The sum of content, style and TV terms, evaluated with one VGG pass.

    ``forward`` returns the total and a dict of the parts (content, style, tv) for progress
    reports.  Jobs build an ``Objective`` from their own targets; the terms themselves are shared.
    ``extra`` terms are modules called on the image itself (e.g. :class:`TemporalLoss`); each is
    reported under its ``name`` attribute.
    """

    def __init__(
        self,
        extract: nn.Module,
        content: Sequence[ContentLoss] = (),
        style: Sequence[StyleLoss] = (),
        tv: TVLoss | None = None,
        extra: Sequence[nn.Module] = (),
    ) -> None:
        super().__init__()
        self.extract = extract
        self.content = nn.ModuleList(content)
        self.style = nn.ModuleList(style)
        self.tv = tv
        self.extra = nn.ModuleList(extra)
        self.layers = sorted({t.layer for t in [*content, *style]})

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self.extract(image, self.layers) if self.layers else {}
        zero = image.new_zeros(())
        c = sum((t(feats) for t in self.content), zero)
        s = sum((t(feats) for t in self.style), zero)
        v = self.tv(image) if self.tv is not None else zero
        total = c + s + v
        parts = {"content": float(c.detach()), "style": float(s.detach()), "tv": float(v.detach())}
        for term in self.extra:
            e = term(image)
            total = total + e
            name = getattr(term, "name", "extra")
            parts[name] = parts.get(name, 0.0) + float(e.detach())
        return total, parts


class TemporalLoss(nn.Module):
    """weight × mean(mask · (image − target)²): stay close to the previous frame where it is visible.

    ``target`` is the previous stylized frame warped into this one (1×3×H×W) and ``mask`` a
    per-pixel weight (1×1×H×W; 0 where the pixel was hidden or on a motion boundary), following
    Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos" (2016).  Unlike the other
    terms it compares pixels, not VGG features.  An image of another size (a coarser optimisation
    scale) is compared with the target and mask resized to it.
    """

    name = "temporal"

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight
        self.register_buffer("target", target.detach())
        self.register_buffer("mask", mask.detach())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        target, mask = self.target, self.mask
        if target.shape[-2:] != image.shape[-2:]:
            size = tuple(image.shape[-2:])
            target = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
            mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
        return self.weight * (mask * (image - target).pow(2)).mean()

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"
