"""Folders of images on a Ray cluster: a streaming pipeline through a pool of workers.

The (input, output) pairs are planned on the driver with the single-machine naming rules; the
outputs that already exist are skipped (unless ``overwrite``), which is what makes a rerun after
a crash continue.  The remaining pairs stream through a fixed pool of Ray Data actors: each
worker loads the network (``fast``) or VGG and the style images (``stylize``) once, then reads,
stylizes and writes its images; only paths and one status per image travel through the object
store, so memory stays bounded whatever the folder size.

Nothing is lost and nothing is written twice: an output is written to a temporary file and put
in place with a hard link, which fails rather than replaces an output that appeared meanwhile
(:func:`brushwork.core.files.commit_file`).  When a worker dies, Ray restarts it and retries its
unfinished batch; the images of that batch that were already written are found and reported as
present, not written again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import BrushworkError, Diverged, InputError, Interrupted, OutputError, SettingsError
from ..core.progress import Progress, ProgressCallback, silent
from ..fastnet.settings import FastSettings
from ..gatys.settings import StylizeSettings
from .connect import ClusterOptions, WorkerShape, connected, worker_shape

#: Row statuses a worker reports.
WRITTEN, PRESENT, BAD, FAILED, DIVERGED = "written", "present", "bad", "failed", "diverged"


@dataclass(frozen=True)
class ImageJob:
    """What every worker runs: a fast network (``model`` + ``fast``) or optimisation
    (``stylize`` settings + ``styles``, the style image files)."""

    kind: str
    model: str = ""
    fast: FastSettings = field(default_factory=FastSettings)
    stylize: StylizeSettings = field(default_factory=StylizeSettings)
    styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("fast", "stylize"):
            raise SettingsError(f"unknown image job '{self.kind}': fast or stylize.")
        if self.kind == "stylize" and not self.styles:
            raise SettingsError("give at least one style image.")

    def batch_size(self) -> int:
        """Images per task: the network's batch; one photo per task for optimisation (~seconds each)."""
        return self.fast.batch_size if self.kind == "fast" else 1


@dataclass
class ImagesResult:
    """What a run did, image by image."""

    total: int = 0
    written: int = 0
    present: int = 0
    """Outputs that existed already (from an earlier run, or written before a worker died)."""
    bad: list[tuple[str, str]] = field(default_factory=list)
    """(input, one-line reason) of the inputs that could not be read; they were skipped."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(output, reason) of the outputs that could not be written."""
    diverged: list[tuple[str, str]] = field(default_factory=list)
    workers: str = ""
    pids: set[int] = field(default_factory=set)
    """Worker processes that wrote images (several after a restart)."""
    seconds: float = 0.0

    def summary(self, where: Path) -> str:
        kept = f", {self.present} already there" if self.present else ""
        return f"wrote {self.written} image(s) to {where}{kept} ({self.seconds:.1f} s on {self.workers or 'no workers'})"

    def error(self) -> BrushworkError | None:
        """What the command exits with: outputs not written (3), inputs skipped (2), diverged (7), else None."""
        if self.failed:
            return OutputError(f"{len(self.failed)} output(s) could not be written (see above): check free space and "
                               "permissions, then run the same command again.")
        if self.bad:
            return InputError(f"{len(self.bad)} of {self.total} input(s) could not be read and were skipped (see above); "
                              "the others were written.")
        if self.diverged:
            return Diverged(f"{len(self.diverged)} image(s) diverged and kept their last good result: lower "
                            "--style-weight or --learning-rate and rerun them with --overwrite.")
        return None


class Worker:
    """One Ray Data actor: the model loaded once, then batches of (src, dest) rows."""

    def __init__(self, job: ImageJob, threads: int, overwrite: bool) -> None:
        import torch

        torch.set_num_threads(threads)
        self.job, self.overwrite = job, overwrite
        if job.kind == "fast":
            from ..fastnet.infer import FastStylizer

            settings = job.fast if job.fast.threads else replace(job.fast, threads=threads)
            self.fast = FastStylizer(job.model, settings)
        else:
            from ..core.image import load_image
            from ..gatys.stylizer import Stylizer

            self.stylizer = Stylizer(job.stylize)  # VGG once per worker
            self.styles = [load_image(Path(p), "style image") for p in job.styles]

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        rows = list(zip((str(s) for s in batch["src"]), (str(d) for d in batch["dest"])))
        out: dict[str, list[Any]] = {"src": [], "dest": [], "status": [], "message": [], "pid": []}

        def report(src: str, dest: str, status: str, message: str = "") -> None:
            for key, value in zip(out, (src, dest, status, message, os.getpid())):
                out[key].append(value)

        if self.job.kind == "fast":
            self._fast(rows, report)
        else:
            self._stylize(rows, report)
        return out

    def _todo(self, rows: Sequence[tuple[str, str]], report: Callable[..., None]) -> list[tuple[str, str, Any]]:
        """Rows whose output is still missing, with their decoded image; the others are reported."""
        from ..core.errors import InputError
        from ..core.image import load_image

        todo = []
        for src, dest in rows:
            if not self.overwrite and os.path.exists(dest):
                report(src, dest, PRESENT)
                continue
            try:
                todo.append((src, dest, load_image(Path(src), "input image")))
            except InputError as exc:
                report(src, dest, BAD, exc.message)
        return todo

    def _save(self, image: Any, src: str, dest: str, report: Callable[..., None]) -> bool:
        from ..core.image import save_image

        try:
            save_image(image, Path(dest), self.overwrite)
        except OutputError as exc:
            if not self.overwrite and os.path.exists(dest):  # written by an earlier attempt of this task
                report(src, dest, PRESENT)
            else:
                report(src, dest, FAILED, exc.message)
            return False
        return True

    def _fast(self, rows: Sequence[tuple[str, str]], report: Callable[..., None]) -> None:
        todo = self._todo(rows, report)
        for (src, dest, _), result in zip(todo, self.fast.stream(img for _, _, img in todo)):
            if self._save(result, src, dest, report):
                report(src, dest, WRITTEN)

    def _stylize(self, rows: Sequence[tuple[str, str]], report: Callable[..., None]) -> None:
        for src, dest, content in self._todo(rows, report):
            result = self.stylizer.run(content, self.styles)
            if not self._save(result.image, src, dest, report):
                continue
            if result.stopped and not result.stopped.interrupted:
                report(src, dest, DIVERGED, result.stopped.error(Path(dest), "Lower --style-weight.").message)
            else:
                report(src, dest, WRITTEN)


def _quiet_ray_data(ray: Any) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_images(
    job: ImageJob,
    pairs: Sequence[tuple[Path, Path]],
    overwrite: bool = False,
    options: ClusterOptions | None = None,
    progress: ProgressCallback = silent,
    on_bad: Callable[[str, str], None] | None = None,
) -> ImagesResult:
    """Stylize (input, output) pairs on a Ray cluster; returns what happened to each.

    Existing outputs are skipped unless ``overwrite``; an input that cannot be read is reported
    through ``on_bad(input, reason)`` as soon as it is found, skipped, and listed in the result.
    """
    options = options or ClusterOptions()
    start = time.perf_counter()
    result = ImagesResult(total=len(pairs))
    pairs = [(Path(s).absolute(), Path(d).absolute()) for s, d in pairs]  # workers may run elsewhere
    todo = list(pairs) if overwrite else [(s, d) for s, d in pairs if not d.exists()]
    result.present = len(pairs) - len(todo)
    if not todo:
        return result
    with connected(options) as ray:
        import ray.data

        _quiet_ray_data(ray)
        shape: WorkerShape = worker_shape(ray, options, most=math.ceil(len(todo) / job.batch_size()))
        result.workers = shape.describe()
        per_task = job.batch_size()
        ds = ray.data.from_items([{"src": str(s), "dest": str(d)} for s, d in todo],
                                 override_num_blocks=max(1, math.ceil(len(todo) / per_task)))
        ds = ds.map_batches(Worker, fn_constructor_args=(job, shape.threads, overwrite), batch_size=per_task,
                            compute=ray.data.ActorPoolStrategy(size=shape.count), num_cpus=shape.cpus,
                            num_gpus=shape.gpus or None, batch_format="numpy")
        stage = f"{job.kind} on {result.workers}"
        done = result.present
        progress(Progress(job=job.kind, stage=stage, step=done, steps=len(pairs), done=done, total=len(pairs)))
        try:
            for row in ds.iter_rows():
                status, src, dest = row["status"], str(row["src"]), str(row["dest"])
                if status == WRITTEN:
                    result.written += 1
                    result.pids.add(int(row["pid"]))
                elif status == PRESENT:
                    result.present += 1
                elif status == BAD:
                    result.bad.append((src, str(row["message"])))
                    if on_bad is not None:
                        on_bad(src, str(row["message"]))
                elif status == DIVERGED:
                    result.written += 1
                    result.diverged.append((dest, str(row["message"])))
                else:
                    result.failed.append((dest, str(row["message"])))
                done += 1
                progress(Progress(job=job.kind, stage=stage, step=done, steps=len(pairs), done=done, total=len(pairs)))
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted after {done} of {len(pairs)} images; the finished ones are kept: run the "
                              "same command again to do the rest.") from None
        except BrushworkError:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker that could not start (weights, memory) ends the job
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BrushworkError):
                raise cause from None
            raise
    _sweep([d for _, d in todo])
    result.seconds = time.perf_counter() - start
    return result


def _sweep(dests: Sequence[Path]) -> None:
    """Remove the temporary files a killed worker left beside outputs that are now complete
    (``.<name>.<random>.part``, see :func:`brushwork.core.files.write_atomically`)."""
    names: dict[Path, set[str]] = {}
    for d in dests:
        names.setdefault(d.parent, set()).add(d.name)
    for folder, wanted in names.items():
        with os.scandir(folder) as entries:
            for entry in entries:
                n = entry.name
                if n.startswith(".") and n.endswith(".part"):
                    base = n[1:].rsplit(".", 2)[0]
                    if base in wanted and (folder / base).exists():
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
