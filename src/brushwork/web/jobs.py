"""The jobs behind the web UI: upload checks, queue limits, and one generator per kind of job.

Nothing here imports gradio, so the jobs can be tested (and reused) without a web server.  Each
job calls the same API the command line calls (:class:`~brushwork.gatys.Stylizer`,
:class:`~brushwork.fastnet.infer.FastStylizer`, :class:`~brushwork.harmonization.Harmonizer`,
:func:`~brushwork.video.stylize_video`) and yields :class:`Update` objects: a status line, the
fraction done, the latest intermediate picture and, at the end, the result file.  The core's
progress callback is synchronous, so the work runs in a thread and hands its updates over a
queue; when the browser goes away the generator is closed and the next progress event stops
the work.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.errors import BrushworkError, InputError
from ..core.image import MAX_UPLOAD_BYTES, check_upload, save_image
from ..core.names import name_part
from ..core.progress import Progress, ProgressCallback, RecentRate, clock

#: Largest image upload in bytes (one cap for the page and the upload check).  load_image also
#: refuses more than MAX_INPUT_PIXELS pixels.
MAX_IMAGE_BYTES = MAX_UPLOAD_BYTES
#: Largest video upload in bytes.
MAX_VIDEO_BYTES = 200 * 2**20
#: Longest video (in frames) the web UI accepts; the command line has no limit.
MAX_VIDEO_FRAMES = 3000
#: Seconds between two intermediate pictures sent to the page (each costs an encode and a transfer).
PREVIEW_INTERVAL = 0.5


@dataclass(frozen=True)
class QueueLimits:
    """How many jobs run at once and how many may wait; more are turned away with a message."""

    concurrency: int
    max_size: int

    @classmethod
    def for_device(cls, device: torch.device, concurrency: int = 0, max_size: int = 0) -> QueueLimits:
        """Fit the limits to the machine; a non-zero argument overrides the computed value.

        On a CPU an optimisation already uses every core, so a second one only makes both slower:
        one at a time.  On a GPU a 512 px optimisation needs about 2 GB, so several fit; one job
        per 6 GB free, at most 4 (beyond that the GPU is the bottleneck, not the queue).
        """
        if concurrency <= 0:
            concurrency = 1
            if device.type == "cuda":
                from ..core.device import available_memory

                free = available_memory(device) or 0
                concurrency = max(1, min(4, free // (6 * 2**30)))
        if max_size <= 0:
            max_size = 4 * concurrency + 4
        return cls(int(concurrency), int(max_size))


# ---------------------------------------------------------------------------------------------
# Upload checks


def refused(path: Path, exc: InputError) -> InputError:
    """``exc`` marked with the upload it refuses (``exc.upload``), so the server can delete that file."""
    exc.upload = path  # type: ignore[attr-defined]
    return exc


def check_size(path: str | os.PathLike[str], what: str, max_bytes: int) -> Path:
    """Refuse a missing or too large upload before anything decodes it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"the {what} did not arrive: upload it again.")
    size = p.stat().st_size
    if size > max_bytes:
        raise refused(p, InputError(f"the {what} is {size / 2**20:.1f} MB, more than the {max_bytes / 2**20:.0f} MB "
                                    "this server accepts: upload a smaller file."))
    return p


def check_image_upload(path: str | os.PathLike[str] | None, what: str, max_bytes: int = MAX_IMAGE_BYTES) -> Image.Image:
    """An uploaded image as RGB, through :func:`brushwork.core.image.check_upload` (size cap, format,
    damage, decompression bombs: the same checks and messages as the reliability matrix covers),
    with the temporary upload name left out of messages."""
    if path is None:
        raise InputError(f"no {what} given: upload one (or pick an example).")
    p = Path(path)
    if p.is_dir():
        raise InputError(f"the {what} is a folder, not a file: upload an image file.")
    if not p.is_file():
        raise InputError(f"the {what} does not exist on the server (the upload did not arrive): upload it again.")
    try:
        return check_upload(p, max_bytes, what)
    except InputError as exc:
        raise refused(p, InputError(exc.message.replace(f" '{p.name}'", "").replace(f" '{p}'", ""))) from None


def check_video_upload(path: str | os.PathLike[str] | None, max_bytes: int = MAX_VIDEO_BYTES,
                       max_frames: int = MAX_VIDEO_FRAMES):  # -> VideoInfo (video imports av lazily)
    """An uploaded video's description: size cap, a readable video stream, not too many frames."""
    from ..video import probe_video

    if path is None:
        raise InputError("no video given: upload one.")
    p = check_size(path, "video", max_bytes)
    try:
        info = probe_video(p)
    except InputError as exc:
        raise refused(p, InputError(exc.message.replace(f" '{p}'", ""))) from None
    if info.frames > max_frames:
        raise refused(p, InputError(f"the video has {info.frames} frames, more than the {max_frames} this server "
                                    "paints: upload a shorter clip, or use `brushwork video` on the command line."))
    return info


def load_layer(path: str | os.PathLike[str] | None, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """A drawing layer from the browser's image editor as an H×W×4 RGBA array (transparent = not painted)."""
    if path is None:
        raise InputError("a drawn mask layer did not arrive: clear the drawing and paint again.")
    p = check_size(path, "mask drawing", max_bytes)
    try:
        with Image.open(p) as img:
            return np.asarray(img.convert("RGBA"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise refused(p, InputError("the mask drawing could not be read: clear it and paint again, or upload a mask "
                                    "image.")) from None


def mask_from_layers(layers: Sequence[np.ndarray], size: tuple[int, int]) -> Image.Image:
    """The tight mask from strokes drawn in the browser: white wherever any layer is painted.

    ``layers`` are H×W×4 RGBA arrays (the image editor's drawing layers); ``size`` is the
    composite's (width, height)."""
    w, h = size
    mask = np.zeros((h, w), dtype=bool)
    for layer in layers:
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[:2] != (h, w):
            raise InputError("a drawn mask layer does not match the composite's size: clear the drawing and paint again.")
        mask |= arr[..., 3] > 0 if arr.shape[2] == 4 else arr[..., :3].max(axis=2) > 0
    if not mask.any():
        raise InputError("no mask: paint over the pasted object in the composite, or upload a mask image.")
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")


# ---------------------------------------------------------------------------------------------
# Running a job


@dataclass
class Update:
    """What the page shows of a running job."""

    status: str
    fraction: float = 0.0
    preview: Image.Image | None = None
    result: Path | None = None
    """The finished file (set on the last update only)."""


class Cancelled(Exception):  # noqa: N818 - not an error: the browser left
    """Raised inside the work when nobody is waiting for the result any more."""


def _describe(p: Progress, rate: RecentRate | None = None) -> str:
    loss = f", loss {p.loss:.4g}" if math.isfinite(p.loss) else ""
    times = ""
    if rate is not None:
        eta = rate.eta(p.total)
        times = f" · {clock(rate.elapsed)} elapsed" + (f", about {clock(eta)} left" if eta is not None else "")
    return f"{p.stage}: step {p.step}/{p.steps}{loss}{times}"


def run_in_thread(work: Callable[[ProgressCallback], Update], interval: float = PREVIEW_INTERVAL) -> Iterator[Update]:
    """Run ``work(progress)`` in a thread and yield an Update per progress event (at most one with
    a picture every ``interval`` seconds), then the Update ``work`` returns.

    Closing the generator (the client disconnected) makes the next progress event raise
    :class:`Cancelled` inside the work, which ends the thread.
    """
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    stop = threading.Event()
    last = [0.0]
    rate = RecentRate()

    def progress(p: Progress) -> None:
        if stop.is_set():
            raise Cancelled
        rate.update(p.done)
        now = time.monotonic()
        picture = None
        if p.preview is not None and now - last[0] >= interval:
            picture, last[0] = p.preview(), now
        events.put(("update", Update(_describe(p, rate), p.done / p.total if p.total else 0.0, picture)))

    def target() -> None:
        try:
            events.put(("done", work(progress)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting generator
            events.put(("error", exc))

    thread = threading.Thread(target=target, name="brushwork-job", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = events.get()
            if kind == "update":
                yield value  # type: ignore[misc]
            elif kind == "done":
                yield value  # type: ignore[misc]
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stop.set()


def _stopped_note(stopped: str | None) -> str:
    return f" (stopped early: {stopped}; this is the last good picture)" if stopped else ""


def stylize_job(content: str | os.PathLike[str] | None, styles: Sequence[str | os.PathLike[str] | None], settings,
                workdir: Path, max_bytes: int = MAX_IMAGE_BYTES) -> Iterator[Update]:
    """Optimisation (``brushwork stylize``): intermediate pictures while it runs, a PNG at the end."""
    from ..gatys import Stylizer

    c_img = check_image_upload(content, "content image", max_bytes)
    s_imgs = [check_image_upload(s, "style image", max_bytes) for s in styles if s is not None]
    if not s_imgs:
        raise InputError("no style image given: upload a painting (or pick an example).")

    def work(progress: ProgressCallback) -> Update:
        stylizer = Stylizer(settings)
        result = stylizer.run(c_img, s_imgs, progress)
        names = [name_part(str(content)), *(name_part(str(p)) for p in styles if p is not None)]
        out = save_image(result.image, workdir / ("_".join(names) + ".png"))
        status = f"done: {result.iterations} iterations in {result.seconds:.1f} s{_stopped_note(result.stopped)}"
        return Update(status, 1.0, result.image, out)

    yield Update("starting: loading the network …")
    yield from run_in_thread(work)


def fast_job(image: str | os.PathLike[str] | None, style: str, settings, workdir: Path,
             max_bytes: int = MAX_IMAGE_BYTES, painting: str | os.PathLike[str] | None = None) -> Iterator[Update]:
    """A shipped fast style (``brushwork fast``), or an uploaded ``painting`` (any-painting network): one pass."""
    from ..fastnet.infer import FastStylizer

    img = check_image_upload(image, "photo", max_bytes)
    start = time.perf_counter()
    if painting is not None:
        from ..fastnet.anyinfer import AnyStyleStylizer

        p_img = check_image_upload(painting, "painting", max_bytes)
        picture, style = AnyStyleStylizer([p_img], settings)(img), "painted"
    else:
        picture = FastStylizer(style, settings)(img)
    out = save_image(picture, workdir / f"{name_part(str(image))}_{name_part(style)}.png")
    yield Update(f"done: {picture.width}×{picture.height} in {time.perf_counter() - start:.1f} s", 1.0, picture, out)


def harmonize_job(painting: str | os.PathLike[str] | None, composite: Image.Image | None, mask: Image.Image | None,
                  settings, workdir: Path, max_bytes: int = MAX_IMAGE_BYTES) -> Iterator[Update]:
    """Painterly harmonization (``brushwork harmonize``) of a composite whose mask was drawn or uploaded."""
    from ..harmonization import Harmonizer

    p_img = check_image_upload(painting, "painting", max_bytes)
    if composite is None:
        raise InputError("no composite given: upload the painting with the object pasted in.")
    if mask is None:
        raise InputError("no mask: paint over the pasted object in the composite, or upload a mask image.")

    def work(progress: ProgressCallback) -> Update:
        result = Harmonizer(settings).run(p_img, composite.convert("RGB"), mask, None, progress)
        out = save_image(result.image, workdir / f"{name_part(str(painting))}_harmonized.png")
        status = (f"done: style level {result.style_level:.2f}, {result.iterations} iterations in "
                  f"{result.seconds:.1f} s{_stopped_note(result.stopped)}")
        return Update(status, 1.0, result.image, out)

    yield Update("starting: loading the network …")
    yield from run_in_thread(work)


#: --style (optimisation) on the web: longest side the frames are painted at, per device kind.
#: A CPU takes seconds per frame even at 256 px; the output keeps the video's own size.
VIDEO_OPT_MAX_SIDE = {"cpu": 256, "cuda": 640, "mps": 384}
#: --style on the web: most frames per video on a CPU (about 10 s at 24 fps).
VIDEO_OPT_MAX_FRAMES_CPU = 240


def video_job(video: str | os.PathLike[str] | None, style: str, settings, workdir: Path,
              max_bytes: int = MAX_VIDEO_BYTES, max_frames: int = MAX_VIDEO_FRAMES,
              painting: str | os.PathLike[str] | None = None, stylize_settings=None,
              max_image_bytes: int = MAX_IMAGE_BYTES) -> Iterator[Update]:
    """A video painted with optical-flow temporal consistency (``brushwork video``): with a
    shipped fast style, or, given ``painting``, by optimisation (``--style``) at a side limited
    to what the machine can do (:data:`VIDEO_OPT_MAX_SIDE`)."""
    from dataclasses import replace

    from ..core.device import resolve_device
    from ..fastnet.modelfile import resolve
    from ..video import NetworkFrameStylizer, OptimizationFrameStylizer, file_fingerprint, load_model, stylize_video

    kind = resolve_device(settings.device).type
    opt = painting is not None
    if opt and kind == "cpu":
        max_frames = min(max_frames, VIDEO_OPT_MAX_FRAMES_CPU)
    info = check_video_upload(video, max_bytes, max_frames)
    settings = replace(settings, cache=False)  # a web job is not resumed
    note = ""
    if opt:
        style_img = check_image_upload(painting, "painting", max_image_bytes)
        cap = VIDEO_OPT_MAX_SIDE.get(kind, VIDEO_OPT_MAX_SIDE["cpu"])
        side = min(settings.size or max(info.width, info.height), cap)
        if side < max(info.width, info.height):
            note = f"; painted at {side} px (the limit for optimisation on {kind}), output at the video's size"
        settings = replace(settings, size=side)

    def work(progress: ProgressCallback) -> Update:
        if opt:
            from ..gatys import StylizeSettings

            base = stylize_settings or StylizeSettings(quality="draft")
            stylizer = OptimizationFrameStylizer([style_img], replace(base, device=settings.device),
                                                 settings.frame_iterations)
        else:
            net = load_model(style, settings.device, settings.backend, settings.precision)
            stylizer = NetworkFrameStylizer(net, settings.device, identity="model:" + file_fingerprint(resolve(style)))
        tag = name_part(str(painting)) if opt else name_part(style)
        result = stylize_video(info.path, workdir / f"{name_part(str(video))}_{tag}.mp4", stylizer, settings, False,
                               progress)
        notes = "".join(f"; {n}" for n in result.notes)
        status = (f"done: {result.frames} frames in {result.seconds:.1f} s, {result.fps:.1f} fps "
                  f"(audio: {result.audio}{notes}{note})")
        return Update(status, 1.0, None, result.output)

    yield Update("starting …" + note)
    yield from run_in_thread(work)


def one_line(exc: BaseException) -> str:
    """The message the page shows for a failed job: a user error's own line, else the exception's type."""
    if isinstance(exc, BrushworkError):
        return exc.message
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"internal error: {type(exc).__name__}{': ' + text if text else ''} (the server log has the details)"
