"""Painting with any painting: :class:`AnyStyleStylizer`, the any-painting counterpart of ``FastStylizer``.

It is a :class:`~brushwork.fastnet.infer.FastStylizer` whose backend runs the conditional network
with a painting's cached code, so sizes, ``--net-size``, ``--preserve-colors``, batching and the
torch / onnxruntime choice behave exactly as for a one-style model.  Several paintings with one
mask each paint their own regions (the photo shows where no mask reaches, as in
``stylize --mask``); ``strength`` moves the code from the photo's own towards the painting's.

ONNX: :func:`export_anystyle` writes two graphs, the stylizer (``image`` N×3×H×W, ``code``
N×D or 1×D → ``stylized``) and beside it ``*.encoder.onnx`` (``painting`` 1×3×H×W, longest side
``style_size`` → ``code``), each with the model's description in its metadata.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.errors import InputError, SettingsError, WeightsError
from ..core.files import check_output, write_atomically
from ..core.image import aspect_differs, load_image
from .anystyle import AnyStyleModel, CodeCache, LoadedAnyStyle, load_anystyle, mix
from .export import OPSET, as_transposed, write_bytes
from .infer import FastStylizer, OnnxBackend, TorchBackend
from .modelfile import METADATA_KEY, FastModel, ModelInfo, is_painting, resolve
from .settings import FastSettings

ENCODER_SUFFIX = ".encoder.onnx"


class _Bound(torch.nn.Module):
    """The conditional network with one code bound: ``forward(image)`` like a one-style network."""

    def __init__(self, model: AnyStyleModel, code: torch.Tensor, strength: float) -> None:
        super().__init__()
        self.model, self.strength = model, strength
        self.register_buffer("code", code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.code
        if self.strength < 1:
            from .anystyle import downsample

            code = mix(self.model.encoder(downsample(x, self.model.style_size)), code, self.strength)
        return self.model.net(x, code)


class _OnnxAny:
    """The stylizer graph on onnxruntime, fed the bound code (and the photo's own for strength < 1)."""

    name = "onnx"

    def __init__(self, session: OnnxBackend, model: AnyStyleModel, code: torch.Tensor, strength: float) -> None:
        self.session, self.model, self.strength = session, model, strength
        self.code = code.numpy().astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        code = self.code
        if self.strength < 1:
            from .anystyle import downsample

            with torch.inference_mode():
                own = self.model.encoder(downsample(torch.from_numpy(x), self.model.style_size)).numpy()
            code = own + self.strength * (code - own)
        code = np.ascontiguousarray(np.broadcast_to(code, (x.shape[0], code.shape[1])), dtype=np.float32)
        return self.session.session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32), "code": code})[0]


def _mask_array(mask: Image.Image | str | os.PathLike[str], size: tuple[int, int], i: int) -> np.ndarray:
    img = mask if isinstance(mask, Image.Image) else load_image(mask, f"mask {i}")
    img = img.convert("L")
    if aspect_differs(img.size, size, 0.02):
        raise InputError(f"mask {i} is {img.width}×{img.height} but the photo is {size[0]}×{size[1]}: a mask must have "
                         "the photo's shape.")
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32)[..., None] / 255.0
    if float(a.max()) < 0.5 / 255:
        raise InputError(f"mask {i} is all black, so its painting would apply nowhere: paint its region white.")
    return a


class AnyStyleStylizer(FastStylizer):
    """Paints photos with one or more paintings (one mask each when several) in one pass each."""

    def __init__(self, paintings: Sequence[str | os.PathLike[str] | Image.Image] | str | os.PathLike[str] | Image.Image,
                 settings: FastSettings | None = None, masks: Sequence[str | os.PathLike[str] | Image.Image] | None = None,
                 spin: bool = True) -> None:
        self.settings = s = settings or FastSettings()
        if isinstance(paintings, str | os.PathLike | Image.Image):
            paintings = [paintings]
        if not paintings:
            raise SettingsError("give at least one painting.")
        if len(paintings) > 1 and not masks:
            raise SettingsError(f"{len(paintings)} paintings need one --mask each, to say where each one paints.")
        if masks and len(masks) != len(paintings):
            raise SettingsError(f"{len(masks)} mask(s) for {len(paintings)} painting(s): give one --mask per painting, "
                                "in the same order.")
        self.masks = list(masks) if masks else None
        self.loaded, self.cache = loaded_model(s.style_model)
        model = self.loaded.model
        self.info = self.loaded.info
        self.codes = [self.cache(p) for p in paintings]
        backend = s.backend if s.backend != "auto" else "torch"
        self.backends: list[TorchBackend | OnnxBackend | _OnnxAny] = []
        session = None
        for code in self.codes:
            if backend == "onnx":
                session = session or OnnxBackend(_exported_or_export(self.loaded), s.threads, spin)
                self.backends.append(_OnnxAny(session, model, code, s.strength))
            else:
                bound = _Bound(model, code, s.strength)
                self.backends.append(TorchBackend(FastModel(bound, self.info, self.loaded.path), s.device, s.precision))  # type: ignore[arg-type]
        self.backend = self.backends[0]

    def run_batch(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        if self.settings.strength == 0:
            return [im.convert("RGB").copy() for im in images]
        outs = []
        for b in self.backends:
            self.backend = b
            outs.append(super().run_batch(images))
        self.backend = self.backends[0]
        if self.masks is None:
            return outs[0]
        results = []
        for k, im in enumerate(images):
            ms = [_mask_array(m, im.size, i) for i, m in enumerate(self.masks, 1)]
            total = np.sum(ms, axis=0)
            scale = np.maximum(total, 1.0)  # overlapping masks share their pixels; uncovered ones keep the photo
            acc = np.asarray(im.convert("RGB"), dtype=np.float32) * (1 - np.minimum(total, 1.0))
            for m, out in zip(ms, outs):
                acc += np.asarray(out[k], dtype=np.float32) * (m / scale)
            results.append(Image.fromarray(np.clip(acc + 0.5, 0, 255).astype(np.uint8)))
        return results


# -- ONNX --------------------------------------------------------------------------------------

def _export(module: torch.nn.Module, args: tuple, inputs: list[str], output: str, axes: dict, info: ModelInfo) -> bytes:
    import onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, dynamo=False, input_names=inputs, output_names=[output],
                          dynamic_axes=axes, opset_version=OPSET)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    proto.producer_name = "brushwork"
    return proto.SerializeToString()


def stylizer_onnx_bytes(loaded: LoadedAnyStyle) -> bytes:
    net = copy.deepcopy(loaded.model.net).eval()
    net.body.out_conv.conv = as_transposed(net.body.out_conv.conv)  # type: ignore[assignment]
    img = {0: "batch", 2: "height", 3: "width"}
    return _export(net, (torch.rand(1, 3, 64, 64), torch.zeros(1, net.code_dim)), ["image", "code"], "stylized",
                   {"image": img, "code": {0: "codes"}, "stylized": img}, loaded.info)


def _exported_or_export(loaded: LoadedAnyStyle) -> bytes | Path:
    """The stylizer graph ``brushwork export`` wrote beside the model (same description: same weights),
    else a fresh export (about a second: worth saving for a process that paints one photo)."""
    beside = loaded.path.with_suffix(".onnx")
    if beside.is_file():
        try:
            import onnx

            proto = onnx.load(str(beside), load_external_data=False)
            if {p.key: p.value for p in proto.metadata_props}.get(METADATA_KEY) == loaded.info.to_json():
                return beside
        except Exception:  # noqa: BLE001, S110 - an unreadable file is simply not used
            pass
    return stylizer_onnx_bytes(loaded)


def encoder_onnx_bytes(loaded: LoadedAnyStyle) -> bytes:
    enc = copy.deepcopy(loaded.model.encoder).eval()
    return _export(enc, (torch.rand(1, 3, 192, 256),), ["painting"], "code",
                   {"painting": {2: "height", 3: "width"}}, loaded.info)


def export_anystyle(model: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
                    overwrite: bool = False) -> Path:
    """Write the stylizer graph to ``output`` and the painting encoder beside it (``*.encoder.onnx``)."""
    loaded = load_anystyle(model)
    out = Path(output) if output is not None else Path(loaded.path.name).with_suffix(".onnx")
    out = check_output(out, overwrite, formats={".onnx": "onnx"})
    enc = check_output(out.with_name(out.name[: -len(".onnx")] + ENCODER_SUFFIX), overwrite, formats={".onnx": "onnx"})
    data, enc_data = stylizer_onnx_bytes(loaded), encoder_onnx_bytes(loaded)
    write_atomically(enc, lambda tmp: write_bytes(tmp, enc_data), overwrite)
    write_atomically(out, lambda tmp: write_bytes(tmp, data), overwrite)
    return out


def painting_backend(painting: str | os.PathLike[str], device: str = "auto", backend: str = "auto",
                     spin: bool = False, precision: str = "auto") -> TorchBackend | OnnxBackend | _OnnxAny:
    """The video hook: a frame callable (padded N×3×H×W array → array) painting with ``painting``."""
    backend = "torch" if backend == "auto" else backend
    settings = FastSettings(backend=backend, device=device, precision=precision)
    return AnyStyleStylizer([painting], settings, spin=spin).backend


_LOADED: dict[tuple[str, float], tuple[LoadedAnyStyle, CodeCache]] = {}


def loaded_model(style_model: str | os.PathLike[str]) -> tuple[LoadedAnyStyle, CodeCache]:
    """The any-painting model and its painting-code cache, kept for the process (the web UI, the API)."""
    from .anystyle import ENV_MODEL, SHIPPED_NAME

    if str(style_model) == SHIPPED_NAME and os.environ.get(ENV_MODEL):
        style_model = os.environ[ENV_MODEL]
    try:
        p = resolve(style_model)
        key = (str(p.resolve()), p.stat().st_mtime)
    except (WeightsError, OSError):
        key = (str(style_model), 0.0)
    if key not in _LOADED:
        loaded = load_anystyle(style_model)
        _LOADED.clear()  # one model at a time: they are a few MB, but there is no reason to keep old ones
        _LOADED[key] = (loaded, CodeCache(loaded.model))
    return _LOADED[key]


def fast_stylize(model: str | os.PathLike[str] | FastModel | Image.Image | Sequence[str | os.PathLike[str] | Image.Image],
                 image: str | os.PathLike[str] | Image.Image, masks: Sequence[str | os.PathLike[str] | Image.Image] | None = None,
                 **settings: object) -> Image.Image:
    """Stylize one image with a fast-style model (a file, or a shipped style name such as ``starry_night``),
    or with any painting: ``fast_stylize("painting.jpg", "photo.jpg", strength=0.8)``.

    ``settings`` are the fields of :class:`FastSettings`, e.g. ``preserve_colors=True``; several
    paintings (a list as ``model``) need ``masks``, one per painting.
    """
    img = image if isinstance(image, Image.Image) else load_image(image, "input image")
    if is_painting(model) or isinstance(model, list | tuple):
        return AnyStyleStylizer(model, FastSettings(**settings), masks=masks)(img)  # type: ignore[arg-type]
    if masks:
        raise SettingsError("masks need paintings as the model.")
    return FastStylizer(model, FastSettings(**settings))(img)  # type: ignore[arg-type, arg-type]


def export_onnx(model: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
                overwrite: bool = False) -> Path:
    """``brushwork export``: a one-style model as one graph, an any-painting model as two (see the module)."""
    from .export import export_onnx as export_one
    from .modelfile import read_info

    if read_info(model).extra.get("kind") == "arbitrary":
        return export_anystyle(model, output, overwrite)
    return export_one(model, output, overwrite)


__all__ = ["AnyStyleStylizer", "export_anystyle", "export_onnx", "fast_stylize", "is_painting", "painting_backend"]
