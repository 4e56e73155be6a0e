"""Tiled optimisation: the grid covers the image, windows join without seams, the tiled style
targets equal the whole-image ones, automatic mode tiles only when memory says so, and a tiled
stylization reaches losses like a whole-image one."""

from __future__ import annotations

import pytest
import torch

from brushwork.core.errors import SettingsError
from brushwork.core.image import fit_size, resize, to_tensor
from brushwork.core.losses import style_grams
from brushwork.gatys import stylizer, tiling
from brushwork.gatys.stylizer import Stylizer, StylizeSettings


@pytest.mark.parametrize("offset", [0, 24, 40])
def test_cores_partition_the_image_and_windows_hold_their_cores(offset):
    w, h, tile, margin = 150, 97, 48, 16
    cover = torch.zeros(h, w)
    for win in tiling.grid(w, h, tile, margin, offset):
        (ct, cl, cb, cr), (wt, wl, wb, wr) = win.core, win.window
        cover[ct:cb, cl:cr] += 1
        assert 0 <= wt <= ct < cb <= wb <= h and 0 <= wl <= cl < cr <= wr <= w
        assert cb - ct >= tile / 4 and cr - cl >= tile / 4  # no sliver tiles
        assert wt == max(0, ct - margin) and wr == min(w, cr + margin)
    assert torch.equal(cover, torch.ones(h, w))


def test_ramp_is_one_on_the_core_and_zero_on_the_outer_margin():
    win = tiling.grid(200, 200, 64, 32, 0)[4]  # an inner tile: margins on every side
    assert win.core == (64, 64, 128, 128) and win.window == (32, 32, 160, 160)
    r = tiling.ramp(win)[0, 0]
    assert torch.all(r[32:96, 32:96] == 1)
    assert torch.all(r[:16] == 0) and torch.all(r[-16:] == 0) and torch.all(r[:, :16] == 0)
    assert torch.all(r[16:32, 64].diff() > 0)  # rises across the inner half of the margin
    corner = tiling.grid(200, 200, 64, 32, 0)[0]  # at the image border the weight stays 1
    assert torch.all(tiling.ramp(corner)[0, 0, :64, :64] == 1)


def test_passes_split_the_iterations():
    for n in (0, 1, 2, 4, 8, 17, 100, 500):
        plan = tiling.passes_for(n)
        assert sum(plan) == n and 1 <= len(plan) <= 8
    assert len(tiling.passes_for(4)) == 2  # the grid moves at least once


class _LocalSawtooth(torch.nn.Module):
    """A loss whose optimum depends on the position *inside the window* (0.2 at its left edge,
    0.8 at its right): the worst case of VGG's edge effects.  Tiles optimised independently and
    pasted side by side show a jump of ~0.6 at every border."""

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        target = torch.linspace(0.2, 0.8, img.shape[-1]).expand_as(img)
        loss = (img - target).pow(2).mean() * 100
        return loss, {"style": float(loss.detach())}


def _max_column_jump(x: torch.Tensor) -> float:
    return float((x[..., :, 1:] - x[..., :, :-1]).abs().amax())


def _tile(margin: int, single_pass: bool, monkeypatch) -> torch.Tensor:
    x = torch.full((1, 3, 40, 192), 0.5)
    if single_pass:
        monkeypatch.setattr(tiling, "passes_for", lambda n: [n])
    tiling.optimize_tiled(x, x.clone(), lambda crop: _LocalSawtooth(), 6, 64, margin)
    monkeypatch.undo()
    return x


def test_overlapping_windows_join_without_a_seam_where_naive_tiles_do_not(monkeypatch):
    naive = _tile(0, True, monkeypatch)
    smooth = _tile(32, False, monkeypatch)
    assert _max_column_jump(naive) > 0.4  # the test can fail: hard seams at x = 64, 128
    assert _max_column_jump(smooth) < 0.1  # transitions spread across the ramp
    assert 0.18 < float(smooth.min()) and float(smooth.max()) < 0.82


def test_tiled_grams_match_the_whole_image(vgg, style_img):
    img = to_tensor(resize(style_img, (160, 112)))
    layers = ("relu1_1", "relu3_1", "relu5_1")
    whole = style_grams(vgg, [img], layers)
    tiled = tiling.tiled_grams(vgg, img, layers, 64)
    for layer, tolerance in zip(layers, (0.02, 0.05, 0.15)):  # relu5 of a 64 px tile: 4×4 positions
        err = float((tiled[layer][0] - whole[layer]).norm() / whole[layer].norm())
        assert err < tolerance, (layer, err)
    blended = tiling.style_targets(vgg, [img, img.flip(-1)], layers, (1.0, 3.0), 48)
    assert blended["relu1_1"].shape == whole["relu1_1"].shape


def test_explicit_tile_plans_only_the_large_scales(content_img):
    s = StylizeSettings(size=256, quality="draft", tile=96)
    sizes = [fit_size(content_img.size, side) for side in s.sides()]
    assert tiling.plan(s, sizes, torch.device("cpu")) == [None, 96, 96]
    with pytest.raises(SettingsError, match="video"):
        tiling.plan(s, sizes, torch.device("cpu"), has_extra=True)
    with pytest.raises(SettingsError):
        StylizeSettings(tile=32)


def _dispatched(monkeypatch, content_img, style_img, vgg, free: int) -> list[int]:
    """Tile sizes the run handed to the tiler, with ``free`` bytes 'available' and a toy estimate
    (one byte per pixel); iterations 0, so nothing is optimised."""
    calls: list[int] = []
    monkeypatch.setattr(tiling, "estimate_memory", lambda w, h, optimizer="lbfgs": w * h)
    monkeypatch.setattr(tiling, "available_memory", lambda device: free)
    monkeypatch.setattr(stylizer, "check_fits", lambda *a: None)
    monkeypatch.setattr(tiling, "optimize_tiled",
                        lambda x, c, make, its, tile, margin, *rest, **kw: calls.append(tile) or tiling.TiledRun())
    Stylizer(StylizeSettings(size=192, quality="single", iterations=0), vgg).run(content_img, [style_img])
    return calls


def test_auto_mode_tiles_only_when_the_whole_image_does_not_fit(monkeypatch, content_img, style_img, vgg):
    assert _dispatched(monkeypatch, content_img, style_img, vgg, free=10**9) == []
    assert _dispatched(monkeypatch, content_img, style_img, vgg, free=192 * 128 - 1) == [tiling.AUTO_TILE_MIN]
    # a tile of 1024 (window 1280²) fits in half of 4 MB of "free memory"
    assert tiling.auto_tile(torch.device("cpu"), lambda w, h: w * h, free=4 * 2**20) == 1024
    assert tiling.auto_tile(torch.device("cpu"), lambda w, h: w * h, free=2 * 2**20) < 1024


def test_tiled_stylization_reaches_whole_image_losses(content_img, style_img, vgg):
    shallow = dict(size=128, quality="single", iterations=6, style_layers=("relu1_1", "relu2_1", "relu3_1"),
                   content_layers=("relu3_1",))
    whole_run = Stylizer(StylizeSettings(**shallow), vgg)
    whole = whole_run.run(content_img, [style_img])
    events = []
    tiled = Stylizer(StylizeSettings(**shallow, tile=64), vgg).run(content_img, [style_img], events.append)
    # the step counter counts whole-image iterations, not tile visits: it ends at its total
    assert [e.step for e in events] == sorted(e.step for e in events)
    assert events[-1].step == events[-1].steps == tiled.iterations == 6
    assert tiled.image.size == whole.image.size == fit_size(content_img.size, 128)
    assert tiled.scale_evaluations and tiled.stopped is None
    content = to_tensor(resize(content_img, whole.image.size))
    objective = whole_run.objective(content, [to_tensor(resize(style_img, fit_size(style_img.size, 128)))], 1.0)
    start = float(objective(content)[0])
    got = {name: float(objective(to_tensor(r.image))[0]) for name, r in (("whole", whole), ("tiled", tiled))}
    assert got["tiled"] < 0.5 * start  # the tiles really stylized the picture
    assert got["tiled"] < 2.0 * got["whole"], got


def test_a_diverging_tiled_scale_ends_like_a_whole_one(tmp_path, content_img, style_img):
    """A NaN/inf loss inside a tile is exit 7 with the last good image, as without --tile (it was
    an internal error, exit 1, no image, while tiles had their own optimiser loop)."""
    from typer.testing import CliRunner

    from brushwork.cli import app

    content, style = tmp_path / "c.png", tmp_path / "s.png"
    content_img.resize((128, 96)).save(content)
    style_img.save(style)
    results = {}
    for label, extra in (("tiled", ["--tile", "64"]), ("whole", [])):
        out = tmp_path / f"{label}.png"
        r = CliRunner().invoke(app, ["-q", "stylize", str(content), str(style), "-o", str(out), "--size", "128",
                                     "--quality", "single", "--iterations", "2", "--style-weight", "1e300", *extra])
        results[label] = (r.exit_code, out.exists(), "the loss became" in r.output, "internal error" in r.output)
    assert results["tiled"] == results["whole"] == (7, True, True, False)
