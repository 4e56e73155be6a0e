"""Style per region: each mask's style goes to its own part of the picture, bad masks are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.core.errors import InputError, SettingsError
from brushwork.gatys import regions
from brushwork.gatys.presets import settings_from
from brushwork.gatys.stylizer import Stylizer


def _stripes() -> Image.Image:
    """Broad red and dark-red horizontal stripes (8 px period)."""
    a = np.zeros((64, 64, 3), np.uint8)
    a[...] = (230, 50, 40)
    for y in range(0, 64, 8):
        a[y:y + 4] = (120, 10, 10)
    return Image.fromarray(a)


def _dots() -> Image.Image:
    """Dark blue dots on pale blue."""
    a = np.full((64, 64, 3), (120, 150, 240), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    a[((yy % 8) - 3.5) ** 2 + ((xx % 8) - 3.5) ** 2 < 6] = (20, 30, 150)
    return Image.fromarray(a)


def _content() -> Image.Image:
    rng = np.random.default_rng(0)
    a = (rng.normal(128, 20, (64, 64, 1)) + np.zeros((1, 1, 3))).clip(0, 255).astype(np.uint8)
    return Image.fromarray(a)  # grey with a little noise: no colour of its own


def _halves() -> tuple[Image.Image, Image.Image]:
    left = np.zeros((64, 64), np.uint8)
    left[:, :32] = 255
    return Image.fromarray(left), Image.fromarray(255 - left)


def _redness(img: Image.Image, cols: slice) -> float:
    a = np.asarray(img, float)[:, cols]
    return float((a[..., 0] - a[..., 2]).mean())


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
def test_each_region_takes_its_own_style(style_loss):
    # styles in the order (red stripes, blue dots) and masks (left, right): a run that ignored the
    # masks would blend both styles everywhere and give both halves the same colour
    # shallow layers only (colour and fine texture) and no content term keep the test fast
    s = settings_from(size=64, quality="single", iterations=20, style_loss=style_loss, style_weight=3000.0,
                      style_layers=("relu1_1", "relu2_1", "relu3_1"), content_layers=(), content_weight=0.0)
    left, right = _halves()
    result = Stylizer(s).run(_content(), [_stripes(), _dots()], masks=[left, right])
    assert result.stopped is None
    inner_left, inner_right = slice(4, 26), slice(38, 60)  # away from the border, where the styles meet
    assert _redness(result.image, inner_left) > 10  # red stripes on the left (grey photo: 0)
    assert _redness(result.image, inner_right) < -10  # blue dots on the right


def test_uncovered_region_stays_photo(content_img, style_img):
    w, h = content_img.size
    top = np.zeros((h, w), np.uint8)
    top[: h // 3] = 255
    s = settings_from(size=64, quality="single", iterations=6)
    out = Stylizer(s).run(content_img, [style_img], masks=[Image.fromarray(top)]).image
    plain = Stylizer(s).run(content_img, [style_img]).image
    photo = np.asarray(content_img.resize(out.size), float)
    bottom = slice(out.size[1] * 2 // 3, None)
    changed = np.abs(np.asarray(out, float) - photo)[bottom].mean()
    changed_plain = np.abs(np.asarray(plain, float) - photo)[bottom].mean()
    assert changed < 0.5 * changed_plain


def test_style_color_mode_recolours_each_region():
    left, right = _halves()
    s = settings_from(size=64, color_mode="style")
    result = Stylizer(s).run(_content(), [_stripes(), _dots()], masks=[left, right])
    assert result.iterations == 0
    assert _redness(result.image, slice(0, 30)) > 50 and _redness(result.image, slice(34, 64)) < -50


def test_masks_of_another_size_are_resized():
    left = Image.new("L", (32, 32), 255)
    masks = regions.prepare_masks([left], 1, (64, 64))
    assert masks[0].shape == (1, 1, 64, 64) and float(masks[0].min()) == 1.0


@pytest.mark.parametrize(
    "masks, error, match",
    [
        ([Image.new("L", (64, 32), 255)], InputError, "content's shape"),
        ([Image.new("L", (64, 64), 0)], InputError, "all black"),
        ([Image.new("L", (64, 64), 255)] * 2, SettingsError, "one --mask per style"),
        ([torch.full((64, 64), 2.0)], InputError, r"\[0, 1\]"),
    ],
)
def test_bad_masks_are_refused(masks, error, match):
    with pytest.raises(error, match=match):
        regions.prepare_masks(masks, 1, (64, 64))


def test_masks_and_blend_are_exclusive():
    with pytest.raises(SettingsError, match="one or the other"):
        regions.prepare_masks([Image.new("L", (8, 8), 255)], 1, (8, 8), blend=(1.0,))


def test_cli_masks(tmp_path):
    content, a, b = tmp_path / "c.png", tmp_path / "a.png", tmp_path / "b.png"
    _content().save(content)
    _stripes().save(a)
    _dots().save(b)
    left, right = _halves()
    left.save(tmp_path / "left.png")
    right.save(tmp_path / "right.png")
    Image.new("L", (64, 20), 255).save(tmp_path / "wide.png")
    out = tmp_path / "out.png"
    runner = CliRunner()
    base = ["-q", "stylize", str(content), str(a), str(b), "-o", str(out), "--size", "64", "--color-mode", "style"]
    ok = runner.invoke(app, [*base, "--mask", str(tmp_path / "left.png"), "--mask", str(tmp_path / "right.png")])
    assert ok.exit_code == 0, ok.output
    assert _redness(Image.open(out), slice(0, 30)) > 50
    out.unlink()
    bad = runner.invoke(app, [*base, "--mask", str(tmp_path / "left.png"), "--mask", str(tmp_path / "wide.png")])
    assert bad.exit_code == 2 and "content's shape" in bad.output and not out.exists()
    short = runner.invoke(app, [*base, "--mask", str(tmp_path / "left.png")])
    assert short.exit_code == 4 and "one --mask per style" in short.output
