"""Any painting in one pass: a style-conditioned transformation network (Ghiasi et al., BMVC 2017).

Two parts, both small convolutional networks, no VGG at inference:

* :class:`PaintingEncoder` (0.79 M parameters) reads the painting, resized so its longest side is
  ``style_size`` (256), through four stride-2 conv layers and summarises each layer's activations
  by their channel means and standard deviations (first and second moments: the statistics a
  painting's colour and strokes live in, independent of where things are in it); a two-layer MLP
  turns the 2 × (c1 + c2 + c3 + c3) numbers into the painting's **code**, ``CODE_DIM`` numbers.
* :class:`ArbitraryNet` is brushwork's Johnson network (:mod:`.model`, same layers, widths and
  ONNX tricks) whose instance norms are *conditional*: their scale and shift (γ, β), one pair per
  channel of every normalised layer, are a linear function of the code instead of fixed
  weights (0.58 M parameters at width 0.5, 5 blocks)
  (conditional instance norm, Dumoulin et al. 2017; with the code predicted from the painting,
  Ghiasi et al. 2017).  ``forward(photo, code)``.

A painting's code is computed once (``encode``) and cached per painting (:class:`CodeCache`),
so a folder of photos, or every frame of a video, pays for the encoder once.

``strength`` s ∈ [0, 1] interpolates the code between the photo's own code and the painting's
(as Ghiasi et al. do), so the style fades continuously rather than cross-fading pixels; s = 0
returns the photo itself.

Model files are fast-style safetensors files (:mod:`.modelfile`) whose description carries
``"kind": "arbitrary"``, ``code_dim`` and ``style_size``; tensors are named ``encoder.*`` and
``net.*``.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ..core.errors import InputError, WeightsError
from ..core.image import fit_size, load_image, resize, to_tensor
from .model import ConvNormAct, TransformerNet, channels
from .modelfile import ModelInfo, _open, resolve

KIND = "arbitrary"
CODE_DIM = 100
STYLE_SIZE = 256
ENCODER_CHANNELS = (32, 64, 128, 128)
#: Smallest painting side accepted: below it there is no texture to read.
MIN_PAINTING_SIDE = 16
SHIPPED_NAME = "arbitrary"
ENV_MODEL = "BRUSHWORK_ARBITRARY_MODEL"


class CondInstanceNorm(nn.Module):
    """Instance norm whose per-channel (γ, β) are set by the owning :class:`ArbitraryNet` each call."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c = c
        self.norm = nn.InstanceNorm2d(c, affine=False)
        self.gamma: torch.Tensor | None = None
        self.beta: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.gamma is not None and self.beta is not None, "ArbitraryNet sets γ, β before each pass"
        return self.norm(x) * self.gamma[:, :, None, None] + self.beta[:, :, None, None]


class PaintingEncoder(nn.Module):
    """Painting (N×3×H×W in [0, 1], any size ≥ 16) → code (N×CODE_DIM)."""

    def __init__(self, code_dim: int = CODE_DIM) -> None:
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate(ENCODER_CHANNELS):
            k = 5 if i == 0 else 3
            layers.append(nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c, k, 2), nn.ReLU(inplace=False),
                                        nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.ReLU(inplace=False)))
            c_in = c
        self.levels = nn.ModuleList(layers)
        stats = 2 * sum(ENCODER_CHANNELS) + 6  # + the painting's own colour mean and std
        self.mlp = nn.Sequential(nn.Linear(stats, 256), nn.ReLU(inplace=False), nn.Linear(256, code_dim))

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        h = painting - 0.5
        stats = [h.mean((2, 3)), h.flatten(2).std(2)]
        for level in self.levels:
            h = level(h)
            stats += [h.mean((2, 3)), (h.flatten(2).var(2) + 1e-5).sqrt()]
        return self.mlp(torch.cat(stats, 1))


class ArbitraryNet(nn.Module):
    """Photo (N×3×H×W in [0, 1], sides divisible by 4) and code (N×D or 1×D) → stylized photo."""

    def __init__(self, width: float = 0.5, blocks: int = 5, code_dim: int = CODE_DIM) -> None:
        super().__init__()
        self.width, self.blocks, self.code_dim = width, blocks, code_dim
        self.body = TransformerNet(width, blocks)
        self.cond: list[CondInstanceNorm] = []
        for module in list(self.body.modules()):
            if isinstance(module, ConvNormAct) and isinstance(module.norm, nn.InstanceNorm2d):
                module.norm = CondInstanceNorm(module.norm.num_features)
                self.cond.append(module.norm)
        total = sum(2 * m.c for m in self.cond)
        self.to_params = nn.Linear(code_dim, total)
        # start as plain instance norm (γ = 1, β = 0): the code learns to move away from it
        nn.init.normal_(self.to_params.weight, std=0.01)
        nn.init.zeros_(self.to_params.bias)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        p = self.to_params(code)
        if p.shape[0] != x.shape[0]:
            p = p.expand(x.shape[0], -1)
        o = 0
        for m in self.cond:
            m.gamma, m.beta = 1 + p[:, o:o + m.c], p[:, o + m.c:o + 2 * m.c]
            o += 2 * m.c
        return self.body(x)


class AnyStyleModel(nn.Module):
    """Encoder + conditional network: what an ``arbitrary`` model file holds."""

    def __init__(self, width: float = 0.5, blocks: int = 5, code_dim: int = CODE_DIM,
                 style_size: int = STYLE_SIZE) -> None:
        super().__init__()
        self.encoder = PaintingEncoder(code_dim)
        self.net = ArbitraryNet(width, blocks, code_dim)
        self.style_size = style_size

    def forward(self, photo: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
        return self.net(photo, self.encoder(painting))

    def encode_image(self, img: Image.Image) -> torch.Tensor:
        """The code (1×D) of a PIL painting, read at ``style_size``."""
        return self.encoder(painting_tensor(img, self.style_size).to(next(self.parameters()).device))


def painting_tensor(img: Image.Image, style_size: int = STYLE_SIZE) -> torch.Tensor:
    """A painting as the encoder reads it: RGB, longest side ``style_size``, 1×3×H×W."""
    img = img.convert("RGB")
    if min(img.size) < MIN_PAINTING_SIDE:
        raise InputError(f"the painting is only {img.width}×{img.height} pixels: give one at least "
                         f"{MIN_PAINTING_SIDE} pixels on each side (a few hundred is best).")
    if max(img.size) != style_size:
        img = resize(img, fit_size(img.size, style_size))
    return to_tensor(img)


def is_arbitrary(info: ModelInfo) -> bool:
    return info.extra.get("kind") == KIND


def make_info(model: AnyStyleModel, **extra: object) -> ModelInfo:
    return ModelInfo(width=model.net.width, blocks=model.net.blocks, style="any painting",
                     extra={"kind": KIND, "code_dim": model.net.code_dim, "style_size": model.style_size, **extra})


@dataclass
class LoadedAnyStyle:
    model: AnyStyleModel
    info: ModelInfo
    path: Path


def load_anystyle(model: str | os.PathLike[str] = SHIPPED_NAME) -> LoadedAnyStyle:
    """Open an any-painting model file, or for ``arbitrary`` the file named by the environment variable
    ``BRUSHWORK_ARBITRARY_MODEL`` if set, else the shipped one (the way to choose the model where no
    ``--style-model`` option exists: ``brushwork video --model PAINTING``, the web UI)."""
    if str(model) == SHIPPED_NAME and os.environ.get(ENV_MODEL):
        model = os.environ[ENV_MODEL]
    try:
        p = resolve(model)
    except WeightsError:
        if str(model) == SHIPPED_NAME:
            raise WeightsError(
                "no any-painting model is shipped with this brushwork yet: train one "
                "(`python -m brushwork.fastnet.anystyle_train`) and pass it with --style-model FILE "
                f"(or set {ENV_MODEL}=FILE).") from None
        raise
    info, tensors = _open(p)
    if not is_arbitrary(info):
        raise WeightsError(f"'{p}' is a one-style model, not an any-painting model: give an any-painting model "
                           "(--style-model), or use it as MODEL without a painting.")
    try:
        net = AnyStyleModel(info.width, info.blocks, int(info.extra["code_dim"]), int(info.extra["style_size"]))
        net.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError):
        raise WeightsError(f"'{p}' is damaged: its weights do not fit the any-painting network it describes.") from None
    net.eval().requires_grad_(False)
    return LoadedAnyStyle(net, info, p)


class CodeCache:
    """Painting file (by content hash) or image (by pixels) → code; codes are tiny, so keep many."""

    def __init__(self, model: AnyStyleModel, limit: int = 256) -> None:
        self.model, self.limit = model, limit
        self._codes: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.misses = 0

    @staticmethod
    def key(painting: str | os.PathLike[str] | Image.Image) -> str:
        h = hashlib.sha1()
        if isinstance(painting, Image.Image):
            h.update(f"{painting.mode}{painting.size}".encode())
            h.update(np.asarray(painting).tobytes())
        else:
            h.update(Path(painting).read_bytes())
        return h.hexdigest()

    def __call__(self, painting: str | os.PathLike[str] | Image.Image) -> torch.Tensor:
        if not isinstance(painting, Image.Image):
            check_painting_file(painting)
        k = self.key(painting)
        code = self._codes.get(k)
        if code is None:
            img = painting if isinstance(painting, Image.Image) else load_image(painting, "painting")
            with torch.inference_mode():
                code = self.model.encode_image(img).cpu()
            self.misses += 1
            self._codes[k] = code
            while len(self._codes) > self.limit:
                self._codes.popitem(last=False)
        else:
            self._codes.move_to_end(k)
        return code


def check_painting_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"painting '{p}' does not exist: check the path.")
    return p


def mix(photo_code: torch.Tensor, painting_code: torch.Tensor, strength: float) -> torch.Tensor:
    """Code at ``strength``: 0 the photo's own, 1 the painting's."""
    return photo_code + strength * (painting_code - photo_code)


def downsample(x: torch.Tensor, longest: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = longest / max(h, w)
    return F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area") if s < 1 else x


__all__ = ["AnyStyleModel", "ArbitraryNet", "CodeCache", "PaintingEncoder", "channels", "load_anystyle"]
