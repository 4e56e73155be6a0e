"""One fixed content + style score for comparing pictures made by different methods.

* **content**: VGG-19 relu4_2 mean squared difference against the photo (Caffe VGG, 0–255
  inputs), at the scored size, averaged over the photo shrunk with the same four filters.
* **style**: per layer l in relu1_1 … relu5_1, the relative Gram distance
  ``rel_l = ‖G_l(x) − G_l(S′)‖_F / ‖G_l(S′)‖_F`` (G = F Fᵀ / (C·H·W)), averaged over the layers,
  over four resize filters (bilinear, bicubic, Lanczos, box) and over three painting sizes
  (0.75, 1, 1.25 × the scored size, longest side); S′ is each resized copy of the painting.

Why this style term and not the Gram MSE used before: the MSE of raw Gram entries is dominated
by relu4_1 (≈ 95 % of the sum at 512 px), whose Gram entries are the largest, so one layer
decided the score; and that layer's Gram changes with the filter used to shrink the painting
more than the gap between a weak and a good picture, so "better" could mean "resized with
another filter".  Dividing each layer by its target's norm weighs the palette (relu1_1) as much
as the strokes (relu3_1…relu5_1), and averaging over filters and sizes makes the target a
property of the painting, not of one resampling of it.

The content term has the same weakness, measured: the jcjohnson reference of tubingen + Starry
Night scores 3.81e5 against a bilinear-shrunk photo and 4.05e5 against a Lanczos-shrunk one
(golden_gate + Scream: 1.52e5 vs 1.79e5), a 6–18 % swing from the filter alone, larger than the
10 % margin a comparison allows.  A picture made from a Lanczos-shrunk photo (brushwork's) is
favoured by a Lanczos target, one made by the Lua code by a bilinear one; the mean over the four
filters favours neither.

A method "is at least as good" as another only if *neither* term is worse
(``Score.dominates``): a lower style term bought by losing the content is not a win.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from brushwork.core.image import fit_size, to_tensor
from brushwork.core.losses import gram
from brushwork.core.vgg import load_vgg

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
#: Resize filters the painting is shrunk with; the style term is their mean.
FILTERS: Mapping[str, Image.Resampling] = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
#: Painting sizes relative to the scored size (longest side); the style term is their mean.
STYLE_SIZES = (0.75, 1.0, 1.25)
#: Content MSEs are printed in this unit (the issue's tables give content × 1e5).
CONTENT_UNIT = 1e5


@dataclass
class Score:
    """Both terms of one picture; ``layers`` is the style term of each layer (mean over the targets)."""

    content: float
    style: float
    layers: dict[str, float] = field(default_factory=dict)

    def dominates(self, other: Score, content_slack: float = 0.0) -> bool:
        """True when neither term is worse than ``other``'s (content allowed ``content_slack`` × more)."""
        return self.content <= other.content * (1 + content_slack) and self.style <= other.style

    def row(self) -> str:
        """The two terms and the per-layer style values, as printed by the benchmarks."""
        per = " ".join(f"{k.split('_')[0][4:]}:{v:.3f}" for k, v in self.layers.items())
        return f"content {self.content / CONTENT_UNIT:6.2f}e5  style {self.style:.3f}  [{per}]"


def style_targets(vgg: torch.nn.Module, style: Image.Image, size: int, device: torch.device,
                  filters: Mapping[str, Image.Resampling] = FILTERS,
                  sizes: Sequence[float] = STYLE_SIZES) -> list[dict[str, torch.Tensor]]:
    """Gram matrices of the painting resized with every filter to every size, one dict per copy."""
    out = []
    for factor in sizes:
        wh = fit_size(style.size, max(32, round(size * factor)))
        for resample in filters.values():
            s = to_tensor(style.resize(wh, resample)).to(device)
            with torch.no_grad():
                feats = vgg(s, STYLE_LAYERS)
            out.append({k: gram(feats[k])[0] for k in STYLE_LAYERS})
    return out


def relative_distances(grams: Mapping[str, torch.Tensor], targets: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, float]:
    """Per layer, ‖G − T‖_F / ‖T‖_F averaged over the targets."""
    return {k: sum(float(torch.linalg.norm(grams[k] - t[k]) / torch.linalg.norm(t[k])) for t in targets) / len(targets)
            for k in STYLE_LAYERS}


class Metric:
    """Scores pictures against a fixed photo and painting; pictures are resized to the photo's scored size.

    ``filters`` and ``sizes`` choose the painting copies the style term averages over (the
    defaults are the documented metric; tests pass one filter to measure its effect).
    """

    def __init__(self, content: Image.Image, style: Image.Image, size: int, device: torch.device,
                 filters: Mapping[str, Image.Resampling] = FILTERS, sizes: Sequence[float] = STYLE_SIZES,
                 vgg: torch.nn.Module | None = None, targets: list[dict[str, torch.Tensor]] | None = None) -> None:
        """``targets``: the painting's Gram matrices from :func:`style_targets` at the same size, when
        one painting is scored against many photos (they depend on the painting only)."""
        self.vgg = vgg if vgg is not None else load_vgg(device=device)
        self.device = device
        self.shape = fit_size(content.size, size)
        self.c_feats = []
        for resample in filters.values():
            c = to_tensor(content.convert("RGB").resize(self.shape, resample)).to(device)
            with torch.no_grad():
                self.c_feats.append(self.vgg(c, [CONTENT_LAYER])[CONTENT_LAYER])
        self.targets = targets if targets is not None else style_targets(self.vgg, style, size, device, filters, sizes)

    @torch.no_grad()
    def __call__(self, img: Image.Image) -> Score:
        if img.size != self.shape:
            img = img.resize(self.shape, Image.Resampling.LANCZOS)
        x = to_tensor(img.convert("RGB")).to(self.device)
        feats = self.vgg(x, [CONTENT_LAYER, *STYLE_LAYERS])
        content = sum(torch.mean((feats[CONTENT_LAYER] - c) ** 2).item() for c in self.c_feats) / len(self.c_feats)
        layers = relative_distances({k: gram(feats[k])[0] for k in STYLE_LAYERS}, self.targets)
        return Score(content, sum(layers.values()) / len(layers), layers)
