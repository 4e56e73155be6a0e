"""Video style transfer: decode, stylize frame by frame without flicker, encode with the audio.

Stylizing each frame on its own flickers: small changes between frames send the style's
textures elsewhere.  Following Ruder, Dosovitskiy and Brox ("Artistic style transfer for
videos", 2016), each frame is tied to the previous *stylized* frame, warped along the optical
flow of the input (:mod:`brushwork.flow`), wherever that flow can be trusted:

* optimisation mode (``--style``): the frame starts from the warped previous result and its
  objective gains a :class:`~brushwork.losses.TemporalLoss`;
* network mode (``--model``): the network's output is blended with the warped previous result.

Both are :class:`FrameStylizer` objects, the one interface between this module and a style
method, so any ``net(frame) -> frame`` (such as a ``brushwork.fastnet`` model) plugs in.

Long jobs survive interruption: every finished frame is kept as a PNG in a hidden folder next to
the output, keyed by the input and the settings, and a rerun of the same command continues after
the last one.  The video is written to a temporary file and renamed only when complete; the
frame cache is removed after success.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import av
import cv2
import numpy as np
import torch
from PIL import Image

from . import color
from .device import memory_guard, resolve_device
from .errors import BrushworkError, InputError, Interrupted, OutputError, SettingsError
from .flow import PRESETS as FLOW_PRESETS
from .flow import Motion, estimate_motion, warp
from .image import check_output, check_readable, commit_file, fit_size, to_pil, upsample_with_detail
from .losses import TemporalLoss
from .optimize import Stylizer, StylizeSettings, _opt
from .progress import Progress, ProgressCallback, silent

#: Output containers we write (H.264 video, AAC/MP3 audio); the key is the file extension.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
#: Audio codecs copied into the output unchanged; anything else is re-encoded to AAC.
REMUX_AUDIO = {"aac", "mp3"}
#: Demuxers that read single pictures or text, which are not videos to brushwork.
NOT_VIDEO_FORMATS = {"image2", "tty", "lavfi"}
_CACHE_VERSION = "1"


@dataclass(frozen=True)
class VideoSettings:
    """Every setting of a video stylization (the CLI options of ``brushwork video``)."""

    size: int | None = _opt(None, "Longest side the frames are stylized at (None: the video's own size); "
                                  "the output keeps the video's size, upsampled with each frame's own fine detail.")
    temporal_weight: float = _opt(4.0, "How much the previous stylized frame counts against the new one where the motion "
                                       "is reliable (0: every frame on its own; higher: steadier but slower to follow).")
    frame_iterations: int = _opt(100, "--style only: iterations for each frame after the first, which starts from the "
                                      "previous result (the first frame gets the whole --quality schedule).")
    flow_side: int = _opt(320, "Longest side optical flow is computed at (smaller is faster; motion is scaled up).")
    flow_preset: str = _opt("medium", "DIS optical-flow preset: ultrafast, fast or medium (more accurate flow, steadier "
                                      "result).")
    scene_cut: float = _opt(0.3, "Brightness-histogram change (0–1) above which a frame starts a new shot and nothing "
                                 "is carried over (1: only when the motion cannot be followed at all).")
    crf: int = _opt(18, "H.264 quality: 0 lossless … 51 worst; 18 is visually lossless.")
    x264_preset: str = _opt("veryfast", "H.264 encoder speed: ultrafast … veryslow (slower: smaller file, same quality).")
    cache: bool = _opt(True, "Keep finished frames (as PNG next to the output) so an interrupted run can continue.")
    device: str = _opt("auto", "auto, cpu, cuda or cuda:N.")
    backend: str = _opt("auto", "--model only: torch, onnx (onnxruntime) or auto (onnx on the CPU when onnxruntime is "
                                "installed, as it is faster there; torch on a GPU).")

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise SettingsError(message + ".")

        check(self.backend in ("auto", "torch", "onnx"), f"backend must be torch, onnx or auto, not {self.backend!r}")

        check(self.size is None or 32 <= self.size <= 16384, f"size must be between 32 and 16384 px, not {self.size}")
        check(math.isfinite(self.temporal_weight) and self.temporal_weight >= 0,
              f"temporal-weight must be ≥ 0, not {self.temporal_weight}")
        check(self.frame_iterations >= 1, "frame-iterations must be at least 1")
        check(self.flow_side >= 32, "flow-side must be at least 32 px")
        check(self.flow_preset in FLOW_PRESETS, f"flow-preset must be one of {', '.join(FLOW_PRESETS)}")
        check(0 <= self.scene_cut <= 1, "scene-cut must be between 0 and 1")
        check(0 <= self.crf <= 51, "crf must be between 0 and 51")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        check(self.x264_preset in presets, f"x264-preset must be one of {', '.join(presets)}")


# ---------------------------------------------------------------------------------------------
# The per-frame interface


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
    (other style, weights or settings): it keys the resume cache.
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

    Where the previous frame is reliable, the result is ``(net(frame) + W·warped) / (1 + W)``,
    the image closest to both in the least-squares sense when the previous one counts W times;
    elsewhere it is the network's output unchanged.
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], device: str = "auto", identity: str | None = None) -> None:
        self.net = net
        self.device = resolve_device(device)
        if isinstance(net, torch.nn.Module):
            net.to(self.device).eval()
            identity = identity or "net:" + _hash_tensors(list(net.state_dict().values()))
        self.identity = identity or f"net:{getattr(net, '__qualname__', type(net).__qualname__)}"

    @torch.inference_mode()
    def stylize(self, frame: torch.Tensor, init: torch.Tensor | None, temporal: TemporalTarget | None) -> torch.Tensor:
        with memory_guard("running the style network on a frame"):
            fresh = self.net(frame.to(self.device)).float().clamp(0, 1).cpu()
        if fresh.shape != frame.shape:
            raise SettingsError(f"the style network returned a {tuple(fresh.shape)} image for a {tuple(frame.shape)} frame: "
                                "it must keep the frame's size.")
        if temporal is None:
            return fresh
        w = temporal.weight
        return (fresh + w * temporal.warped) / (1 + w)


#: Scale of the temporal loss in optimisation mode, per unit of ``temporal_weight``.  The image
#: is in [0, 1], the VGG features in Caffe units, so pixel differences need a large factor to
#: weigh like feature differences; Ruder et al. use 10³ on 0–255 pixels (× 255² here) against a
#: content weight of 5, the same as brushwork's default.  Measured in benchmarks/README.md.
TEMPORAL_LOSS_SCALE = 1e3 * 255.0**2 / 5.0


class OptimizationFrameStylizer:
    """Optimisation mode: :class:`~brushwork.optimize.Stylizer` per frame.

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
            if result.stopped.startswith("interrupted"):
                raise KeyboardInterrupt
            raise BrushworkError(f"stylizing a frame stopped because {result.stopped}: lower --style-weight or "
                                 "--learning-rate and run again (finished frames are kept).", exit_code=7)
        out = np.asarray(result.image, dtype=np.float32) / 255.0
        return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0)


def load_model(path: str | os.PathLike[str], device: str = "auto",
               backend: str = "auto") -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``--model`` hook: a fast style network (a file or a shipped style name) as a frame callable.

    The callable maps a 1×3×H×W frame in [0, 1] to a stylized frame of the same size (frames are
    reflection-padded to the network's multiple and cropped back).  ``backend`` "auto" picks
    onnxruntime on the CPU when it is installed (faster than torch there, see
    benchmarks/README.md) and torch otherwise; its threads do not spin between frames, so the
    optical flow and the encoder get the cores.  fastnet is imported only here.
    """
    try:
        from .fastnet import FastSettings, FastStylizer
        from .fastnet.infer import pad
    except ImportError:
        raise SettingsError("--model needs brushwork's fast style networks (brushwork.fastnet), which this installation "
                            "does not have: use --style STYLE instead.") from None
    from .fastnet.modelfile import resolve

    file = resolve(path)  # shipped names → their file; clear errors for missing files
    if backend == "auto":
        on_cpu = resolve_device(device).type == "cpu"
        backend = "onnx" if on_cpu and importlib.util.find_spec("onnxruntime") is not None else "torch"
    if file.suffix.lower() == ".onnx":
        backend = "onnx"  # an exported model runs only there
    run_net = FastStylizer(file, FastSettings(backend=backend, device=device), spin=False).backend

    def run(frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[-2:]
        x, (top, left) = pad(frame.detach().cpu().float().numpy())
        y = run_net(x)[..., top:top + h, left:left + w]
        return torch.from_numpy(np.ascontiguousarray(y))

    return run


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class VideoInfo:
    """What the loop needs to know about an input video before it starts."""

    path: Path
    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int
    """Frame count as the container states it, or an estimate from the duration (0 if unknown)."""
    start: float
    """Container start time in seconds; subtracted from every timestamp so the output starts at 0."""
    audio: str | None
    """Codec name of the first audio stream, None without audio."""


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"video '{path}' is not a video brushwork can read ({reason}): "
                         "use a video file such as MP4, MOV, MKV or WebM.") from None


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path`` and describe its first video stream; every problem is an :class:`InputError`."""
    p = Path(path)
    check_readable(p, "video", kind="video")
    with _open(p) as c:
        fmt = c.format.name
        if fmt in NOT_VIDEO_FORMATS or fmt.endswith("_pipe"):
            raise InputError(f"'{p}' is a still image, not a video: use `brushwork stylize` for pictures.")
        if not c.streams.video:
            kinds = ", ".join(sorted({s.type for s in c.streams})) or "nothing"
            raise InputError(f"'{p}' has no video stream (it holds {kinds}): give a file with video in it.")
        vs = c.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        tb = vs.time_base or Fraction(1, 90000)
        frames = vs.frames
        if not frames:
            seconds = float(vs.duration * tb) if vs.duration else (c.duration or 0) / av.time_base
            frames = max(0, round(seconds * float(rate)))
        try:
            first = next(c.decode(vs), None)
        except av.FFmpegError as exc:
            raise InputError(f"video '{p}' is damaged ({exc}): re-export or re-download it.") from None
        if first is None:
            raise InputError(f"video '{p}' has a video stream without any frames: re-export it.")
        width, height = first.width, first.height
        start = (c.start_time or 0) / av.time_base if (c.start_time or 0) > 0 else 0.0
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
    return VideoInfo(p, width, height, Fraction(rate), Fraction(tb), frames, start, audio)


def _frames(info: VideoInfo) -> Iterator[tuple[np.ndarray, int]]:
    """Decoded frames as H×W×3 uint8 RGB with their presentation time in the stream's time base."""
    offset = round(info.start / info.time_base)
    step = max(1, round(1 / (info.rate * info.time_base)))
    last = -1
    with _open(info.path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        index = 0
        try:
            for frame in c.decode(vs):
                pts = (frame.pts - offset) if frame.pts is not None else last + step
                pts = max(pts, last + 1)  # the encoder needs strictly increasing times
                last = pts
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[:2] != (info.height, info.width):  # a mid-stream size change
                    rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
                yield rgb, pts
                index += 1
        except av.FFmpegError as exc:
            raise InputError(f"video '{info.path}' is damaged at frame {index + 1} ({exc}): re-export or re-download it.") \
                from None


# ---------------------------------------------------------------------------------------------
# Writing


class _Writer:
    """H.264 video plus the input's audio, into a temporary file that becomes the output at the end."""

    def __init__(self, info: VideoInfo, tmp: Path, fmt: str, s: VideoSettings) -> None:
        self.info = info
        self.notes: list[str] = []
        self.out = av.open(str(tmp), "w", format=fmt, options={"movflags": "+faststart"})
        self.width, self.height = info.width - info.width % 2, info.height - info.height % 2  # 4:2:0 needs even sides
        if (self.width, self.height) != (info.width, info.height):
            self.notes.append(f"cropped {info.width}×{info.height} to {self.width}×{self.height}: H.264 needs even sides")
        try:
            av.codec.Codec("libx264", "w")
            self.codec = "libx264"
        except av.codec.codec.UnknownCodecError:
            self.codec = "mpeg4"
            self.notes.append("this PyAV's ffmpeg has no libx264, so the video is MPEG-4 Part 2 (larger, less widely played)")
        vs = self.out.add_stream(self.codec, rate=info.rate)
        vs.width, vs.height, vs.pix_fmt = self.width, self.height, "yuv420p"
        vs.codec_context.time_base = info.time_base
        if self.codec == "libx264":
            vs.options = {"crf": str(s.crf), "preset": s.x264_preset}
        else:
            vs.bit_rate = int(self.width * self.height * float(info.rate) * 0.3)
        self.video = vs
        self.audio = _Audio(info, self.out) if info.audio else None

    def write(self, rgb: np.ndarray, pts: int) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: self.height, : self.width]), format="rgb24")
        frame.pts, frame.time_base = pts, self.info.time_base
        for packet in self.video.encode(frame):
            self.out.mux(packet)
        if self.audio is not None:
            self.audio.feed_until(float(pts * self.info.time_base) + 0.5)

    def finish(self) -> None:
        for packet in self.video.encode(None):
            self.out.mux(packet)
        if self.audio is not None:
            self.audio.finish()
        self.out.close()

    def abandon(self) -> None:
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - the file is deleted anyway
            pass
        if self.audio is not None:
            self.audio.close()


class _Audio:
    """Carries the first audio stream over: packets copied when MP4 takes the codec, else AAC.

    A second reader of the input supplies audio packets up to each video frame's time, so the
    two streams are interleaved in the file as players expect.
    """

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer) -> None:
        self.src = av.open(str(info.path))
        self.stream = self.src.streams.audio[0]
        self.out = out
        self.tb = self.stream.time_base
        self.offset = round(info.start / self.tb) if self.tb else 0
        name = self.stream.codec_context.name
        self.copy = name in REMUX_AUDIO
        if self.copy:
            self.ostream = out.add_stream_from_template(self.stream)
            self.description = f"copied ({name})"
        else:
            cc = self.stream.codec_context
            rate = cc.sample_rate if cc.sample_rate in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000) else 48000
            layout = cc.layout.name if cc.layout and cc.layout.nb_channels <= 2 else "stereo"
            self.ostream = out.add_stream("aac", rate=rate, layout=layout)
            self.ostream.bit_rate = 192_000
            self.description = f"re-encoded from {name} to aac"
        self.packets = self.src.demux(self.stream)
        self.pending: av.Packet | None = None
        self.done = False

    def _next(self) -> av.Packet | None:
        if self.pending is None and not self.done:
            for packet in self.packets:
                if packet.dts is None and packet.pts is None:
                    continue  # the demuxer's end marker
                self.pending = packet
                break
            else:
                self.done = True
        return self.pending

    def _emit(self, packet: av.Packet) -> None:
        if self.copy:
            if packet.pts is not None:
                packet.pts -= self.offset
            if packet.dts is not None:
                packet.dts -= self.offset
            packet.stream = self.ostream
            self.out.mux(packet)
            return
        try:
            decoded = packet.decode()
        except av.FFmpegError:
            return  # a damaged audio packet is skipped, as players do
        for frame in decoded:
            frame.pts = None  # let the encoder count samples: re-encoded audio is continuous
            for p in self.ostream.encode(frame):
                self.out.mux(p)

    def feed_until(self, seconds: float) -> None:
        while (packet := self._next()) is not None:
            t = packet.pts if packet.pts is not None else packet.dts
            if t is not None and float((t - self.offset) * self.tb) > seconds:
                return
            self.pending = None
            self._emit(packet)

    def finish(self) -> None:
        self.feed_until(math.inf)
        if not self.copy:
            for p in self.ostream.encode(None):
                self.out.mux(p)
        self.close()

    def close(self) -> None:
        self.src.close()


# ---------------------------------------------------------------------------------------------
# The resume cache


def file_fingerprint(path: Path) -> str:
    """Size plus the first and last MiB: changes when the file does, without reading all of it."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()


class FrameCache:
    """Finished frames as PNG files in ``.<output name>.brushwork-<key>/`` next to the output.

    Frames are written by one background thread (PNG compression would otherwise hold up the
    loop), each to a temporary name and then renamed, so a frame file is either complete or
    absent.  A rerun with the same input and settings finds the same folder.
    """

    def __init__(self, output: Path, key: str, enabled: bool = True) -> None:
        self.folder = output.parent / f".{output.name}.brushwork-{key[:16]}"
        self.pattern = f".{output.name}.brushwork-*"
        self.parent = output.parent
        self.enabled = enabled
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future[None]] = []

    def _path(self, index: int) -> Path:
        return self.folder / f"{index:06d}.png"

    def finished(self) -> int:
        """How many frames from the start are already done."""
        if not self.enabled or not self.folder.is_dir():
            return 0
        n = 0
        while self._path(n).exists():
            n += 1
        while n > 0 and self.load(n - 1) is None:  # a frame that did not survive is redone
            n -= 1
        return n

    def load(self, index: int) -> np.ndarray | None:
        img = cv2.imread(str(self._path(index)), cv2.IMREAD_COLOR)
        return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def _write(self, index: int, rgb: np.ndarray) -> None:
        tmp = self.folder / f"{index:06d}.part.png"
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OutputError(f"could not write the frame cache in '{self.folder}': check free space, or pass --no-cache.")
        os.replace(tmp, self._path(index))

    def save(self, index: int, rgb: np.ndarray) -> None:
        if not self.enabled:
            return
        if self._pool is None:
            try:
                self.folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise OutputError(f"could not create the frame cache '{self.folder}' ({exc.strerror}): "
                                  "check permissions, or pass --no-cache.") from None
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="brushwork-cache")
        self._pending = [f for f in self._pending if not f.done() or f.result() is not None]
        self._pending.append(self._pool.submit(self._write, index, rgb.copy()))

    def flush(self) -> None:
        """Wait for queued frames to reach the disk (raises the first write error)."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def remove_all(self) -> None:
        """Delete this cache and any older one for the same output (after success)."""
        self.flush()
        for folder in self.parent.glob(self.pattern):
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The loop


def check_video_output(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Validate the output path before work starts (extension, folder, existing file)."""
    return check_output(path, overwrite, formats=VIDEO_FORMATS)


@dataclass
class VideoResult:
    """What a run produced."""

    output: Path
    frames: int = 0
    resumed_from: int = 0
    """Frames taken from the cache of an earlier, interrupted run."""
    seconds: float = 0.0
    fps: float = 0.0
    """Frames per second over the frames stylized in this run."""
    codec: str = ""
    audio: str = "none"
    cuts: list[int] = field(default_factory=list)
    """Frames (0-based) that start a new shot."""
    notes: list[str] = field(default_factory=list)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def _to_rgb(x: torch.Tensor) -> np.ndarray:
    return x[0].detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def _cache_key(info: VideoInfo, s: VideoSettings, stylizer: FrameStylizer) -> str:
    # encoder settings do not change the frames, so changing them keeps the cache
    relevant = {k: v for k, v in asdict(s).items() if k not in ("crf", "x264_preset", "cache")}
    text = json.dumps([_CACHE_VERSION, file_fingerprint(info.path), relevant, stylizer.identity], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _to_full(styled: np.ndarray, work: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """A frame stylized at the working size, brought to the video's size with the frame's own
    fine detail added back (see :func:`brushwork.image.upsample_with_detail`)."""
    f = np.float32(1 / 255)
    up = upsample_with_detail(styled.astype(np.float32) * f, work.astype(np.float32) * f, rgb.astype(np.float32) * f)
    return (up * 255 + 0.5).astype(np.uint8)


def stylize_video(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stylizer: FrameStylizer,
    settings: VideoSettings | None = None,
    overwrite: bool = False,
    progress: ProgressCallback = silent,
) -> VideoResult:
    """Stylize every frame of ``input`` with ``stylizer`` and write ``output`` with the audio.

    Raises :class:`~brushwork.errors.Interrupted` on Ctrl-C after keeping the finished frames;
    calling again with the same arguments continues from there.
    """
    s = settings or VideoSettings()
    out = check_video_output(output, overwrite)
    info = probe_video(input)
    work_size = (info.width, info.height) if s.size is None else fit_size((info.width, info.height), s.size)
    cache = FrameCache(out, _cache_key(info, s, stylizer), s.cache)
    done_before = cache.finished()
    result = VideoResult(out, resumed_from=done_before, audio="none")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    writer: _Writer | None = None
    flow_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="brushwork-flow")
    start = time.perf_counter()
    new_start: float | None = None
    index = 0
    total = info.frames
    try:
        writer = _Writer(info, tmp, VIDEO_FORMATS[out.suffix.lower()], s)
        result.codec, result.notes = writer.codec, list(writer.notes)
        prev_in: np.ndarray | None = None
        prev_out: np.ndarray | None = None
        # The motion into frame t+1 depends only on the input, so it is estimated in a second
        # thread while frame t is stylized (OpenCV and the network release the GIL).
        ahead = _look_ahead(_frames(info), work_size, (info.width, info.height))
        motion: concurrent.futures.Future[Motion] | None = None
        for (rgb, pts, work), following in ahead:
            total = max(total, index + 1)
            upcoming = None
            if following is not None and s.temporal_weight > 0 and index + 1 >= done_before:
                upcoming = flow_pool.submit(estimate_motion, work, following, s.flow_side, s.flow_preset, s.scene_cut)
            styled = cache.load(index) if index < done_before else None
            if styled is None:
                if new_start is None:
                    new_start = time.perf_counter()
                if motion is None and prev_in is not None and s.temporal_weight > 0:  # the first frame after the cache
                    motion = flow_pool.submit(estimate_motion, prev_in, work, s.flow_side, s.flow_preset, s.scene_cut)
                styled = _stylize_frame(stylizer, work, motion.result() if motion is not None and prev_out is not None
                                        else None, prev_out, s, index, result.cuts)
                cache.save(index, styled)
            motion = upcoming
            frame_out = styled if work_size == (info.width, info.height) else _to_full(styled, work, rgb)
            writer.write(frame_out, pts)
            prev_in, prev_out = work, styled
            index += 1
            new = index - done_before
            fps = new / (time.perf_counter() - new_start) if new > 0 and new_start is not None else 0.0
            progress(Progress(
                job="video", stage="frames from the cache" if index <= done_before else "stylizing frames",
                step=index, steps=total, done=index, total=total, parts={"fps": fps},
                preview=lambda x=styled: Image.fromarray(x),
            ))
        if index == 0:
            raise InputError(f"video '{info.path}' has no frames that could be decoded: re-export it.")
        cache.flush()
        writer.finish()
        writer = None
        commit_file(tmp, out, overwrite)
    except KeyboardInterrupt:
        hint = "run the same command again to continue" if s.cache else "nothing was kept (--no-cache)"
        raise Interrupted(f"interrupted after {index} of {total} frames; {hint}.") from None
    except InputError:
        if done_before == 0:  # a bad input cannot be resumed: leave nothing behind
            cache.remove_all()
        raise
    except (av.FFmpegError, OSError) as exc:  # the encoder, the muxer or the disk
        reason = getattr(exc, "strerror", None) or exc
        kept = "; the finished frames are kept, so running the same command again continues" if s.cache and index else ""
        raise OutputError(f"could not write the video '{out}' ({reason}): check free space and permissions{kept}.") from None
    finally:
        flow_pool.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.abandon()
        if tmp.exists():
            tmp.unlink()
        cache.flush()
    cache.remove_all()
    result.frames = index
    result.seconds = time.perf_counter() - start
    new = index - done_before
    result.fps = new / (time.perf_counter() - new_start) if new and new_start is not None else 0.0
    if result.resumed_from:
        result.notes.append(f"continued after {result.resumed_from} frames finished by an earlier run")
    if info.audio:
        result.audio = f"copied ({info.audio})" if info.audio in REMUX_AUDIO else f"re-encoded from {info.audio} to aac"
    return result


def _look_ahead(frames: Iterator[tuple[np.ndarray, int]], work_size: tuple[int, int], size: tuple[int, int]
                ) -> Iterator[tuple[tuple[np.ndarray, int, np.ndarray], np.ndarray | None]]:
    """((frame, pts, working-size frame), the next working-size frame or None) for every frame."""
    def work(rgb: np.ndarray) -> np.ndarray:
        return rgb if work_size == size else cv2.resize(rgb, work_size, interpolation=cv2.INTER_AREA)

    current = None
    for rgb, pts in frames:
        item = (rgb, pts, work(rgb))
        if current is not None:
            yield current, item[2]
        current = item
    if current is not None:
        yield current, None


def _stylize_frame(stylizer: FrameStylizer, work: np.ndarray, motion: Motion | None, prev_out: np.ndarray | None,
                   s: VideoSettings, index: int, cuts: list[int]) -> np.ndarray:
    """One frame: the stylizer with its temporal target from ``motion`` (previous input frame → this one)."""
    init = temporal = None
    if motion is not None and prev_out is not None and s.temporal_weight > 0:
        if motion.cut:
            cuts.append(index)
        else:
            warped = warp(prev_out.astype(np.float32) / 255.0, motion.backward)
            mask = motion.mask[..., None]
            start = mask * warped + (1 - mask) * (work.astype(np.float32) / 255.0)
            init = torch.from_numpy(start).permute(2, 0, 1).unsqueeze(0).contiguous()
            weight = torch.from_numpy(motion.mask * np.float32(s.temporal_weight))[None, None]
            temporal = TemporalTarget(torch.from_numpy(warped).permute(2, 0, 1).unsqueeze(0).contiguous(), weight)
    with memory_guard(f"stylizing frame {index + 1}"):
        return _to_rgb(stylizer.stylize(_to_tensor(work), init, temporal))


__all__ = ["FrameStylizer", "NetworkFrameStylizer", "OptimizationFrameStylizer", "TemporalTarget", "VideoInfo",
           "VideoResult", "VideoSettings", "check_video_output", "load_model", "probe_video", "stylize_video",
           "video_settings_fields"]


def video_settings_fields() -> list[str]:
    return [f.name for f in fields(VideoSettings)]
