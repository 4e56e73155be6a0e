"""The frame loop: decode, stylize frame by frame without flicker, encode with the audio.

Stylizing each frame on its own flickers: small changes between frames send the style's
textures elsewhere.  Each frame is therefore tied to the previous stylized frame, warped along
the optical flow of the input (:mod:`.flow`), through a :class:`~.stylizers.FrameStylizer`.

Long jobs survive interruption: every finished frame is kept in the resume cache
(:mod:`.cache`), keyed by the input and the settings, and a rerun of the same command continues
after the last one.  The video is written to a temporary file and renamed only when complete;
the frame cache is removed after success.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from PIL import Image

from ..core.device import memory_guard
from ..core.errors import InputError, Interrupted, OutputError
from ..core.files import check_output, commit_file, temporary_file
from ..core.image import fit_size, from_rgb8, to_rgb8, upsample_with_detail
from ..core.progress import Progress, ProgressCallback, silent
from .cache import FrameCache, file_fingerprint
from .flow import Motion, estimate_motion, warp
from .io import REMUX_AUDIO, VIDEO_FORMATS, VideoInfo, Writer, probe_video, read_frames
from .settings import VideoSettings
from .stylizers import FrameStylizer, TemporalTarget
from .threads import InOrder, prefetch

_CACHE_VERSION = "3"  # 2: network frames keep their detail (#22); 3: raw frame files instead of PNG



def check_video_output(path: str | os.PathLike[str], overwrite: bool = False,
                       inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """Validate the output path before work starts (extension, folder, existing file, not an input)."""
    return check_output(path, overwrite, formats=VIDEO_FORMATS, inputs=inputs)


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


def _cache_key(info: VideoInfo, s: VideoSettings, stylizer: FrameStylizer) -> str:
    # encoder settings do not change the frames, so changing them keeps the cache
    relevant = {k: v for k, v in asdict(s).items() if k not in ("crf", "x264_preset", "cache")}
    text = json.dumps([_CACHE_VERSION, file_fingerprint(info.path), relevant, stylizer.identity], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _to_full(styled: np.ndarray, work: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """A frame stylized at the working size, brought to the video's size with the frame's own
    fine detail added back (see :func:`brushwork.core.image.upsample_with_detail`)."""
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

    Raises :class:`~brushwork.core.errors.Interrupted` on Ctrl-C after keeping the finished frames;
    calling again with the same arguments continues from there.
    """
    s = settings or VideoSettings()
    out = check_video_output(output, overwrite, inputs=[input])
    info = probe_video(input)
    work_size = (info.width, info.height) if s.size is None else fit_size((info.width, info.height), s.size)
    cache = FrameCache(out, _cache_key(info, s, stylizer), s.cache)
    done_before = cache.finished()
    result = VideoResult(out, resumed_from=done_before, audio="none")
    tmp = Path(temporary_file(out))
    writer: Writer | None = None
    encoder: InOrder | None = None
    frames: Generator[tuple[tuple[np.ndarray, int, np.ndarray], np.ndarray | None], None, None] | None = None
    flow_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="brushwork-flow")
    start = time.perf_counter()
    new_start: float | None = None
    index = 0
    total = info.frames
    try:
        writer = Writer(info, tmp, VIDEO_FORMATS[out.suffix.lower()], s)
        result.codec, result.notes = writer.codec, list(writer.notes)
        encoder = InOrder(writer.write)  # x264 compresses frame t while frame t+1 is stylized
        prev_in: np.ndarray | None = None
        prev_out: np.ndarray | None = None
        # The motion into frame t+1 depends only on the input, so it is estimated in a second
        # thread while frame t is stylized (OpenCV and the network release the GIL).
        # ... and the next frames are decoded (and resized to the working size) in a third.
        frames = prefetch(_look_ahead(read_frames(info), work_size, (info.width, info.height)))
        motion: concurrent.futures.Future[Motion] | None = None
        for (rgb, pts, work), following in frames:
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
            encoder.submit(frame_out, pts)
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
        encoder.drain()
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
        if frames is not None:
            frames.close()  # stops the decoding thread
        if encoder is not None:
            encoder.close()
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
            # bicubic: a bilinear warp is a low-pass filter, and each frame inherits the last one's
            warped = warp(prev_out.astype(np.float32) * np.float32(1 / 255), motion.backward, cv2.INTER_CUBIC)
            np.clip(warped, 0, 1, out=warped)
            if getattr(stylizer, "uses_init", True):
                mask = motion.mask[..., None]
                start = mask * warped + (1 - mask) * (work.astype(np.float32) / 255.0)
                init = torch.from_numpy(start).permute(2, 0, 1).unsqueeze(0).contiguous()
            weight = torch.from_numpy(motion.mask * np.float32(s.temporal_weight))[None, None]
            # a 1×3×H×W view of the H×W×3 array (no copy; network mode reads it back as H×W×3)
            temporal = TemporalTarget(torch.from_numpy(warped).permute(2, 0, 1).unsqueeze(0), weight)
    with memory_guard(f"stylizing frame {index + 1}"):
        return to_rgb8(stylizer.stylize(from_rgb8(work), init, temporal))
