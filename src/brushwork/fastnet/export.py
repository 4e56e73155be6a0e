"""ONNX export, so a model can run on onnxruntime (faster on CPUs, no PyTorch needed to run it).

The graph takes ``image`` (N×3×H×W float32 RGB in [0, 1], H and W divisible by 4, or by 8 for the
folded layout) and returns
``stylized`` of the same shape; batch, height and width are dynamic.  The model's JSON description
travels in the ONNX file's ``metadata_props`` under the same key as in the safetensors header.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..core.errors import SettingsError
from ..core.files import check_output, write_atomically
from .model import TransformerNet
from .modelfile import METADATA_KEY, FastModel, load_model

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "stylized"


def as_transposed(conv: torch.nn.Conv2d) -> torch.nn.ConvTranspose2d:
    """The same stride-1 convolution written as a transposed one (flipped, transposed kernel).

    Why: onnxruntime's CPU convolution first unfolds every k×k×C input patch (im2col).  For the
    output conv (9×9 over 16–32 channels, 3 outputs, at full resolution) that unfolded copy is
    ~1300 numbers per pixel and its memory traffic is most of the layer's time.  A transposed
    convolution multiplies first (C → 3·81 numbers per pixel) and then adds the shifted pieces up:
    the same arithmetic, a fifth of the traffic.  Measured on the project's 2-core CPU, width 0.5
    at 512×384: 59 → 39 ms for this layer.  Results agree to float rounding.
    """
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding != (0, 0):
        raise ValueError("only unpadded stride-1 convolutions have this simple transposed form")
    kh, kw = conv.kernel_size
    out = torch.nn.ConvTranspose2d(conv.in_channels, conv.out_channels, (kh, kw), padding=(kh - 1, kw - 1),
                                   bias=conv.bias is not None)
    with torch.no_grad():
        out.weight.copy_(conv.weight.flip(2, 3).transpose(0, 1))
        if conv.bias is not None:
            out.bias.copy_(conv.bias)
    return out


def export_net(net: TransformerNet) -> TransformerNet:
    """A copy of ``net`` arranged for a fast ONNX graph (see :func:`as_transposed`); same outputs.

    Only the paper's layout gains from it: the folded layout's 3×3 output conv at half resolution
    unfolds just 9×C numbers per pixel."""
    net = copy.deepcopy(net).eval()
    if net.fold == 1:
        net.out_conv.conv = as_transposed(net.out_conv.conv)  # type: ignore[assignment]
    else:
        net.unfold = unfold_as_conv(net.fold)  # type: ignore[assignment]
    return net


def unfold_as_conv(fold: int, channels: int = 3) -> torch.nn.Conv2d:
    """Space-to-depth (``pixel_unshuffle``) written as a stride-``fold`` convolution with one-hot
    weights.  Why: exported as itself it becomes a reshape and a 6-D transpose, which took ~7 % of
    the folded network's time under onnxruntime; a convolution is what onnxruntime runs best."""
    conv = torch.nn.Conv2d(channels, channels * fold * fold, fold, stride=fold, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(channels):
            for i in range(fold):
                for j in range(fold):
                    conv.weight[c * fold * fold + i * fold + j, c, i, j] = 1.0
    return conv


def import_onnx() -> Any:
    """The ``onnx`` package, or a one-line settings error (exit 4) naming what to install."""
    try:
        import onnx
    except ImportError:
        raise SettingsError("ONNX models need the onnx package, which is not installed: "
                            "pip install 'brushwork[onnx]' (or pip install onnx onnxruntime).") from None
    return onnx


def onnx_bytes(model: FastModel) -> bytes:
    """The model as a serialised ONNX graph (with its description in the metadata)."""
    onnx = import_onnx()

    net = export_net(model.net)
    example = torch.rand(1, 3, 64, 64)
    buf = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter chats about instance norm and constant folding
        torch.onnx.export(net, (example,), buf, dynamo=False, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, opset_version=OPSET)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, model.info.to_json()
    proto.producer_name = "brushwork"
    return proto.SerializeToString()


def export_onnx(model: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` (a file or shipped style name) as ONNX; the default name swaps the suffix to .onnx."""
    fast = load_model(model)
    out = Path(output) if output is not None else Path(fast.path.name).with_suffix(".onnx")
    out = check_output(out, overwrite, formats={".onnx": "onnx"}, inputs=[fast.path])
    data = onnx_bytes(fast)
    write_atomically(out, lambda tmp: write_bytes(tmp, data), overwrite)
    return out


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to the disk (the step before the atomic rename)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
