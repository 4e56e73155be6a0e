"""ONNX export, so a model can run on onnxruntime (faster on CPUs, no PyTorch needed to run it).

The graph takes ``image`` (N×3×H×W float32 RGB in [0, 1], H and W divisible by 4) and returns
``stylized`` of the same shape; batch, height and width are dynamic.  The model's JSON description
travels in the ONNX file's ``metadata_props`` under the same key as in the safetensors header.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch

from ..image import check_output, write_atomically
from .modelfile import METADATA_KEY, FastModel, load_model

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "stylized"


def onnx_bytes(model: FastModel) -> bytes:
    """The model as a serialised ONNX graph (with its description in the metadata)."""
    import onnx

    net = model.net.eval()
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
    out = check_output(out, overwrite, formats={".onnx": "onnx"})
    data = onnx_bytes(fast)
    write_atomically(out, lambda tmp: write_bytes(tmp, data), overwrite)
    return out


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to the disk (the step before the atomic rename)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
