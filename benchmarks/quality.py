"""Quality benchmark: brushwork against jcjohnson/neural-style (L-BFGS, 1000 iterations, 512 px)
on every content × style pair that has a reference in ``../shared/data/reference/``, and against
pastiche 1.6.0, all scored by ``benchmarks/metric.py``.

    python benchmarks/quality.py [--quality normal] [--pastiche-steps 5] [--guohua]
    python benchmarks/quality.py --pairs tubingen_starry --set style_weight=1000

For each pair it prints both terms (and the style term per layer) for brushwork, the reference
and pastiche, brushwork's time, and whether brushwork is "no worse" than the reference (style ≤,
content ≤ +10 %).  pastiche runs ``--pastiche-steps`` steps: its time for ``--pastiche-target``
steps (default 1000) is extrapolated from the per-step time of those steps and printed as such;
its scores are those of the steps actually run.  A side-by-side sheet per pair (photo | painting
| brushwork | reference | pastiche) goes to ``benchmarks/out/quality/`` (not committed: photos and
reference images may not be redistributed).  ``--guohua`` adds the ink-wash preset on
``../shared/data/guohua/`` (photo | painting | brushwork guohua | torch7 ink-wash result).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from metric import Metric, Score  # noqa: E402

from brushwork.core.image import load_image, resize_longest  # noqa: E402
from brushwork.core.schedule import Scale  # noqa: E402
from brushwork.core.vgg import load_vgg  # noqa: E402
from brushwork.gatys import Stylizer, settings_from  # noqa: E402
from brushwork.gatys.settings import SCHEDULES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRUSHWORK_SHARED", ROOT.parent / "shared")) / "data"
OUT = ROOT / "benchmarks" / "out" / "quality"
#: The reference files are named {content}_{style}; the style's short name → its file in styles/.
STYLE_FILES = {"starry": "starry_night.jpg", "scream": "the_scream.jpg", "shipwreck": "shipwreck.jpg",
               "matisse": "woman-with-hat-matisse.jpg"}
#: "No worse than the reference": style ≤ the reference's, content ≤ the reference's × (1 + this).
CONTENT_SLACK = 0.10


def pairs(shared: Path = SHARED) -> dict[str, tuple[Path, Path, Path]]:
    """Every reference picture whose photo and painting are present: name → (photo, painting, reference)."""
    out = {}
    for ref in sorted((shared / "reference").glob("*.png")):
        for short, style in STYLE_FILES.items():
            if ref.stem.endswith("_" + short):
                photo = shared / "content" / f"{ref.stem[: -len(short) - 1]}.jpg"
                if photo.exists() and (shared / "styles" / style).exists():
                    out[ref.stem] = (photo, shared / "styles" / style, ref)
    return out


def run_pastiche(content: Path, style: Path, size: int, steps: int) -> tuple[Image.Image, float, float, float]:
    """pastiche 1.6.0 with its defaults (L-BFGS, content init), as its CLI runs it, on the CPU.

    Returns the picture after ``steps`` steps, the set-up time, the wall time per step and the
    CPU time per step.
    """
    from pastiche.pastiche import VGG_MEAN, PasticheArtist

    torch.manual_seed(0)
    start = time.perf_counter()
    artist = PasticheArtist(str(content), [str(style)], device="cpu", size=size)
    setup = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        artist.draw()
    per_step = (time.perf_counter() - start) / max(steps, 1)
    per_step_cpu = (time.process_time() - cpu) / max(steps, 1)
    x = artist.pastiche.detach().squeeze(0).cpu().clone()
    for i, m in enumerate(VGG_MEAN):
        x[i] += m
    x = x[[2, 1, 0]].round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(x, "RGB"), setup, per_step, per_step_cpu


def sheet(images: list[tuple[str, Image.Image]], path: Path, height: int = 384) -> None:
    """Pictures side by side at one height, each labelled, saved as a JPEG."""
    tiles = [(label, im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS))
             for label, im in images]
    canvas = Image.new("RGB", (sum(t.width for _, t in tiles) + 4 * (len(tiles) - 1), height + 18), "white")
    draw, x = ImageDraw.Draw(canvas), 0
    for label, t in tiles:
        canvas.paste(t, (x, 18))
        draw.text((x + 4, 3), label, fill="black")
        x += t.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=90)


def cpu_ticks() -> tuple[int, int]:
    """(stolen, total) jiffies of the whole machine from /proc/stat ((0, 0) where there is none).

    On a shared VM the hypervisor gives part of each core's time to other guests ("steal");
    wall times taken while a third of it is stolen say nothing about the code, so every figure
    is printed with the share stolen during its run."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quality", default=None, help="brushwork's --quality (default: the default's)")
    ap.add_argument("--schedule", default="", metavar="F:N:B,…",
                    help="try a schedule instead of the quality's: fraction:iterations:content-boost per scale, "
                         "e.g. 0.25:50:3,0.5:40:2,1:8:1.5")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pairs", default="", help="comma-separated pair names (default: every reference)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a StylizeSettings field (JSON value), e.g. style_weight=1000")
    ap.add_argument("--pastiche-steps", type=int, default=5, help="pastiche steps actually run (0: skip pastiche)")
    ap.add_argument("--pastiche-target", type=int, default=1000, help="step count pastiche's time is given for")
    ap.add_argument("--guohua", action="store_true", help="also run the guohua preset on ../shared/data/guohua")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", type=Path, default=OUT / "quality.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    overrides = {k: _value(v) for k, v in overrides.items()}
    if args.quality:
        overrides["quality"] = args.quality
    if args.schedule:  # a trial schedule, registered under its own name for this process only
        SCHEDULES[args.schedule] = tuple(Scale(float(f), int(n), float(b))
                                         for f, n, b in (step.split(":") for step in args.schedule.split(",")))
        overrides["quality"] = args.schedule
    found = pairs()
    wanted = [p for p in args.pairs.split(",") if p] or list(found)
    device = torch.device("cpu")
    vgg = load_vgg(device=device)
    report: dict[str, object] = {"size": args.size, "threads": torch.get_num_threads(), "torch": torch.__version__,
                                 "overrides": overrides, "date": time.strftime("%Y-%m-%d %H:%M"), "pairs": {}}
    print(f"load average {os.getloadavg()[0]:.2f} at start; {torch.get_num_threads()} torch threads", flush=True)
    for name in wanted:
        photo_path, style_path, ref_path = found[name]
        photo, painting = load_image(photo_path), load_image(style_path)
        settings = settings_from(None, size=args.size, device="cpu", **overrides)
        stylizer = Stylizer(settings, vgg=vgg)
        ticks = cpu_ticks()
        start, cpu = time.perf_counter(), time.process_time()
        result = stylizer.run(photo, [painting])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        load = os.getloadavg()[0]
        stolen, total = (b - a for a, b in zip(ticks, cpu_ticks()))
        steal = stolen / total if total else 0.0
        metric = Metric(photo, painting, args.size, device, vgg=vgg)
        reference = load_image(ref_path)
        scores: dict[str, Score] = {"brushwork": metric(result.image), "reference": metric(reference)}
        shown = [("photo", resize_longest(photo, args.size)), ("painting", resize_longest(painting, args.size)),
                 (f"brushwork {settings.quality} {seconds:.0f} s", result.image), ("jcjohnson 1000 it", reference)]
        # CPU seconds (all threads) say more than wall time on a shared machine: wall time grows
        # with the other jobs' load, CPU time much less.
        entry: dict[str, object] = {"seconds": seconds, "cpu_seconds": cpu, "load": load, "steal": steal,
                                    "evaluations": result.scale_evaluations}
        if args.pastiche_steps:
            p_img, setup, per_step, per_step_cpu = run_pastiche(photo_path, style_path, args.size, args.pastiche_steps)
            scores[f"pastiche {args.pastiche_steps} steps"] = metric(p_img)
            target = setup + per_step * args.pastiche_target
            entry["pastiche"] = {"steps_run": args.pastiche_steps, "setup": setup, "seconds_per_step": per_step,
                                 f"seconds_for_{args.pastiche_target}_extrapolated": target,
                                 "speed_ratio": target / seconds, "cpu_seconds_per_step": per_step_cpu,
                                 "cpu_speed_ratio": per_step_cpu * args.pastiche_target / cpu}
            shown.append((f"pastiche {args.pastiche_steps} steps", p_img))
        ok = scores["brushwork"].dominates(scores["reference"], CONTENT_SLACK)
        entry.update(no_worse_than_reference=ok, scores={k: vars(v) for k, v in scores.items()})
        report["pairs"][name] = entry  # type: ignore[index]
        sheet(shown, OUT / f"{name}.jpg")
        print(f"\n{name}: brushwork {settings.quality} {seconds:.1f} s wall, {cpu:.1f} s CPU (evaluations per scale "
              f"{result.scale_evaluations}, load {load:.2f}, {steal:.0%} of the machine's CPU time stolen by the "
              f"hypervisor)", flush=True)
        for label, sc in scores.items():
            print(f"  {label:22s} {sc.row()}")
        if args.pastiche_steps:
            p = entry["pastiche"]
            print(f"  pastiche: {p['seconds_per_step']:.2f} s/step over {args.pastiche_steps} steps + {p['setup']:.1f} s "
                  f"set-up → {args.pastiche_target} steps ≈ {p[f'seconds_for_{args.pastiche_target}_extrapolated']:.0f} s "
                  f"(extrapolated): {p['speed_ratio']:.0f}× brushwork's; CPU time {p['cpu_seconds_per_step']:.2f} s/step, "
                  f"{p['cpu_speed_ratio']:.0f}× (set-up not counted)")
        verdict = "yes" if ok else "NO"
        print(f"  no worse than the reference (style ≤, content ≤ +{CONTENT_SLACK:.0%}): {verdict}"
              f"  → {OUT / f'{name}.jpg'}", flush=True)
    if args.guohua:
        g = SHARED / "guohua"
        photo, painting = load_image(g / "horse_content.jpg"), load_image(g / "horse_style.jpg")
        settings = settings_from("guohua", size=args.size, device="cpu",
                                 **{k: v for k, v in overrides.items() if k == "quality"})
        start = time.perf_counter()
        result = Stylizer(settings, vgg=vgg).run(photo, [painting])
        seconds = time.perf_counter() - start
        reference = load_image(g / "horse_reference_output.jpg")
        metric = Metric(photo, painting, args.size, device, vgg=vgg)
        b, r = metric(result.image), metric(reference)
        sheet([("photo", resize_longest(photo, args.size)), ("painting", resize_longest(painting, args.size)),
               (f"brushwork guohua {seconds:.0f} s", result.image), ("torch7 ink-wash", reference)],
              OUT / "guohua_horse.jpg")
        report["guohua"] = {"seconds": seconds, "brushwork": vars(b), "reference": vars(r)}
        print(f"\nguohua_horse: brushwork guohua {seconds:.1f} s\n  {'brushwork':22s} {b.row()}\n"
              f"  {'torch7 ink-wash':22s} {r.row()}  → {OUT / 'guohua_horse.jpg'}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
