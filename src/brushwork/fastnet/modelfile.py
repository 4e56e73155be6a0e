"""Fast-style model files: safetensors weights with the model's description in the header.

One file carries everything: the tensors (no pickle, so opening a model from a stranger cannot
run code) and, in the safetensors header's free-form metadata under the key ``brushwork``, a JSON
document with the format version, the architecture (``width``, ``blocks``) and how the model was
trained (style, data, steps, resolution, settings, time, machine).

``FORMAT_VERSION`` changes whenever a file written by this code could not be read correctly by
older code (new layer names, a different output mapping …).  Readers refuse any other version
with one line that says what to do, rather than producing a wrong picture.

Reading a model's description (:func:`read_info`) does not import PyTorch: the onnxruntime path
(:mod:`.onnxcache`) needs only the header; loading the network (:func:`load_model`) does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from ..core.errors import OutputError, WeightsError
from ..core.files import IMAGE_SUFFIXES, check_output, what_is, write_atomically

if TYPE_CHECKING:
    import torch

    from .model import TransformerNet

FORMAT_NAME = "brushwork-fastnet"
FORMAT_VERSION = 1
METADATA_KEY = "brushwork"
SUFFIX = ".safetensors"
#: Where the shipped styles live; ``brushwork fast starry_night …`` looks here.
STYLES_DIR = Path(__file__).parent / "styles"


@dataclass
class ModelInfo:
    """What a model file says about itself (the JSON in its header)."""

    width: float
    blocks: int
    style: str
    format_version: int = FORMAT_VERSION
    fold: int = 1
    """Space-to-depth factor of the layout (1: the paper's; 2: the faster video layout, see ``model``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Training record: style_source, data, steps, resolution, settings, training_seconds, machine …"""

    def to_json(self) -> str:
        doc = {"format": FORMAT_NAME, "format_version": self.format_version, "width": self.width,
               "blocks": self.blocks, "style": self.style, **self.extra}
        if self.fold != 1:  # written only when set, so files of the paper's layout stay as they were
            doc["fold"] = self.fold
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> ModelInfo:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
                raise ValueError
        except ValueError:
            raise WeightsError(f"'{source}' is not a brushwork fast-style model: {_HINT}") from None
        version = doc.get("format_version")
        if version != FORMAT_VERSION:
            raise WeightsError(
                f"'{source}' is a fast-style model of format version {version}, but this brushwork reads "
                f"version {FORMAT_VERSION}: use a matching brushwork, or retrain it with `brushwork train`."
            )
        try:
            width, blocks, style = float(doc.pop("width")), int(doc.pop("blocks")), str(doc.pop("style"))
            fold = int(doc.pop("fold", 1))
        except (KeyError, TypeError, ValueError):
            raise WeightsError(f"'{source}' has an incomplete model description: retrain it with `brushwork train`.") from None
        for key in ("format", "format_version"):
            doc.pop(key, None)
        return cls(width=width, blocks=blocks, style=style, format_version=version, fold=fold, extra=doc)


_HINT = "train one with `brushwork train`, or name a shipped style (see `brushwork styles`)."


@dataclass
class FastModel:
    """A loaded model: the network (eval mode, on the CPU) and its description."""

    net: TransformerNet
    info: ModelInfo
    path: Path


def is_painting(model: object) -> bool:
    """True when MODEL names an image (a painting for the any-painting network) rather than a model
    file or a shipped style name: a PIL image, or a path with an image suffix."""
    from PIL import Image

    return isinstance(model, Image.Image) or (
        isinstance(model, str | os.PathLike) and Path(model).suffix.lower() in IMAGE_SUFFIXES)


def shipped_styles() -> dict[str, Path]:
    """Shipped style name → model file."""
    return {p.name[: -len(SUFFIX)]: p for p in sorted(STYLES_DIR.glob(f"*{SUFFIX}"))}


def resolve(model: str | os.PathLike[str]) -> Path:
    """A model path, or the file of the shipped style of that name."""
    p = Path(model)
    if p.exists():
        return p
    styles = shipped_styles()
    if str(model) in styles:
        return styles[str(model)]
    names = ", ".join(styles) or "none"
    raise WeightsError(f"no model file or shipped style named '{model}': check the path, or use one of: {names}.")


def read_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The description in a model file's header, without loading its weights (nor PyTorch)."""
    p = resolve(path)
    return _open(p, tensors=False)[0]


def _open(p: Path, tensors: bool = True) -> tuple[ModelInfo, dict[str, torch.Tensor]]:
    why = what_is(p)
    if why:
        raise WeightsError(f"model '{p}' {why}: name a .safetensors model file.")
    if not os.access(p, os.R_OK):
        raise WeightsError(f"model '{p}' cannot be read: check its permissions.")
    weights: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(p), framework="pt" if tensors else "numpy", device="cpu") as fh:
            meta = fh.metadata() or {}
            if METADATA_KEY not in meta:
                raise WeightsError(f"'{p}' is a safetensors file but not a brushwork fast-style model: {_HINT}")
            info = ModelInfo.from_json(meta[METADATA_KEY], str(p))
            if tensors:
                weights = {k: fh.get_tensor(k).float() for k in fh.keys()}  # noqa: SIM118 - safe_open has no items()
    except WeightsError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError, UnicodeDecodeError):
        raise WeightsError(f"'{p}' is not a brushwork fast-style model (not a readable safetensors file): {_HINT}") from None
    return info, weights


def load_model(model: str | os.PathLike[str]) -> FastModel:
    """Open a model file (or a shipped style by name) as a ready-to-run network."""
    from .model import TransformerNet

    p = resolve(model)
    info, tensors = _open(p)
    check_kind(info, p)
    try:
        net = TransformerNet(info.width, info.blocks, info.fold)
    except ValueError as exc:
        raise WeightsError(f"'{p}' describes an impossible network ({exc}): retrain it.") from None
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError:
        raise WeightsError(
            f"'{p}' is damaged: its weights do not fit a width-{info.width:g}, {info.blocks}-block network; retrain it."
        ) from None
    check_finite(tensors, p)
    net.eval().requires_grad_(False)
    return FastModel(net=net, info=info, path=p)


def check_kind(info: ModelInfo, p: Path) -> None:
    """Refuse an any-painting model where a one-style model is expected, saying how to use it."""
    if info.extra.get("kind") == "arbitrary":
        raise WeightsError(f"'{p}' is an any-painting model: give a painting image as MODEL "
                           f"(`brushwork fast PAINTING.jpg photo.jpg --style-model {p}`).")


def check_finite(tensors: dict[str, torch.Tensor], source: str | os.PathLike[str]) -> None:
    """Refuse weights holding NaN or infinity: they paint a black (or noise) picture without any error."""
    import torch

    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise WeightsError(f"'{source}' is damaged: {len(bad)} of its weight tensors ({bad[0]} …) hold NaN or "
                           "infinite values; retrain it, or download it again.")


def check_model_output(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Validate where a model will be written, before training starts."""
    p = Path(path)
    if p.suffix != SUFFIX:
        raise OutputError(f"model file '{p}' should end in {SUFFIX}: for example '{p.with_suffix(SUFFIX).name}'.")
    check_output(p, True, formats={SUFFIX: "safetensors"})  # folder, name length, permissions
    if p.is_symlink() and not p.exists() and not overwrite:
        raise OutputError(f"model '{p}' is a symbolic link to '{os.readlink(p)}', which does not exist: remove the "
                          "link, or pass --overwrite to replace it.")
    if p.exists() and not overwrite:
        raise OutputError(f"model '{p}' already exists: pass --overwrite to replace it, or pick another name.")
    return p


def save_model(net: TransformerNet, info: ModelInfo, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write weights and description atomically (temporary file, then rename)."""
    import torch
    from safetensors.torch import save_file

    p = check_model_output(path, overwrite)
    # float16 halves the file (a full-width model is 3.4 MB instead of 6.7) and changes outputs by
    # far less than one 8-bit grey level; loading casts back to float32.
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    write_atomically(p, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: info.to_json()}), overwrite)
    return p
