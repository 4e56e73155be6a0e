"""Fast style transfer: a feed-forward network per style (Johnson, Alahi & Fei-Fei, ECCV 2016).

Train once per style (:mod:`.train`), then stylize any photo in one forward pass (:mod:`.infer`),
with PyTorch or onnxruntime (:mod:`.export`).  Models are safetensors files with a JSON
description (:mod:`.modelfile`); ready-made styles live in ``styles/``.  Names are imported on
first use (see :mod:`brushwork.core.lazy`).
"""

from typing import TYPE_CHECKING

from ..core.lazy import exports

if TYPE_CHECKING:
    from .anyinfer import fast_stylize
    from .infer import FastStylizer
    from .model import TransformerNet
    from .modelfile import FORMAT_VERSION, FastModel, ModelInfo, load_model, shipped_styles
    from .settings import FastSettings

__getattr__ = exports(__name__, {
    "FastStylizer": ".infer", "fast_stylize": ".anyinfer", "TransformerNet": ".model", "FORMAT_VERSION": ".modelfile",
    "FastModel": ".modelfile", "ModelInfo": ".modelfile", "load_model": ".modelfile", "shipped_styles": ".modelfile",
    "FastSettings": ".settings",
})
__all__ = ["FORMAT_VERSION", "FastModel", "FastSettings", "FastStylizer", "ModelInfo", "TransformerNet",
           "fast_stylize", "load_model", "shipped_styles"]
