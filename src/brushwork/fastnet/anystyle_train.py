"""Training the any-painting network (:mod:`.anystyle`) on photos × paintings, in resumable chunks.

Each step pairs ``batch_size`` photo crops with as many painting crops (two independent,
reproducible streams: the photo and painting orders and every crop are functions of the step,
see :mod:`.data`), encodes each painting, stylizes its photo with that code, and scores the
result on the shared VGG (:mod:`brushwork.core.vgg`) with the losses of one-style training
(:mod:`.train`): content at relu2_2, Gram style at relu1_2, relu2_2, relu3_3, relu4_3 with the
per-layer weights ``STYLE_LAYER_WEIGHTS``, and total variation; the Gram target of each sample
is its own painting's.  VGG is only in the loss: the shipped model runs without it.

Data come from the corpus manifest (``manifest.csv``: ``file``, ``kind`` photo/painting, ``split``):
only ``train`` rows are trained on; a fixed set of ``val`` photos × ``val`` paintings gives the
validation losses (``val.csv``) and a preview sheet (``preview_STEP.jpg``: paintings across the
top, photos down the side) every ``val_every`` steps.

A run lives in one folder: ``checkpoint.pt`` (step, model, Adam, clock, settings; written
atomically every ``checkpoint_every`` steps and when the run stops, including Ctrl-C or
``time_limit``), ``train.csv``, ``val.csv``, previews and ``arbitrary.safetensors`` (the model at
the last checkpoint, ready for ``brushwork fast PAINTING photo --style-model …``).  Run again with
``--resume`` to continue exactly where it stopped (same batches as an uninterrupted run); only
``steps``, ``time_limit``, ``device`` and the logging intervals may change on resume.

    python -m brushwork.fastnet.anystyle_train --data ../shared/data/training/manifest.csv \\
        --run /work/train-runs/arbitrary --crop 128 --steps 20000 --time-limit 3600 [--resume]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ..core.errors import BrushworkError, InputError, OutputError, SettingsError
from ..core.image import load_image, to_pil, to_tensor
from ..core.losses import TVLoss, gram
from ..core.vgg import load_vgg
from .anystyle import AnyStyleModel, make_info
from .data import CropDataset, StepBatches
from .modelfile import save_model

CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
STYLE_LAYER_WEIGHTS = (1.0, 5.0, 0.5, 20.0)
#: Settings that may change on --resume (they do not change what is computed, or only when it stops).
RESUMABLE = {"steps", "time_limit", "device", "checkpoint_every", "log_every", "val_every", "threads", "workers",
             "weights", "init"}
CHECKPOINT = "checkpoint.pt"
MODEL_NAME = "arbitrary.safetensors"


@dataclass(frozen=True)
class AnyTrainSettings:
    steps: int = 20000
    batch_size: int = 4
    crop: int = 256
    style_crop: int = 256
    width: float = 0.5
    blocks: int = 5
    code_dim: int = 100
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 3.0
    tv_weight: float = 1e5
    checkpoint_every: int = 200
    log_every: int = 10
    val_every: int = 500
    time_limit: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    val_photos: int = 4
    val_paintings: int = 6
    workers: int = 0
    amp: bool = False
    weights: str = ""
    init: str = ""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise SettingsError("steps and batch-size must be at least 1.")
        if not (32 <= self.crop <= 1024 and self.crop % 4 == 0 and 32 <= self.style_crop <= 1024):
            raise SettingsError("crop must be a multiple of 4 in 32..1024, style-crop in 32..1024.")


def read_manifest(manifest: Path, kind: str, split: str) -> list[Path]:
    """Files of ``kind`` (photo or painting) and ``split`` in the corpus manifest."""
    try:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"could not read manifest '{manifest}' ({exc}).") from None
    if not rows or not {"file", "kind", "split"} <= set(rows[0]):
        raise InputError(f"manifest '{manifest}' needs the columns file, kind and split.")
    files = sorted(manifest.parent / r["file"] for r in rows if r["kind"] == kind and r["split"] == split)
    if not files:
        raise InputError(f"manifest '{manifest}' lists no {kind}s of split '{split}'.")
    return files


def _jsonable(s: AnyTrainSettings) -> dict:
    return asdict(s)


class AnyTrainer:
    def __init__(self, s: AnyTrainSettings, data: Path, run: Path, resume: bool = False) -> None:
        self.s, self.data, self.run, self.resume = s, Path(data), Path(run), resume

    def _device(self) -> torch.device:
        if self.s.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.s.device)

    def _val_set(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.s
        photos = read_manifest(self.data, "photo", "val")
        paintings = read_manifest(self.data, "painting", "val")
        step_p, step_q = max(1, len(photos) // s.val_photos), max(1, len(paintings) // s.val_paintings)
        side = min(s.crop, 192)

        def square(p: Path, n: int) -> torch.Tensor:
            img = load_image(p, "validation image")
            k = min(img.size)
            img = img.crop(((img.width - k) // 2, (img.height - k) // 2, (img.width - k) // 2 + k, (img.height - k) // 2 + k))
            return to_tensor(img.resize((n, n), Image.Resampling.BILINEAR))

        x = torch.cat([square(p, side) for p in photos[::step_p][:s.val_photos]]).to(device)
        y = torch.cat([square(p, s.style_crop) for p in paintings[::step_q][:s.val_paintings]]).to(device)
        return x, y

    def losses(self, model: AnyStyleModel, x: torch.Tensor, y: torch.Tensor,
               style_feats: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        s = self.s
        # bf16 on CUDA (--amp) for the convolutions; Gram matrices and losses in float32
        amp = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=s.amp and x.device.type == "cuda")
        with torch.no_grad(), amp:
            c_feats = {k: v.float() for k, v in self.vgg(x, CONTENT_LAYERS).items()}
            if style_feats is None:
                f = self.vgg(y, STYLE_LAYERS)
                style_feats = {k: gram(f[k].float()) for k in STYLE_LAYERS}
        with amp:
            out = model(x, y).float()
            feats = self.vgg(out, sorted({*CONTENT_LAYERS, *STYLE_LAYERS}))
        feats = {k: v.float() for k, v in feats.items()}
        content = sum(F.mse_loss(feats[k], c_feats[k]) for k in CONTENT_LAYERS) * (s.content_weight / len(CONTENT_LAYERS))
        style = sum(w * F.mse_loss(gram(feats[k]), style_feats[k]) for k, w in zip(STYLE_LAYERS, STYLE_LAYER_WEIGHTS))
        style = style * (s.style_weight / len(STYLE_LAYERS))
        tv = TVLoss(s.tv_weight)(out)
        total = content + style + tv
        return total, {"content": float(content.detach()), "style": float(style.detach()), "tv": float(tv.detach())}, out

    def validate(self, model: AnyStyleModel, step: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        model.eval()
        rows, outs = [], []
        with torch.no_grad():
            codes = model.encoder(y)
            for j in range(y.shape[0]):
                yj = y[j:j + 1].expand(x.shape[0], -1, -1, -1)
                _, parts, out = self.losses(model, x, yj)
                rows.append(parts)
                outs.append(out)
            del codes
        model.train()
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        new = not (self.run / "val.csv").exists()
        with (self.run / "val.csv").open("a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(["step", "content", "style", "tv"])
            w.writerow([step, *(f"{mean[k]:.6g}" for k in ("content", "style", "tv"))])
        self._sheet(step, x, y, outs)
        return mean

    def _sheet(self, step: int, x: torch.Tensor, y: torch.Tensor, outs: list[torch.Tensor]) -> None:
        n = x.shape[-1]
        sheet = Image.new("RGB", ((len(outs) + 1) * n, (x.shape[0] + 1) * n), "white")
        for j in range(y.shape[0]):
            sheet.paste(to_pil(F.interpolate(y[j:j + 1].cpu(), size=(n, n), mode="area")), ((j + 1) * n, 0))
        for i in range(x.shape[0]):
            sheet.paste(to_pil(x[i:i + 1].cpu()), (0, (i + 1) * n))
            for j, out in enumerate(outs):
                sheet.paste(to_pil(out[i:i + 1].cpu()), ((j + 1) * n, (i + 1) * n))
        sheet.save(self.run / f"preview_{step:06d}.jpg", quality=90)

    def _save(self, model: AnyStyleModel, opt: torch.optim.Optimizer, step: int, seconds: float, device: torch.device,
              n_photos: int, n_paintings: int) -> None:
        state = {"format": "brushwork-anystyle-checkpoint", "version": 1, "step": step, "seconds": seconds,
                 "settings": json.dumps(_jsonable(self.s)),
                 "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                 "optimizer": _cpu(opt.state_dict())}
        tmp = self.run / f".{CHECKPOINT}.part"
        torch.save(state, tmp)
        os.replace(tmp, self.run / CHECKPOINT)
        what = torch.cuda.get_device_name(device) if device.type == "cuda" else \
            f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
        info = make_info(model, data=f"shared training corpus manifest, train split: {n_photos} photos × "
                                     f"{n_paintings} paintings", steps=step, resolution=self.s.crop,
                         batch_size=self.s.batch_size, training_seconds=round(seconds, 1), machine=what,
                         settings=_jsonable(self.s), created=time.strftime("%Y-%m-%d", time.gmtime()))
        model.eval()
        save_model(model, info, self.run / MODEL_NAME, overwrite=True)  # type: ignore[arg-type]
        model.train()
        write_card(info, self.run / "arbitrary.md", self.run / "val.csv")

    def train(self) -> int:
        s = self.s
        if s.threads:
            torch.set_num_threads(s.threads)
        self.run.mkdir(parents=True, exist_ok=True)
        ckpt_file = self.run / CHECKPOINT
        if ckpt_file.exists() and not self.resume:
            raise OutputError(f"'{ckpt_file}' exists: pass --resume to continue that run, or choose another --run.")
        if self.resume and not ckpt_file.exists():
            raise OutputError(f"no checkpoint '{ckpt_file}' to resume from: start without --resume.")
        device = self._device()
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        photos = read_manifest(self.data, "photo", "train")
        paintings = read_manifest(self.data, "painting", "train")
        self.vgg = load_vgg(s.weights or None, "max", "caffe", device)
        torch.manual_seed(s.seed)
        model = AnyStyleModel(s.width, s.blocks, s.code_dim, s.style_crop).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=s.learning_rate)
        step, seconds = 0, 0.0
        if self.resume:
            ck = torch.load(ckpt_file, map_location="cpu", weights_only=True)
            saved = json.loads(ck["settings"])
            defaults = _jsonable(AnyTrainSettings())
            changed = sorted(k for k, v in _jsonable(s).items() if k not in RESUMABLE and saved.get(k, defaults[k]) != v)
            if changed:
                raise SettingsError(f"--resume: these settings differ from the run's: {', '.join(changed)}.")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            step, seconds = int(ck["step"]), float(ck["seconds"])
        elif s.init:  # start from another run's weights (e.g. a GPU run continued on the CPU at another crop)
            model.load_state_dict(torch.load(s.init, map_location="cpu", weights_only=True)["model"])
        vx, vy = self._val_set(device)
        if step >= s.steps:
            return step
        pb = StepBatches(len(photos), s.batch_size, s.seed, start=step, stop=s.steps)
        qb = StepBatches(len(paintings), s.batch_size, s.seed + 1, start=step, stop=s.steps)
        loaders = [DataLoader(CropDataset(files, crop), batch_sampler=batches, num_workers=s.workers,
                              pin_memory=device.type == "cuda", persistent_workers=s.workers > 0,
                              prefetch_factor=4 if s.workers else None)
                   for files, crop, batches in ((photos, s.crop, pb), (paintings, s.style_crop, qb))]
        clock = time.perf_counter() - seconds
        session = time.perf_counter()
        log = self.run / "train.csv"
        if not log.exists():
            log.write_text("step,seconds,loss,content,style,tv\n")
        model.train()
        try:
            for xb, yb in zip(*loaders):
                x, y = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss, parts, _ = self.losses(model, x, y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise BrushworkError(f"the loss became {value} at step {step + 1}: resume from the checkpoint "
                                         "with a lower learning rate.", exit_code=7)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                elapsed = time.perf_counter() - clock
                if step % s.log_every == 0:
                    with log.open("a") as fh:
                        fh.write(f"{step},{elapsed:.1f},{value:.6g},{parts['content']:.6g},{parts['style']:.6g},"
                                 f"{parts['tv']:.6g}\n")
                    print(f"step {step} {elapsed:.0f}s loss {value:.4g} {parts}", flush=True)
                if s.val_every and step % s.val_every == 0:
                    print(f"val {step}: {self.validate(model, step, vx, vy)}", flush=True)
                if s.checkpoint_every and step % s.checkpoint_every == 0:
                    self._save(model, opt, step, elapsed, device, len(photos), len(paintings))
                if s.time_limit and time.perf_counter() - session >= s.time_limit:
                    break
        except KeyboardInterrupt:
            print(f"interrupted at step {step}; checkpoint kept", flush=True)
        self._save(model, opt, step, time.perf_counter() - clock, device, len(photos), len(paintings))
        if step % max(1, s.val_every) != 0:
            self.validate(model, step, vx, vy)
        return step


def write_card(info, path: Path, val_log: Path) -> None:  # noqa: ANN001
    """The model card beside the model: data, steps, time, machine, settings, the last validation losses."""
    e = info.extra
    last = ""
    if val_log.exists():
        rows = val_log.read_text().strip().splitlines()
        if len(rows) > 1:
            last = rows[-1]
    s = e.get("settings", {})
    lines = [
        "# arbitrary: the any-painting network", "", "| | |", "|---|---|",
        f"| network | painting encoder (4 conv levels, mean/std pooling, MLP → {e['code_dim']}-number code) + "
        f"Johnson net width {info.width:g}, {info.blocks} blocks with conditional instance norm |",
        f"| training data | {e.get('data')} (validation split never trained on) |",
        f"| steps | {e.get('steps')} at batch {e.get('batch_size')}, {e.get('resolution')} px photo crops, "
        f"{s.get('style_crop')} px painting crops |",
        f"| losses | content relu2_2 × {s.get('content_weight')}, Gram relu1_2/2_2/3_3/4_3 × (1, 5, 0.5, 20) × "
        f"{s.get('style_weight')} / 4, TV × {s.get('tv_weight')} |",
        f"| training time | {e.get('training_seconds')} s |",
        f"| machine | {e.get('machine')} |",
        f"| last validation (step, content, style, tv) | {last or '–'} |",
        f"| created | {e.get('created')} |", "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _cpu(obj):  # noqa: ANN001, ANN202
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the any-painting network (resumable).")
    ap.add_argument("--data", type=Path, required=True, help="the corpus manifest.csv")
    ap.add_argument("--run", type=Path, required=True, help="run folder (checkpoint, logs, previews, model)")
    ap.add_argument("--resume", action="store_true")
    for f in fields(AnyTrainSettings):
        if isinstance(f.default, bool):
            ap.add_argument("--" + f.name.replace("_", "-"), action="store_true")
        else:
            ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    a = ap.parse_args(argv)
    s = AnyTrainSettings(**{f.name: getattr(a, f.name) for f in fields(AnyTrainSettings)})
    try:
        step = AnyTrainer(s, a.data, a.run, a.resume).train()
    except BrushworkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"stopped at step {step}; model {a.run / MODEL_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
