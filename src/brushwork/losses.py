"""Losses shared by every job: content, Gram style, total variation, temporal, and masked
variants and a histogram loss (used by harmonization).

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


def masked_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the features weighted by ``mask`` (N×1×H×W), normalised by C·Σmask → N×C×C.

    With a mask of ones this is :func:`gram`; a soft mask counts partly covered positions partly.
    The features are multiplied by the mask before the product (so a position counts with its
    mask value squared), the convention of Luan et al.'s harmonization code.
    """
    n, c, h, w = features.shape
    f = (features * mask).reshape(n, c, h * w)
    area = mask.reshape(mask.shape[0], -1).sum(1).clamp_min(1e-8).view(-1, 1, 1)
    return torch.bmm(f, f.transpose(1, 2)) / (c * area)


class MaskedContentLoss(nn.Module):
    """weight × Σ mask·(F − target)² / (C·Σ mask): the content MSE inside a region only."""

    def __init__(self, layer: str, target: torch.Tensor, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.layer, self.weight = layer, weight
        self.register_buffer("target", target.detach())
        self.register_buffer("mask", mask.detach())

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        f = features[self.layer]
        diff = (f - self.target).pow(2) * self.mask
        return self.weight * diff.sum() / (f.shape[1] * self.mask.sum().clamp_min(1e-8))

    def extra_repr(self) -> str:
        return f"layer={self.layer}, weight={self.weight:g}"


class MaskedStyleLoss(nn.Module):
    """weight × mean((masked_gram(F, mask) − G_target)²): the style of a region only."""

    def __init__(self, layer: str, target_gram: torch.Tensor, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.layer, self.weight = layer, weight
        self.register_buffer("target", target_gram.detach().reshape(1, *target_gram.shape[-2:]))
        self.register_buffer("mask", mask.detach())

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        g = masked_gram(features[self.layer], self.mask)
        return self.weight * F.mse_loss(g, self.target.expand_as(g))

    def extra_repr(self) -> str:
        return f"layer={self.layer}, weight={self.weight:g}"


def match_histogram(values: torch.Tensor, sorted_target: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram matching: ``values`` (C×N) remapped so that each channel has the
    distribution of the matching row of ``sorted_target`` (C×K, ascending).

    Exact quantile matching (a histogram with one bin per sample): the value of rank r among N
    takes the target's (r+1)/N quantile, interpolated linearly between target samples.
    """
    c, n = values.shape
    k = sorted_target.shape[1]
    ranks = values.argsort(dim=1).argsort(dim=1).to(values.dtype)
    pos = ((ranks + 1) / n * k - 1).clamp(0, k - 1)  # fractional index into the sorted target
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(k - 1)
    frac = pos - lo.to(pos.dtype)
    t_lo, t_hi = sorted_target.gather(1, lo), sorted_target.gather(1, hi)
    return t_lo + frac * (t_hi - t_lo)


class HistogramLoss(nn.Module):
    """weight × mean over the masked positions of (F − remap(F))², where remap(F) is F histogram-
    matched, channel by channel, to ``target_values`` (C×K samples of the style's features).

    The remapped features are a constant for the gradient (Risser et al. 2017): the loss pulls
    each activation toward the value of the same rank in the style, which fixes the distribution
    of every channel (contrast, sparsity) that a Gram matrix leaves free.  ``mask`` (N×1×H×W) is
    thresholded at 0.1 to choose the positions.
    """

    def __init__(self, layer: str, target_values: torch.Tensor, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.layer, self.weight = layer, weight
        self.register_buffer("sorted_target", target_values.detach().sort(dim=1).values)
        self.register_buffer("index", (mask.detach().reshape(-1) > 0.1).nonzero().squeeze(1))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        f = features[self.layer]
        x = f.reshape(f.shape[1], -1).index_select(1, self.index)
        if x.shape[1] == 0:
            return f.new_zeros(())
        with torch.no_grad():
            remapped = match_histogram(x, self.sorted_target)
        return self.weight * F.mse_loss(x, remapped)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, weight={self.weight:g}"


class MaskedTVLoss(nn.Module):
    """weight × mean of squared neighbour differences where ``mask`` (N×1×H×W) is set.

    A difference counts with the mask value at its first pixel; the mean is over the mask's
    area (and the 3 channels), so the term does not grow or shrink with the unmasked canvas.
    """

    def __init__(self, mask: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight
        self.register_buffer("mask", mask.detach())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2) * self.mask[..., :, :-1]
        dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2) * self.mask[..., :-1, :]
        area = self.mask.sum().clamp_min(1e-8) * image.shape[1]
        return self.weight * (dx.sum() + dy.sum()) / area

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
        histogram: Sequence[HistogramLoss] = (),
        extra: Sequence[nn.Module] = (),
    ) -> None:
        super().__init__()
        self.extract = extract
        self.content = nn.ModuleList(content)
        self.style = nn.ModuleList(style)
        self.tv = tv
        self.histogram = nn.ModuleList(histogram)
        self.extra = nn.ModuleList(extra)
        self.layers = sorted({t.layer for t in [*content, *style, *histogram]})

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self.extract(image, self.layers) if self.layers else {}
        zero = image.new_zeros(())
        c = sum((t(feats) for t in self.content), zero)
        s = sum((t(feats) for t in self.style), zero)
        v = self.tv(image) if self.tv is not None else zero
        total = c + s + v
        parts = {"content": float(c.detach()), "style": float(s.detach()), "tv": float(v.detach())}
        if len(self.histogram):
            h = sum((t(feats) for t in self.histogram), zero)
            total = total + h
            parts["histogram"] = float(h.detach())
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
