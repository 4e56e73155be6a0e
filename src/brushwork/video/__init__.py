"""The video job: every frame painted without flicker, the audio kept.

``settings`` (every option, declared once), ``stylizers`` (the per-frame interface and its
optimisation and network implementations), ``flow`` (optical flow, occlusions, scene cuts),
``io`` (PyAV decode/encode with audio), ``cache`` (resume after an interruption) and ``loop``
(the frame loop).  Names are imported on first use (see :mod:`brushwork.core.lazy`).
"""

from typing import TYPE_CHECKING

from ..core.lazy import exports

if TYPE_CHECKING:
    from .cache import FrameCache, file_fingerprint
    from .io import VideoInfo, probe_video
    from .loop import VideoResult, check_video_output, stylize_video
    from .settings import VideoSettings, video_settings_fields
    from .stylizers import FrameStylizer, NetworkFrameStylizer, OptimizationFrameStylizer, TemporalTarget, load_model

__getattr__ = exports(__name__, {
    "FrameCache": ".cache", "file_fingerprint": ".cache", "VideoInfo": ".io", "probe_video": ".io",
    "VideoResult": ".loop", "check_video_output": ".loop", "stylize_video": ".loop",
    "VideoSettings": ".settings", "video_settings_fields": ".settings",
    "FrameStylizer": ".stylizers", "NetworkFrameStylizer": ".stylizers", "OptimizationFrameStylizer": ".stylizers",
    "TemporalTarget": ".stylizers", "load_model": ".stylizers",
})
__all__ = ["FrameCache", "FrameStylizer", "NetworkFrameStylizer", "OptimizationFrameStylizer", "TemporalTarget",
           "VideoInfo", "VideoResult", "VideoSettings", "check_video_output", "file_fingerprint", "load_model",
           "probe_video", "stylize_video", "video_settings_fields"]
