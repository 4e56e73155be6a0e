"""Watching a training run: validation losses and preview sheets of photos the network never trains on.

A fast-style network can look fine by its training loss and still paint artifacts (speckle,
checkerboards, a flat colour cast) that only show on a picture.  Every ``preview_every`` steps the
trainer therefore paints a few fixed validation photos into a sheet (the painting, the photos, and
what the network makes of them) and appends the same losses as in training, measured on fixed
centre crops of the validation photos, to ``NAME.val.csv`` beside the training log.  The photos,
crops and sizes never change during a run, so the rows of the log are comparable from step to step.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ..core.errors import OutputError
from ..core.image import load_image, to_tensor
from .model import TransformerNet

#: Validation photos in the loss (small: it runs every few hundred steps on a CPU, too).
VAL_LOSS_PHOTOS = 8
#: Photos painted into each preview sheet, and the longest side each is painted at.
PREVIEW_PHOTOS = 4
PREVIEW_SIDE = 256
VAL_COLUMNS = ["step", "seconds", "val_loss", "val_content", "val_style", "val_tv"]


def spread(files: list[Path], k: int) -> list[Path]:
    """``k`` files evenly spread over a sorted list: a corpus sorted by source gives several sources."""
    if len(files) <= k:
        return list(files)
    return [files[round(i * (len(files) - 1) / (k - 1))] if k > 1 else files[0] for i in range(k)]


def _centre_crop(img: Image.Image, side: int) -> Image.Image:
    s = side / min(img.size)
    img = img.resize((max(side, round(img.width * s)), max(side, round(img.height * s))), Image.Resampling.BILINEAR)
    x0, y0 = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((x0, y0, x0 + side, y0 + side))


def _fit4(img: Image.Image, longest: int) -> Image.Image:
    """Resize to ``longest`` px on the long side with both sides divisible by 4 (the network's stride)."""
    s = longest / max(img.size)
    w, h = (max(4, round(img.width * s / 4) * 4), max(4, round(img.height * s / 4) * 4))
    return img.resize((w, h), Image.Resampling.LANCZOS)


def _to_image(t: torch.Tensor) -> Image.Image:
    arr = (t.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(arr)


class Validation:
    """Fixed validation crops for the losses and fixed photos for the preview sheets of one run."""

    def __init__(self, files: list[Path], crop: int, painting: Image.Image, preview_dir: Path, val_log: Path) -> None:
        self.crops = torch.cat([to_tensor(_centre_crop(load_image(f, "validation photo"), crop))
                                for f in spread(files, VAL_LOSS_PHOTOS)])
        self.photos = [_fit4(load_image(f, "validation photo"), PREVIEW_SIDE) for f in spread(files, PREVIEW_PHOTOS)]
        self.painting = painting.copy()
        self.painting.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        self.preview_dir, self.val_log = preview_dir, val_log

    def open_log(self, step: int, resume: bool) -> None:
        """Start the validation log; on resume keep only the rows up to the checkpoint's step."""
        rows: list[list[str]] = []
        if resume and self.val_log.exists():
            with self.val_log.open(newline="") as fh:
                rows = [r for r in list(csv.reader(fh))[1:] if r and r[0].isdigit() and int(r[0]) <= step]
        with self.val_log.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(VAL_COLUMNS)
            w.writerows(rows)

    @torch.no_grad()
    def __call__(self, net: TransformerNet, objective: Callable[[torch.Tensor, torch.Tensor],
                 tuple[torch.Tensor, dict[str, float]]], step: int, seconds: float, device: torch.device) -> float:
        """Log the validation losses at ``step``, write its preview sheet, and return the total loss."""
        was_training = net.training
        net.eval()
        try:
            x = self.crops.to(device)
            loss, parts = objective(x, net(x))
            painted = [_to_image(net(to_tensor(p).to(device))[0]) for p in self.photos]
        finally:
            net.train(was_training)
        total = float(loss)
        with self.val_log.open("a", newline="") as fh:
            csv.writer(fh).writerow([step, f"{seconds:.2f}", f"{total:.6g}",
                                     *(f"{parts.get(k, 0.0):.6g}" for k in ("content", "style", "tv"))])
        self._sheet(painted, step, total)
        return total

    def _sheet(self, painted: list[Image.Image], step: int, loss: float) -> Path:
        """Painting in the first column, then each photo above its painted version."""
        cell, label = PREVIEW_SIDE, 16
        sheet = Image.new("RGB", (cell * (len(self.photos) + 1), 2 * cell + label), "white")
        sheet.paste(self.painting, ((cell - self.painting.width) // 2, (cell - self.painting.height) // 2))
        for i, (photo, out) in enumerate(zip(self.photos, painted), start=1):
            sheet.paste(photo, (i * cell + (cell - photo.width) // 2, (cell - photo.height) // 2))
            sheet.paste(out, (i * cell + (cell - out.width) // 2, cell + (cell - out.height) // 2))
        ImageDraw.Draw(sheet).text((4, 2 * cell + 2), f"step {step}   validation loss {loss:.4g}", fill="black")
        self.preview_dir.mkdir(exist_ok=True)
        path = self.preview_dir / f"step_{step:06d}.jpg"
        tmp = path.with_name(f".{path.name}.part")
        try:
            sheet.save(tmp, format="JPEG", quality=88)
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"could not write preview '{path}' ({exc.strerror or exc}): check free space.") from None
        return path
