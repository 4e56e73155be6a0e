"""Harmonize the ten shared examples of Deep Painterly Harmonization and compare with the paper.

    PYTHONPATH=src python benchmarks/harmonize_examples.py [--device cuda] [--examples 0,3] [--quality normal]

For each example it writes ``{i}_brushwork.png`` and a side-by-side ``{i}_compare.jpg``
(composite | brushwork | paper result) into ``--out`` (git-ignored: the examples may not be
copied into the repository), and prints the time, the peak memory and the style level used.
Results and verdicts are kept in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from memory import rss  # noqa: E402  (benchmarks/memory.py, beside this script)

from brushwork.core.image import load_image  # noqa: E402
from brushwork.harmonization import Harmonizer, HarmonizeSettings  # noqa: E402

DATA = Path(os.environ.get("BRUSHWORK_SHARED", ROOT.parent / "shared")) / "data" / "harmonization"


class PeakRSS:
    """Samples the process's resident memory every 20 ms; ``peak`` in bytes since start."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def side_by_side(images: list[Image.Image], height: int = 400) -> Image.Image:
    scaled = [im.convert("RGB").resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS)
              for im in images]
    sheet = Image.new("RGB", (sum(im.width for im in scaled) + 8 * (len(scaled) - 1), height), "white")
    x = 0
    for im in scaled:
        sheet.paste(im, (x, 0))
        x += im.width + 8
    return sheet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--examples", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated example numbers")
    ap.add_argument("--quality", default="normal", help="draft, normal, high or reference")
    ap.add_argument("--size", type=int, default=700, help="working size (longest side)")
    ap.add_argument("--style-level", type=float, default=None, help="fixed style level (default: automatic)")
    ap.add_argument("--derive-loose", action="store_true", help="derive the loose mask instead of using the given one")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "harmonization" / "out")
    ap.add_argument("--no-coarse-boost", action="store_true", help="the full-size content weight at every scale")
    ap.add_argument("--match-ring", type=int, default=HarmonizeSettings.match_ring,
                    help="pass 2: painting positions around each match that count too (0: the matches only)")
    ap.add_argument("--tag", default="brushwork", help="name part of the output files")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"the examples are not at {DATA}: this benchmark needs ../shared/data/harmonization/")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = HarmonizeSettings(device=args.device, quality=args.quality, size=args.size, style_level=args.style_level,
                                 coarse_boost=not args.no_coarse_boost, match_ring=args.match_ring)
    harmonizer = Harmonizer(settings)
    cuda = harmonizer.device.type == "cuda"
    print(f"device {harmonizer.device}, quality {args.quality}, size {args.size}")
    print(f"{'ex':>3} {'tau':>5} {'iters':>6} {'seconds':>8} {'peak MB':>8}  note")
    for i in [int(v) for v in args.examples.split(",") if v.strip()]:
        painting = load_image(DATA / f"{i}_target.jpg", "painting")
        composite = load_image(DATA / f"{i}_naive.jpg", "composite")
        mask = DATA / f"{i}_c_mask.jpg"
        loose = None if args.derive_loose else DATA / f"{i}_c_mask_dilated.jpg"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with PeakRSS() as rss:
            start = time.perf_counter()
            result = harmonizer.run(painting, composite, mask, loose)
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() if cuda else rss.peak
        result.image.save(args.out / f"{i}_{args.tag}.png")
        paper = load_image(DATA / f"{i}_reference.png", "paper result")
        side_by_side([composite, result.image, paper]).save(args.out / f"{i}_{args.tag}_compare.jpg", quality=90)
        kind = "GPU alloc" if cuda else "RSS"
        print(f"{i:>3} {result.style_level:5.2f} {result.iterations:6d} {seconds:8.1f} {peak / 2**20:8.0f}  "
              f"{kind}{'; stopped: ' + result.stopped if result.stopped else ''}", flush=True)
    print(f"images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
