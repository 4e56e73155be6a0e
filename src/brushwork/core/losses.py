"""Losses shared by every job: content, Gram style, mean + covariance (Wasserstein-2) style,
total variation, temporal, and masked variants and a histogram loss (used by harmonization and
by per-region stylization).

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


class _Gram(torch.autograd.Function):
    """Unnormalised Gram matrix of N×C×H×W features, with its backward pass written out.

    Two things autograd's own ``bmm(f, f.transpose(1, 2))`` does slowly on a CPU:
    its backward returns one of the two gradients transposed (HW×C) and adds it to the other
    against the grain of memory, and on channels-last features (what the convolutions produce
    fastest) the C×HW view needs a full copy first.  Here channels-last features are read as
    their free HW×C view, and the gradient (dG + dGᵀ) F is formed once, in the features' own
    layout.  At relu1_1 of a 512 px image this halved the Gram's forward + backward time
    (benchmarks/README.md, "Where a VGG pass goes").
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, features: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(features)
        rows, channels_last = _rows(features)
        return torch.bmm(rows.transpose(1, 2), rows) if channels_last else torch.bmm(rows, rows.transpose(1, 2))

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        rows, channels_last = _rows(features)
        sym = grad + grad.transpose(1, 2)
        n, c, h, w = features.shape
        if channels_last:  # (HW×C)(C×C), viewed back as channels-last N×C×H×W
            return torch.bmm(rows, sym).view(n, h, w, c).permute(0, 3, 1, 2)
        return torch.bmm(sym, rows).view(n, c, h, w)


def _rows(features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A copy-free 3-D view of N×C×H×W features: N×HW×C if channels-last, else N×C×HW."""
    n, c, h, w = features.shape
    if c > 1 and features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        return features.permute(0, 2, 3, 1).reshape(n, h * w, c), True
    return features.reshape(n, c, h * w), False


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of N×C×H×W features, normalised by C·H·W → N×C×C."""
    n, c, h, w = features.shape
    return _Gram.apply(features) / (c * h * w)


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
    c = features.shape[1]
    area = mask.reshape(mask.shape[0], -1).sum(1).clamp_min(1e-8).view(-1, 1, 1)
    return _Gram.apply(features * mask) / (c * area)


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


def feature_moments(features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C) and covariance (C×C) of N×C×H×W features, every position of every image a sample.

    With ``mask`` (N×1×H×W, values in [0, 1]) each position counts with its mask value: the
    moments of the region only, soft edges counting partly.
    """
    n, c, h, w = features.shape
    f = features.transpose(0, 1).reshape(c, n * h * w)
    if mask is None:
        mean = f.mean(1)
        d = f - mean[:, None]
        return mean, d @ d.T / f.shape[1]
    wts = mask.expand(n, 1, h, w).transpose(0, 1).reshape(1, n * h * w)
    total = wts.sum().clamp_min(1e-8)
    mean = (f * wts).sum(1) / total
    d = f - mean[:, None]
    return mean, (d * wts) @ d.T / total


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (float64, negative noise clipped)."""
    vals, vecs = torch.linalg.eigh(0.5 * (matrix + matrix.T).double())
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


class MeanCovStyleLoss(nn.Module):
    """weight × W₂²(N(μ, Σ), N(μs, Σs)) / C: the squared 2-Wasserstein distance between Gaussians
    fitted to the layer's features and to the style's.

    W₂² = |μ − μs|² + tr Σ + tr Σs − 2·tr (Σs^½ Σ Σs^½)^½.  Unlike a Gram matrix (raw second
    moment) it separates the mean from the spread, which tends to keep colours cleaner (Kolkin et
    al. 2019, Mroueh 2019).  Σs^½ is computed once (the target is fixed); the cross term is the
    sum of the square roots of the eigenvalues of Σs^½ Σ Σs^½, in float64.  Only eigenvalues
    are differentiated (no eigenvector gradients, which blow up on the repeated zero eigenvalues
    that ReLU features always have), and eigenvalues below ``rel_eps`` × the largest are held
    at that floor so the square root's slope stays bounded.  Dividing by the channel count C
    makes layers of different widths comparable.  ``mask`` (N×1×H×W) restricts the
    statistics of the output to a region; the target stays the style's whole-image statistics.
    """

    def __init__(self, layer: str, target_mean: torch.Tensor, target_cov: torch.Tensor, weight: float = 1.0,
                 mask: torch.Tensor | None = None, rel_eps: float = 1e-6) -> None:
        super().__init__()
        self.layer, self.weight, self.rel_eps = layer, weight, rel_eps
        self.register_buffer("target_mean", target_mean.detach().reshape(-1))
        self.register_buffer("target_sqrt", _psd_sqrt(target_cov.detach()))
        self.register_buffer("target_trace", target_cov.detach().diagonal().sum().double())
        self.register_buffer("mask", None if mask is None else mask.detach())

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        f = features[self.layer]
        c = f.shape[1]
        x = f.transpose(0, 1).reshape(c, -1)
        if self.mask is None:
            mean = x.mean(1)
            d = (x - mean[:, None]) / x.shape[1] ** 0.5
        else:
            wts = self.mask.expand(f.shape[0], 1, *f.shape[2:]).transpose(0, 1).reshape(-1)
            keep = wts > 0
            x, wts = x[:, keep], wts[keep] / wts.sum().clamp_min(1e-8)
            mean = (x * wts).sum(1)
            d = (x - mean[:, None]) * wts.sqrt()
        # Σ = d dᵀ; the eigenvalues of Σs^½ Σ Σs^½ = b bᵀ (b = Σs^½ d) are, apart from zeros, those
        # of bᵀ b, the smaller matrix when there are fewer positions than channels (deep layers).
        s = self.target_sqrt
        if d.shape[1] < c:
            b = s @ d.double()
            cross = b.T @ b
        else:
            cross = s @ (d @ d.T).double() @ s
        vals = torch.linalg.eigvalsh(0.5 * (cross + cross.T))
        floor = (vals.detach().max() * self.rel_eps).clamp_min(1e-30)
        root = vals.clamp_min(floor).sqrt().sum()
        w2 = (mean - self.target_mean).pow(2).sum().double() + d.pow(2).sum().double() + self.target_trace - 2 * root
        return (self.weight * w2.clamp_min(0) / c).to(f.dtype)

    def extra_repr(self) -> str:
        masked = ", masked" if self.mask is not None else ""
        return f"layer={self.layer}, weight={self.weight:g}{masked}"


def style_moments(
    extract: Callable[[torch.Tensor, Iterable[str]], dict[str, torch.Tensor]],
    images: Sequence[torch.Tensor],
    layers: Sequence[str],
    blend: Sequence[float] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Mean and covariance targets of several style images, blended as a mixture.

    The blend of distributions with weights wᵢ (Σ wᵢ = 1) has mean Σ wᵢμᵢ and covariance
    Σ wᵢ(Σᵢ + μᵢμᵢᵀ) − μμᵀ: the moments of features drawn from style i with probability wᵢ,
    the same rule by which :func:`style_grams` blends raw second moments.
    """
    if blend is None:
        blend = [1.0] * len(images)
    total = float(sum(blend))
    first: dict[str, torch.Tensor] = {}
    second: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for img, w in zip(images, blend):
            feats = extract(img, layers)
            for layer in layers:
                mean, cov = feature_moments(feats[layer])
                m1 = mean * (w / total)
                m2 = (cov + torch.outer(mean, mean)) * (w / total)
                first[layer] = m1 if layer not in first else first[layer] + m1
                second[layer] = m2 if layer not in second else second[layer] + m2
    return {layer: (first[layer], second[layer] - torch.outer(first[layer], first[layer])) for layer in layers}


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
        style: Sequence[nn.Module] = (),
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
