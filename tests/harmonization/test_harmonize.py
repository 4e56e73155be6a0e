"""Harmonization: histogram matching, masked losses, mask handling, the API and the CLI end to end.

The end-to-end runs use 96 px crops of the shared examples when they are present (otherwise a
synthetic painting) and a handful of iterations: they check behaviour (nothing outside the loose
mask changes, the object moves toward the painting), not beauty.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter
from skimage.exposure import match_histograms
from typer.testing import CliRunner

import brushwork
from brushwork.cli import app
from brushwork.core.errors import InputError, SettingsError
from brushwork.core.losses import HistogramLoss, MaskedStyleLoss, gram, masked_gram, match_histogram
from brushwork.core.schedule import coarse_to_fine
from brushwork.harmonization import (
    SCHEDULES,
    Harmonizer,
    HarmonizeSettings,
    estimate_style_level,
    harmonize_fields,
)
from brushwork.harmonization.masks import derive_loose_mask, load_object_mask

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "harmonization"
runner = CliRunner()
SCHEDULES["test"] = (coarse_to_fine((1.0, 3)), coarse_to_fine((1.0, 3)))  # a tiny schedule for the end-to-end tests


# --- losses ---------------------------------------------------------------------------------


def test_match_histogram_equals_skimage():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(3, 200, generator=g) * 2 + 1
    target = torch.rand(3, 57, generator=g) ** 3 * 5
    ours = match_histogram(values, target.sort(dim=1).values)
    for c in range(3):
        theirs = match_histograms(values[c].numpy(), target[c].numpy())
        np.testing.assert_allclose(ours[c].numpy(), theirs, rtol=1e-5, atol=1e-5)
    # the remapping keeps the order of the input
    in_order = ours.gather(1, values.argsort(1))
    assert (in_order[:, 1:] >= in_order[:, :-1]).all()


def test_histogram_loss_zero_when_distributions_agree_and_masked():
    f = torch.rand(1, 4, 6, 6)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3, :] = 1
    inside = f[0].reshape(4, -1)[:, :18]
    assert HistogramLoss("relu1_1", inside, mask)({"relu1_1": f}).item() < 1e-10
    # changing features outside the mask changes nothing
    g = f.clone()
    g[..., 3:, :] += 5
    assert HistogramLoss("relu1_1", inside, mask)({"relu1_1": g}).item() < 1e-10
    assert HistogramLoss("relu1_1", inside * 2 + 1, mask)({"relu1_1": f}).item() > 0.1


def test_masked_gram_is_gram_of_the_region():
    f = torch.rand(1, 3, 4, 5)
    ones = torch.ones(1, 1, 4, 5)
    assert torch.allclose(masked_gram(f, ones), gram(f))
    mask = torch.zeros(1, 1, 4, 5)
    mask[..., 1:3, 2:4] = 1
    assert torch.allclose(masked_gram(f, mask), gram(f[..., 1:3, 2:4]), atol=1e-6)
    loss = MaskedStyleLoss("relu1_1", gram(f[..., 1:3, 2:4])[0], mask, weight=3.0)
    assert loss({"relu1_1": f}).item() < 1e-10


# --- masks ----------------------------------------------------------------------------------


def _mask_image(size=(40, 30), box=(10, 8, 25, 20), value=255) -> Image.Image:
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).rectangle(box, fill=value)
    return img


def test_palette_pull_recolours_only_for_a_monochrome_painting():
    import cv2

    from brushwork.harmonization.post import palette_pull

    ramp = np.linspace(0.1, 0.95, 64, dtype=np.float32)[None, :, None]
    sepia = np.broadcast_to(ramp * np.array([1.0, 0.85, 0.62], np.float32), (48, 64, 3))  # one hue per lightness
    painting = torch.from_numpy(np.ascontiguousarray(sepia)).permute(2, 0, 1)[None]
    obj = torch.zeros(1, 3, 16, 16)
    obj[:, 0], obj[:, 1], obj[:, 2] = 0.8, 0.3, 0.5  # a pink the drawing never uses
    out, strength = palette_pull(obj, painting)
    assert strength == 1.0

    def ab(t: torch.Tensor) -> np.ndarray:
        return cv2.cvtColor(np.ascontiguousarray(t[0].permute(1, 2, 0).numpy()), cv2.COLOR_RGB2LAB)[..., 1:].mean((0, 1))

    lab_p = cv2.cvtColor(np.ascontiguousarray(sepia), cv2.COLOR_RGB2LAB)
    lab_o = cv2.cvtColor(np.ascontiguousarray(out[0].permute(1, 2, 0).numpy()), cv2.COLOR_RGB2LAB)
    nearest = np.abs(lab_p[0, :, 0] - lab_o[0, 0, 0]).argmin()  # the painting's colour at the object's lightness
    assert np.abs(lab_o[..., 1:].mean((0, 1)) - lab_p[0, nearest, 1:]).max() < 2.0
    assert np.abs(ab(obj) - lab_p[0, nearest, 1:]).max() > 10.0  # it was far off before
    rng = np.random.default_rng(0)
    colourful = torch.from_numpy(rng.random((1, 3, 48, 64), dtype=np.float32))
    same, none = palette_pull(obj, colourful)
    assert none == 0.0 and torch.equal(same, obj)


def test_mask_checks_give_clear_errors():
    with pytest.raises(InputError, match="empty"):
        load_object_mask(Image.new("L", (40, 30), 0), (40, 30))
    with pytest.raises(InputError, match="covers"):
        load_object_mask(Image.new("L", (40, 30), 255), (40, 30))
    with pytest.raises(InputError, match="40×30"):
        load_object_mask(_mask_image((40, 40)), (40, 30))  # another aspect ratio
    with pytest.raises(InputError, match="brighter than 50"):
        load_object_mask(_mask_image(value=90), (40, 30))
    noise = Image.fromarray(np.random.default_rng(0).integers(40, 215, (30, 40), dtype=np.uint8))
    with pytest.raises(InputError, match="photo"):
        load_object_mask(noise, (40, 30))


def test_mask_soft_edges_and_other_sizes_are_handled():
    soft = _mask_image().filter(ImageFilter.GaussianBlur(2))
    m = load_object_mask(soft, (40, 30))
    assert m.dtype == bool and 100 < m.sum() < 250  # thresholded at 50 %
    big = load_object_mask(_mask_image((80, 60), (20, 16, 50, 40)), (40, 30))  # same aspect ratio: resized
    assert big.shape == (30, 40) and big[15, 17] and not big[2, 2]


def test_derived_loose_mask_contains_the_tight_one():
    tight = load_object_mask(_mask_image(), (40, 30))
    loose = derive_loose_mask(tight, 3)
    assert (loose | tight).sum() == loose.sum() and loose.sum() > tight.sum()
    assert loose[8, 7] and not loose[8, 5]  # three pixels out, not four


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="the shared harmonization examples are not in ../shared/data")
def test_derived_loose_mask_resembles_the_published_ones():
    for i in (1, 3):
        size = Image.open(EXAMPLES / f"{i}_c_mask.jpg").size
        tight = load_object_mask(EXAMPLES / f"{i}_c_mask.jpg", size)
        given = load_object_mask(EXAMPLES / f"{i}_c_mask_dilated.jpg", size)
        ours = derive_loose_mask(tight, HarmonizeSettings().dilation)
        iou = (ours & given).sum() / (ours | given).sum()
        assert iou > 0.9, (i, iou)


def test_settings_are_checked():
    with pytest.raises(SettingsError, match="passes"):
        HarmonizeSettings(passes=3)
    with pytest.raises(SettingsError, match="style-level"):
        HarmonizeSettings(style_level=-1.0)
    with pytest.raises(SettingsError, match="refine-start"):
        HarmonizeSettings(refine_start="random")
    with pytest.raises(SettingsError, match="min-style-positions"):
        HarmonizeSettings(min_style_positions=0)
    with pytest.raises(SettingsError, match="unknown setting"):
        brushwork.harmonize("a", "b", "c", bogus=1)


def test_style_level_is_low_for_smooth_and_high_for_textured_paintings():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:300]
    smooth = Image.fromarray(np.stack([xx / 300 * 255, yy / 200 * 255, 128 + 0 * xx], -1).astype(np.uint8))
    strokes = Image.fromarray((rng.random((200, 300, 3)) * 255).astype(np.uint8))
    assert estimate_style_level(smooth) == 1.0
    assert estimate_style_level(strokes) > 8.0


# --- end to end -----------------------------------------------------------------------------


def _crop_example(i: int = 3, side: int = 96) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image]:
    """Painting, composite, tight and loose mask of an example, cropped around the object, at ``side`` px."""
    imgs = [Image.open(EXAMPLES / f"{i}_{k}") for k in ("target.jpg", "naive.jpg", "c_mask.jpg", "c_mask_dilated.jpg")]
    m = np.asarray(imgs[3].convert("L")) > 127
    ys, xs = np.nonzero(m)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    r = int(max(ys.max() - ys.min(), xs.max() - xs.min()) * 0.8)
    box = (cx - r, cy - r, cx + r, cy + r)
    return tuple(im.convert("RGB").crop(box).resize((side, side), Image.Resampling.LANCZOS) for im in imgs)


def _synthetic(side: int = 96) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image]:
    rng = np.random.default_rng(1)
    stripes = np.zeros((side, side, 3), np.float32)
    stripes[..., 2] = 0.5 + 0.4 * np.sin(np.arange(side) / 2.0)[None, :]
    stripes[..., 1] = 0.3 + 0.1 * rng.random((side, side))
    painting = Image.fromarray((stripes * 255).astype(np.uint8))
    composite = painting.copy()
    ImageDraw.Draw(composite).ellipse((30, 30, 66, 66), fill=(230, 40, 20))
    tight = _mask_image((side, side), (30, 30, 66, 66)).convert("RGB")
    loose = _mask_image((side, side), (24, 24, 72, 72)).convert("RGB")
    return painting, composite, tight, loose


@pytest.fixture(scope="module")
def example():
    return _crop_example() if EXAMPLES.is_dir() else _synthetic()


@pytest.fixture(scope="module")
def harmonizer():
    return Harmonizer(HarmonizeSettings(quality="test", size=96, device="cpu"))


def test_harmonize_changes_only_the_object_and_moves_it_toward_the_painting(harmonizer, example):
    painting, composite, tight, loose = example
    seen = []
    result = harmonizer.run(painting, composite, tight, loose, seen.append)
    assert result.stopped is None and result.image.size == painting.size
    out, p, c = (np.asarray(im, dtype=np.float32) for im in (result.image, painting, composite))
    lo = np.asarray(loose.convert("L")) > 127
    ti = np.asarray(tight.convert("L")) > 127
    assert np.array_equal(out[~lo], p[~lo])  # nothing outside the loose mask changes
    assert np.abs(out[ti] - c[ti]).mean() > 1.0  # the object was repainted
    assert np.isfinite(out).all() and out[ti].std() > 1.0  # neither blown out nor flat
    # two passes, a few iterations each, progress reported for both
    assert {p.stage.split()[1] for p in seen} == {"1/2", "2/2"} and seen[-1].done == pytest.approx(seen[-1].total)


def test_pass1_leaves_out_style_layers_the_mask_barely_covers(harmonizer, example):
    """A Gram target of a few positions copies the matched painting content (example 6's eye)."""
    from brushwork.core.image import to_tensor
    from brushwork.core.vgg import propagate_mask
    from brushwork.harmonization.passes import _Scale

    painting, composite, _, loose = example
    m = to_tensor(loose)[:, :1]
    ctx = _Scale(paint=to_tensor(painting), comp=to_tensor(composite), loose=m, tight=m)
    masks = propagate_mask(m, ["relu3_1", "relu4_1", "relu5_1"])
    counts = {k: float((v * (v > 0.05)).sum()) for k, v in masks.items()}
    assert counts["relu3_1"] > counts["relu5_1"] >= 1  # the crop's mask reaches every layer
    limit = (counts["relu3_1"] + counts["relu5_1"]) / 2  # between the shallowest and the deepest layer's count

    def layers(limit: float) -> list[str]:
        h = Harmonizer(replace(harmonizer.settings, min_style_positions=max(1, int(limit))), vgg=harmonizer.vgg)
        return sorted(t.layer for t in h._pass1_objective(ctx).style)

    assert layers(1) == ["relu3_1", "relu4_1", "relu5_1"]
    kept = layers(limit)
    assert "relu3_1" in kept and "relu5_1" not in kept
    assert layers(counts["relu3_1"] + 1) == []


def test_refinement_from_the_composite_keeps_more_of_the_object(harmonizer, example):
    painting, composite, tight, loose = example
    ti = np.asarray(tight.convert("L")) > 127
    c = np.asarray(composite, dtype=np.float32)[ti]

    def change(start: str) -> float:
        h = Harmonizer(replace(harmonizer.settings, refine_start=start), vgg=harmonizer.vgg)
        out = h.run(painting, composite, tight, loose).image
        return float(np.abs(np.asarray(out, dtype=np.float32)[ti] - c).mean())

    from_composite, from_pass1 = change("composite"), change("pass1")
    assert 1.0 < from_composite < from_pass1  # repainted, but less far from the object than pass 1 took it


def test_full_mask_and_wrong_size_are_refused(harmonizer, example):
    painting, composite, tight, _ = example
    with pytest.raises(InputError, match="covers"):
        harmonizer.run(painting, composite, Image.new("L", painting.size, 255))
    with pytest.raises(InputError, match="composite is"):
        harmonizer.run(painting, composite.resize((50, 40)), tight)


def test_cli_end_to_end_and_bad_inputs(tmp_path, example):
    painting, composite, tight, _ = example
    files = {}
    for name, img in (("painting", painting), ("composite", composite), ("mask", tight)):
        files[name] = tmp_path / f"{name}.png"
        img.save(files[name])
    out = tmp_path / "out.png"
    args = ["-q", "harmonize", str(files["painting"]), str(files["composite"]), str(files["mask"]), "-o", str(out),
            "--quality", "draft", "--size", "96", "--passes", "1", "--style-level", "5"]
    SCHEDULES["draft"], saved = (coarse_to_fine((1.0, 2)), coarse_to_fine((1.0, 2))), SCHEDULES["draft"]
    try:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == painting.size and "wrote" in result.output
        again = runner.invoke(app, args)  # no --overwrite: refused, file untouched
        assert again.exit_code == 3 and "already exists" in again.output
    finally:
        SCHEDULES["draft"] = saved
    empty = tmp_path / "empty.png"
    Image.new("L", painting.size, 0).save(empty)
    bad = runner.invoke(app, ["harmonize", str(files["painting"]), str(files["composite"]), str(empty),
                              "-o", str(tmp_path / "never.png")])
    assert bad.exit_code == 2 and "empty" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "never.png").exists()


def test_cli_suggests_a_lower_style_level_after_a_high_estimate(tmp_path, example, monkeypatch):
    import importlib

    harmonize_mod = importlib.import_module("brushwork.harmonization.passes")  # where the run looks it up
    painting, composite, tight, _ = example
    for name, img in (("painting", painting), ("composite", composite), ("mask", tight)):
        img.save(tmp_path / f"{name}.png")
    base = ["-q", "harmonize", *(str(tmp_path / f"{n}.png") for n in ("painting", "composite", "mask")),
            "--quality", "draft", "--size", "96", "--passes", "1"]
    monkeypatch.setitem(SCHEDULES, "draft", SCHEDULES["test"])  # the CLI offers the shipped names only
    monkeypatch.setattr(harmonize_mod, "estimate_style_level", lambda painting: 10.0)
    high = runner.invoke(app, [*base, "-o", str(tmp_path / "a.png")])
    assert high.exit_code == 0 and "--style-level 5" in high.output
    given = runner.invoke(app, [*base, "-o", str(tmp_path / "b.png"), "--style-level", "10"])
    assert given.exit_code == 0 and "--style-level 5" not in given.output  # the user chose it
    monkeypatch.setattr(harmonize_mod, "estimate_style_level", lambda painting: 5.0)
    typical = runner.invoke(app, [*base, "-o", str(tmp_path / "c.png")])
    assert typical.exit_code == 0 and "--style-level 5" not in typical.output


def test_api_is_exported_and_settings_match_the_cli():
    assert brushwork.harmonize is not None and brushwork.HarmonizeSettings is HarmonizeSettings
    result = runner.invoke(app, ["harmonize", "--help"], env={"COLUMNS": "250"})
    for name in harmonize_fields():
        flag = name.replace("_", "-")
        assert f"--{flag}" in result.output or f"--[no-]{flag}" in result.output, name
    assert replace(HarmonizeSettings(), passes=1).passes == 1
