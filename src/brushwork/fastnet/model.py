"""The image transformation network of Johnson, Alahi & Fei-Fei (ECCV 2016), with two later fixes.

Layout (channels at width 1)::

    in_conv    9×9, 3 → 32            full resolution
    down1      3×3 stride 2, 32 → 64  ½
    down2      3×3 stride 2, 64 → 128 ¼
    res1…resN  two 3×3 convs, 128     ¼   (N = ``blocks``, 5 in the paper)
    up1        ×2 nearest, 3×3, 128 → 64
    up2        ×2 nearest, 3×3, 64 → 32
    out_conv   9×9, 32 → 3, then a sigmoid → [0, 1]

Changes from the paper, both now standard: instance normalisation instead of batch norm
(Ulyanov et al. 2016: contrast of the content no longer leaks into the style) and nearest
upsampling followed by a convolution instead of transposed convolutions (Odena et al. 2016: no
checkerboard artefacts).  Reflection padding everywhere avoids dark borders.  The sigmoid keeps
outputs in [0, 1] without clipping, so the loss sees the exact image that will be saved.

``fold`` = 2 is a faster layout for video (#22): the photo is first folded 2×2 into 12 channels
(space-to-depth) and the output unfolded the same way (sub-pixel convolution, Shi et al. 2016), so
no layer runs at full resolution; in_conv and out_conv become 3×3 at half resolution and the
residual blocks run at ⅛.  At width 0.5 with 3 blocks it takes about a seventh of the time of
the default layout at 640×360 under onnxruntime on a 2-core CPU: the full-resolution 9×9
convolutions with few channels are what dominate the default's time there.

``width`` scales every channel count (1, 0.5, 0.25 …) and ``blocks`` sets the number of residual
blocks: the cost of a forward pass falls roughly with width², so width 0.25 runs about 10× faster
than width 1 at some loss of detail.  Inputs must have sides divisible by :attr:`TransformerNet.multiple`
(4, or 8 with ``fold`` = 2; see ``infer.pad``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Channel counts at width 1: after in_conv, after down1, after down2 (= residual width).
BASE_CHANNELS = (32, 64, 128)


def channels(width: float) -> tuple[int, int, int]:
    """Channel counts at ``width``; never fewer than 4 so instance norm has something to normalise."""
    return tuple(max(4, round(c * width)) for c in BASE_CHANNELS)  # type: ignore[return-value]


class ConvNormAct(nn.Module):
    """Reflection pad → conv → instance norm (affine) → ReLU (the last two optional)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, norm: bool = True, act: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = nn.InstanceNorm2d(c_out, affine=True) if norm else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(self.pad(x))))


class ResidualBlock(nn.Module):
    """x + norm(conv(relu(norm(conv(x))))): no ReLU after the sum, as in the paper's supplement."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(c, c, 3)
        self.conv2 = ConvNormAct(c, c, 3, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class UpsampleConv(nn.Module):
    """×2 nearest-neighbour upsampling, then a 3×3 conv block (no checkerboard pattern)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvNormAct(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Photo (N×3×H×W in [0, 1], H and W divisible by 4) → stylized image of the same size."""

    def __init__(self, width: float = 1.0, blocks: int = 5, fold: int = 1) -> None:
        super().__init__()
        if fold not in (1, 2):
            raise ValueError(f"fold must be 1 or 2, not {fold}")
        if not 0 < width <= 4:
            raise ValueError(f"width must be in (0, 4], not {width}")
        if not 0 <= blocks <= 32:
            raise ValueError(f"blocks must be in [0, 32], not {blocks}")
        self.width, self.blocks, self.fold = width, blocks, fold
        # no weights: the state dict is the same as without them
        self.unfold = nn.PixelUnshuffle(fold) if fold > 1 else nn.Identity()
        self.refold = nn.PixelShuffle(fold) if fold > 1 else nn.Identity()
        c1, c2, c3 = channels(width)
        rgb, edge = 3 * fold * fold, 9 if fold == 1 else 3
        self.in_conv = ConvNormAct(rgb, c1, edge)
        self.down1 = ConvNormAct(c1, c2, 3, stride=2)
        self.down2 = ConvNormAct(c2, c3, 3, stride=2)
        self.res = nn.Sequential(*(ResidualBlock(c3) for _ in range(blocks)))
        self.up1 = UpsampleConv(c3, c2)
        self.up2 = UpsampleConv(c2, c1)
        self.out_conv = ConvNormAct(c1, rgb, edge, norm=False, act=False)

    @property
    def multiple(self) -> int:
        """Input sides must be divisible by this."""
        return 4 * self.fold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down2(self.down1(self.in_conv(self.unfold(x))))
        y = self.out_conv(self.up2(self.up1(self.res(h))))
        return torch.sigmoid(self.refold(y))

    def extra_repr(self) -> str:
        return f"width={self.width:g}, blocks={self.blocks}" + (f", fold={self.fold}" if self.fold > 1 else "")
