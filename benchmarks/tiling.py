"""Print-size stylization by tiling: time, peak memory and a look across a tile border.

    PYTHONPATH=src python benchmarks/tiling.py [--device cuda] [--size 4096] [--quality draft]
        [--iterations 2] [--tile 1024] [--skip-large] [--skip-small]

Writes to ``benchmarks/out/tiling/`` (git-ignored):

* ``large.png``: the ``--size`` output; ``large_border_crop.png``: a 512×512 crop centred on the
  corner where four tiles of the first pass meet, next to the same crop with those borders drawn;
* ``small_side_by_side.png``: whole-image | tiled result at ``--small`` px (tiles of small/2),
  with the tiled run's first-pass borders drawn on a third copy.

Prints the time and the peak memory of each scale (resident set size sampled every 0.2 s on the
CPU; ``torch.cuda.max_memory_allocated`` on a GPU) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path

import torch
from memory import rss  # benchmarks/memory.py, beside this script
from PIL import Image, ImageDraw

from brushwork.assets import DEMO_CONTENT, DEMO_STYLE
from brushwork.core.image import load_image
from brushwork.core.progress import Progress
from brushwork.gatys import Stylizer, StylizeSettings

OUT = Path(__file__).resolve().parent / "out" / "tiling"


class StageMonitor:
    """Peak RSS and time per stage, from a sampling thread and the progress events."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self.first: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), rss())

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter() - self.t0
        if now - getattr(self, "_last_print", 0.0) > 60:
            self._last_print = now
            print(f"{now:8.1f} s  {p.stage}: step {p.step}/{p.steps}, {100 * p.done / p.total:.1f} % of the work, "
                  f"RSS {rss() / 2**30:.2f} GB", flush=True)
        if p.stage != self.stage:
            print(f"{now:8.1f} s  {p.stage} (peak of the previous stage: "
                  f"{self.peaks.get(self.stage, 0) / 2**30:.2f} GB)", flush=True)
            if self.device.type == "cuda":
                self.peaks[self.stage] = torch.cuda.max_memory_allocated(self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
            self.stage = p.stage
            self.first[p.stage] = now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.device.type == "cuda":
            self.peaks[self.stage] = torch.cuda.max_memory_allocated(self.device)


def draw_borders(img: Image.Image, lines_x: list[int], lines_y: list[int]) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    for x in lines_x:
        d.line([(x, 0), (x, out.height)], fill=(255, 0, 0), width=1)
    for y in lines_y:
        d.line([(0, y), (out.width, y)], fill=(255, 0, 0), width=1)
    return out


def pair(a: Image.Image, b: Image.Image, gap: int = 8) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width + gap, max(a.height, b.height)), "white")
    out.paste(a, (0, 0))
    out.paste(b, (a.width + gap, 0))
    return out


def large(args: argparse.Namespace, content: Image.Image, style: Image.Image) -> dict:
    s = StylizeSettings(size=args.size, quality=args.quality, iterations=args.iterations, tile=args.tile,
                        device=args.device)
    stylizer = Stylizer(s)
    monitor = StageMonitor(stylizer.device)
    start = time.perf_counter()
    result = stylizer.run(content, [style], monitor)
    seconds = time.perf_counter() - start
    monitor.stop()
    result.image.save(OUT / "large.png")
    tile = args.tile or 1024
    c = min(tile, result.image.width // 2, result.image.height // 2)
    crop = result.image.crop((c - 256, c - 256, c + 256, c + 256))
    pair(crop, draw_borders(crop, [256], [256])).save(OUT / "large_border_crop.png")
    report = {
        "size": list(result.image.size), "device": str(stylizer.device), "quality": args.quality,
        "iterations_top": args.iterations, "tile": args.tile, "seconds": round(seconds, 1),
        "evaluations_per_scale": result.scale_evaluations, "stopped": result.stopped,
        "peak_rss_gb_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_gb_per_stage": {k: round(v / 2**30, 2) for k, v in monitor.peaks.items()},
        "stage_start_s": {k: round(v, 1) for k, v in monitor.first.items()},
        "threads": torch.get_num_threads(),
    }
    return report


def small(args: argparse.Namespace, content: Image.Image, style: Image.Image) -> dict:
    base = dict(size=args.small, quality="draft", device=args.device)
    tile = args.small // 2
    whole = Stylizer(StylizeSettings(**base))
    a = whole.run(content, [style])
    b = Stylizer(StylizeSettings(**base, tile=tile), whole.vgg).run(content, [style])
    w, h = b.image.size
    marked = draw_borders(b.image, list(range(tile, w, tile)), list(range(tile, h, tile)))
    pair(pair(a.image, b.image), marked).save(OUT / "small_side_by_side.png")
    return {"small_size": [w, h], "small_tile": tile, "whole_loss": a.losses[-1], "tiled_last_tile_loss": b.losses[-1]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", default=str(DEMO_CONTENT))
    p.add_argument("--style", default=str(DEMO_STYLE))
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--quality", default="draft")
    p.add_argument("--iterations", type=int, default=None, help="iterations at the top scale (default: the schedule's)")
    p.add_argument("--tile", type=int, default=0, help="tile size (0: automatic, from the free memory)")
    p.add_argument("--small", type=int, default=384, help="size of the whole-vs-tiled side-by-side")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--skip-small", action="store_true")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    content, style = load_image(args.content, "content"), load_image(args.style, "style")
    report: dict = {}
    if not args.skip_small:
        report.update(small(args, content, style))
        print(json.dumps(report), flush=True)
    if not args.skip_large:
        report.update(large(args, content, style))
    print(json.dumps(report, indent=1))
    name = "report_small.json" if args.skip_large else "report.json"
    (OUT / name).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    sys.exit(main())
