"""Make a faster copy of a fast style: train a narrower network to reproduce a wider one's output.

    PYTHONPATH=src python benchmarks/distill_style.py TEACHER.safetensors -o starry_night.safetensors \
        [--width 0.5] [--steps 600] [--crop 192] [--batch 4] [--data data/training-photos] [--device cpu]

Training a style from scratch needs many steps (the paper: 40k at batch 4) because the network
has to discover the texture through the Gram loss.  A narrower *student* learns much faster
from a trained *teacher*: its target is simply the teacher's picture of the same crop, compared
in pixels and in VGG features (relu2_2, relu3_1: keeps the strokes crisp where a pixel loss alone
would blur them).  Photos: any folder (``benchmarks/fetch_training_photos.sh`` gathers the
freely licensed set used for the shipped styles).  Writes the model and its model card.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brushwork.core.losses import gram  # noqa: E402
from brushwork.core.vgg import load_vgg  # noqa: E402
from brushwork.fastnet.data import CropDataset, StepBatches, list_photos  # noqa: E402
from brushwork.fastnet.model import TransformerNet  # noqa: E402
from brushwork.fastnet.modelfile import FastModel, ModelInfo, load_model, resolve, save_model  # noqa: E402

FEATURES = ("relu2_2", "relu3_1")
#: Layers of the optional texture term (Gram matrices of the student's picture against the teacher's).
GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("teacher", help="a shipped style name or a model file")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--fold", type=int, default=1, choices=(1, 2),
                    help="2: the faster video layout (the photo folded 2×2 into channels, see brushwork.fastnet.model)")
    ap.add_argument("--checkpoint-every", type=int, default=0,
                    help="also write the student (and its card) every this many steps, so a long run can be stopped")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--feature-weight", type=float, default=1.0, help="weight of the VGG feature term")
    ap.add_argument("--gram-weight", type=float, default=0.0,
                    help="weight of a texture term: Gram matrices of student and teacher pictures (crisper strokes "
                         "than pixel and feature terms alone, which average towards blur)")
    ap.add_argument("--init", type=Path, help="start from this student (a model file of the same width) instead of scratch")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "training-photos")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = ap.parse_args()
    if args.output.exists() and not args.overwrite:
        raise SystemExit(f"{args.output} exists: pass --overwrite to replace it, or pick another name")
    device = torch.device(args.device)
    torch.manual_seed(args.seed)

    teacher_model = load_model(resolve(args.teacher))
    teacher = teacher_model.net.to(device).eval().requires_grad_(False)
    student = TransformerNet(args.width, args.blocks, args.fold).to(device)
    if args.init is not None:
        start_model = load_model(args.init)
        si = start_model.info
        if (si.width, si.blocks, si.fold) != (args.width, args.blocks, args.fold):
            raise SystemExit(f"--init {args.init} is width {si.width:g} with {si.blocks} blocks (fold {si.fold}), "
                             f"not width {args.width:g} with {args.blocks} (fold {args.fold})")
        student.load_state_dict(start_model.net.state_dict())
    layers = tuple(sorted({*FEATURES, *(GRAM_LAYERS if args.gram_weight else ())}))
    vgg = load_vgg(device=device)
    files = list_photos(args.data)
    data = CropDataset(files, args.crop)
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, eta_min=args.lr * 0.05)
    start = time.perf_counter()
    for step, keys in enumerate(StepBatches(len(files), args.batch, args.seed, stop=args.steps)):
        x = torch.stack([data[k] for k in keys]).to(device)
        with torch.no_grad():
            target = teacher(x)
            t_feats = vgg(target, layers)
        y = student(x)
        s_feats = vgg(y, layers)
        pixel = F.mse_loss(y, target)
        feature = sum(F.mse_loss(s_feats[name], t_feats[name]) for name in FEATURES) / 1e5
        texture = (sum(F.mse_loss(gram(s_feats[name]), gram(t_feats[name])) for name in GRAM_LAYERS) / 1e5
                   if args.gram_weight else torch.zeros(()))
        loss = pixel + args.feature_weight * feature + args.gram_weight * texture
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step + 1}/{args.steps}  pixel {pixel.item():.5f}  feature {feature.item():.5f}  "
                  f"texture {texture.item():.5f}  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and step + 1 < args.steps:
            write(args, student, teacher_model, len(files), step + 1, round(time.perf_counter() - start),
                  start_model if args.init else None)
    seconds = round(time.perf_counter() - start)
    write(args, student, teacher_model, len(files), args.steps, seconds, start_model if args.init else None)
    print(f"wrote {args.output} and its card ({seconds} s)")


def write(args: argparse.Namespace, student: TransformerNet, teacher_model: FastModel, photos: int, steps: int,
          seconds: int, start_model: FastModel | None) -> None:
    """The student as a model file with its card (at the end, and at each checkpoint)."""
    device = torch.device(args.device)
    t_info = teacher_model.info
    source = f"the train split of {args.data}" if args.data.suffix == ".csv" else f"{args.data.name}/ (see its LICENCES.md)"
    info = ModelInfo(args.width, args.blocks, t_info.style, fold=args.fold, extra={
        "style_source": t_info.extra.get("style_source", "?"),
        "distilled_from": f"{resolve(args.teacher).name} (width {t_info.width:g}, {t_info.blocks} blocks)",
        "data": f"{photos} photos from {source}",
        "steps": steps + int(start_model.info.extra.get("steps", 0) if start_model else 0),
        "batch_size": args.batch, "resolution": args.crop,
        "settings": {"loss": f"pixel MSE + {args.feature_weight:g} × VGG {'+'.join(FEATURES)} MSE"
                             + (f" + {args.gram_weight:g} × Gram {'+'.join(GRAM_LAYERS)} MSE" if args.gram_weight else "")
                             + " against the teacher",
                     "lr": args.lr, "schedule": "cosine",
                     "continued_from": f"{args.init.name} ({start_model.info.extra.get('steps', '?')} steps)"
                     if start_model else None},
        "training_seconds": seconds,
        "machine": f"{platform.machine()} {device.type}, torch {torch.__version__}",
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    })
    was_training = student.training
    save_model(student.cpu().eval(), info, args.output, overwrite=True)  # checked at the start; the run owns it
    student.to(device).train(was_training)
    layout = "" if args.fold == 1 else f", fold {args.fold} (the video layout: no layer at full resolution)"
    card = args.output.with_suffix(".md")
    card.write_text("\n".join([
        f"# {t_info.style}: fast style model, distilled (width {args.width:g}{layout})", "",
        "| | |", "|---|---|",
        f"| teacher | {info.extra['distilled_from']}; its own card describes the style training |",
        f"| network | Johnson et al. transformation net, width {args.width:g}, {args.blocks} residual blocks{layout} |",
        f"| training data | {info.extra['data']} |",
        f"| steps | {info.extra['steps']} at batch {args.batch}, {args.crop}×{args.crop} crops"
        + (f" (the last {steps} continuing {args.init.name})" if start_model else "") + " |",
        f"| loss | {info.extra['settings']['loss']} |",
        f"| training time | {seconds} s |",
        f"| machine | {info.extra['machine']} |",
        "| made by | `benchmarks/distill_style.py` |",
        f"| created | {info.extra['created']} |", ""]), encoding="utf-8")


if __name__ == "__main__":
    main()
