"""One fixed content + style score for comparing pictures made by different methods.

VGG-19 relu4_2 content MSE against the photo, and the mean Gram MSE over relu1_1…relu5_1 (Gram
normalised by C·H·W) against the painting, both at one fixed size.  Neither optimiser nor trainer
uses exactly this, so it does not favour either side.  A method "is at least as good" as another
only if *neither* term is worse (``Score.dominates``): a lower total bought by losing the
content is not a win.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from brushwork.core.image import resize_longest, to_tensor
from brushwork.core.losses import gram
from brushwork.core.vgg import load_vgg

#: Fixed metric weights (documented in benchmarks/README.md): total = C_W·content + S_W·style.
C_W, S_W = 1.0, 100.0
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass
class Score:
    content: float
    style: float

    @property
    def total(self) -> float:
        return C_W * self.content + S_W * self.style

    def dominates(self, other: Score) -> bool:
        return self.content <= other.content and self.style <= other.style


class Metric:
    """Scores pictures against a fixed photo and painting; pictures are resized to the photo's scored size."""

    def __init__(self, content: Image.Image, style: Image.Image, size: int, device: torch.device) -> None:
        self.vgg = load_vgg(device=device)
        self.device = device
        content = resize_longest(content, size)
        self.shape = content.size
        c = to_tensor(content).to(device)
        s = to_tensor(resize_longest(style, size)).to(device)
        with torch.no_grad():
            self.c_feat = self.vgg(c, ["relu4_2"])["relu4_2"]
            feats = self.vgg(s, STYLE_LAYERS)
            self.grams = {k: gram(feats[k]) for k in STYLE_LAYERS}

    @torch.no_grad()
    def __call__(self, img: Image.Image) -> Score:
        if img.size != self.shape:
            img = img.resize(self.shape, Image.Resampling.LANCZOS)
        x = to_tensor(img).to(self.device)
        feats = self.vgg(x, ["relu4_2", *STYLE_LAYERS])
        content = torch.mean((feats["relu4_2"] - self.c_feat) ** 2).item()
        style = sum(torch.mean((gram(feats[k]) - self.grams[k]) ** 2).item() for k in STYLE_LAYERS) / len(STYLE_LAYERS)
        return Score(content, style)
