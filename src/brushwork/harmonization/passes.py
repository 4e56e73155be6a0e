"""Painterly harmonization: make an object pasted into a painting look painted by the same hand.

The method is Luan, Paris, Shechtman and Bala, "Deep Painterly Harmonization" (EGSR 2018):

1. **Robust pass.**  For each style layer (relu3_1, relu4_1, relu5_1) every feature position of
   the composite inside the loose mask is matched to its most similar 3×3 patch of the painting
   (:mod:`.matching`); the style target is the Gram matrix of the matched painting
   features.  The loss is content (relu4_1) + masked Gram style + TV, optimised with L-BFGS from
   the composite.  Matching per layer, independently, is robust to a poor composite but leaves
   texture that is only statistically right.
2. **Refinement pass.**  One matching at relu4_1, on the pass-1 result, made spatially
   consistent and freed of duplicates, is carried down to relu1_1 … relu3_1.  Style (Gram) at
   relu1_1 … relu4_1, a histogram loss at relu1_1 and relu4_1 and TV, weighted by the *style
   level* τ, each term's gradient normalised (see :func:`normalise_weights`); like the reference
   implementation it starts from the composite again (pass 1 only guides the matching), which
   keeps more of the object than starting from pass 1's result (``refine_start``).
3. **Post-processing.**  The chroma (CIELAB a, b) of the result is smoothed with a guided filter
   guided by the composite, and the result is blended into the painting through a blurred tight
   mask.  Nothing outside the loose mask changes, which :func:`.post.blend` asserts.

Speed: only the mask's bounding box plus a margin is optimised (the painting is still matched
whole), each pass runs coarse-to-fine, and the reference's 2 × 1000 full-resolution iterations
are available as ``quality="reference"``.  Loss weights follow the reference implementation's
conventions and are converted to brushwork's normalised losses; see docs/harmonization.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ..core.device import memory_guard, resolve_device
from ..core.errors import InputError, SettingsError
from ..core.image import to_pil, to_tensor
from ..core.losses import (
    HistogramLoss,
    MaskedContentLoss,
    MaskedStyleLoss,
    MaskedTVLoss,
    Objective,
    masked_gram,
)
from ..core.optim import Method, Outcome, Step, Stop, optimise
from ..core.progress import Progress, ProgressCallback, silent
from ..core.vgg import VGG, load_vgg, propagate_mask
from . import matching
from .masks import derive_loose_mask, load_object_mask, scaled
from .post import blend, denoise_chroma, palette_pull
from .settings import (
    CONTENT,
    MIN_PAINTING_SIDE,
    PASS1_STYLE,
    PASS2_HIST,
    PASS2_STYLE,
    SCHEDULES,
    HarmonizeResult,
    HarmonizeSettings,
)
from .style_level import estimate_style_level, refine_tv_share


def normalise_weights(objective: Objective, x: torch.Tensor, weights: dict[torch.nn.Module, float]) -> None:
    """Set each term's weight to ``weights[term] / ‖∂term/∂(its input)‖`` at the image ``x``.

    The reference normalises every term's gradient at its own layer on every evaluation, so that
    only the weights' ratios matter.  A line search needs one fixed function, so the norms are
    taken once, at the start of each scale, and held: the gradients are balanced where the
    optimisation starts and the loss the line search sees is consistent with its gradient.
    """
    with torch.no_grad():
        feats = objective.extract(x, objective.layers)
    feats = {k: v.detach().requires_grad_(True) for k, v in feats.items()}
    image = x.detach().clone().requires_grad_(True)
    for term, wanted in weights.items():
        term.weight = 1.0
        if isinstance(term, MaskedTVLoss):
            (g,) = torch.autograd.grad(term(image), image)
        else:
            (g,) = torch.autograd.grad(term(feats), feats[term.layer])
        norm = float(g.norm())
        term.weight = wanted / norm if norm > 1e-12 and math.isfinite(norm) else wanted


@dataclass
class _Box:
    """A crop, in pixels of the full working image."""

    y0: int
    x0: int
    y1: int
    x1: int

    def at(self, f: float, h: int, w: int) -> tuple[slice, slice]:
        return (slice(round(self.y0 * f), min(h, round(self.y1 * f))), slice(round(self.x0 * f), min(w, round(self.x1 * f))))


def _box(loose: np.ndarray, margin: int, align: int = 16, minimum: int = 96) -> _Box:
    ys, xs = np.nonzero(loose)
    h, w = loose.shape

    def span(lo: int, hi: int, n: int) -> tuple[int, int]:
        lo, hi = max(0, lo - margin), min(n, hi + 1 + margin)
        if hi - lo < minimum:
            grow = minimum - (hi - lo)
            lo, hi = max(0, lo - grow // 2 - grow % 2), min(n, hi + grow // 2)
            lo, hi = max(0, min(lo, hi - minimum)), min(n, max(hi, lo + minimum))
        lo = lo // align * align
        hi = min(n, -(-hi // align) * align)
        return lo, hi

    y0, y1 = span(int(ys.min()), int(ys.max()), h)
    x0, x1 = span(int(xs.min()), int(xs.max()), w)
    return _Box(y0, x0, y1, x1)


def _resize_t(x: torch.Tensor, h: int, w: int, mode: str = "bicubic") -> torch.Tensor:
    if x.shape[-2:] == (h, w):
        return x
    if mode == "area":
        return F.interpolate(x, size=(h, w), mode="area")
    out = F.interpolate(x, size=(h, w), mode=mode, align_corners=False)
    return out.clamp(0, 1) if mode == "bicubic" else out


class Harmonizer:
    """Runs harmonizations; keeps the VGG so several composites can reuse it."""

    def __init__(self, settings: HarmonizeSettings | None = None, vgg: VGG | None = None) -> None:
        self.settings = settings or HarmonizeSettings()
        self.device = resolve_device(self.settings.device)
        self.vgg = vgg or load_vgg(self.settings.weights, "max", "caffe", self.device, ceil_mode=True)
        if not self.vgg.ceil_mode:
            raise SettingsError("harmonization needs a VGG with ceil_mode=True so that masks line up with features.")
        self.chunk_bytes = matching.DEFAULT_CHUNK_BYTES * (8 if self.device.type == "cuda" else 1)

    # -- public -----------------------------------------------------------------------------

    def run(
        self,
        painting: Image.Image,
        composite: Image.Image,
        mask: str | Path | Image.Image,
        loose_mask: str | Path | Image.Image | None = None,
        progress: ProgressCallback = silent,
    ) -> HarmonizeResult:
        s = self.settings
        start = time.perf_counter()
        torch.manual_seed(s.seed)
        painting, composite = painting.convert("RGB"), composite.convert("RGB")
        if composite.size != painting.size:
            raise InputError(
                f"the composite is {composite.width}×{composite.height} but the painting is "
                f"{painting.width}×{painting.height}: paste the object into the painting at its own size."
            )
        size = painting.size
        if min(size) < MIN_PAINTING_SIDE:
            raise InputError(f"the painting is {size[0]}×{size[1]} pixels, too small to harmonize: "
                             f"use one at least {MIN_PAINTING_SIDE} px on each side.")
        tight_in = load_object_mask(mask, size, "mask")
        if loose_mask is None:
            loose_in = derive_loose_mask(tight_in, round(scaled(s.dilation, max(size))))
        else:
            loose_in = load_object_mask(loose_mask, size, "loose mask") | tight_in
        tau = s.style_level if s.style_level is not None else estimate_style_level(painting)

        # the working resolution
        scale = min(1.0, s.size / max(size))
        wk = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        paint_w = painting.resize(wk, Image.Resampling.LANCZOS) if wk != size else painting
        comp_w = composite.resize(wk, Image.Resampling.LANCZOS) if wk != size else composite
        tight_w = np.asarray(Image.fromarray(tight_in).resize(wk, Image.Resampling.BILINEAR), dtype=np.float32)
        loose_w = np.asarray(Image.fromarray(loose_in).resize(wk, Image.Resampling.BILINEAR), dtype=np.float32)
        if (tight_w > 0.5).sum() < 16:
            raise InputError("the mask marks fewer than 16 pixels at the working size: mark the whole pasted object.")
        box = _box(loose_w > 0.5, round(scaled(s.margin, max(wk))))

        dev = self.device
        paint_t = to_tensor(paint_w).to(dev)
        comp_t = to_tensor(comp_w).to(dev)
        tight_t = torch.from_numpy(np.ascontiguousarray(tight_w))[None, None].to(dev)
        loose_t = torch.from_numpy(np.ascontiguousarray(loose_w))[None, None].to(dev)

        sched1, sched2 = SCHEDULES[s.quality]
        stages = [(1, sc) for sc in sched1] + ([(2, sc) for sc in sched2] if s.passes == 2 else [])
        bh, bw = box.y1 - box.y0, box.x1 - box.x0
        work = [sc.iterations * sc.fraction**2 for _, sc in stages]
        self._progress = {"done": 0.0, "total": float(sum(work)), "step": 0, "steps": sum(sc.iterations for _, sc in stages)}
        result = HarmonizeResult(image=painting.copy(), style_level=tau)

        x: torch.Tensor | None = None  # the crop being optimised, at full working resolution
        pass1: torch.Tensor | None = None
        w_tv = refine_tv_share(painting)
        try:
            for k, (p, sc) in enumerate(stages):
                f, n = sc.fraction, sc.iterations
                H, W = max(1, round(wk[1] * f)), max(1, round(wk[0] * f))
                sy, sx = box.at(f, H, W)
                ctx = _Scale(
                    paint=_resize_t(paint_t, H, W, "area"),
                    comp=_resize_t(comp_t, H, W, "area")[..., sy, sx],
                    loose=_resize_t(loose_t, H, W, "bilinear")[..., sy, sx].clamp(0, 1),
                    tight=_resize_t(tight_t, H, W, "bilinear")[..., sy, sx].clamp(0, 1),
                    boost=sc.content_boost if s.coarse_boost else 1.0,
                )
                ch, cw = ctx.comp.shape[-2:]
                if p == 1:
                    init = ctx.comp if x is None else _resize_t(x, ch, cw)
                    stage = f"pass 1/{s.passes} robust ({max(H, W)} px)"
                    with memory_guard(f"preparing {stage}"):
                        objective = self._pass1_objective(ctx)
                else:
                    first = stages[k - 1][0] == 1
                    if first:
                        pass1 = _resize_t(x, bh, bw)
                    assert pass1 is not None
                    matched = _resize_t(pass1, ch, cw)
                    # Weights are balanced where the object is painted (the pass-1 result, or this
                    # pass's previous scale), never at the composite itself: there the content term
                    # has no gradient to measure.
                    if first:  # start from the composite (the reference's choice) or the pass-1 result
                        init, balance = (ctx.comp if s.refine_start == "composite" else matched), matched
                    else:
                        init = balance = _resize_t(x, ch, cw)
                    stage = f"pass 2/2 refinement ({max(H, W)} px)"
                    with memory_guard(f"preparing {stage}"):
                        objective = self._pass2_objective(ctx, matched, balance, tau, w_tv)
                # keep what lies outside the loose mask exactly as in the composite
                init = ctx.comp + (init - ctx.comp) * (ctx.loose > 0).to(init.dtype)
                x, stopped = self._optimise(objective, init, ctx.loose, n, stage, result, progress, work[k] / max(n, 1))
                if stopped:
                    result.stopped = stopped
                    break
        except KeyboardInterrupt:  # while a scale was being prepared
            result.stopped = Outcome(Stop.INTERRUPTED, self._progress["step"])
        if x is None:  # stopped before the first iteration: the composite is the last good picture
            x = comp_t[..., box.y0:box.y1, box.x0:box.x1]
        crop = _resize_t(x, bh, bw) if x.shape[-2:] != (bh, bw) else x
        comp_crop = comp_t[..., box.y0:box.y1, box.x0:box.x1]
        if s.denoise:
            crop = denoise_chroma(crop, comp_crop, max(wk))
        if s.palette:
            crop, result.palette_strength = palette_pull(crop, paint_t)
        full = paint_t.clone()
        full[..., box.y0:box.y1, box.x0:box.x1] = crop
        result.image = blend(painting, to_pil(full), tight_in, loose_in, scaled(s.feather, max(size)))
        result.seconds = time.perf_counter() - start
        return result

    # -- objectives -------------------------------------------------------------------------

    def _pass1_objective(self, ctx: _Scale) -> Objective:
        """Content + per-layer matched Gram style + TV, in the reference's weighting."""
        s = self.settings
        layers = sorted({*PASS1_STYLE, CONTENT})
        with torch.no_grad():
            pf = self.vgg(ctx.paint, layers)
            cf = self.vgg(ctx.comp, layers)
        masks = propagate_mask(ctx.loose, layers)
        style = []
        for layer in PASS1_STYLE:
            m = masks[layer] * (masks[layer] > 0.05)
            if float(m.sum()) < s.min_style_positions:
                # Too few positions at this depth and scale.  A Gram matrix of n ≪ C feature vectors
                # (C = 256–512 here) nearly fixes the vectors themselves, so matching it redraws the
                # matched painting patches: on example 6 a quarter-size pass painted the portrait's
                # eye into the pasted sunglasses from relu5_1's 9 positions.
                continue
            nnf = matching.patch_match(cf[layer], pf[layer], m[0, 0], chunk_bytes=self.chunk_bytes)
            target = masked_gram(matching.remap(pf[layer], nnf), m)[0]
            style.append(MaskedStyleLoss(layer, target, m, s.style_weight))
        m4 = masks[CONTENT]
        # reference: 5 × MSE over the whole relu4_1 map of the painting-sized image; ours averages
        # over the mask, so scale by the mask's share of the full map.
        share = float(m4.sum()) / (pf[CONTENT].shape[-2] * pf[CONTENT].shape[-1])
        content = [MaskedContentLoss(CONTENT, cf[CONTENT], m4, s.content_weight * share * ctx.boost)]
        # reference: tv × ½ Σ (dx² + dy²) over 3 channels on the 0–256 image; ours is a mean over
        # the mask's pixels and channels.
        tv_w = s.tv_weight * 0.5 * 256.0**2 * 3 * float(ctx.loose.sum())
        return Objective(self.vgg, content, style, MaskedTVLoss(ctx.loose, tv_w) if tv_w > 0 else None)

    def _pass2_objective(
        self, ctx: _Scale, matched: torch.Tensor, start: torch.Tensor, tau: float, w_tv: float
    ) -> Objective:
        """Consistent matching at relu4_1 carried down; Gram + histogram + content + TV, normalised."""
        s = self.settings
        layers = sorted({*PASS2_STYLE, CONTENT})
        with torch.no_grad():
            pf = self.vgg(ctx.paint, layers)
            cf = self.vgg(ctx.comp, [CONTENT])
            xf = self.vgg(matched, [CONTENT])
        loose = propagate_mask(ctx.loose, layers)
        tight = propagate_mask(ctx.tight, layers)
        m4 = loose[CONTENT][0, 0]
        nnf4 = matching.patch_match(xf[CONTENT], pf[CONTENT], (m4 > 0.1).float(), chunk_bytes=self.chunk_bytes)
        nnf4 = matching.refine_consistent(xf[CONTENT], pf[CONTENT], nnf4, tight[CONTENT][0, 0] > 0.1)
        style, hist, weights = [], [], {}
        for layer in PASS2_STYLE:
            ph, pw = pf[layer].shape[-2:]
            lh, lw = loose[layer].shape[-2:]
            nnf = nnf4 if layer == CONTENT else matching.upsample_nnf(nnf4, (lh, lw), (ph, pw))
            ring = s.match_ring * max(1, round(ph / pf[CONTENT].shape[-2]))  # the same painting area at every layer
            used = matching.used_positions(nnf, tight[layer][0, 0] > 0.1, (ph, pw), ring)
            if int(used.sum()) < 2:
                continue
            used_f = used.float()[None, None]
            term = MaskedStyleLoss(layer, masked_gram(pf[layer], used_f)[0], loose[layer])
            style.append(term)
            weights[term] = tau
            if layer in PASS2_HIST:
                values = pf[layer][0].reshape(pf[layer].shape[1], -1)[:, used.reshape(-1)]
                h = HistogramLoss(layer, values, loose[layer])
                hist.append(h)
                weights[h] = (10.0 - w_tv) * tau
        content = MaskedContentLoss(CONTENT, cf[CONTENT], loose[CONTENT])
        weights[content] = s.refine_content_weight * ctx.boost
        tv = MaskedTVLoss(ctx.loose)
        # The reference normalises the TV gradient with respect to its 0–256 image; with respect to
        # our [0, 1] image the same gradient is 256 times longer (the feature terms are normalised
        # at their layers, where the two conventions agree).
        weights[tv] = w_tv * tau * 256.0
        objective = Objective(self.vgg, [content], style, tv, hist)
        normalise_weights(objective, start, {t: w for t, w in weights.items() if w > 0})
        for t, w in weights.items():
            if w <= 0:
                t.weight = 0.0
        return objective

    # -- optimisation -----------------------------------------------------------------------

    def _optimise(
        self, objective: Objective, init: torch.Tensor, loose: torch.Tensor, iterations: int, stage: str,
        result: HarmonizeResult, progress: ProgressCallback, unit: float,
    ) -> tuple[torch.Tensor, Outcome | None]:
        """L-BFGS on the pixels inside the loose mask, by the shared loop (the gradient is
        masked, so no pixel outside it moves)."""
        state = self._progress
        before, done_before = state["step"], state["done"]

        def on_step(st: Step) -> None:
            state["step"], state["done"] = before + st.iteration, done_before + unit * st.iteration
            progress(Progress(job="harmonize", stage=stage, step=state["step"], steps=state["steps"],
                              done=state["done"], total=state["total"], loss=st.loss, parts=st.parts))

        method = Method("lbfgs", stall_tolerance=self.settings.stall_tolerance, restart=False)
        run = optimise(objective, init, iterations, method, grad_mask=loose > 0, on_step=on_step,
                       what=f"optimising at {stage}", counted_before=before)
        result.iterations += run.iterations
        result.losses += run.losses
        state["step"], state["done"] = before + run.iterations, done_before + unit * iterations  # a stall skips the rest
        return run.image, run.stopped


@dataclass
class _Scale:
    """The tensors of one scale: the whole painting, and the crop of composite and masks."""

    paint: torch.Tensor
    comp: torch.Tensor
    loose: torch.Tensor
    tight: torch.Tensor
    #: Content weight factor of this scale (see :func:`brushwork.core.schedule.content_boost`).
    boost: float = 1.0
