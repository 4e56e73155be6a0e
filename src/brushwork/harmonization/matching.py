"""Nearest-neighbour matching of VGG feature patches, for painterly harmonization.

A *nearest-neighbour field* (NNF) says, for each feature position of one image (the query, e.g.
the composite), which position of another (the painting) looks most alike.  It is stored as a
long tensor ``h×w×2`` of (row, column) in the painting's feature map, with ``-1`` where no match
was asked for (outside the mask).

Three steps build the style target of harmonization:

* :func:`patch_match` — brute-force search for the best 3×3 patch, scored by normalised cross-
  correlation: features are scaled to unit length per position, so the score of a patch pair is
  the sum of the 9 cosine similarities.  The search is a convolution of the painting's features
  with the query patches as kernels, run in chunks of queries so that the score block stays
  within a memory budget (at relu3_1 of a 700 px image, all scores at once would take gigabytes).
* :func:`refine_consistent` — a match is replaced by the candidate its 5×5 neighbours agree on
  best, which removes isolated matches that jump across the painting.
* :func:`used_positions` — the set of painting positions used by the matches, each counted
  once: building the style target from this set rather than from the list of matches keeps a
  single painting patch, matched by many query positions, from dominating the statistics.

:func:`upsample_nnf` carries an NNF to a finer layer (each coarse position covers a 2×2, 4×4 …
block below).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Bytes the score block of one chunk of :func:`patch_match` may take.
DEFAULT_CHUNK_BYTES = 64 * 2**20


def normalise(features: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale every position's feature vector (1×C×H×W) to unit length; all-zero vectors stay zero."""
    return features / (features.norm(dim=1, keepdim=True) + eps)


def patch_match(
    query: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    patch: int = 3,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """Best-matching ``patch``×``patch`` target patch for each query position inside ``mask``.

    ``query`` and ``target`` are 1×C×H×W feature maps (any sizes); ``mask`` is H×W (query size),
    positions where it is > 0 are matched (all positions when None).  Both maps are normalised per
    position, patches are zero-padded at the borders, and the score of a pair is the sum of the
    per-position cosine similarities over the patch.  Returns the NNF (h×w×2, -1 unmatched).
    """
    if patch % 2 != 1:
        raise ValueError("patch size must be odd")
    _, c, h, w = query.shape
    _, _, ht, wt = target.shape
    pad = patch // 2
    q = normalise(query)
    t = normalise(target)
    sel = torch.ones(h * w, dtype=torch.bool, device=query.device) if mask is None else (mask.reshape(-1) > 0)
    idx = sel.nonzero().squeeze(1)
    nnf = torch.full((h * w, 2), -1, dtype=torch.long, device=query.device)
    if idx.numel() == 0:
        return nnf.view(h, w, 2)
    cols = F.unfold(q, patch, padding=pad)[0]  # (C·p·p) × (h·w)
    step = max(1, int(chunk_bytes // (4 * ht * wt)))
    for start in range(0, idx.numel(), step):
        part = idx[start:start + step]
        kernels = cols[:, part].t().reshape(-1, c, patch, patch)
        scores = F.conv2d(t, kernels, padding=pad)[0].reshape(part.numel(), -1)  # queries × (ht·wt)
        best = scores.argmax(dim=1)
        nnf[part, 0] = best // wt
        nnf[part, 1] = best % wt
        del scores
    return nnf.view(h, w, 2)


def remap(target: torch.Tensor, nnf: torch.Tensor) -> torch.Tensor:
    """Target features (1×C×Ht×Wt) gathered at the NNF (h×w×2) → 1×C×h×w; zero where unmatched."""
    _, c, ht, wt = target.shape
    h, w, _ = nnf.shape
    valid = (nnf[..., 0] >= 0).reshape(-1)
    flat = (nnf[..., 0].clamp_min(0) * wt + nnf[..., 1].clamp_min(0)).reshape(-1)
    out = target.reshape(c, -1).index_select(1, flat) * valid.to(target.dtype)
    return out.reshape(1, c, h, w)


def refine_consistent(
    query: torch.Tensor, target: torch.Tensor, nnf: torch.Tensor, mask: torch.Tensor, size: int = 5
) -> torch.Tensor:
    """Make the NNF spatially consistent inside ``mask`` (h×w, > 0 counts).

    For a position p, each matched neighbour q = p + o in the ``size``×``size`` window proposes
    the candidate c = nnf(q) − o (p's match if p moved along with q).  The candidate chosen is the
    one whose painting neighbourhood best reproduces the neighbours' matches:
    argmin_c Σ_o ‖T(c + o) − T(nnf(p + o))‖² over matched neighbours, with T the normalised
    target features.  ``query`` is unused by the score but fixes the grid; it is accepted so the
    signature reads like :func:`patch_match`.
    """
    h, w, _ = nnf.shape
    _, c, ht, wt = target.shape
    assert query.shape[-2:] == (h, w), "the NNF must have the query's size"
    t = normalise(target)[0].reshape(c, -1)  # C × (ht·wt)
    valid = nnf[..., 0] >= 0
    sel = ((mask.reshape(h, w) > 0) & valid).nonzero()  # N × 2 (row, col)
    if sel.numel() == 0:
        return nnf.clone()
    r = size // 2
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    py, px = sel[:, 0], sel[:, 1]

    def neighbour(dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The neighbour's match (N×2) and whether it exists."""
        qy, qx = py + dy, px + dx
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        m = nnf[qy.clamp(0, h - 1), qx.clamp(0, w - 1)]
        return m, inside & (m[:, 0] >= 0)

    def flat(yx: torch.Tensor) -> torch.Tensor:
        return yx[:, 0].clamp(0, ht - 1) * wt + yx[:, 1].clamp(0, wt - 1)

    neighbours = [neighbour(dy, dx) for dy, dx in offsets]
    # the features each neighbour's current match points at: N × C per offset
    wanted = [t[:, flat(m)].t() for m, _ in neighbours]
    best_cost = torch.full((sel.shape[0],), float("inf"), device=nnf.device)
    best = nnf[py, px].clone()
    shifts = torch.tensor(offsets, device=nnf.device)
    for k, (m_k, ok_k) in enumerate(neighbours):
        cand = m_k - shifts[k]  # candidate proposed by neighbour k
        cand = torch.stack([cand[:, 0].clamp(0, ht - 1), cand[:, 1].clamp(0, wt - 1)], 1)
        cost = torch.zeros(sel.shape[0], device=nnf.device)
        for j, (_, ok_j) in enumerate(neighbours):
            at = flat(cand + shifts[j])
            d = (t[:, at].t() - wanted[j]).pow(2).sum(1)
            cost += torch.where(ok_j, d, torch.zeros_like(d))
        cost = torch.where(ok_k, cost, torch.full_like(cost, float("inf")))
        better = cost < best_cost
        best_cost = torch.where(better, cost, best_cost)
        best[better] = cand[better]
    out = nnf.clone()
    out[py, px] = best
    return out


def used_positions(nnf: torch.Tensor, mask: torch.Tensor, target_size: tuple[int, int], ring: int = 0) -> torch.Tensor:
    """Painting positions (``target_size`` = (h, w), bool) matched from query positions where
    ``mask`` > 0; a position matched many times is counted once.

    ``ring`` > 0 also marks the painting positions within ``ring`` of each match (a
    (2·ring+1)² square).  A small object matched to a few distinctive painting patches (a dark
    lens to the painting's eye) would otherwise get style statistics of those few patches alone,
    which the optimisation reproduces almost as a copy; the surrounding positions add the
    painting's texture around them.
    """
    ht, wt = target_size
    sel = (mask.reshape(nnf.shape[:2]) > 0) & (nnf[..., 0] >= 0)
    m = nnf[sel]
    used = torch.zeros(ht * wt, dtype=torch.bool, device=nnf.device)
    used[m[:, 0].clamp(0, ht - 1) * wt + m[:, 1].clamp(0, wt - 1)] = True
    used = used.view(ht, wt)
    if ring > 0:
        k = 2 * ring + 1
        used = F.max_pool2d(used[None, None].float(), k, stride=1, padding=ring)[0, 0] > 0
    return used


def upsample_nnf(nnf: torch.Tensor, size: tuple[int, int], target_size: tuple[int, int]) -> torch.Tensor:
    """Carry an NNF to a finer layer of ``size`` (h, w) whose painting map is ``target_size``.

    Position p below maps to the coarse position ⌊p / s⌋ (s the size ratio, a power of two) and
    keeps its offset inside the block: nnf'(p) = nnf(⌊p/s⌋)·s + (p mod s), clamped to the painting.
    """
    h0, w0, _ = nnf.shape
    h, w = size
    ht, wt = target_size
    s = max(1, round(h / h0))
    ys = torch.arange(h, device=nnf.device)
    xs = torch.arange(w, device=nnf.device)
    coarse = nnf[(ys // s).clamp_max(h0 - 1)][:, (xs // s).clamp_max(w0 - 1)]  # h × w × 2
    valid = coarse[..., 0] >= 0
    fine_y = (coarse[..., 0] * s + (ys % s).view(-1, 1)).clamp(0, ht - 1)
    fine_x = (coarse[..., 1] * s + (xs % s).view(1, -1)).clamp(0, wt - 1)
    out = torch.stack([fine_y, fine_x], -1)
    return torch.where(valid.unsqueeze(-1), out, torch.full_like(out, -1))
