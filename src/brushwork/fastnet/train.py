"""Training a transformation network for one style (Johnson, Alahi & Fei-Fei, ECCV 2016).

The network is trained with perceptual losses from :mod:`brushwork.core.losses` on the shared VGG:

* **content** at ``relu2_2`` (weight 1): Johnson et al. found that matching this early layer
  keeps the photo's edges and layout while leaving colour and texture free for the style;
  deeper content layers (relu4_2, as in Gatys' optimisation) let the network repaint objects.
* **style** Gram matrices at ``relu1_2, relu2_2, relu3_3, relu4_3`` (the paper's four layers;
  VGG-19 has layers of the same names).  Layers 1–2 carry colour and fine brush texture,
  layers 3–4 the larger strokes and swirls.  With brushwork's Gram normalisation (÷ C·H·W, Caffe
  input scale) a photo's distance to a painting is, per layer, roughly 3e5 : 6e4 : 6e5 : 1e4
  (measured on the training photos against Starry Night, The Scream and The Shipwreck).  The
  per-layer weights ``STYLE_LAYER_WEIGHTS`` = (1, 5, 0.5, 20) bring the four to similar sizes,
  so the deep layers, which give a painting its recognisable strokes, are not drowned by colour.
  ``style_weight`` 5 against ``content_weight`` 1 was chosen by optimising single images with
  these exact losses (``brushwork stylize`` with the same layers): at 0.3 the photo is merely
  tinted, at 3–5 it is clearly painted while its layout survives, beyond 30 it dissolves.
* **total variation** (weight ``tv_weight`` 1e5; a natural photo scores about 3e-3, so this
  costs about 300, little next to a content loss of ~1e4, but a speckled output scores ten
  times more) removes the high-frequency speckle a feed-forward net otherwise produces.

Optimisation is Adam (lr 1e-3, as in the paper) on random square crops of any folder of photos;
the paper used COCO train2014 (~83k photos, 2 epochs at batch 4 = 40k steps, 256×256).

The same code runs single-process or under ``torchrun`` with DistributedDataParallel (gloo on
CPU, nccl on GPU); each process takes its share of every epoch's photos and only rank 0 writes
the model, checkpoints and the CSV log.  A checkpoint holds the step, the network, Adam's
state and the training clock; because the data order is a function of the step (see
:mod:`.data`), ``resume`` continues the very same run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist
from torch.utils.data import DataLoader

from ..core.device import memory_guard, resolve_device
from ..core.errors import BrushworkError, InputError, Interrupted, OutputError, SettingsError, WeightsError
from ..core.files import check_readable
from ..core.image import fit_size, load_image, resize, to_tensor
from ..core.losses import ContentLoss, Objective, StyleLoss, TVLoss, style_grams
from ..core.progress import Progress, ProgressCallback, silent
from ..core.vgg import load_vgg
from .data import CropDataset, StepBatches, list_photos
from .model import TransformerNet
from .modelfile import ModelInfo, check_model_output, save_model
from .settings import TrainSettings
from .validation import Validation

CHECKPOINT_VERSION = 1
#: Settings that may change when a run is resumed; any other change would make it another run.
RESUMABLE_CHANGES = {"steps", "checkpoint_every", "log_every", "time_limit", "workers", "device", "preview_every",
                     "val_data"}


def checkpoint_path(model: Path) -> Path:
    """Checkpoint beside the model: ``starry.safetensors`` → ``starry.ckpt``."""
    return model.with_suffix(".ckpt")


def log_path(model: Path) -> Path:
    """CSV loss log beside the model: ``starry.safetensors`` → ``starry.log.csv``."""
    return model.with_suffix(".log.csv")


def val_log_path(model: Path) -> Path:
    """Validation losses beside the model: ``starry.safetensors`` → ``starry.val.csv``."""
    return model.with_suffix(".val.csv")


def preview_dir(model: Path) -> Path:
    """Preview sheets beside the model: ``starry.safetensors`` → ``starry.preview/step_000100.jpg`` …"""
    return model.with_suffix(".preview")


def card_path(model: Path) -> Path:
    """Model card beside the model: ``starry.safetensors`` → ``starry.md``."""
    return model.with_suffix(".md")


def file_sha256(path: Path) -> str:
    """Content hash of a file: a resumed run must see the very same style image, not just its name."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def photo_list_sha256(files: list[Path], root: Path) -> str:
    """Hash of the photo list (paths relative to the data folder or manifest, so the corpus may move).

    The list decides which photo each step sees; another list silently makes the resumed run another run.
    """
    base = root if root.is_dir() else root.parent
    names = []
    for f in files:
        try:
            names.append(f.relative_to(base).as_posix())
        except ValueError:
            names.append(f.as_posix())
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


@dataclass
class TrainResult:
    """What a run did; ``net`` is this process's replica (identical on every rank)."""

    net: TransformerNet
    step: int
    seconds: float
    stopped: str | None
    model: Path | None
    info: ModelInfo


def _dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def machine_description(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        what = f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return f"{what} × {world} processes" if world > 1 else what


class Trainer:
    """One training run: set up with the style, data and output, then :meth:`run`."""

    def __init__(self, settings: TrainSettings, style: str | Path, data: str | Path, output: str | Path,
                 overwrite: bool = False, resume: bool = False) -> None:
        self.s = settings
        self.style_path, self.data_dir, self.output = Path(style), Path(data), Path(output)
        self.overwrite, self.resume = overwrite, resume
        self.rank, self.world, self.local_rank = _dist_env()
        self.started_dist = False

    @contextlib.contextmanager
    def _term_saves(self) -> Any:
        """SIGTERM (``kill``, a batch system's time limit) stops the run like Ctrl-C: with a checkpoint.

        A long CPU run is stopped and continued many times; without this, a plain ``kill`` would lose
        every step since the last periodic checkpoint.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        before = signal.signal(signal.SIGTERM, interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, before)

    # -- set-up ------------------------------------------------------------------------------
    def _check_outputs(self) -> None:
        ckpt = checkpoint_path(self.output)
        if self.resume:
            if not ckpt.is_file():
                raise OutputError(f"no checkpoint '{ckpt}' to resume from: start the run without --resume.")
            check_model_output(self.output, overwrite=True)
            return
        for extra in (ckpt, log_path(self.output), card_path(self.output), val_log_path(self.output)):
            if extra.exists() and not self.overwrite:
                raise OutputError(f"'{extra}' already exists: pass --resume to continue that run, or --overwrite to start again.")
        check_model_output(self.output, self.overwrite)

    def _device(self) -> torch.device:
        dev = resolve_device(self.s.device)
        if self.world > 1 and dev.type == "cuda":
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        return dev

    def _init_dist(self, device: torch.device) -> None:
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.started_dist = True

    def _style_terms(self, device: torch.device) -> list[StyleLoss]:
        s = self.s
        img = load_image(self.style_path, "style image")
        style = to_tensor(resize(img, fit_size(img.size, s.style_size))).to(device)
        grams = style_grams(self.vgg, [style], s.style_layers)
        lw = s.style_layer_weights or (1.0,) * len(s.style_layers)
        return [StyleLoss(layer, grams[layer], s.style_weight * w / len(s.style_layers))
                for layer, w in zip(s.style_layers, lw)]

    def _load_checkpoint(self, net: TransformerNet, opt: torch.optim.Optimizer) -> tuple[int, float]:
        path = checkpoint_path(self.output)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            if ckpt.get("format") != "brushwork-fastnet-checkpoint":
                raise ValueError("not a checkpoint")
        except Exception:  # noqa: BLE001 - many exception types for a bad file
            raise WeightsError(f"'{path}' is not a brushwork training checkpoint: start again with --overwrite.") from None
        if ckpt.get("version") != CHECKPOINT_VERSION:
            raise WeightsError(f"checkpoint '{path}' is of version {ckpt.get('version')}; this brushwork reads "
                               f"{CHECKPOINT_VERSION}: start again with --overwrite.")
        saved = json.loads(ckpt["settings"])
        now = _jsonable(asdict(self.s))
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
        if changed:
            raise SettingsError(
                f"--resume continues the run in '{path}', but these settings differ from it: {', '.join(changed)}; "
                "use the original values, or start a new run with --overwrite."
            )
        if ckpt.get("style") != self.style_name:
            raise SettingsError(f"checkpoint '{path}' was trained on style '{ckpt.get('style')}', not '{self.style_name}'.")
        # Checkpoints written before the hashes were recorded have none: nothing to compare there.
        if ckpt.get("style_sha256") not in (None, self.style_sha256):
            raise SettingsError(f"--resume: the style image '{self.style_path}' is not the image checkpoint '{path}' was "
                                "trained on (its content differs); give that image, or start afresh with --overwrite.")
        if ckpt.get("photos_sha256") not in (None, self.photos_sha256):
            raise SettingsError(f"--resume: the training photos of '{self.data_dir}' ({self.n_photos} listed) are not the "
                                f"set checkpoint '{path}' was trained on ({ckpt.get('photos', '?')} listed); give that set, "
                                "or start afresh with --overwrite.")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        return int(ckpt["step"]), float(ckpt["seconds"])

    @property
    def style_name(self) -> str:
        return self.s.name or self.style_path.stem

    # -- the run -----------------------------------------------------------------------------
    def run(self, progress: ProgressCallback = silent) -> TrainResult:
        if self.rank == 0:
            self._check_outputs()
        check_readable(self.style_path, "style image")  # before hashing it: a FIFO would block the read
        files = list_photos(self.data_dir)
        self.style_sha256 = file_sha256(self.style_path)
        self.photos_sha256, self.n_photos = photo_list_sha256(files, self.data_dir), len(files)
        device = self._device()
        self._init_dist(device)
        try:
            with self._term_saves():
                return self._run(files, device, progress if self.rank == 0 else silent)
        except BaseException:
            # A run that failed before its first checkpoint cannot be resumed: leave no log behind.
            if self.rank == 0 and not self.resume and not checkpoint_path(self.output).exists():
                log_path(self.output).unlink(missing_ok=True)
            raise
        finally:
            if self.started_dist:
                dist.destroy_process_group()

    def _run(self, files: list[Path], device: torch.device, progress: ProgressCallback) -> TrainResult:
        s = self.s
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        self.vgg = load_vgg(s.weights, "max", s.preprocessing, device)
        self.vgg.check_layers([*s.content_layers, *s.style_layers])
        style_terms = self._style_terms(device)
        tv = TVLoss(s.tv_weight) if s.tv_weight else None

        torch.manual_seed(s.seed)  # identical initial weights on every rank
        net = TransformerNet(s.width, s.blocks).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=s.learning_rate)
        step, seconds = (self._load_checkpoint(net, opt) if self.resume else (0, 0.0))
        for state in opt.state.values():  # the checkpoint was loaded on the CPU
            for k, v in state.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    state[k] = v.to(device)
        model: torch.nn.Module = net
        if self.world > 1:
            model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        validation = self._validation(step) if self.rank == 0 else None
        if self.rank == 0:
            self._open_log(step)

        def val_objective(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            feats = self.vgg(x, s.content_layers) if s.content_layers else {}
            terms = [ContentLoss(layer, feats[layer], s.content_weight / len(s.content_layers))
                     for layer in s.content_layers]
            return Objective(self.vgg, terms, style_terms, tv)(y)

        every = s.checkpoint_every if s.preview_every is None else s.preview_every
        validated = -1

        batches = StepBatches(len(files), s.batch_size, s.seed, self.rank, self.world, start=step, stop=s.steps)
        loader = DataLoader(CropDataset(files, s.crop), batch_sampler=batches, num_workers=s.workers,
                            pin_memory=device.type == "cuda", persistent_workers=False)
        stopped: str | None = None
        start_clock = time.perf_counter() - seconds
        parts: dict[str, float] = {}
        loss_value = float("nan")
        net.train()
        try:
            with memory_guard(f"training at crop {s.crop} with batch {s.batch_size}",
                              "use a smaller --crop or --batch-size"):
                for batch in loader:
                    x = batch.to(device, non_blocking=True)
                    with torch.no_grad():
                        c_feats = self.vgg(x, s.content_layers) if s.content_layers else {}
                    content_terms = [ContentLoss(layer, c_feats[layer], s.content_weight / len(s.content_layers))
                                     for layer in s.content_layers]
                    objective = Objective(self.vgg, content_terms, style_terms, tv)
                    loss, parts = objective(model(x))
                    loss_value = float(loss.detach())
                    if not math.isfinite(loss_value):  # checked before the step: the weights are still good
                        self._save_checkpoint(net, opt, step, time.perf_counter() - start_clock)
                        raise BrushworkError(
                            f"the training loss became {loss_value} at step {step + 1}; the last good state (step {step}) "
                            f"is in '{checkpoint_path(self.output)}': lower --learning-rate or --style-weight and start "
                            "again with --overwrite.", exit_code=7)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    elapsed = time.perf_counter() - start_clock
                    if self.rank == 0 and (step % s.log_every == 0 or step == s.steps):
                        self._log(step, elapsed, loss_value, parts)
                    progress(Progress(job="train", stage=f"train {self.style_name}", step=step, steps=s.steps,
                                      done=step, total=s.steps, loss=loss_value, parts=dict(parts)))
                    if validation is not None and every and step % every == 0:
                        validation(net, val_objective, step, elapsed, device)
                        validated = step
                    if s.checkpoint_every and step % s.checkpoint_every == 0 and step < s.steps:
                        self._save_checkpoint(net, opt, step, elapsed)
                    if s.time_limit and self._agree(elapsed >= s.time_limit, device):
                        stopped = f"time limit of {s.time_limit:g} s reached at step {step}"
                        break
        except KeyboardInterrupt:
            seconds = time.perf_counter() - start_clock
            self._save_checkpoint(net, opt, step, seconds)
            raise Interrupted(f"interrupted at step {step}; the checkpoint '{checkpoint_path(self.output)}' "
                              "keeps it: run the same command with --resume to continue.") from None
        seconds = time.perf_counter() - start_clock
        if validation is not None and validated != step and (s.preview_every is None or s.preview_every):
            validation(net, val_objective, step, seconds, device)
        self._save_checkpoint(net, opt, step, seconds)
        net.eval()
        info = self._info(files, step, seconds, device, loss_value, parts)
        written = None
        if self.rank == 0:
            written = save_model(net, info, self.output, overwrite=True)
            write_card(info, card_path(self.output))
        if self.world > 1:
            dist.barrier()
        return TrainResult(net=net, step=step, seconds=seconds, stopped=stopped, model=written, info=info)

    def _validation(self, step: int) -> Validation | None:
        """The run's fixed validation photos, or None when previews are off or there are none."""
        s = self.s
        if not self.resume:  # a fresh run: the sheets and validation log of the run it replaces must go
            for old in preview_dir(self.output).glob("step_*.jpg"):
                old.unlink()
            val_log_path(self.output).unlink(missing_ok=True)
        if s.preview_every == 0:
            return None
        if s.val_data is not None:
            files = list_photos(s.val_data, split="val")
        elif self.data_dir.is_file():
            try:
                files = list_photos(self.data_dir, split="val")
            except InputError:  # a manifest of the user's own without a val split: train without previews
                return None
        else:
            return None
        v = Validation(files, s.crop, load_image(self.style_path, "style image"), preview_dir(self.output),
                       val_log_path(self.output))
        v.open_log(step, self.resume)
        return v

    def _agree(self, flag: bool, device: torch.device) -> bool:
        """Every rank stops at the same step: rank 0's clock decides."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    # -- files (rank 0 only) ------------------------------------------------------------------
    def _save_checkpoint(self, net: TransformerNet, opt: torch.optim.Optimizer, step: int, seconds: float) -> None:
        if self.rank != 0:
            return
        path = checkpoint_path(self.output)
        state = {
            "format": "brushwork-fastnet-checkpoint", "version": CHECKPOINT_VERSION, "step": step, "seconds": seconds,
            "style": self.style_name, "settings": json.dumps(_jsonable(asdict(self.s))),
            "style_sha256": self.style_sha256, "photos_sha256": self.photos_sha256, "photos": self.n_photos,
            "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "optimizer": _to_cpu(opt.state_dict()),
        }
        tmp = path.with_name(f".{path.name}.part")
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"could not write checkpoint '{path}' ({exc.strerror or exc}): check free space.") from None

    def _open_log(self, step: int) -> None:
        """Start the CSV log, or on resume keep only the rows up to the checkpoint's step."""
        path = log_path(self.output)
        rows: list[list[str]] = []
        if self.resume and path.exists():
            with path.open(newline="") as fh:
                rows = [r for r in list(csv.reader(fh))[1:] if r and r[0].isdigit() and int(r[0]) <= step]
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "seconds", "loss", "content", "style", "tv"])
            w.writerows(rows)

    def _log(self, step: int, seconds: float, loss: float, parts: dict[str, float]) -> None:
        with log_path(self.output).open("a", newline="") as fh:
            csv.writer(fh).writerow([step, f"{seconds:.2f}", f"{loss:.6g}", *(f"{parts.get(k, 0.0):.6g}"
                                                                               for k in ("content", "style", "tv"))])

    def _info(self, files: list[Path], step: int, seconds: float, device: torch.device, loss: float,
              parts: dict[str, float]) -> ModelInfo:
        s = self.s
        settings = {k: v for k, v in _jsonable(asdict(s)).items() if k not in ("device", "workers", "weights")}
        return ModelInfo(width=s.width, blocks=s.blocks, style=self.style_name, extra={
            "style_source": self.style_path.name,
            "data": (f"{len(files)} train-split photos of '{self.data_dir.parent.name}/{self.data_dir.name}'"
                     if self.data_dir.is_file() else f"{len(files)} photos from '{self.data_dir.name}'"),
            "steps": step, "resolution": s.crop, "batch_size": s.batch_size * self.world,
            "training_seconds": round(seconds, 1), "machine": machine_description(device, self.world),
            "final_loss": {"total": loss, **parts}, "settings": settings,
            "created": time.strftime("%Y-%m-%d", time.gmtime()),
        })


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def write_card(info: ModelInfo, path: Path) -> Path:
    """A short markdown model card: what the model is and exactly how it was made."""
    e = info.extra
    settings = e.get("settings", {})
    lines = [
        f"# {info.style}: fast style model",
        "",
        "| | |", "|---|---|",
        f"| style image | {e.get('style_source', '?')} |",
        f"| network | Johnson et al. transformation net, width {info.width:g}, {info.blocks} residual blocks |",
        f"| training data | {e.get('data', '?')} |",
        f"| steps | {e.get('steps', '?')} at batch {e.get('batch_size', '?')} |",
        f"| resolution | {e.get('resolution', '?')}×{e.get('resolution', '?')} crops; style image at "
        f"{settings.get('style_size', '?')} px |",
        f"| losses | content {settings.get('content_layers')} × {settings.get('content_weight')}, "
        f"style {settings.get('style_layers')} × {settings.get('style_weight')} "
        f"(per layer {settings.get('style_layer_weights')}), TV × {settings.get('tv_weight')} |",
        f"| training time | {e.get('training_seconds', '?')} s |",
        f"| machine | {e.get('machine', '?')} |",
        f"| model format | version {info.format_version} |",
        f"| created | {e.get('created', '?')} |",
        "",
    ]
    with contextlib.suppress(OSError):
        path.write_text("\n".join(lines), encoding="utf-8")
    return path


def settings_fields() -> list[str]:
    return [f.name for f in fields(TrainSettings)]


def train(style: str | Path, data: str | Path, output: str | Path, overwrite: bool = False, resume: bool = False,
          progress: ProgressCallback = silent, **settings: Any) -> TrainResult:
    """Train a fast style model; ``settings`` are the fields of :class:`TrainSettings`."""
    return Trainer(TrainSettings(**settings), style, data, output, overwrite, resume).run(progress)
