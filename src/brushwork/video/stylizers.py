"""The one interface between the video loop and a style method, and its two implementations.

Following Ruder, Dosovitskiy and Brox ("Artistic style transfer for videos", 2016), each frame is
tied to the previous *stylized* frame, warped along the optical flow of the input, wherever that
flow can be trusted:

* optimisation mode (``--style``): the frame starts from the warped previous result and its
  objective gains a :class:`~brushwork.core.losses.TemporalLoss`;
* network mode (``--model``): the network's output is blended with the warped previous result,
  and the blend's fine detail is brought back to the network's own contrast
  (:func:`.detail.restore_detail`), so the steadiness costs no sharpness.

Any ``net(frame) -> frame`` (such as a ``brushwork.fastnet`` model) plugs into the second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from ..core import color
from ..core.device import memory_guard, resolve_device
from ..core.errors import Diverged, SettingsError
from ..core.image import to_pil
from ..core.losses import TemporalLoss
from ..core.progress import ProgressCallback, silent
from ..gatys import Stylizer, StylizeSettings
from .detail import restore_detail


class TemporalTarget(NamedTuple):
    """What a frame should agree with: the previous stylized frame warped into this one
    (1×3×H×W, [0, 1]) and a per-pixel weight (1×1×H×W): ``temporal_weight`` where the motion is
    reliable, 0 where the pixel was hidden, on a motion boundary or new in the picture."""

    warped: torch.Tensor
    weight: torch.Tensor


@runtime_checkable
class FrameStylizer(Protocol):
    """A style method as the video loop sees it.

    ``stylize`` gets one frame (1×3×H×W in [0, 1], on the CPU), optionally a start image
    ``init`` (the warped previous result, filled with the frame where nothing could be warped)
    and a :class:`TemporalTarget`, both None on the first frame and after a scene cut.  It returns
    the stylized frame at the same size.  ``identity`` must change whenever the output would
    (other style, weights or settings): it keys the resume cache.  A stylizer that never looks at
    ``init`` may say so with ``uses_init = False``: the loop then passes None and saves the work.
    """

    identity: str

    def stylize(self, frame: torch.Tensor, init: torch.Tensor | None, temporal: TemporalTarget | None) -> torch.Tensor:
        ...


def _hash_tensors(tensors: Sequence[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class NetworkFrameStylizer:
    """Network mode: ``net(frame)`` per frame, blended with the warped previous output.

    Where the previous frame is reliable, the blend is ``(net(frame) + W·warped) / (1 + W)``,
    the image closest to both in the least-squares sense when the previous one counts W times;
    elsewhere it is the network's output unchanged.  With ``keep_detail`` (the default) the
    blend's fine bands are then scaled back up to the network output's local contrast
    (:func:`.detail.restore_detail`): a plain blend loses sharpness to every warp it inherits.
    """

    uses_init = False  # the network starts from the frame itself

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], device: str = "auto", identity: str | None = None,
                 keep_detail: bool = True) -> None:
        self.net = net
        self.device = resolve_device(device)
        self.keep_detail = keep_detail
        if isinstance(net, torch.nn.Module):
            net.to(self.device).eval()
            identity = identity or "net:" + _hash_tensors(list(net.state_dict().values()))
        self.identity = identity or f"net:{getattr(net, '__qualname__', type(net).__qualname__)}"
        if not keep_detail:
            self.identity += ":plain-blend"

    @torch.inference_mode()
    def stylize(self, frame: torch.Tensor, init: torch.Tensor | None, temporal: TemporalTarget | None) -> torch.Tensor:
        with memory_guard("running the style network on a frame"):
            fresh = self.net(frame.to(self.device)).float().clamp(0, 1).cpu()
        if fresh.shape != frame.shape:
            raise SettingsError(f"the style network returned a {tuple(fresh.shape)} image for a {tuple(frame.shape)} frame: "
                                "it must keep the frame's size.")
        if temporal is None:
            return fresh
        # in H×W×3 numpy from here: the detail restoration (OpenCV) works there, and the loop's
        # warped frame already is (``temporal.warped`` is a view of it)
        hwc = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
        fresh_hwc = np.ascontiguousarray(hwc(fresh))
        w = temporal.weight[0, 0].numpy()[..., None]
        blend = w * hwc(temporal.warped)
        blend += fresh_hwc
        blend /= 1 + w
        if self.keep_detail:
            blend = restore_detail(blend, fresh_hwc, (w[..., 0] > 0).astype(np.float32))
        return torch.from_numpy(blend).permute(2, 0, 1).unsqueeze(0)


#: Scale of the temporal loss in optimisation mode, per unit of ``temporal_weight``.  The image
#: is in [0, 1], the VGG features in Caffe units, so pixel differences need a large factor to
#: weigh like feature differences; Ruder et al. use 10³ on 0–255 pixels (× 255² here) against a
#: content weight of 5, the same as brushwork's default.  Measured in benchmarks/README.md.
TEMPORAL_LOSS_SCALE = 1e3 * 255.0**2 / 5.0


class OptimizationFrameStylizer:
    """Optimisation mode: :class:`~brushwork.gatys.Stylizer` per frame.

    The first frame (and the first after a scene cut, or every frame when temporal weight is 0)
    runs the full ``settings`` schedule from the frame itself.  The others run
    ``frame_iterations`` single-scale iterations from the warped previous result, with a
    temporal loss pulling the reliable pixels towards it.
    """

    def __init__(self, style_images: Sequence[Image.Image], settings: StylizeSettings, frame_iterations: int = 100,
                 progress: ProgressCallback = silent) -> None:
        if not style_images:
            raise SettingsError("give at least one style image (--style STYLE).")
        self.styles = [im.convert("RGB") for im in style_images]
        self.settings = replace(settings, original_size=False, save_every=0)
        self.follow_settings = replace(self.settings, quality="single", iterations=frame_iterations)
        self.vgg = Stylizer(self.settings).vgg  # loaded once, shared by every frame
        self.progress = progress
        style_hash = hashlib.sha256(b"".join(im.tobytes() + repr(im.size).encode() for im in self.styles)).hexdigest()
        self.identity = hashlib.sha256(f"opt:{settings!r}:{frame_iterations}:{style_hash}".encode()).hexdigest()[:16]

    def stylize(self, frame: torch.Tensor, init: torch.Tensor | None, temporal: TemporalTarget | None) -> torch.Tensor:
        side = max(frame.shape[-2:])
        stylizer = Stylizer(replace(self.settings if init is None else self.follow_settings, size=side), vgg=self.vgg)
        extra = []
        if temporal is not None:
            target = temporal.warped.to(stylizer.device)
            if self.settings.luminance_only:  # the optimiser works on luminance in this mode
                target = color.luminance(target)
            extra.append(TemporalLoss(target, temporal.weight.to(stylizer.device), TEMPORAL_LOSS_SCALE))
        result = stylizer.run(to_pil(frame), self.styles, self.progress, init=init, extra=extra)
        if result.stopped:
            if result.stopped.interrupted:
                raise KeyboardInterrupt
            raise Diverged(f"stylizing a frame stopped because {result.stopped}: lower --style-weight or "
                           "--learning-rate and run again (finished frames are kept).")
        out = np.asarray(result.image, dtype=np.float32) / 255.0
        return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0)


def load_model(path: str | os.PathLike[str], device: str = "auto", backend: str = "auto",
               precision: str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``--model`` hook: a fast style network (a file or a shipped style name) as a frame callable.

    The callable maps a 1×3×H×W frame in [0, 1] to a stylized frame of the same size (frames are
    reflection-padded to the network's multiple and cropped back).  ``backend`` "auto" picks
    onnxruntime on the CPU when it is installed and torch otherwise: on its own, torch in
    bfloat16 (``precision``, on a CPU that has it natively) runs the video network faster than
    onnxruntime (15 against 21 ms per 640×360 frame), but in the pipeline, beside the flow and
    the encoder, onnxruntime gave more frames per second (14.7 against 11.6, benchmarks/README.md).
    Its threads do not spin between frames, so the optical flow and the encoder get the cores.
    fastnet is imported only here.
    """
    try:
        from ..fastnet import FastSettings, FastStylizer
        from ..fastnet.infer import MULTIPLE, pad
    except ImportError:
        raise SettingsError("--model needs brushwork's fast style networks (brushwork.fastnet), which this installation "
                            "does not have: use --style STYLE instead.") from None
    from ..fastnet.modelfile import resolve

    file = resolve(path)  # shipped names → their file; clear errors for missing files
    if backend == "auto":
        on_cpu = resolve_device(device).type == "cpu"
        backend = "onnx" if on_cpu and importlib.util.find_spec("onnxruntime") is not None else "torch"
    if file.suffix.lower() == ".onnx":
        backend = "onnx"  # an exported model runs only there
    from ..fastnet.anyinfer import is_painting, painting_backend

    if is_painting(file):
        run_net, multiple = painting_backend(file, device, backend, precision=precision), MULTIPLE
    else:
        fast = FastStylizer(file, FastSettings(backend=backend, device=device, precision=precision), spin=False)
        run_net, multiple = fast.backend, fast.multiple

    def run(frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[-2:]
        x, (top, left) = pad(frame.detach().cpu().float().numpy(), multiple)
        y = run_net(x)[..., top:top + h, left:left + w]
        return torch.from_numpy(np.ascontiguousarray(y))

    half = getattr(run_net, "dtype", None) is not None
    run.backend_name = getattr(run_net, "name", backend) + (" bfloat16" if half else "")  # type: ignore[attr-defined]
    return run


