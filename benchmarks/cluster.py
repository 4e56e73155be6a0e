"""Throughput of `brushwork fast --ray` on a local Ray cluster, and what a real job would need.

    PYTHONPATH=src python benchmarks/cluster.py [--images 24] [--size 256] [--workers 1,2] [--job fast|stylize]

Starts one private local cluster (loopback only) with as many CPUs as the largest worker count,
stylizes ``--images`` photos of ``--size`` px once per worker count, and prints images/s end to
end (including the workers' start and model load) and steady (first to last finished image).
With a GPU it also runs one GPU worker per GPU and CPU workers for all its cores.  Then it times
one photo and one 1080p film frame on one core and prints the estimate for 20,000 photos and a
two-hour 1080p film (see docs/cluster.md, where the results are kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read by Ray on import: loopback only

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from brushwork.assets import DEMO_CONTENT  # noqa: E402
from brushwork.cluster import ClusterOptions, ImageJob, run_images  # noqa: E402
from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.gatys.settings import StylizeSettings  # noqa: E402

PHOTOS, FILM_FRAMES = 20_000, 2 * 3600 * 24


def make_photos(folder: Path, n: int, size: int) -> list[Path]:
    base = resize_longest(load_image(DEMO_CONTENT), size)
    paths = []
    for k in range(n):
        p = folder / f"photo{k:05d}.jpg"
        base.rotate(3 * k).save(p, quality=92)
        paths.append(p)
    return paths


def run(job: ImageJob, photos: list[Path], out: Path, options: ClusterOptions) -> tuple[float, float, str]:
    out.mkdir()
    done: list[float] = []
    start = time.perf_counter()
    result = run_images(job, [(p, out / p.name) for p in photos], False, options,
                        progress=lambda p: done.append(time.perf_counter()) if p.done else None)
    total = time.perf_counter() - start
    # steady: images finished after the first batch, over the time since it finished (start-up excluded)
    b = job.batch_size()
    steady = (len(done) - b) / (done[-1] - done[b - 1]) if len(done) > b and done[-1] > done[b - 1] else float("nan")
    assert result.written == len(photos), result
    return len(photos) / total, steady, result.workers


def per_image_costs(job: ImageJob) -> tuple[float, float]:
    """Seconds for one 1024 px photo (the job) and one 1920×1080 film frame (network + flow), on one core."""
    from brushwork.fastnet.infer import FastStylizer
    from brushwork.video.flow import estimate_motion

    torch.set_num_threads(1)
    photo = resize_longest(load_image(DEMO_CONTENT), 1024)
    if job.kind == "fast":
        st = FastStylizer(job.model, job.fast)
        st(photo)
        t = time.perf_counter()
        st(photo)
        photo_s = time.perf_counter() - t
    else:
        from brushwork.gatys.stylizer import Stylizer

        stylizer = Stylizer(job.stylize)
        styles = [load_image(Path(p)) for p in job.styles]
        t = time.perf_counter()
        stylizer.run(photo, styles)
        photo_s = time.perf_counter() - t
    st = FastStylizer(job.model or "starry_night", job.fast)
    frame = photo.resize((1920, 1080))
    st(frame)
    t = time.perf_counter()
    st(frame)
    a = np.asarray(frame)
    estimate_motion(a, np.roll(a, 2, axis=1), 320, "medium")
    frame_s = time.perf_counter() - t
    return photo_s, frame_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--job", choices=("fast", "stylize"), default="fast")
    ap.add_argument("--model", default="starry_night")
    ap.add_argument("--skip-estimate", action="store_true")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    gpus = torch.cuda.device_count()
    cpus = os.cpu_count() or 1
    if args.job == "fast":
        job = ImageJob("fast", model=args.model)
    else:
        job = ImageJob("stylize", stylize=StylizeSettings(size=args.size, quality="draft"),
                       styles=(str(ROOT / "src" / "brushwork" / "assets" / "starry_night.jpg"),))
    load = os.getloadavg()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {cpus} cores, {gpus} GPU(s), load {load:.1f}; "
          f"torch {torch.__version__}; {args.images} photos of {args.size} px, job {args.job}")
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp), args.images, args.size)
        ray.init(address="local", num_cpus=max(max(counts), cpus if gpus else 0), num_gpus=gpus, include_dashboard=False,
                 object_store_memory=200 * 1024 * 1024, log_to_driver=False, logging_level="ERROR")
        try:
            plans = [(f"{n} CPU worker(s)", ClusterOptions("auto", 0, 1, n)) for n in counts]
            if gpus:
                plans += [(f"{gpus} GPU worker(s)", ClusterOptions("auto", 1, 1, gpus)),
                          (f"{cpus} CPU workers", ClusterOptions("auto", 0, 1, cpus))]
            for k, (name, options) in enumerate(plans):
                total, steady, workers = run(job, photos, Path(tmp) / f"out{k}", options)
                print(f"{name:>18}: {total:6.2f} images/s end to end, {steady:6.2f} images/s steady ({workers})")
        finally:
            ray.shutdown()
    if args.skip_estimate:
        return
    photo_s, frame_s = per_image_costs(job)
    core_h_photos, core_h_film = PHOTOS * photo_s / 3600, FILM_FRAMES * frame_s / 3600
    print(f"one core: {photo_s:.2f} s per 1024 px photo ({args.job}), {frame_s:.2f} s per 1920×1080 film frame "
          f"(network + flow)")
    print(f"20,000 photos: {core_h_photos:.1f} core-hours → {core_h_photos / 32:.2f} h on one 32-core machine, "
          f"{core_h_photos / 320:.2f} h on ten")
    print(f"2-hour 1080p film ({FILM_FRAMES} frames): {core_h_film:.0f} core-hours → {core_h_film / 32:.1f} h on one "
          f"32-core machine, {core_h_film / 320:.1f} h on ten (plus the join: one H.264 encode of the film)")


if __name__ == "__main__":
    main()
