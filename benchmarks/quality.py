"""Quality by eye: brushwork beside jcjohnson/neural-style's 1000-iteration result and the
ink-wash reference, with the time taken.  Images go to benchmarks/out/ (not committed: they
contain photos that may not be redistributed).

    python benchmarks/quality.py [--device cuda] [--quality normal]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from gatys_speed import OUT, SHARED, side_by_side  # noqa: E402

from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.gatys import Stylizer, settings_from  # noqa: E402

CASES = {
    "tubingen_starry": ("content/tubingen.jpg", "styles/starry_night.jpg", "reference/tubingen_starry.png", None),
    "tubingen_starry_colors": ("content/tubingen.jpg", "styles/starry_night.jpg",
                               "reference/original_color/tubingen_starry.png", {"preserve_colors": True}),
    "guohua_horse": ("guohua/horse_content.jpg", "guohua/horse_style.jpg", "guohua/horse_reference_output.jpg",
                     {"preset": "guohua"}),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quality", default="normal")
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    report = {}
    for name, (c, s, ref, extra) in CASES.items():
        kw = dict(extra or {})
        settings = settings_from(kw.pop("preset", None), size=args.size, quality=args.quality, device=args.device, **kw)
        stylizer = Stylizer(settings)
        t = time.perf_counter()
        result = stylizer.run(load_image(SHARED / c), [load_image(SHARED / s)])
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        sec = time.perf_counter() - t
        reference = resize_longest(load_image(SHARED / ref), args.size)
        out = OUT / f"quality_{name}_{args.quality}_{args.device.split(':')[0]}.png"
        side_by_side([result.image, reference], out)
        report[name] = {"seconds": round(sec, 1), "evaluations": result.evaluations, "image": str(out)}
        print(f"{name}: {sec:.1f} s, {result.evaluations} evaluations → {out} (brushwork | reference)", flush=True)
    (OUT / f"quality_{args.quality}_{args.device.split(':')[0]}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
