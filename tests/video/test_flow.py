"""Optical flow, warping, the occlusion check and scene cuts on synthetic frames with known motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from brushwork.core.errors import SettingsError
from brushwork.video import flow


def texture(h: int, w: int, seed: int, cell: int = 4) -> np.ndarray:
    """Smooth random colour texture (uint8 RGB): DIS needs structure at several scales to lock on."""
    r = np.random.default_rng(seed).random((h // cell, w // cell, 3)).astype(np.float32)
    return (cv2.resize(r, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_warping_a_shifted_image_back_recovers_it(preset):
    prev = texture(96, 128, 0)
    cur = np.roll(prev, (2, 3), axis=(0, 1))  # content moved 3 px right, 2 px down
    motion = flow.estimate_motion(prev, cur, flow_side=128, preset=preset)
    inner = (slice(8, -8), slice(8, -8))
    assert np.allclose(motion.backward[inner].mean((0, 1)), (-3, -2), atol=0.3)
    aligned = flow.warp(prev, motion.backward)
    before = np.abs(prev.astype(float) - cur)[inner].mean()
    after = np.abs(aligned.astype(float) - cur)[inner].mean()
    assert after < 0.05 * before  # ultrafast is a little blurrier than medium, but all align
    assert not motion.cut and motion.reliable > 0.85


def test_flow_on_downscaled_frames_is_scaled_back():
    prev = texture(120, 240, 1, cell=8)
    cur = np.roll(prev, 6, axis=1)
    motion = flow.estimate_motion(prev, cur, flow_side=120)  # computed at half size
    assert motion.backward.shape == (120, 240, 2)
    assert motion.backward[10:-10, 20:-20, 0].mean() == pytest.approx(-6, abs=0.5)


@pytest.mark.parametrize("preset", ["fast", "medium"])
def test_occlusion_mask_flags_the_disoccluded_region(preset):
    bg, obj = texture(120, 160, 0), texture(40, 40, 5)
    f0, f1 = bg.copy(), bg.copy()
    f0[40:80, 50:90] = obj
    f1[40:80, 58:98] = obj  # the square moves 8 px right, uncovering columns 50–57
    motion = flow.estimate_motion(f0, f1, flow_side=160, preset=preset)
    assert motion.mask[42:78, 50:58].mean() < 0.3  # uncovered background: not in the previous frame
    assert motion.mask[:, 110:].mean() > 0.95  # still background far away: reliable
    assert motion.mask[:30].mean() > 0.95
    assert not motion.cut


def test_consistency_check_uses_the_paper_thresholds():
    h, w = 20, 20
    forward = np.zeros((h, w, 2), np.float32)
    backward = np.zeros((h, w, 2), np.float32)
    assert flow.consistency_mask(forward, backward).all()
    backward[:, :, 0] = 0.6  # disagreement 0.6² = 0.36 < 0.01·0.36 + 0.5: still consistent
    assert flow.consistency_mask(forward, backward)[:, :-2].all()
    backward[:, :, 0] = 0.8  # 0.64 > 0.0064 + 0.5: disoccluded
    assert not flow.consistency_mask(forward, backward).any()
    # a step in the backward flow is a motion boundary even where the two directions agree
    forward[:] = 0
    backward[:] = 0
    backward[:, 10:, 0], forward[:, 10:, 0] = -1.0, 1.0
    mask = flow.consistency_mask(forward, backward)
    assert not mask[:, 9:11].any() and mask[:, 2:8].all() and mask[:, 12:18].all()


def test_pixels_coming_from_outside_the_frame_are_unreliable():
    prev = texture(96, 128, 2)
    cur = np.roll(prev, 6, axis=1)  # camera pans: a strip enters on the left
    cur[:, :6] = texture(96, 6, 3)
    motion = flow.estimate_motion(prev, cur, flow_side=128, preset="medium")
    assert motion.mask[:, :5].mean() < 0.2
    assert motion.mask[:, 20:-20].mean() > 0.9


def test_scene_cut_detected_between_different_pictures_not_within_a_shot():
    a, b = texture(72, 96, 0), texture(72, 96, 9)
    assert not flow.estimate_motion(a, np.roll(a, 2, axis=1)).cut
    dark = (b * 0.3).astype(np.uint8)
    cut = flow.estimate_motion(a, dark)
    assert cut.cut and "histogram" in cut.reason
    # same brightness distribution, unrelated content: caught by the motion check instead
    other = flow.estimate_motion(a, b)
    assert other.cut or other.reliable < 0.5
    assert flow.histogram_distance(a, a) == 0.0 and flow.histogram_distance(a, dark) > 0.3


def test_unknown_preset_is_a_settings_error():
    with pytest.raises(SettingsError, match="preset"):
        flow.dis_flow(texture(32, 32, 0), texture(32, 32, 0), preset="turbo")
