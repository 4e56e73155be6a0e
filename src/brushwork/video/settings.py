"""Every setting of a video stylization (the CLI options of ``brushwork video``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..core.settings import ESSENTIAL, Settings, device_setting, precision_setting, setting

#: DIS optical-flow presets, fastest first (:mod:`.flow` maps them to OpenCV's; named here so the
#: options can be built without loading OpenCV).
FLOW_PRESETS = ("ultrafast", "fast", "medium")

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class VideoSettings(Settings):
    """Every setting of a video stylization (the CLI options of ``brushwork video``)."""

    size: int | None = setting(None, "Longest side the frames are stylized at (default: the video's own size); "
                                     "the output keeps the video's size, upsampled with each frame's own fine detail.",
                               minimum=32, maximum=16384, panel=ESSENTIAL)
    temporal_weight: float = setting(4.0, "How much the previous stylized frame counts against the new one where the "
                                          "motion is reliable (0: every frame on its own; higher: steadier but slower "
                                          "to follow).", minimum=0, panel=ESSENTIAL)
    frame_iterations: int = setting(100, "--style only: iterations for each frame after the first, which starts from "
                                         "the previous result (the first frame gets the whole --quality schedule).",
                                    minimum=1)
    flow_side: int = setting(320, "Longest side optical flow is computed at (smaller is faster; motion is scaled up).",
                             minimum=32)
    flow_preset: str = setting("medium", "DIS optical-flow preset: ultrafast, fast or medium (more accurate flow, "
                                         "steadier result).", choices=FLOW_PRESETS)
    scene_cut: float = setting(0.3, "Brightness-histogram change (0–1) above which a frame starts a new shot and "
                                    "nothing is carried over (1: only when the motion cannot be followed at all).",
                               minimum=0, maximum=1)
    crf: int = setting(18, "H.264 quality: 0 lossless … 51 worst; 18 is visually lossless.", minimum=0, maximum=51)
    x264_preset: str = setting("veryfast", "H.264 encoder speed: ultrafast … veryslow (slower: smaller file, same "
                                           "quality).", choices=X264_PRESETS)
    cache: bool = setting(True, "Keep finished frames (in a hidden folder next to the output) so an interrupted run can "
                                "continue.")
    device: str = device_setting()
    precision: str = precision_setting(" With --model, the torch backend only.")
    backend: str = setting("auto", "--model only: torch, onnx (onnxruntime) or auto (onnx on the CPU when onnxruntime "
                                   "is installed, as it is faster there; torch on a GPU).",
                           choices=("auto", "torch", "onnx"))


def video_settings_fields() -> list[str]:
    return [f.name for f in fields(VideoSettings)]
