"""Score fast-style models on validation photos they never trained on, with benchmarks/metric.py.

    PYTHONPATH=src python benchmarks/gallery_scores.py PAINTING MODEL [MODEL …] [--photos 6] [--size 384]

For each model: the mean content score (relu4_2 MSE against the photo) and style score (Gram MSE
at relu1_1…relu5_1 against PAINTING) over the first ``--photos`` evenly spread photos of the corpus's
val split, each painted at ``--size`` px on the long side.  Used to choose between an old and a
retrained model of the same painting: the new one should not be worse on both terms (``dominates``).
This is the fixed metric, not the resize-robust one the issue asks for (not yet on this branch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))
sys.path.insert(0, str(HERE / "benchmarks"))

from metric import Metric, Score  # noqa: E402

from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.fastnet.data import list_photos  # noqa: E402
from brushwork.fastnet.infer import FastStylizer  # noqa: E402
from brushwork.fastnet.settings import FastSettings  # noqa: E402
from brushwork.fastnet.validation import spread  # noqa: E402

MANIFEST = HERE.parent / "shared" / "data" / "training" / "manifest.csv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("painting", type=Path)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--size", type=int, default=384)
    args = ap.parse_args()
    torch.set_num_threads(1)
    style = load_image(args.painting, "painting")
    photos = [resize_longest(load_image(p, "photo"), args.size) for p in spread(list_photos(MANIFEST, "val"), args.photos)]
    metrics = [Metric(p, style, args.size, torch.device("cpu")) for p in photos]
    print(f"| model | content | style |  ({len(photos)} val photos at {args.size} px)")
    print("|---|---|---|")
    rows = [("photo itself", [m(p) for m, p in zip(metrics, photos)])]
    for model in args.models:
        run = FastStylizer(model, FastSettings(device="cpu"))
        rows.append((model, [m(run(p)) for m, p in zip(metrics, photos)]))
    for name, scores in rows:
        mean = Score(sum(s.content for s in scores) / len(scores), sum(s.style for s in scores) / len(scores))
        print(f"| {name} | {mean.content:.4g} | {mean.style:.4g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
