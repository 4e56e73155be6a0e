"""Gatys optimisation speed: brushwork's default against pastiche 1.6.0, scored by one fixed metric.

Usage (from the repository root, pastiche installed)::

    python benchmarks/gatys_speed.py                       # CPU, tubingen + starry_night at 512 px
    python benchmarks/gatys_speed.py --device cuda --pastiche-steps 300
    python benchmarks/gatys_speed.py --pastiche-steps 5    # time 5 steps, extrapolate to 1000

The metric is independent of both optimisers' own losses (see ``benchmarks/metric.py``): VGG-19
relu4_2 content MSE and the relative Gram distance over relu1_1…relu5_1, averaged over resize
filters and painting sizes.  Both terms are printed: brushwork "reaches" pastiche only if
*neither* term is worse.  ``benchmarks/quality.py`` runs the same comparison on every reference pair.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from brushwork.core.image import load_image
from brushwork.gatys import Stylizer, StylizeSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRUSHWORK_SHARED", ROOT.parent / "shared")) / "data"
OUT = ROOT / "benchmarks" / "out"

sys.path.insert(0, str(Path(__file__).parent))
from metric import STYLE_LAYERS, Metric  # noqa: E402  (benchmarks/metric.py, beside this script)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_pastiche(content: Path, style: Path, size: int, steps: int, device: torch.device) -> tuple[Image.Image, float]:
    """pastiche 1.6.0 with its defaults (L-BFGS, content init), as its CLI runs it."""
    from pastiche.pastiche import VGG_MEAN, PasticheArtist

    torch.manual_seed(0)
    start = time.perf_counter()
    artist = PasticheArtist(str(content), [str(style)], device=str(device), size=size)
    for _ in range(steps):
        artist.draw()
    _sync(device)
    seconds = time.perf_counter() - start
    x = artist.pastiche.detach().squeeze(0).cpu().clone()
    for i, m in enumerate(VGG_MEAN):
        x[i] += m
    x = x[[2, 1, 0]].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(x, "RGB"), seconds


def run_brushwork(content: Image.Image, style: Image.Image, settings: StylizeSettings,
                  device: torch.device) -> tuple[Image.Image, float, int]:
    stylizer = Stylizer(settings)  # VGG load counted below as part of the run
    start = time.perf_counter()
    result = stylizer.run(content, [style])
    _sync(device)
    return result.image, time.perf_counter() - start, result.evaluations


def side_by_side(images: list[Image.Image], path: Path) -> None:
    h = max(im.height for im in images)
    canvas = Image.new("RGB", (sum(im.width for im in images), h), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", type=Path, default=SHARED / "content" / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=SHARED / "styles" / "starry_night.jpg")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pastiche-steps", type=int, default=5, help="steps run; --reference-steps time extrapolated")
    ap.add_argument("--reference-steps", type=int, default=1000, help="the step count compared against")
    ap.add_argument("--quality", default=StylizeSettings().quality)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--skip-pastiche", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    content, style = load_image(args.content), load_image(args.style)
    metric = Metric(content, style, args.size, device)
    if device.type == "cuda":  # first CUDA calls pay for kernel selection: keep that out of both timings
        x = torch.rand(1, 3, args.size * 3 // 4, args.size, device=device, requires_grad=True)
        metric.vgg(x, STYLE_LAYERS)["relu5_1"].sum().backward()
        _sync(device)
    report: dict[str, object] = {"device": str(device), "size": args.size, "threads": torch.get_num_threads(),
                                 "torch": torch.__version__}

    settings = StylizeSettings(size=args.size, quality=args.quality, device=str(device))
    b_img, b_sec, b_evals = run_brushwork(content, style, settings, device)
    b_score = metric(b_img)
    report["brushwork"] = {"quality": args.quality, "seconds": b_sec, "evaluations": b_evals,
                           "content": b_score.content, "style": b_score.style, "layers": b_score.layers}
    print(f"brushwork {args.quality}: {b_sec:.1f} s, {b_evals} evaluations, {b_score.row()}")
    images = [b_img]
    if not args.skip_pastiche:
        p_img, p_sec = run_pastiche(args.content, args.style, args.size, args.pastiche_steps, device)
        per_step = p_sec / args.pastiche_steps
        ref_sec = per_step * args.reference_steps
        extrapolated = args.pastiche_steps != args.reference_steps
        p_score = metric(p_img)
        report["pastiche"] = {"steps_run": args.pastiche_steps, "seconds": p_sec, "seconds_per_step": per_step,
                              f"seconds_for_{args.reference_steps}": ref_sec, "extrapolated": extrapolated,
                              "content": p_score.content, "style": p_score.style, "layers": p_score.layers}
        print(f"pastiche {args.pastiche_steps} steps: {p_sec:.1f} s ({per_step:.2f} s/step), {p_score.row()}")
        note = " (extrapolated from the steps run)" if extrapolated else ""
        print(f"pastiche {args.reference_steps} steps: {ref_sec:.1f} s{note}")
        ratio = ref_sec / b_sec
        report["speed_ratio"] = ratio
        if not extrapolated:
            reached = b_score.dominates(p_score)
            report["reached"] = reached
            verdict = "reached" if reached else "NOT reached (a term is worse)"
            print(f"brushwork vs pastiche {args.reference_steps} steps: {verdict}; speed ratio {ratio:.1f}×")
        else:  # the quality comparison needs the steps actually run: benchmarks/quality.py
            print(f"speed ratio against pastiche's {args.reference_steps} steps (extrapolated): {ratio:.1f}×")
        images.insert(0, p_img)
    name = f"gatys_{args.content.stem}_{args.style.stem}_{device.type}.png"
    side_by_side(images, OUT / name)
    print(f"side by side (pastiche | brushwork): {OUT / name}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
