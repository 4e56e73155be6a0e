"""Gatys optimisation on tiny images: the loss falls and every option does what it says."""

import math

import numpy as np
import pytest
import torch

from brushwork.core import color
from brushwork.core.errors import SettingsError
from brushwork.core.image import to_tensor
from brushwork.core.optim import Stop
from brushwork.gatys import SCHEDULES, Stylizer, StylizeSettings
from brushwork.gatys.presets import settings_from

FAST = dict(size=64, quality="single", iterations=8)


def _run(content, styles, progress=None, on_save=None, **kw):
    s = settings_from(**{**FAST, **kw})
    events = []
    result = Stylizer(s).run(content, styles, progress or events.append, on_save)
    return result, events


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_falls(content_img, style_img, optimizer):
    result, events = _run(content_img, [style_img], optimizer=optimizer, iterations=10, learning_rate=0.05)
    assert result.stopped is None
    assert len(result.losses) == 10
    assert result.losses[-1] < 0.9 * result.losses[0]
    assert all(b <= a * 1.0001 for a, b in zip(result.losses, result.losses[1:])) or optimizer == "adam"
    assert events[-1].done == pytest.approx(events[-1].total)
    assert result.image.size == (64, 43)


def test_multiscale_schedule_runs_every_scale(content_img, style_img):
    s = settings_from(size=256, quality="draft", iterations=2)
    assert s.sides() == [64, 128, 256]
    assert settings_from(size=96, quality="draft").sides() == [64, 64, 96]  # never below 64 px
    stages = []
    result = Stylizer(s).run(content_img, [style_img], lambda p: stages.append(p.stage))
    assert result.image.size == (256, 171)
    assert all(any(f"{side} px" in st for st in stages) for side in (64, 128, 256))


def test_schedules_are_coarse_to_fine():
    for name, scales in SCHEDULES.items():
        fractions = [sc.fraction for sc in scales]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0, name


def test_same_seed_same_result(content_img, style_img):
    a, _ = _run(content_img, [style_img], init="noise", seed=3, iterations=3)
    b, _ = _run(content_img, [style_img], init="noise", seed=3, iterations=3)
    c, _ = _run(content_img, [style_img], init="noise", seed=4, iterations=3)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


@pytest.mark.parametrize("mode", ["preserve", "preserve-matched"])
def test_preserve_modes_keep_content_chroma(content_img, style_img, mode):
    result, _ = _run(content_img, [style_img], color_mode=mode, iterations=6)
    out = color.rgb_to_yiq(to_tensor(result.image))
    ref = color.rgb_to_yiq(to_tensor(content_img.resize(result.image.size)))
    plain, _ = _run(content_img, [style_img], iterations=6)
    plain_iq = color.rgb_to_yiq(to_tensor(plain.image))[:, 1:]
    kept = (out[:, 1:] - ref[:, 1:]).abs().mean().item()
    assert kept < 0.02  # only 8-bit rounding and clamping
    assert kept < 0.3 * (plain_iq - ref[:, 1:]).abs().mean().item()
    assert (out[:, 0] - ref[:, 0]).abs().mean().item() > 0.01  # while the luminance changed


def test_preserve_matched_takes_the_photos_tones(content_img, style_img):
    """preserve-matched gives the style the photo's luminance mean and spread; preserve keeps its own."""
    from brushwork.gatys.stylizer import _prepare_styles

    dark = style_img.point(lambda v: v // 3)
    content = color.luminance(to_tensor(content_img))
    plain = _prepare_styles([dark], content, 64, settings_from(color_mode="preserve"), torch.device("cpu"))[0]
    matched = _prepare_styles([dark], content, 64, settings_from(color_mode="preserve-matched"), torch.device("cpu"))[0]
    assert torch.allclose(plain[:, 0], plain[:, 1]) and torch.allclose(matched[:, 0], matched[:, 2])  # grey
    assert abs(matched.mean().item() - content.mean().item()) < 0.02
    assert plain.mean().item() < content.mean().item() - 0.1


def test_style_color_mode_recolours_without_painting(content_img, style_img):
    result, events = _run(content_img, [style_img], color_mode="style")
    assert result.iterations == 0 and result.losses == [] and events[-1].done == events[-1].total
    out, sty = np.asarray(result.image, float), np.asarray(style_img, float)
    photo = np.asarray(content_img.resize(result.image.size), float)
    for ch in range(3):  # every channel takes the painting's level, not the photo's
        assert abs(out[..., ch].mean() - sty[..., ch].mean()) < 0.3 * abs(photo[..., ch].mean() - sty[..., ch].mean()) + 3
    # and the picture is still the photo: its structure survives (correlation of luminance)
    corr = np.corrcoef(out.mean(2).ravel(), photo.mean(2).ravel())[0, 1]
    assert corr > 0.8


def test_deprecated_color_flags_map_to_color_mode():
    with pytest.warns(DeprecationWarning, match="color_mode='preserve-matched'"):
        assert settings_from(preserve_colors=True).color_mode == "preserve-matched"
    with pytest.warns(DeprecationWarning):
        assert settings_from(match_style_colors=True).color_mode == "match-style"
    with pytest.warns(DeprecationWarning), pytest.raises(SettingsError, match="give only --color-mode"):
        settings_from(preserve_colors=True, color_mode="style")
    assert settings_from(preset="guohua").color_mode == "match-style"


def test_style_blend_weights_select_styles(content_img, style_img):
    flat = style_img.point(lambda v: 128)  # a flat grey "style"
    only_first, _ = _run(content_img, [style_img], iterations=4)
    blend_first, _ = _run(content_img, [style_img, flat], style_blend=(1.0, 0.0), iterations=4)
    blend_half, _ = _run(content_img, [style_img, flat], style_blend=(1.0, 1.0), iterations=4)
    a, b, c = (np.asarray(r.image, float) for r in (only_first, blend_first, blend_half))
    assert np.abs(a - b).mean() < 0.5
    assert np.abs(a - c).mean() > 2


def test_blend_count_must_match(content_img, style_img):
    with pytest.raises(SettingsError, match="one per image"):
        _run(content_img, [style_img], style_blend=(1.0, 2.0))


def test_save_every_calls_back(content_img, style_img):
    saved = []
    _run(content_img, [style_img], save_every=3, iterations=7, on_save=lambda img, it: saved.append(it))
    assert saved == [3, 6]


def test_original_size(content_img, style_img):
    result, _ = _run(content_img, [style_img], original_size=True, iterations=2)
    assert result.image.size == content_img.size


def test_style_scale_and_avg_pooling_run(content_img, style_img):
    result, _ = _run(content_img, [style_img], style_scale=0.5, pooling="avg", iterations=3)
    assert result.losses[-1] < result.losses[0]


def test_interrupt_keeps_last_good_image(content_img, style_img):
    calls = []

    def progress(p):
        calls.append(p.step)
        if p.step == 3:
            raise KeyboardInterrupt

    result, _ = _run(content_img, [style_img], progress=progress, iterations=10)
    assert result.stopped.interrupted
    assert result.image.size == (64, 43) and calls == [1, 2, 3]


def test_nan_loss_stops_and_keeps_last_good(content_img, style_img, monkeypatch):
    stylizer = Stylizer(settings_from(**FAST, optimizer="adam"))
    real = stylizer.objective

    def poisoned(*a, **k):
        obj = real(*a, **k)
        count = {"n": 0}
        forward = obj.forward

        def fwd(x):
            count["n"] += 1
            total, parts = forward(x)
            return (total * math.nan if count["n"] > 3 else total), parts

        obj.forward = fwd
        return obj

    monkeypatch.setattr(stylizer, "objective", poisoned)
    result = stylizer.run(content_img, [style_img])
    assert result.stopped.stop is Stop.DIVERGED and "nan" in str(result.stopped)
    arr = np.asarray(result.image)
    assert arr.std() > 5  # a real picture, not a blank


@pytest.mark.parametrize(
    "kw",
    [dict(size=10), dict(quality="best"), dict(content_weight=-1), dict(optimizer="sgd"),
     dict(style_scale=0), dict(pooling="min"), dict(style_layer_weights=(1.0,)), dict(tv_weight=float("nan")),
     dict(color_mode="sepia"), dict(style_loss="l2")],
)
def test_bad_settings_are_refused(kw):
    with pytest.raises(SettingsError):
        StylizeSettings(**kw)


def test_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="unknown VGG layer"):
        Stylizer(StylizeSettings(style_layers=("relu9_1",)))


def test_init_from_image(tmp_path, content_img, style_img):
    path = tmp_path / "init.png"
    style_img.save(path)
    result, _ = _run(content_img, [style_img], init=str(path), iterations=1)
    assert result.image.size == (64, 43)


def test_api_returns_pil(content_file, style_file):
    import brushwork

    img = brushwork.stylize(content_file, style_file, size=64, quality="single", iterations=2)
    assert img.size == (64, 43) and img.mode == "RGB"
    assert torch.is_tensor(to_tensor(img))


def test_w2_style_loss_runs_and_falls(content_img, style_img):
    result, events = _run(content_img, [style_img], style_loss="w2", iterations=5)
    assert result.stopped is None and result.losses[-1] < 0.8 * result.losses[0]
    assert events[-1].parts["style"] > 0


def test_too_large_is_refused_before_work(content_img, style_img, monkeypatch):
    from brushwork.core import device as dev
    from brushwork.core.errors import ResourceError
    from brushwork.gatys.tiling import estimate_memory

    assert estimate_memory(2048, 1536) < 20 * 2**30  # a 2048 px output fits a 24 GB machine
    assert estimate_memory(2048, 1536) > 4 * estimate_memory(1024, 768) * 0.9
    monkeypatch.setattr(dev, "available_memory", lambda d: 10 * 2**20)
    calls = []
    with pytest.raises(ResourceError, match="smaller --size"):
        Stylizer(settings_from(**FAST)).run(content_img, [style_img], calls.append)
    assert calls == []  # refused before the first iteration
