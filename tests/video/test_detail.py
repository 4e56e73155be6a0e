"""Network mode stays as sharp as its frames: detail restoration after the temporal blend.

A plain blend of the warped previous output compounds the warp's resampling blur frame after
frame; the default must not.  Tiny synthetic clips, a few seconds in all.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from torch import nn

from brushwork.video import NetworkFrameStylizer, VideoSettings, flow, stylize_video
from brushwork.video.detail import contrast, restore_detail, sharpness

W, H, FRAMES = 80, 60, 40


class Strokes(nn.Module):
    """Stand-in for a style network: crisp strokes (a high-gain sine of a random conv) that follow
    the picture but also swing with its sensor noise, so per-frame output flickers."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * torch.sin(10 * self.conv(x))


def _clip(path: Path, static: bool) -> Path:
    rng = np.random.default_rng(0)
    r = rng.random((H // 5 + 4, (W + 2 * FRAMES) // 5, 3)).astype(np.float32)
    scene = (cv2.resize(r, ((W + 2 * FRAMES), H + 20), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=12)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv444p"
        vs.options = {"crf": "4"}
        for i in range(FRAMES):
            dx = 0.0 if static else -1.7 * i  # a sub-pixel pan: every warp resamples
            img = cv2.warpAffine(scene, np.float32([[1, 0, dx], [0, 1, -0.3 * (not static) * i]]), (W, H))
            img = (img + rng.normal(0, 2, img.shape)).clip(0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    errors = []
    for t in range(1, len(inputs)):
        m = flow.estimate_motion(inputs[t - 1], inputs[t], flow_side=W, preset="medium", cut_threshold=1.0,
                                 min_reliable=0.0)
        warped = flow.warp(outputs[t - 1].astype(np.float32), m.backward)
        diff = np.abs(outputs[t].astype(np.float32) - warped).mean(-1)
        errors.append(float((diff * m.mask).sum() / max(m.mask.sum(), 1)))
    return float(np.mean(errors))


def _run(clip: Path, out: Path, weight: float, keep_detail: bool = True) -> list[np.ndarray]:
    stylize_video(clip, out, NetworkFrameStylizer(Strokes(), keep_detail=keep_detail),
                  VideoSettings(temporal_weight=weight, crf=0, cache=False))
    return _frames(out)


@pytest.mark.parametrize("static", [True, False], ids=["static", "pan"])
def test_default_stays_sharp_and_steady_over_many_frames(tmp_path, static):
    clip = _clip(tmp_path / "clip.mp4", static)
    inputs = _frames(clip)
    per_frame = _run(clip, tmp_path / "per_frame.mp4", 0)
    steady = _run(clip, tmp_path / "steady.mp4", VideoSettings().temporal_weight)
    ratio = [sharpness(s) / sharpness(p) for s, p in zip(steady, per_frame, strict=True)]
    crisp = [contrast(s) / contrast(p) for s, p in zip(steady, per_frame, strict=True)]
    assert min(ratio) >= 0.9, ratio  # at every frame: no drift
    assert min(crisp) >= 0.9, crisp
    assert _warping_error(inputs, steady) < 0.8 * _warping_error(inputs, per_frame)  # this stand-in flickers hard
    if static:
        return
    # the test has teeth: a plain blend does lose its sharpness on the pan
    plain = _run(clip, tmp_path / "plain.mp4", VideoSettings().temporal_weight, keep_detail=False)
    plain_ratio = [sharpness(s) / sharpness(p) for s, p in zip(plain, per_frame, strict=True)]
    assert plain_ratio[-1] < 0.8, plain_ratio


def test_restore_detail_brings_a_blend_back_to_the_fresh_contrast_and_leaves_the_rest():
    rng = np.random.default_rng(1)
    fresh = cv2.GaussianBlur(rng.random((48, 64, 3)).astype(np.float32), (0, 0), 0.7)
    other = np.roll(fresh, 1, axis=1) * 0.5 + cv2.GaussianBlur(rng.random((48, 64, 3)).astype(np.float32), (0, 0), 0.7) * 0.5
    blend = (fresh + 4 * other) / 5
    kept = restore_detail(blend, fresh)
    assert sharpness(blend) < 0.5 * sharpness(fresh)
    assert sharpness(kept) >= 0.9 * sharpness(fresh)
    assert kept.min() >= 0 and kept.max() <= 1
    # low frequencies (the steadiness) are the blend's
    low = lambda x: cv2.GaussianBlur(x, (0, 0), 4)  # noqa: E731
    assert np.abs(low(kept) - low(blend)).mean() < 0.2 * np.abs(low(fresh) - low(blend)).mean() + 1e-3
    # nothing changes where nothing was blended
    where = np.zeros((48, 64), np.float32)
    assert np.allclose(restore_detail(fresh, fresh, where), fresh, atol=1e-5)


def test_plain_blend_is_available_and_has_its_own_cache_identity():
    a, b = NetworkFrameStylizer(Strokes()), NetworkFrameStylizer(Strokes(), keep_detail=False)
    assert a.identity != b.identity
