"""Render the style options side by side: Gram vs W2 loss, the colour modes, and a two-region picture.

    PYTHONPATH=src python benchmarks/style_options.py [--size 256] [--quality draft] [--device cuda]

Renders the bundled photo (chelsea.png, CC0) with public-domain paintings (starry_night.jpg,
bundled; the_scream.jpg from ../shared/data/styles) into ``--out`` (git-ignored), prints time
and loss parts per render, and writes three compact side-by-side JPEGs into ``--docs``
(docs/images/ by default; pass --docs '' to skip).  Results are described in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brushwork.assets import DEMO_CONTENT, DEMO_STYLE  # noqa: E402
from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.gatys import Stylizer, settings_from  # noqa: E402

STYLES = Path(os.environ.get("BRUSHWORK_SHARED", ROOT.parent / "shared")) / "data" / "styles"
PANEL_HEIGHT = 200


def _label(img: Image.Image, text: str) -> Image.Image:
    img = img.copy()
    draw = ImageDraw.Draw(img)
    w = int(draw.textlength(text)) + 8
    draw.rectangle((0, 0, w, 14), fill=(0, 0, 0))
    draw.text((4, 1), text, fill=(255, 255, 255))
    return img


def side_by_side(panels: list[tuple[str, Image.Image]], path: Path) -> None:
    """Panels scaled to one height, labelled, in a row; saved as a JPEG under 300 KB."""
    tiles = []
    for text, img in panels:
        w = round(img.width * PANEL_HEIGHT / img.height)
        tiles.append(_label(img.convert("RGB").resize((w, PANEL_HEIGHT), Image.LANCZOS), text))
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), PANEL_HEIGHT), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    for quality in (85, 75, 65):
        sheet.save(path, quality=quality, optimize=True)
        if path.stat().st_size < 300_000:
            break
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", default="draft")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "style_options")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--only", default="loss,color,regions", help="comma list of: loss, color, regions")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    content = load_image(DEMO_CONTENT, "content image")
    starry = load_image(DEMO_STYLE, "style image")
    scream = load_image(STYLES / "the_scream.jpg", "style image")
    vgg = None

    def render(name: str, styles: list[Image.Image], masks: list[Image.Image] | None = None, **kw: object) -> Image.Image:
        nonlocal vgg
        path = args.out / f"{name}.png"
        s = settings_from(size=args.size, quality=args.quality, device=args.device, **kw)
        stylizer = Stylizer(s, vgg=vgg)
        vgg = stylizer.vgg
        events = []
        if stylizer.device.type == "cuda":
            torch.cuda.synchronize()
        result = stylizer.run(content, styles, events.append, masks=masks)
        parts = {k: f"{v:.3g}" for k, v in events[-1].parts.items()} if events[-1].parts else {}
        print(f"{name}: {result.seconds:.1f} s, {result.evaluations} evaluations, {parts}", flush=True)
        result.image.save(path)
        return result.image

    photo = resize_longest(content, args.size)
    docs = Path(args.docs) if args.docs else None
    if "loss" in only:
        gram = render("gram", [starry], style_loss="gram")
        w2 = render("w2", [starry], style_loss="w2")
        if docs:
            side_by_side([("photo", photo), ("style", starry), ("gram", gram), ("w2", w2)], docs / "style_loss.jpg")
    if "color" in only:
        panels = [("photo", photo), ("style", starry)]
        for mode in ("none", "preserve", "preserve-matched", "style", "match-style"):
            panels.append((mode, render(f"color_{mode}", [starry], color_mode=mode)))
        if docs:
            side_by_side(panels, docs / "color_modes.jpg")
    if "regions" in only:
        w, h = content.size
        left = np.zeros((h, w), np.uint8)
        left[:, : w * 2 // 5] = 255
        right = np.zeros((h, w), np.uint8)
        right[:, w * 3 // 5:] = 255
        soft = [Image.fromarray(m).filter(ImageFilter.GaussianBlur(w / 60)) for m in (left, right)]
        both = render("regions", [starry, scream], masks=soft)
        if docs:
            guide = Image.merge("RGB", (soft[1], Image.new("L", soft[0].size, 0), soft[0]))
            side_by_side([("photo", photo), ("masks: starry | photo | scream", guide), ("starry", starry), ("scream", scream),
                          ("regions", both)], docs / "regions.jpg")


if __name__ == "__main__":
    main()
