"""Stylizing images too large for one optimisation: the fine scales are optimised tile by tile.

Memory, not time, is what stops a print-size stylization: VGG's forward and backward pass keeps
about 3 kB per pixel, so a 4096×3072 image would need ~50 GB at once.  The coarse scales of the
schedule are small and stay whole-image (they settle the composition); a scale too large for
memory is then refined one *window* at a time, and peak memory follows the window, not the image.

How seams are avoided:

* every tile is optimised together with a **margin** of context around it, so VGG's receptive
  field near the tile edge sees real picture, not zero padding;
* the pixels the loss sees are ``base + ramp · (x − base)``, where ``ramp`` is 1 on the tile,
  falls linearly to 0 across the inner half of the margin and is 0 on the outer half (context
  only, where VGG's zero padding at the window edge would distort the result); exactly that image
  is written back, so a window always joins its surroundings continuously;
* the scale's iterations are split into passes and each pass shifts the tile grid (by
  ``tile / passes``), so no tile border stays in one place;
* every window is compared with the style's Gram matrices computed **once** from the whole style
  image at the matching scale (a tile has the pixel statistics of the whole image at that
  resolution, so the whole image's weights apply unchanged), and with the content features of its
  own content crop.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..core.device import available_memory
from ..core.errors import SettingsError
from ..core.losses import style_grams
from ..core.optim import Method, Outcome, Step, optimise
from .settings import StylizeSettings

#: Largest tile the automatic mode picks: beyond this the extra speed is small and memory grows.
AUTO_TILE_MAX = 1024
#: Smallest tile the automatic mode tries before giving up (the pre-flight check then refuses).
AUTO_TILE_MIN = 128
#: VGG-19's deepest style layer (relu5_1) sees the image at 1/16 resolution: windows of style
#: images are cut on this grid so their feature maps tile exactly.
_STRIDE = 16


#: Peak bytes per output pixel of one VGG-19 forward+backward to relu5_1, measured on the CPU
#: (2.28 GB over the baseline at 1024×768), plus the image-sized vectors L-BFGS keeps.
_BYTES_PER_PIXEL_VGG = 2900
_LBFGS_HISTORY = 50


def estimate_memory(width: int, height: int, optimizer: str = "lbfgs") -> int:
    """Estimated peak memory in bytes of optimising a ``width``×``height`` image."""
    vectors = 2 * _LBFGS_HISTORY + 6 if optimizer == "lbfgs" else 8  # curvature pairs, grads, copies
    return width * height * (_BYTES_PER_PIXEL_VGG + vectors * 3 * 4) + 300 * 2**20


@dataclass(frozen=True)
class Window:
    """One tile of a pass: ``core`` is the part it owns, ``window`` the core plus its margin.

    Both are (top, left, bottom, right) in pixels, bottom/right exclusive.
    """

    core: tuple[int, int, int, int]
    window: tuple[int, int, int, int]


def default_margin(tile: int) -> int:
    """Context around a tile: 1/8 of it, at least 32 px (the near receptive field of relu4)."""
    return max(32, tile // 8)


def _cuts(length: int, tile: int, offset: int) -> list[int]:
    """Boundaries 0 = b₀ < b₁ < … = length with a cut every ``tile`` from ``offset``; a piece
    shorter than a quarter tile is merged into its neighbour (tiny tiles cost a whole margin)."""
    inner = [c for c in range(offset % tile or tile, length, tile)]
    cuts = [0, *inner, length]
    if len(cuts) > 2 and cuts[1] - cuts[0] < tile / 4:
        cuts.pop(1)
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < tile / 4:
        cuts.pop(-2)
    return cuts


def grid(width: int, height: int, tile: int, margin: int, offset: int = 0) -> list[Window]:
    """The tiles of one pass, row by row; the grid is shifted by ``offset`` pixels in x and y."""
    ys, xs = _cuts(height, tile, offset), _cuts(width, tile, offset)
    out = []
    for top, bottom in zip(ys, ys[1:]):
        for left, right in zip(xs, xs[1:]):
            win = (max(0, top - margin), max(0, left - margin), min(height, bottom + margin), min(width, right + margin))
            out.append(Window((top, left, bottom, right), win))
    return out


def ramp(w: Window, device: torch.device | None = None) -> torch.Tensor:
    """1×1×h×w weights of a window: 1 on the core, falling linearly to 0 halfway across the margin.

    At the image border the window has no margin and the weight stays 1 to the edge.
    """
    (ct, cl, cb, cr), (wt, wl, wb, wr) = w.core, w.window

    def axis(lo: int, c_lo: int, c_hi: int, hi: int) -> torch.Tensor:
        pos = torch.arange(lo, hi, dtype=torch.float32, device=device) + 0.5
        # the outer half of a margin stays fixed (weight 0): VGG's zero padding at the window edge
        # distorts the optimisation there, and none of that is written back
        up = (pos - (lo + c_lo) / 2) / ((c_lo - lo) / 2) if c_lo > lo else torch.ones_like(pos)
        down = ((hi + c_hi) / 2 - pos) / ((hi - c_hi) / 2) if hi > c_hi else torch.ones_like(pos)
        return torch.minimum(up, down).clamp(0, 1)

    return (axis(wt, ct, cb, wb)[:, None] * axis(wl, cl, cr, wr)[None, :])[None, None]


def passes_for(iterations: int) -> list[int]:
    """Iterations per tile in each pass: about 8 per pass, 2 to 8 passes, the total unchanged.

    More than one pass lets the grid move; more iterations per visit let L-BFGS build curvature
    (it starts afresh on every tile).
    """
    if iterations <= 1:
        return [iterations]
    n = min(8, max(2, math.ceil(iterations / 8)))
    n = min(n, iterations)
    return [iterations * (p + 1) // n - iterations * p // n for p in range(n)]


def auto_tile(device: torch.device, estimate: Callable[[int, int], int], free: int | None = None) -> int | None:
    """The largest tile (a multiple of 64, ≤ AUTO_TILE_MAX) whose window fits in half the free
    memory (the rest is left for the whole-image tensors and for other programs); None if none does."""
    free = available_memory(device) if free is None else free
    if free is None:
        return AUTO_TILE_MAX
    tile = AUTO_TILE_MAX
    while tile >= AUTO_TILE_MIN:
        side = tile + 2 * default_margin(tile)
        if estimate(side, side) <= free / 2:
            return tile
        tile -= 64
    return None


def _layer_stride(layer: str) -> int:
    """Pixels per feature position of a VGG layer: conv/relu of block b → 2^(b−1), pool b → 2^b."""
    m = re.match(r"([a-z]+)(\d)", layer)
    if not m:
        raise ValueError(f"not a VGG layer name: {layer!r}")
    block = int(m.group(2))
    return 2 ** (block if m.group(1) == "pool" else block - 1)


def tiled_grams(
    vgg: Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]],
    image: torch.Tensor,
    layers: Sequence[str],
    tile: int,
) -> dict[str, torch.Tensor]:
    """Gram matrices (as :func:`~brushwork.core.losses.gram`, 1×C×C) of an image too large for one VGG
    pass: Σ f·fᵀ is accumulated over tile cores, each computed with a margin of context.

    Tiles and margins are cut on the 16-pixel grid of relu5 so every core maps to whole feature
    positions at every layer.  Equal to the whole-image Gram up to VGG's edge effects at margins.
    """
    h, w = image.shape[-2:]
    tile = max(_STRIDE, tile // _STRIDE * _STRIDE)
    margin = math.ceil(default_margin(tile) / _STRIDE) * _STRIDE
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = dict.fromkeys(layers, 0)
    with torch.no_grad():
        for win in grid(w, h, tile, margin):
            (ct, cl, cb, cr), (wt, wl, wb, wr) = win.core, win.window
            feats = vgg(image[..., wt:wb, wl:wr], layers)
            for layer in layers:
                f = feats[layer]
                s = _layer_stride(layer)
                rows = slice((ct - wt) // s, f.shape[-2] if cb == h else (cb - wt) // s)
                cols = slice((cl - wl) // s, f.shape[-1] if cr == w else (cr - wl) // s)
                core = f[..., rows, cols]
                c = core.shape[1]
                flat = core.reshape(c, -1)
                part = flat @ flat.T
                sums[layer] = part if layer not in sums else sums[layer] + part
                counts[layer] += flat.shape[1]
    return {layer: (sums[layer] / (sums[layer].shape[0] * max(1, counts[layer])))[None] for layer in layers}


def style_targets(
    vgg: Callable[[torch.Tensor, Sequence[str]], dict[str, torch.Tensor]],
    styles: Sequence[torch.Tensor],
    layers: Sequence[str],
    blend: Sequence[float] | None,
    tile: int,
) -> dict[str, torch.Tensor]:
    """Blended Gram targets like :func:`~brushwork.core.losses.style_grams`, computed tile by tile for
    style images larger than a tile window (so they do not set the peak memory either)."""
    window = tile + 2 * default_margin(tile)
    if all(s.shape[-2] * s.shape[-1] <= window * window for s in styles):
        return style_grams(vgg, styles, layers, blend)
    blend = blend or [1.0] * len(styles)
    total = float(sum(blend))
    out: dict[str, torch.Tensor] = {}
    for img, wgt in zip(styles, blend):
        g = tiled_grams(vgg, img, layers, tile)
        for layer in layers:
            part = g[layer][0] * (wgt / total)
            out[layer] = part if layer not in out else out[layer] + part
    return out


@dataclass
class TiledRun:
    """What :func:`optimize_tiled` did: VGG passes, iterations, losses (one per tile iteration)."""

    evaluations: int = 0
    iterations: int = 0
    losses: list[float] = field(default_factory=list)
    stopped: Outcome | None = None


def optimize_tiled(
    x: torch.Tensor,
    content: torch.Tensor,
    make_objective: Callable[[torch.Tensor], nn.Module],
    iterations: int,
    tile: int,
    margin: int,
    report: Callable[[float, float, dict[str, float]], None] | None = None,
    method: Method = Method(),
    what: str = "optimising in tiles",
) -> TiledRun:
    """Refine ``x`` (1×3×H×W in [0, 1], changed in place) window by window.

    ``make_objective(content_crop)`` returns the loss of a window (an
    :class:`~brushwork.core.losses.Objective` with the global style targets and the crop's content
    targets).  ``report(fraction_of_scale_done, loss, parts)`` is called after every tile
    iteration.  Each window starts from the current image, so later tiles see the updated
    neighbours (Gauss–Seidel order).  Each window is one run of the shared loop
    (:func:`~brushwork.core.optim.optimise`), so Ctrl-C and a diverging loss end a tiled scale
    exactly as they end a whole one: the windows finished so far are kept.
    """
    h, w = x.shape[-2:]
    plan = passes_for(iterations)
    passes = [(grid(w, h, tile, margin, offset=(p * tile) // len(plan)), its) for p, its in enumerate(plan)]
    total = sum(len(tiles) * its for tiles, its in passes) or 1
    window_method = replace(method, name="lbfgs", stall_tolerance=0.0, restart=True)
    run = TiledRun()
    planned = 0  # iterations of the windows done so far, as planned (a window may end early)
    for tiles, its in passes:
        for win in tiles:
            if its == 0:
                continue
            wt, wl, wb, wr = win.window
            base = x[..., wt:wb, wl:wr].detach().clone()
            weight = ramp(win, x.device)
            objective = make_objective(content[..., wt:wb, wl:wr])

            def blended(img: torch.Tensor, base: torch.Tensor = base, weight: torch.Tensor = weight,
                        objective: nn.Module = objective) -> tuple[torch.Tensor, dict[str, float]]:
                return objective(base + weight * (img - base))

            done = planned

            def on_step(st: Step, done: int = done) -> None:
                if report:
                    report((done + st.iteration) / total, st.loss, st.parts)

            window = optimise(blended, base, its, window_method, on_step=on_step, what=what, where=f" in tile {win.core}")
            x[..., wt:wb, wl:wr] = base + weight * (window.image - base)
            planned += its
            run.iterations += window.iterations
            run.evaluations += window.evaluations
            run.losses += window.losses
            del objective
            if window.stopped is not None:
                run.stopped = window.stopped
                return run
    return run


def plan(settings: StylizeSettings, sizes: Sequence[tuple[int, int]], device: torch.device,
         has_extra: bool = False) -> list[int | None]:
    """The tile size of each scale of a run, None for a scale optimised whole.

    ``settings.tile`` > 0 tiles every scale whose longer side exceeds it; 0 tiles only the scales
    whose whole-image estimate exceeds the free memory (with the largest tile that fits).  Jobs
    with extra loss terms on the whole image (video's temporal loss) are never tiled.
    """
    if settings.tile:
        if has_extra and any(max(size) > settings.tile for size in sizes):
            raise SettingsError("--tile cannot be used for video frames: leave it at 0 or use a smaller --size.")
        return [settings.tile if max(size) > settings.tile else None for size in sizes]
    if has_extra:
        return [None] * len(sizes)
    free = available_memory(device)
    if free is None:
        return [None] * len(sizes)
    estimate = functools.partial(estimate_memory, optimizer=settings.optimizer)
    out: list[int | None] = []
    for w, h in sizes:
        if estimate(w, h) <= free:
            out.append(None)
        else:
            tile = auto_tile(device, estimate, free) or AUTO_TILE_MIN
            out.append(tile if max(w, h) > tile else None)
    return out


def peak_memory(settings: StylizeSettings, sizes: Sequence[tuple[int, int]], tiles: Sequence[int | None]) -> int:
    """Estimated peak bytes of a run: the largest whole scale, or the largest tile window plus the
    whole-image tensors a tiled scale keeps (image, content, start image: a few copies of 3 floats)."""
    peak = 0
    for (w, h), tile in zip(sizes, tiles):
        if tile is None:
            peak = max(peak, estimate_memory(w, h, settings.optimizer))
            continue
        margin = default_margin(tile) if settings.tile_overlap is None else settings.tile_overlap
        side = min(max(w, h), tile + 2 * margin)
        peak = max(peak, estimate_memory(side, side, settings.optimizer) + 8 * w * h * 3 * 4)
    return peak
