"""The Gatys job: find the pixels whose VGG features match a content image's and whose Gram
matrices match one or more style images'.

The work is a coarse-to-fine schedule (:mod:`brushwork.core.schedule`): each scale starts from
the upsampled result of the previous one, so most iterations happen at low resolution where a
VGG pass is cheap, and each scale carries its own content-weight factor.  Every scale is
optimised by the one loop of :mod:`brushwork.core.optim` (whole, or tile by tile for print
sizes, see :mod:`.tiling`).  A single-scale run (``quality="single"``) reproduces the classic
method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ..core import color
from ..core.device import check_fits, compute_dtype, memory_guard, resolve_device
from ..core.errors import SettingsError
from ..core.image import fit_size, load_image, resize, to_pil, to_tensor
from ..core.losses import (
    ContentLoss,
    MaskedStyleLoss,
    MeanCovStyleLoss,
    Objective,
    StyleLoss,
    TVLoss,
    style_grams,
    style_moments,
)
from ..core.optim import Outcome, Step, Stop, optimise
from ..core.progress import Progress, ProgressCallback, silent
from ..core.schedule import Scale
from ..core.vgg import VGG, InPrecision, load_vgg, propagate_mask
from . import regions, tiling
from .presets import settings_from
from .settings import LAYER_WEIGHTS, NORMALIZED_SCALE, StylizeSettings


@dataclass
class StylizeResult:
    """What a run produced: the image, and why it stopped early if it did."""

    image: Image.Image
    stopped: Outcome | None = None
    """None when the run finished; otherwise why it ended early (interrupted, NaN loss)."""
    iterations: int = 0
    evaluations: int = 0
    scale_evaluations: list[int] = field(default_factory=list)
    """VGG forward+backward passes per scale (the cost driver: each costs ∝ the scale's pixels)."""
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)


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
             matched: Image.Image | None = None) -> torch.Tensor:
    if s.init == "content":
        return content.clone()
    if s.init == "matched" and matched is not None:
        # The photo in the painting's colours (each region in its own painting's, see
        # regions.recolor): the palette, which a short run from the photo does not reach (the
        # houses of tubingen + Starry Night kept their pink and white), is there from the start;
        # the content target stays the photo.
        return to_tensor(resize(matched, (content.shape[-1], content.shape[-2]))).to(content)
    if s.init == "noise":
        noise = torch.rand(content.shape, generator=generator).to(content)
        return noise
    img = load_image(s.init, "init image")
    return to_tensor(resize(img, (content.shape[-1], content.shape[-2]))).to(content)


def save_path(output: Path, iteration: int) -> Path:
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
        dtype = compute_dtype(s.precision, self.device)
        # the image being optimised goes through VGG in ``dtype``; the targets (computed once) in float32
        self.extract: torch.nn.Module = self.vgg if dtype is None else InPrecision(self.vgg, dtype)

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
        return Objective(self.extract, content_terms, style_terms, TVLoss(s.tv_weight) if s.tv_weight else None, extra=extra)

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
        ``masks`` (one per style image; see :mod:`brushwork.gatys.regions`) paint each style in its own
        region of the picture."""
        s = self.settings
        regions.check_counts(len(style_images), None if masks is None else len(masks), s.style_blend)
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
                    matched = regions.recolor(content_image, style_images, region_masks) if s.init == "matched" else None
                    x = _initial(s, content, generator, matched)
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
            unit = work[k] / max(sc.iterations, 1)
            before, done_before = iteration, done_work

            def on_step(st: Step, before: int = before, done_before: float = done_before, unit: float = unit,
                        stage: str = stage) -> None:
                step = before + st.iteration
                best = st.best()
                progress(Progress(
                    job="stylize", stage=stage, step=step, steps=total_iters, done=done_before + unit * st.iteration,
                    total=total_work, loss=st.loss, parts=st.parts,
                    preview=lambda b=best: self._finish(b, content_image, (out_w, out_h)),
                ))
                if on_save and s.save_every and step % s.save_every == 0:
                    on_save(self._finish(best, content_image, (out_w, out_h)), step)

            run = optimise(objective, x, sc.iterations, s.method, on_step=on_step, what=f"optimising at {stage}",
                           counted_before=iteration)
            iteration += run.iterations
            result.losses += run.losses
            result.stopped = run.stopped
            done_work = sum(work[: k + 1])
            x = run.image
            result.evaluations += run.evaluations
            result.scale_evaluations.append(run.evaluations)
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
        """One scale optimised tile by tile (see :mod:`.tiling`); ``x`` is refined in place.

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

        run = tiling.optimize_tiled(x, content, make_objective, sc.iterations, tile, margin, report, s.method,
                                    what=f"optimising at {stage} in tiles of {tile} px")
        result.evaluations += run.evaluations
        result.scale_evaluations.append(run.evaluations)
        if run.stopped is not None:  # renumbered in whole-image iterations, as the progress shows them
            extra = 1 if run.stopped.stop is Stop.DIVERGED else 0
            result.stopped = replace(run.stopped, iteration=iteration + reached[0] + extra)
        return iteration + reached[0]

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
    masks = settings.pop("masks", None)
    s = settings_from(**settings)
    if isinstance(styles, (str, Path, Image.Image)):
        styles = [styles]
    c_img = content if isinstance(content, Image.Image) else load_image(content, "content image")
    s_imgs = [im if isinstance(im, Image.Image) else load_image(im, "style image") for im in styles]
    if masks is not None:
        if isinstance(masks, (str, Path, Image.Image)):
            masks = [masks]
        masks = [m if isinstance(m, Image.Image) else regions.load_region_mask(m) for m in masks]  # type: ignore[union-attr]
    result = Stylizer(s).run(c_img.convert("RGB"), [im.convert("RGB") for im in s_imgs], progress, masks=masks)
    if result.stopped:
        import warnings

        warnings.warn(f"stylization stopped early: {result.stopped}; returning the last good image", stacklevel=2)
    return result.image
