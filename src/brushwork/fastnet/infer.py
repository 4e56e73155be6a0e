"""Stylizing with a trained network: one forward pass per image, on PyTorch or onnxruntime.

Any image size works: the picture is reflection-padded to sides divisible by 4 (the network
halves the resolution twice and doubles it twice) and at least 8 pixels, run, and cropped back,
so the output has exactly the input's size.  Images of the same size are run in batches.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core import color
from ..core.device import memory_guard, resolve_device
from ..core.errors import InputError, Interrupted, SettingsError, WeightsError
from ..core.image import fit_size, load_image, resize, to_pil, to_tensor, upsample_with_detail
from ..core.progress import Progress, ProgressCallback, silent
from .modelfile import FastModel, ModelInfo, load_model, resolve
from .settings import FastSettings

MULTIPLE = 4
MIN_SIDE = 8


def padding(h: int, w: int) -> tuple[int, int]:
    """Rows and columns to add (split between both sides) so the network accepts an h×w image."""
    def need(n: int) -> int:
        return max(MIN_SIDE, math.ceil(n / MULTIPLE) * MULTIPLE) - n

    return need(h), need(w)


def pad(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflection-pad an N×3×H×W array; returns it and the (top, left) offset of the original."""
    ph, pw = padding(*x.shape[-2:])
    top, left = ph // 2, pw // 2
    mode = "reflect" if min(x.shape[-2:]) > 1 else "edge"
    return np.pad(x, ((0, 0), (0, 0), (top, ph - top), (left, pw - left)), mode=mode), (top, left)


class TorchBackend:
    """Runs the network with PyTorch on ``device``."""

    name = "torch"

    def __init__(self, model: FastModel, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.net = model.net.to(self.device).eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.net(torch.from_numpy(x).to(self.device)).float().cpu().numpy()


class OnnxBackend:
    """Runs an ONNX graph of the network with onnxruntime (CPU, or CUDA when its provider is installed)."""

    name = "onnx"

    def __init__(self, graph: bytes | str | os.PathLike[str], threads: int = 0, spin: bool = True) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise SettingsError("--backend onnx needs onnxruntime, which is not installed: pip install 'brushwork[onnx]' "
                                "(or pip install onnxruntime), or use --backend torch.") from None
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        if not spin:
            # Between runs onnxruntime's threads otherwise spin for a while, waiting for the next
            # one: right for back-to-back images, but in the video loop they would take the cores
            # from the optical flow and the encoder that run in between.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        source = graph if isinstance(graph, bytes) else str(graph)
        try:
            self.session = ort.InferenceSession(source, opts, providers=providers)
        except Exception:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise WeightsError(f"'{graph if not isinstance(graph, bytes) else 'the model'}' is not a readable ONNX model: "
                               "export one with `brushwork export MODEL --onnx`.") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _onnx_info(path: Path) -> ModelInfo:
    from .export import import_onnx
    from .modelfile import METADATA_KEY

    onnx = import_onnx()

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001
        raise WeightsError(f"'{path}' is not a readable ONNX model: export one with `brushwork export MODEL --onnx`.") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise WeightsError(f"'{path}' is an ONNX file but not a brushwork fast-style model: export one with `brushwork export`.")
    info = ModelInfo.from_json(meta[METADATA_KEY], str(path))
    from onnx import numpy_helper

    for init in proto.graph.initializer:  # NaN weights paint a black picture without any error
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise WeightsError(f"'{path}' is damaged: its weight {init.name} holds NaN or infinite values; export it "
                               "again from a good model with `brushwork export MODEL --onnx`.")
    return info


class FastStylizer:
    """A loaded model plus a backend; call it on PIL images."""

    def __init__(self, model: str | os.PathLike[str] | FastModel, settings: FastSettings | None = None,
                 spin: bool = True) -> None:
        """``spin`` False keeps onnxruntime's threads from spinning between runs (see
        :class:`OnnxBackend`): for callers that do other work between images, like the video loop."""
        self.settings = s = settings or FastSettings()
        path = model.path if isinstance(model, FastModel) else resolve(model)
        is_onnx = path.suffix.lower() == ".onnx"
        backend = s.backend if s.backend != "auto" else ("onnx" if is_onnx else "torch")
        if is_onnx and backend == "torch":
            raise SettingsError(f"'{path}' is an ONNX model: run it with --backend onnx, or give the .safetensors model.")
        if is_onnx:
            self.info = _onnx_info(path)
            self.backend: TorchBackend | OnnxBackend = OnnxBackend(path, s.threads, spin)
            return
        fast = model if isinstance(model, FastModel) else load_model(path)
        self.info = fast.info
        if backend == "onnx":
            from .export import onnx_bytes

            self.backend = OnnxBackend(onnx_bytes(fast), s.threads, spin)
        else:
            self.backend = TorchBackend(fast, s.device)

    def _prepare(self, img: Image.Image) -> Image.Image:
        img = img.convert("RGB")
        if self.settings.size is not None:
            img = resize(img, fit_size(img.size, self.settings.size)) if max(img.size) != self.settings.size else img
        return img

    def run_batch(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """Stylize images that all have the same size."""
        full = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])  # N×H×W×3
        net_size = self.settings.net_size
        small = net_size is not None and max(images[0].size) > net_size
        if small:
            assert net_size is not None
            import cv2  # only the downsized path needs OpenCV

            dims = fit_size(images[0].size, net_size)
            # area averaging: the right filter for shrinking, and ten times faster than PIL's Lanczos
            arr = np.stack([cv2.resize(f, dims, interpolation=cv2.INTER_AREA) for f in full])
        else:
            arr = full
        arr = arr.transpose(0, 3, 1, 2)
        padded, (top, left) = pad(arr)
        h, w = arr.shape[-2:]
        with memory_guard(f"stylizing {len(images)} image(s) of {w}×{h}"):
            out = self.backend(padded)[:, :, top:top + h, left:left + w]
        results = []
        for k, im in enumerate(images):
            if small:
                up = upsample_with_detail(out[k].transpose(1, 2, 0), arr[k].transpose(1, 2, 0), full[k])
                t = torch.from_numpy(np.ascontiguousarray(up.transpose(2, 0, 1)))[None]
            else:
                t = torch.from_numpy(np.ascontiguousarray(out[k:k + 1]))
            if self.settings.preserve_colors:
                t = color.combine_luma_chroma(t, to_tensor(im))
            results.append(to_pil(t))
        return results

    def __call__(self, image: Image.Image) -> Image.Image:
        return self.run_batch([self._prepare(image)])[0]

    def stream(self, images: Iterable[Image.Image]) -> Iterator[Image.Image]:
        """Stylize many images in order, batching neighbours of equal size."""
        pending: list[Image.Image] = []
        for img in images:
            img = self._prepare(img)
            if pending and (img.size != pending[0].size or len(pending) == self.settings.batch_size):
                yield from self.run_batch(pending)
                pending = []
            pending.append(img)
        if pending:
            yield from self.run_batch(pending)


def stylize_files(stylizer: FastStylizer, pairs: Sequence[tuple[Path, Path]], overwrite: bool,
                  progress: ProgressCallback = silent, on_bad: Callable[[Path, InputError], None] | None = None) -> int:
    """Stylize (input, output) file pairs; returns how many were written.

    With ``on_bad``, an input that cannot be read is passed to it and skipped (the others are
    still written); without, its :class:`InputError` ends the run."""
    from ..core.image import save_image

    dests: list[Path] = []  # outputs of the inputs that could be read, in order
    bad: list[Path] = []

    def images() -> Iterator[Image.Image]:
        for src, dest in pairs:
            try:
                image = load_image(src, "input image")
            except InputError as exc:
                if on_bad is None:
                    raise
                on_bad(src, exc)
                bad.append(src)
                continue
            dests.append(dest)
            yield image

    n = 0
    try:
        for k, result in enumerate(stylizer.stream(images())):
            save_image(result, dests[k], overwrite)
            n += 1
            done = n + len(bad)
            progress(Progress(job="fast", stage="fast", step=done, steps=len(pairs), done=done, total=len(pairs)))
    except KeyboardInterrupt:
        kept = f"the {n} finished image(s) are kept in {pairs[0][1].parent}" if n else "nothing was written"
        raise Interrupted(f"interrupted after {n} of {len(pairs)} images; {kept}: run again with the remaining "
                          "images to finish.") from None
    return n


def fast_stylize(model: str | os.PathLike[str] | FastModel, image: str | os.PathLike[str] | Image.Image,
                 **settings: object) -> Image.Image:
    """Stylize one image with a fast-style model (a file, or a shipped style name such as ``starry_night``).

    ``settings`` are the fields of :class:`FastSettings`, e.g. ``preserve_colors=True``.  (The
    public ``brushwork.fast_stylize`` is :func:`brushwork.fastnet.anyinfer.fast_stylize`, which also
    takes a painting.)
    """
    img = image if isinstance(image, Image.Image) else load_image(image, "input image")
    return FastStylizer(model, FastSettings(**settings))(img)  # type: ignore[arg-type]
