"""Patch matching, consistency, NNF upsampling, and mask propagation through the VGG."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from brushwork.core.vgg import load_vgg, propagate_mask
from brushwork.harmonization import matching


def _brute_force(query: torch.Tensor, target: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """The best target patch for every query position, by explicit loops over all pairs."""
    pad = patch // 2
    q = F.pad(matching.normalise(query), (pad,) * 4)[0]
    t = F.pad(matching.normalise(target), (pad,) * 4)[0]
    _, h, w = query.shape[1:]
    _, ht, wt = target.shape[1:]
    out = torch.empty(h, w, 2, dtype=torch.long)
    for y in range(h):
        for x in range(w):
            a = q[:, y:y + patch, x:x + patch]
            best, where = -float("inf"), (0, 0)
            for yy in range(ht):
                for xx in range(wt):
                    score = float((a * t[:, yy:yy + patch, xx:xx + patch]).sum())
                    if score > best:
                        best, where = score, (yy, xx)
            out[y, x, 0], out[y, x, 1] = where
    return out


def test_patch_match_equals_brute_force_in_any_chunking():
    g = torch.Generator().manual_seed(1)
    query, target = torch.randn(1, 5, 6, 7, generator=g), torch.randn(1, 5, 8, 5, generator=g)
    expected = _brute_force(query, target)
    for chunk in (4 * 40, 4 * 40 * 7, 2**20):  # one query per chunk, a few, all at once
        assert torch.equal(matching.patch_match(query, target, chunk_bytes=chunk), expected)


def test_patch_match_finds_a_copied_patch_and_respects_the_mask():
    g = torch.Generator().manual_seed(2)
    target = torch.randn(1, 8, 10, 10, generator=g)
    query = target[..., 2:7, 3:9].clone()  # the query is a window of the target
    mask = torch.zeros(5, 6)
    mask[1:4, 1:5] = 1
    nnf = matching.patch_match(query, target, mask)
    for y in range(1, 4):
        for x in range(1, 5):
            assert nnf[y, x].tolist() == [y + 2, x + 3]
    assert (nnf[mask == 0] == -1).all()


def test_remap_gathers_matched_features():
    target = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    nnf = torch.tensor([[[2, 3], [-1, -1]]])
    out = matching.remap(target, nnf)
    assert out.shape == (1, 2, 1, 2)
    assert out[0, :, 0, 0].tolist() == [11.0, 23.0] and out[0, :, 0, 1].tolist() == [0.0, 0.0]


def test_consistency_replaces_an_outlier_by_what_its_neighbours_agree_on():
    g = torch.Generator().manual_seed(3)
    target = torch.randn(1, 16, 12, 12, generator=g)
    query = target[..., 3:10, 2:9].clone()
    nnf = matching.patch_match(query, target)
    assert nnf[3, 3].tolist() == [6, 5]
    broken = nnf.clone()
    broken[3, 3] = torch.tensor([0, 11])  # a match far from where its neighbours point
    mask = torch.ones(7, 7)
    fixed = matching.refine_consistent(query, target, broken, mask)
    assert fixed[3, 3].tolist() == [6, 5]
    assert torch.equal(fixed, nnf)  # the consistent matches are left alone


def test_used_positions_counts_each_painting_position_once():
    nnf = torch.tensor([[[0, 0], [0, 0], [1, 2]], [[1, 2], [-1, -1], [2, 1]]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    used = matching.used_positions(nnf, mask, (3, 3))
    assert used.sum() == 2 and used[0, 0] and used[1, 2] and not used[2, 1]
    ringed = matching.used_positions(nnf, mask, (4, 5), ring=1)
    # the union of each match's 3×3 neighbourhood, cut at the border
    expected = torch.zeros(4, 5, dtype=torch.bool)
    expected[0:2, 0:2] = True
    expected[0:3, 1:4] = True
    assert torch.equal(ringed, expected)


def test_upsample_nnf_keeps_offsets_inside_blocks():
    nnf = torch.tensor([[[1, 2], [-1, -1]]])
    up = matching.upsample_nnf(nnf, (2, 4), (4, 6))
    assert up[0, 0].tolist() == [2, 4] and up[1, 1].tolist() == [3, 5] and up[0, 1].tolist() == [2, 5]
    assert (up[:, 2:] == -1).all()


def test_propagate_mask_follows_the_vgg_geometry():
    vgg = load_vgg(ceil_mode=True)
    for h, w in ((37, 50), (64, 64)):
        mask = torch.zeros(h, w)
        mask[10:30, 12:40] = 1
        layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        masks = propagate_mask(mask, layers)
        feats = vgg(torch.rand(1, 3, h, w), layers)
        for layer in layers:
            assert masks[layer].shape[-2:] == feats[layer].shape[-2:], layer
            assert 0 <= masks[layer].min() and masks[layer].max() <= 1
    # one conv (3×3 mean) before relu1_1: a single pixel spreads to its 8 neighbours with 1/9 each
    dot = torch.zeros(5, 5)
    dot[2, 2] = 1
    m = propagate_mask(dot, ["relu1_1"])["relu1_1"][0, 0]
    assert torch.allclose(m[1:4, 1:4], torch.full((3, 3), 1 / 9)) and abs(m.sum().item() - 1.0) < 1e-6
    # deep inside a large region the mask stays 1
    big = torch.zeros(128, 128)
    big[16:112, 16:112] = 1
    assert propagate_mask(big, ["relu4_1"])["relu4_1"][0, 0, 6:10, 6:10].min() > 0.999
