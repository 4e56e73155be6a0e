"""Reading and writing videos with PyAV: frames in, H.264 out, the audio carried over."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..core.errors import InputError
from ..core.files import check_readable
from .settings import VideoSettings

#: Output containers we write (H.264 video, AAC/MP3 audio); the key is the file extension.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
#: Audio codecs copied into the output unchanged; anything else is re-encoded to AAC.
REMUX_AUDIO = {"aac", "mp3"}
#: Demuxers that read single pictures or text, which are not videos to brushwork.
NOT_VIDEO_FORMATS = {"image2", "tty", "lavfi"}



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
    rotation: int = 0
    """Quarter turns (counter-clockwise) the frames are rotated by to be shown upright, from the
    stream's display matrix (a phone's portrait clip is stored on its side); ``width`` and
    ``height`` are those of the upright picture."""


def open_video(path: Path) -> av.container.InputContainer:
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
    with open_video(p) as c:
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
        rotation = _quarter_turns(first)
        width, height = (first.height, first.width) if rotation % 2 else (first.width, first.height)
        start = (c.start_time or 0) / av.time_base if (c.start_time or 0) > 0 else 0.0
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
    return VideoInfo(p, width, height, Fraction(rate), Fraction(tb), frames, start, audio, rotation)


def _quarter_turns(frame: av.VideoFrame) -> int:
    """The frame's display rotation (PyAV: degrees counter-clockwise) in quarter turns, 0–3."""
    degrees = getattr(frame, "rotation", 0) or 0
    return round(float(degrees) / 90) % 4


def read_frames(info: VideoInfo) -> Iterator[tuple[np.ndarray, int]]:
    """Decoded frames as H×W×3 uint8 RGB with their presentation time in the stream's time base."""
    offset = round(info.start / info.time_base)
    step = max(1, round(1 / (info.rate * info.time_base)))
    last = -1
    with open_video(info.path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        index = 0
        try:
            for frame in c.decode(vs):
                pts = (frame.pts - offset) if frame.pts is not None else last + step
                pts = max(pts, last + 1)  # the encoder needs strictly increasing times
                last = pts
                rgb = frame.to_ndarray(format="rgb24")
                if info.rotation:  # shown upright, as players show it
                    rgb = np.ascontiguousarray(np.rot90(rgb, info.rotation))
                if rgb.shape[:2] != (info.height, info.width):  # a mid-stream size change
                    rgb = cv2.resize(rgb, (info.width, info.height), interpolation=cv2.INTER_AREA)
                yield rgb, pts
                index += 1
        except av.FFmpegError as exc:
            raise InputError(f"video '{info.path}' is damaged at frame {index + 1} ({exc}): re-export or re-download it.") \
                from None




class Writer:
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
        self.audio = AudioCarrier(info, self.out) if info.audio else None

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


class AudioCarrier:
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


