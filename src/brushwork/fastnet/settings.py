"""Settings of fast (feed-forward) stylization, declared once for the CLI, the web form and the API."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.settings import ESSENTIAL, Settings, device_setting, setting


@dataclass(frozen=True)
class FastSettings(Settings):
    """Settings of fast (feed-forward) stylization; the CLI options are generated from them."""

    backend: str = setting("auto", "torch, onnx (onnxruntime) or auto (onnx for .onnx models, else torch).",
                           choices=("auto", "torch", "onnx"))
    device: str = device_setting()
    batch_size: int = setting(4, "Images of the same size run together in one batch.", minimum=1)
    size: int | None = setting(None, "Resize so the longest side is this many pixels first (default: each image's own "
                                     "size).", minimum=32, maximum=16384, panel=ESSENTIAL)
    net_size: int | None = setting(
        None, "Run the network with the longest side at this many px and bring the result to full size with "
              "the photo's fine detail added back (faster, and larger strokes; default: full size).", minimum=32,
        maximum=16384, panel=ESSENTIAL)
    preserve_colors: bool = setting(False, "Keep the photo's colours: take only the luminance from the network's output.",
                                    panel=ESSENTIAL)
    threads: int = setting(0, "onnx backend: CPU threads (0: one per core; 1 is often faster when other jobs share the "
                              "CPU).", minimum=0)
    strength: float = setting(1.0, "With a painting as MODEL: how far from the photo, 0 (the photo) to 1 (the full style).",
                              minimum=0.0, maximum=1.0, panel=ESSENTIAL)
    style_model: str = setting("arbitrary", "With a painting as MODEL: the any-painting network that paints with it "
                                            "(a model file or the shipped name 'arbitrary').")
