"""Stylizing with a trained network: one forward pass per image, on PyTorch or onnxruntime.

Any image size works: the picture is reflection-padded to sides divisible by 4 (the network
halves the resolution twice and doubles it twice) and at least 8 pixels, run, and cropped back,
so the output has exactly the input's size.  Images of the same size are run in batches.

On a CPU with onnxruntime installed, ``--backend auto`` runs a ``.safetensors`` model on
onnxruntime from a graph exported once into the user's cache (:mod:`.onnxcache`); that path, from
file to file, uses NumPy, Pillow and onnxruntime only: no PyTorch, no OpenCV.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..core import color
from ..core.device import memory_guard
from ..core.errors import InputError, Interrupted, SettingsError, WeightsError
from ..core.image import fit_size, from_array, load_image, resize, shrink, upsample_with_detail
from ..core.progress import Progress, ProgressCallback, silent
from .modelfile import METADATA_KEY, FastModel, ModelInfo, check_kind, load_model, read_info, resolve
from .settings import FastSettings

MULTIPLE = 4
MIN_SIDE = 8


def padding(h: int, w: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """Rows and columns to add (split between both sides) so a network whose input sides must be
    divisible by ``multiple`` accepts an h×w image."""
    def need(n: int) -> int:
        return max(MIN_SIDE, math.ceil(n / multiple) * multiple) - n

    return need(h), need(w)


def pad(x: np.ndarray, multiple: int = MULTIPLE) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflection-pad an N×3×H×W array to sides divisible by ``multiple``; returns it and the
    (top, left) offset of the original."""
    ph, pw = padding(*x.shape[-2:], multiple)
    if ph == pw == 0:
        return x, (0, 0)  # already fits (a video frame of 640×360, say): no copy
    top, left = ph // 2, pw // 2
    mode = "reflect" if min(x.shape[-2:]) > 1 else "edge"
    return np.pad(x, ((0, 0), (0, 0), (top, ph - top), (left, pw - left)), mode=mode), (top, left)


class TorchBackend:
    """Runs the network with PyTorch on ``device``."""

    name = "torch"

    def __init__(self, model: FastModel, device: str = "auto", precision: str = "auto") -> None:
        from ..core.device import compute_dtype, resolve_device

        self.device = resolve_device(device)
        self.dtype = compute_dtype(precision, self.device)
        self.net = model.net.to(self.device).eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        from ..core.device import autocast

        with torch.inference_mode(), autocast(self.dtype, self.device):
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
        self.source = graph if not isinstance(graph, bytes) else "the model"

    def metadata(self) -> dict[str, str]:
        """The graph's ``metadata_props`` (where brushwork keeps the model's description)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]
        if not np.isfinite(out).all():  # NaN weights paint a black picture without any error
            raise WeightsError(f"'{self.source}' is damaged: it paints NaN or infinite values; export it again from a "
                               "good model with `brushwork export MODEL --onnx`.")
        return out


def gpu_likely() -> bool:
    """Whether this machine probably has a GPU that PyTorch would use (an NVIDIA driver, or Apple
    silicon), told without importing PyTorch."""
    return os.path.exists("/proc/driver/nvidia/version") or (sys.platform == "darwin" and platform.machine() == "arm64")


def choose_backend(backend: str, device: str, is_onnx: bool) -> str:
    """What ``--backend auto`` means: onnxruntime for ONNX files, and for safetensors models when
    onnxruntime is installed and the work stays on the CPU (it is faster there, and needs no
    PyTorch); PyTorch for a GPU (``--device cuda``/``mps``, or ``auto`` on a machine with one)."""
    if backend != "auto":
        return backend
    if is_onnx:
        return "onnx"
    if device not in ("auto", "cpu") or (device == "auto" and gpu_likely()):
        return "torch"
    return "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"


class FastStylizer:
    """A loaded model plus a backend; call it on PIL images."""

    multiple: int = MULTIPLE
    """Input sides the network needs divisible by this (images are padded to it and cropped back)."""

    def __init__(self, model: str | os.PathLike[str] | FastModel, settings: FastSettings | None = None,
                 spin: bool = True) -> None:
        """``spin`` False keeps onnxruntime's threads from spinning between runs (see
        :class:`OnnxBackend`): for callers that do other work between images, like the video loop."""
        self.settings = s = settings or FastSettings()
        path = model.path if isinstance(model, FastModel) else resolve(model)
        is_onnx = path.suffix.lower() == ".onnx"
        backend = choose_backend(s.backend, s.device, is_onnx)
        if is_onnx and backend == "torch":
            raise SettingsError(f"'{path}' is an ONNX model: run it with --backend onnx, or give the .safetensors model.")
        self.backend: TorchBackend | OnnxBackend
        if is_onnx:
            self.backend = OnnxBackend(path, s.threads, spin)
            meta = self.backend.metadata()
            if METADATA_KEY not in meta:
                raise WeightsError(f"'{path}' is an ONNX file but not a brushwork fast-style model: export one with "
                                   "`brushwork export`.")
            self.info = ModelInfo.from_json(meta[METADATA_KEY], str(path))
        elif isinstance(model, FastModel) or backend == "torch":
            fast = model if isinstance(model, FastModel) else load_model(path)
            self.info = fast.info
            if backend == "onnx":
                from .export import onnx_bytes

                self.backend = OnnxBackend(onnx_bytes(fast), s.threads, spin)
            else:
                self.backend = TorchBackend(fast, s.device, s.precision)
        else:  # a model file on onnxruntime, from the graph cache: no PyTorch in this process
            from .onnxcache import graph_for

            self.info = read_info(path)
            check_kind(self.info, path)
            graph = graph_for(path)
            try:
                self.backend = OnnxBackend(graph, s.threads, spin)
            except WeightsError:  # a damaged cache file: export again
                self.backend = OnnxBackend(graph_for(path, refresh=True), s.threads, spin)
        self.multiple = MULTIPLE * self.info.fold

    def _prepare(self, img: Image.Image) -> Image.Image:
        img = img.convert("RGB")
        if self.settings.size is not None:
            img = resize(img, fit_size(img.size, self.settings.size)) if max(img.size) != self.settings.size else img
        return img

    def run_batch(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """Stylize images that all have the same size."""
        full = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])  # N×H×W×3
        net_size = self.settings.net_size
        small = bool(net_size) and max(images[0].size) > net_size
        if small:
            dims = fit_size(images[0].size, net_size)
            arr = np.stack([shrink(im, dims) for im in images])
        else:
            arr = full
        arr = arr.transpose(0, 3, 1, 2)
        padded, (top, left) = pad(arr, self.multiple)
        h, w = arr.shape[-2:]
        with memory_guard(f"stylizing {len(images)} image(s) of {w}×{h}"):
            out = self.backend(padded)[:, :, top:top + h, left:left + w]
        results = []
        for k in range(len(images)):
            if small:
                picture = upsample_with_detail(out[k].transpose(1, 2, 0), arr[k].transpose(1, 2, 0), full[k])
            else:
                picture = out[k].transpose(1, 2, 0)
            if self.settings.preserve_colors:
                picture = color.combine_luma_chroma_array(np.ascontiguousarray(picture), full[k])
            results.append(from_array(picture))
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
