"""Long videos on a Ray cluster: segments with a warm-up overlap, stylized on workers, joined in order.

The video is cut into segments of ``segment_seconds``.  Segment k is stylized from
``warmup_frames`` frames *before* its first frame: those warm-up frames are stylized (and the
temporal blend carried along them) but dropped, so when the segment's first kept frame is
reached its result already follows the motion like the single-machine run's does.  In network
mode a frame is ``(net(frame) + W·warped) / (1 + W)`` where the motion is reliable, so the
memory of how the segment started fades by W/(1+W) per frame (0.8 at the default W=4); the
detail restoration then scales the carried-along fine strokes back up, so they are forgotten
more slowly.  That memory fades per *frame*, so the warm-up is counted in frames, not seconds.
Measured on the test clip (64×48, 12 frames/s), the warping error across a join was 1.36× the
single run's at the same frames after a 12-frame warm-up, 1.1× after 18 and 1.00× after 24,
the default (:data:`WARMUP_FRAMES`: one second at 24 frames/s).  A scene cut inside the warm-up
resets the memory altogether, so the join is then exact.

Each segment is a task: the worker cuts its frames out of the (shared) input losslessly (FFV1),
runs the ordinary :func:`brushwork.video.stylize_video` on them into a lossless H.264 file with
that function's own resume cache, and records the segment's frame times in a small JSON file
written last.  The driver joins the finished segments in order into the output with the input's
audio, written atomically.  Everything lives in a work folder beside the output
(``.<output name>.brushwork-ray-<key>``): a rerun of the same command, after the driver or a
worker died, reuses every finished segment (and the finished frames of an unfinished one); the
folder is removed once the output is in place.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.errors import BrushworkError, InputError, Interrupted, OutputError, ResourceError, SettingsError
from ..core.progress import Progress, ProgressCallback, silent
from ..gatys.settings import StylizeSettings
from ..video.settings import VideoSettings
from .connect import ClusterOptions, connected, worker_shape

_WORK_VERSION = "1"
#: Frames stylized and dropped before each segment (but the first); see the module's docstring.
WARMUP_FRAMES = 24


@dataclass(frozen=True)
class VideoRecipe:
    """How a worker builds its frame stylizer: a fast network (``model``) or optimisation
    (``styles`` files with ``stylize`` settings)."""

    model: str | None = None
    styles: tuple[str, ...] = ()
    stylize: StylizeSettings | None = None
    frame_iterations: int = 100

    def __post_init__(self) -> None:
        if (self.model is None) == (not self.styles):
            raise SettingsError("give either a model or style images for the video.")

    def identity(self) -> str:
        from ..fastnet.modelfile import resolve
        from ..video.cache import file_fingerprint

        if self.model is not None:
            return "model:" + file_fingerprint(resolve(self.model))
        prints = [file_fingerprint(Path(p)) for p in self.styles]
        return f"opt:{self.stylize!r}:{self.frame_iterations}:{prints}"

    def build(self, device: str, backend: str, precision: str = "auto") -> Any:
        from ..core.image import load_image
        from ..video.stylizers import NetworkFrameStylizer, OptimizationFrameStylizer, load_model

        if self.model is not None:
            return NetworkFrameStylizer(load_model(self.model, device, backend, precision), device,
                                        identity=self.identity())
        images = [load_image(Path(p), "style image") for p in self.styles]
        return OptimizationFrameStylizer(images, self.stylize or StylizeSettings(device=device), self.frame_iterations)


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` … ``end`` − 1 (``end`` None: to the end of the video), stylized from ``first``."""

    index: int
    first: int
    start: int
    end: int | None

    @property
    def name(self) -> str:
        return f"seg-{self.index:05d}"


def plan_segments(frames: int, length: int, overlap: int) -> list[Segment]:
    """Segments of ``length`` frames, each (but the first) starting ``overlap`` frames early."""
    if length < 1 or overlap < 0:
        raise SettingsError("segments need at least one frame and an overlap of 0 or more frames.")
    count = max(1, math.ceil(frames / length))
    return [Segment(k, max(0, k * length - overlap), k * length, None if k == count - 1 else (k + 1) * length)
            for k in range(count)]


@dataclass
class ClusterVideoResult:
    """What a cluster run produced."""

    output: Path
    frames: int = 0
    segments: int = 0
    reused: int = 0
    """Segments finished by an earlier run."""
    seconds: float = 0.0
    workers: str = ""
    audio: str = "none"
    joins: list[int] = field(default_factory=list)
    """Frames (0-based) that start a segment after the first."""


# ---------------------------------------------------------------------------------------------
# On a worker


def _frames_from(info: Any, first: int) -> Any:
    """(index, rgb, pts) from frame ``first`` on, seeking to the keyframe before it when the
    frame times allow (constant frame rate) and decoding from the start otherwise."""
    import cv2

    from ..video.io import open_video, read_frames

    offset = round(info.start / info.time_base)
    step = max(1, round(1 / (info.rate * info.time_base)))
    if first > 0:
        with open_video(info.path) as c:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            c.seek(offset + first * step, stream=vs, backward=True, any_frame=False)
            decoded = c.decode(vs)
            head = next(decoded, None)
            if head is not None and head.pts is not None and round((head.pts - offset) / step) <= first:
                index, last = round((head.pts - offset) / step), None
                frame: Any = head
                while frame is not None:
                    if frame is not head:
                        index = round((frame.pts - offset) / step) if frame.pts is not None else index + 1
                    pts = frame.pts - offset if frame.pts is not None else last + step
                    pts = pts if last is None else max(pts, last + 1)  # strictly increasing, as read_frames
                    last = pts
                    if index >= first:
                        rgb = frame.to_ndarray(format="rgb24")
                        if rgb.shape[:2] != (info.height, info.width):  # a mid-stream size change
                            rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
                        yield index, rgb, pts
                    frame = next(decoded, None)
                return
    for index, (rgb, pts) in enumerate(read_frames(info)):  # the times do not say where to seek
        if index >= first:
            yield index, rgb, pts


def extract(info: Any, seg: Segment, dest: Path) -> list[int]:
    """Frames ``seg.first`` … ``seg.end`` − 1 of the input, losslessly (FFV1 RGB in Matroska), into
    ``dest`` (written atomically); returns their times in the input's time base."""
    import av

    from ..core.files import commit_file

    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    times: list[int] = []
    try:
        with av.open(tmp, "w", format="matroska") as out:
            vs = out.add_stream("ffv1", rate=info.rate)
            vs.width, vs.height, vs.pix_fmt = info.width, info.height, "bgr0"
            tb = Fraction(1) / Fraction(info.rate)
            for index, rgb, pts in _frames_from(info, seg.first):
                if seg.end is not None and index >= seg.end:
                    break
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = len(times), tb
                for packet in vs.encode(frame):
                    out.mux(packet)
                times.append(int(pts))
            for packet in vs.encode(None):
                out.mux(packet)
        commit_file(tmp, dest, overwrite=True)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return times


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from ..core.files import write_atomically

    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data)), overwrite=True)


def stylize_segment(source: str, work: str, seg: Segment, recipe: VideoRecipe, settings: VideoSettings,
                    tally: Any = None) -> dict[str, Any]:
    """One segment on a worker (idempotent: what an earlier attempt finished is reused)."""
    import torch

    from ..video import probe_video, stylize_video

    if settings.device in ("auto", "cpu") and os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    folder = Path(work)
    done = folder / f"{seg.name}.json"
    if done.exists():
        return json.loads(done.read_text())
    info = probe_video(source)
    seg_in, seg_in_times = folder / f"{seg.name}.in.mkv", folder / f"{seg.name}.in.json"
    if seg_in.exists() and seg_in_times.exists():
        times = json.loads(seg_in_times.read_text())["times"]
    else:
        times = extract(info, seg, seg_in)
        _write_json(seg_in_times, {"times": times})
    skip = min(seg.start - seg.first, len(times))
    record = {"index": seg.index, "skip": skip, "times": times[skip:], "video": f"{seg.name}.mp4"}
    if len(times) > skip:
        seg_out = folder / record["video"]
        if not seg_out.exists():
            def report(p: Progress) -> None:
                if tally is not None:
                    tally.report.remote(seg.index, max(0, p.step - skip))

            stylizer = recipe.build(settings.device, settings.backend, settings.precision)
            # lossless inside the work folder: the join encodes once, at the user's quality
            stylize_video(seg_in, seg_out, stylizer, replace(settings, crf=0, cache=True), False, report)
    _write_json(done, record)
    for leftover in (seg_in, seg_in_times):
        leftover.unlink(missing_ok=True)
    return record


# ---------------------------------------------------------------------------------------------
# On the driver


def _work_folder(out: Path, info: Any, s: VideoSettings, recipe: VideoRecipe, length: int, overlap: int) -> Path:
    from ..video.cache import file_fingerprint

    relevant = {k: v for k, v in asdict(s).items() if k not in ("crf", "x264_preset", "cache")}
    text = json.dumps([_WORK_VERSION, file_fingerprint(info.path), relevant, recipe.identity(), length, overlap],
                      sort_keys=True, default=str)
    return out.parent / f".{out.name}.brushwork-ray-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _tally_class(ray: Any) -> Any:
    @ray.remote(num_cpus=0)
    class Tally:
        """Frames finished per segment, reported by the workers as they go."""

        def __init__(self) -> None:
            self.done: dict[int, int] = {}

        def report(self, index: int, frames: int) -> None:
            self.done[index] = max(self.done.get(index, 0), frames)

        def total(self) -> int:
            return sum(self.done.values())

    return Tally


def _join(info: Any, work: Path, records: list[dict[str, Any]], out: Path, s: VideoSettings, overwrite: bool,
          progress: ProgressCallback, total: int) -> int:
    """The segments' kept frames, in order, into ``out`` with the input's audio; returns the frame count."""
    import av

    from ..core.files import commit_file
    from ..video.io import VIDEO_FORMATS, Writer

    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    writer: Writer | None = None
    n, last = 0, -1
    try:
        writer = Writer(info, tmp, VIDEO_FORMATS[out.suffix.lower()], s)
        for rec in records:
            if not rec["times"]:
                continue
            with av.open(str(work / rec["video"])) as c:
                frames = c.decode(video=0)
                for k, frame in enumerate(frames):
                    if k < rec["skip"]:
                        continue
                    if k - rec["skip"] >= len(rec["times"]):
                        break
                    pts = max(int(rec["times"][k - rec["skip"]]), last + 1)
                    last = pts
                    writer.write(frame.to_ndarray(format="rgb24"), pts)
                    n += 1
                    progress(Progress(job="video", stage="joining segments", step=n, steps=total, done=n, total=total))
        writer.finish()
        writer = None
        commit_file(tmp, out, overwrite)
    except (av.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise OutputError(f"could not write the video '{out}' ({reason}): check free space and permissions; the "
                          "finished segments are kept, so running the same command again only joins them.") from None
    finally:
        if writer is not None:
            writer.abandon()
        if tmp.exists():
            tmp.unlink()
    return n


def _cause(exc: BaseException) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def run_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    recipe: VideoRecipe,
    settings: VideoSettings | None = None,
    overwrite: bool = False,
    options: ClusterOptions | None = None,
    progress: ProgressCallback = silent,
    segment_seconds: float = 10.0,
    warmup_frames: int = WARMUP_FRAMES,
) -> ClusterVideoResult:
    """Stylize ``source`` into ``output`` on a Ray cluster, segment by segment (see the module's docstring)."""
    from ..video import check_video_output, probe_video
    from ..video.io import REMUX_AUDIO

    s = settings or VideoSettings()
    options = options or ClusterOptions()
    if segment_seconds <= 0 or warmup_frames < 0:
        raise SettingsError("--segment-seconds must be more than 0 (and the warm-up 0 frames or more).")
    out = check_video_output(output, overwrite)
    info = probe_video(source)
    start = time.perf_counter()
    rate = float(info.rate)
    length, overlap = max(1, round(segment_seconds * rate)), warmup_frames
    segments = plan_segments(info.frames, length, overlap)
    work = _work_folder(out, info, s, recipe, length, overlap)
    work.mkdir(exist_ok=True)
    result = ClusterVideoResult(out, segments=len(segments))
    records: dict[int, dict[str, Any]] = {}
    for seg in segments:
        done = work / f"{seg.name}.json"
        if done.exists():
            records[seg.index] = json.loads(done.read_text())
    result.reused = len(records)
    total = max(info.frames, 1)
    with connected(options) as ray:
        shape = worker_shape(ray, options, most=len(segments) - len(records) or 1)
        result.workers = shape.describe()
        tally = _tally_class(ray).remote()
        for index, rec in records.items():
            tally.report.remote(index, len(rec["times"]))
        task = ray.remote(stylize_segment).options(
            num_cpus=shape.cpus, num_gpus=shape.gpus, max_retries=5, retry_exceptions=False,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": str(shape.threads)}})
        waiting = [seg for seg in segments if seg.index not in records]
        running: dict[Any, Segment] = {}
        stage = f"segments on {result.workers}"
        began = time.perf_counter()
        try:
            try:
                while waiting or running:
                    while waiting and len(running) < shape.count:
                        seg = waiting.pop(0)
                        running[task.remote(str(info.path), str(work), seg, recipe, s, tally)] = seg
                    ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                    for ref in ready:
                        seg = running.pop(ref)
                        records[seg.index] = ray.get(ref)
                        tally.report.remote(seg.index, len(records[seg.index]["times"]))
                    done = ray.get(tally.total.remote())
                    fps = done / max(time.perf_counter() - began, 1e-9)
                    progress(Progress(job="video", stage=stage, step=done, steps=total, done=done, total=total,
                                      parts={"fps": fps}))
            except BaseException:
                # when the driver stays connected (an API caller's own cluster), stop its segments: a rerun
                # would otherwise race them for the same files
                for ref in running:
                    ray.cancel(ref, force=True)
                ray.wait(list(running), num_returns=len(running), timeout=30)
                raise
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted; the finished segments are kept in {work}: run the same command again "
                              "to continue.") from None
        except Exception as exc:  # noqa: BLE001 - Ray wraps the task's own error
            cause = _cause(exc)
            if isinstance(cause, BrushworkError):
                raise cause from None
            if type(exc).__name__ in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError"):
                raise ResourceError(f"a worker kept dying on the video ({type(exc).__name__}): give the workers more "
                                    "memory or use a smaller --size; finished segments are kept for a rerun.") from None
            raise
    ordered = [records[seg.index] for seg in segments]
    result.joins = []
    position = 0
    for rec in ordered:
        if position and rec["times"]:
            result.joins.append(position)
        position += len(rec["times"])
    if position == 0:
        shutil.rmtree(work, ignore_errors=True)
        raise InputError(f"video '{info.path}' has no frames that could be decoded: re-export it.")
    result.frames = _join(info, work, ordered, out, s, overwrite, progress, position)
    shutil.rmtree(work, ignore_errors=True)
    if info.audio:
        result.audio = f"copied ({info.audio})" if info.audio in REMUX_AUDIO else f"re-encoded from {info.audio} to aac"
    result.seconds = time.perf_counter() - start
    return result
