"""Fast style transfer: a feed-forward network per style (Johnson, Alahi & Fei-Fei, ECCV 2016).

Train once per style (:mod:`.train`), then stylize any photo in one forward pass (:mod:`.infer`),
with PyTorch or onnxruntime (:mod:`.export`).  Models are safetensors files with a JSON
description (:mod:`.modelfile`); ready-made styles live in ``styles/``.
"""

from .infer import FastSettings, FastStylizer, fast_stylize
from .model import TransformerNet
from .modelfile import FORMAT_VERSION, FastModel, ModelInfo, load_model, shipped_styles

__all__ = ["FORMAT_VERSION", "FastModel", "FastSettings", "FastStylizer", "ModelInfo", "TransformerNet",
           "fast_stylize", "load_model", "shipped_styles"]
