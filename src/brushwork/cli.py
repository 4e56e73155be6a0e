"""The ``brushwork`` command line: options → settings dataclass → API call, nothing more.

Each command's options are generated from its job's settings dataclass (fields declared with
:func:`brushwork.core.settings.setting`), so a new setting appears on the command line with its
default, help text and choices without being written twice.  Every
:class:`~brushwork.core.errors.BrushworkError` becomes one line on stderr and its exit code;
``--debug`` shows tracebacks instead.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import math
import os
import shutil
import signal
import sys
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column

from . import __version__
from .core import settings as fields_spec
from .core.device import is_out_of_memory
from .core.errors import EXIT_INTERNAL, BrushworkError, Diverged, InputError, OutputError, ResourceError, SettingsError
from .core.files import IMAGE_SUFFIXES, SAVE_FORMATS, check_output, input_files, refuse_inputs, write_atomically
from .core.image import fit_size, load_image, save_image
from .core.names import default_output, free_name, name_part
from .core.progress import Progress as JobProgress
from .core.progress import RecentRate, clock
from .fastnet.settings import FastSettings, TrainSettings
from .gatys.presets import settings_from
from .gatys.settings import StylizeSettings
from .harmonization.settings import HarmonizeSettings
from .video.settings import VideoSettings

if typing.TYPE_CHECKING:
    from .gatys.stylizer import StylizeResult
# The jobs themselves (and PyTorch, 2 s to import) are imported inside the commands that run them,
# so `brushwork fast` on onnxruntime, `--help` and usage errors never pay for them.

#: Flags of the whole program, accepted before or after the command name.
GLOBAL_FLAGS = ("--debug", "--quiet", "-q", "--version")


def _global_flags_first(args: list[str]) -> list[str]:
    """Move global flags to the front so ``brushwork fast … -q`` works like ``brushwork -q fast …``
    (everything after a ``--`` is left alone)."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


#: The parser's usage error and its no-arguments-given case, wherever this typer keeps its click
#: (recent versions vendor it): found from typer's public BadParameter.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_NoArgsIsHelp = getattr(sys.modules[_UsageError.__module__], "NoArgsIsHelpError", ())


#: Signals that end a run like Ctrl-C (the last good result kept, temporaries removed), with exit
#: code 128 + the signal's number: SIGTERM (kill, docker stop, schedulers) 143, SIGHUP (the
#: terminal closed) 129.
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _stop_signals_as_interrupts(received: list[int]) -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread, so every
    Ctrl-C path (keep the last good result, remove temporaries) handles them too; ``received`` gets
    the signal.  A second one during the clean-up is only noted.  A signal the parent ignores stays
    ignored (``nohup brushwork …`` must survive the terminal closing).  The old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt

    previous = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) == signal.SIG_IGN:
            continue
        with contextlib.suppress(OSError, ValueError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Commands(typer.core.TyperGroup):
    """The command group, with brushwork's rules for what click would handle itself: global flags
    anywhere, and a usage mistake (unknown option, a value that does not parse, a choice not
    offered) as one line with exit code 4, like every other settings error."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        console_script = args is None  # not a test's in-process call, which passes its arguments
        args = _global_flags_first(list(sys.argv[1:] if args is None else args))
        received: list[int] = []
        try:
            with _stop_signals_as_interrupts(received):
                code = super().main(args=args, prog_name=prog_name or "brushwork", complete_var=complete_var,
                                    standalone_mode=False, **extra)
        except _NoArgsIsHelp as exc:
            exc.show()
            code = 0
        except _UsageError as exc:
            text = exc.format_message()
            if text.endswith(" is not readable."):  # typer's own check of a file argument: an input problem
                err.print(f"[bold red]error:[/] {escape(text.removesuffix('.'))}: check its permissions.")
                code = InputError.exit_code
            else:
                hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
                err.print(f"[bold red]error:[/] {escape(text)}{hint}")
                code = SettingsError.exit_code
        except (typer.Abort, KeyboardInterrupt):  # Ctrl-C outside a job
            err.print("interrupted.")
            code = 130
        if received and code in (0, 130):  # 0: a server that closed itself on the interrupt
            code = 128 + received[0]
        if console_script and code in (0, None) and _NO_TEARDOWN.is_set():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        sys.exit(code if isinstance(code, int) else 0)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from .cli_help import render_group_help

        render_group_help(self, ctx)


#: Set by a command that finished with nothing left for Python's shutdown to do (no server, no Ray,
#: no child process; every output fsynced and renamed into place).  The console script then ends
#: with ``os._exit``, skipping the interpreter's teardown of onnxruntime, OpenCV and NumPy: 0.1–0.2 s
#: of a one-second `brushwork fast`, measured on the project's 2-core CPU.
_NO_TEARDOWN = threading.Event()


class _Command(typer.core.TyperCommand):
    """A command whose ``--help`` is drawn by :mod:`brushwork.cli_help` (plain defaults, choices listed,
    a narrow flag column, Essentials before Advanced)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from .cli_help import render_command_help

        render_command_help(self, ctx)


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="brushwork: turn photos into paintings with neural style transfer.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay one line however narrow the terminal
_state = {"debug": False, "quiet": False}


@contextlib.contextmanager
def _cleanup_on_failure() -> Iterator[None]:
    try:
        yield
        _created.clear()
    except BaseException:
        _remove_created_folders()
        raise


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """One line per user error, a documented exit code, and no traceback unless --debug."""
    with _cleanup_on_failure(), _one_line_errors():
        yield


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except BrushworkError as exc:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written.")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except (Exception, MemoryError) as exc:  # noqa: BLE001 - the last line of defence for users
        if _state["debug"]:
            raise
        if is_out_of_memory(exc):  # outside the jobs' own memory guards
            err.print("[bold red]error:[/] ran out of memory: use a smaller --size (train: --crop or --batch-size), "
                      "or close other programs.")
            raise typer.Exit(ResourceError.exit_code) from None
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} (run with --debug for details)")
        raise typer.Exit(EXIT_INTERNAL) from None


class ProgressBar:
    """Draws :class:`~brushwork.core.progress.Progress` events: a rich bar on a terminal, and where
    stderr is not one (``| tee``, a log file, a CI runner) one plain line every
    :attr:`plain_interval` seconds.  Elapsed time and ETA come from the recent pace
    (:class:`~brushwork.core.progress.RecentRate`), so a busy machine does not skew the estimate."""

    #: Seconds between plain lines when stderr is not a terminal.
    plain_interval = 5.0

    def __init__(self, description: str, unit: str = "it", total: int | None = None, loss: bool = True) -> None:
        self.unit, self.with_loss, self.steps = unit, loss, total
        middle: list[Any] = [TextColumn(unit + " {task.fields[step]}")]
        if loss:
            middle.append(TextColumn("loss {task.fields[loss]}"))
        self.bar = self._progress(*middle)
        first = f"0/{total}" if total else "-"
        self.task = self.bar.add_task(description, total=float(total or 1), step=first, loss="-", eta="-")

    def _progress(self, *middle: Any) -> Progress:
        """The layout every command shares: name, bar, the job's own columns, elapsed time, ETA.

        In a narrow terminal the bar and then the job's columns give way, so that the times are never
        cut off; off a terminal rich draws nothing and plain lines are printed instead."""
        self.rate = RecentRate()
        self.plain = not _state["quiet"] and not err.is_terminal
        self.last_line = -math.inf
        self.last_event: JobProgress | None = None
        self.printed: JobProgress | None = None
        width = err.width
        columns: list[Any] = [TextColumn("[bold]{task.description}", table_column=Column(overflow="ellipsis",
                                                                                           no_wrap=True, ratio=1))]
        if width >= 100:
            columns.append(BarColumn(bar_width=24 if width < 130 else 40))
        columns += [TaskProgressColumn(), *(middle if width >= 80 else middle[:1])]
        columns += [TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}")]
        return Progress(*columns, console=err, disable=_state["quiet"] or self.plain, transient=False, expand=True)

    def __enter__(self) -> ProgressBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)
        if self.plain and self.last_event is not None and self.last_event is not self.printed and exc[0] is None:
            self._line(self.last_event, final=True)

    def _eta(self, p: JobProgress) -> str:
        eta = self.rate.eta(p.total)
        return "-" if eta is None else clock(eta)

    def _step_text(self, p: JobProgress) -> str:
        return f"{p.step}/{p.steps}" if p.steps else "-"

    def _line(self, p: JobProgress, final: bool = False) -> None:
        """One plain progress line: stage, step/total, percent, loss, elapsed, ETA."""
        pct = 100.0 * p.done / p.total if p.total else 0.0
        parts = [f"{p.stage}: {self.unit} {self._step_text(p)} ({pct:.0f} %)"]
        if self.with_loss and math.isfinite(p.loss):
            parts.append(f"loss {p.loss:.4g}")
        parts.append(f"elapsed {clock(self.rate.elapsed)}")
        if not final:
            parts.append(f"ETA {self._eta(p)}")
        err.print(", ".join(parts), markup=False, highlight=False)
        self.last_line, self.printed = self.rate.elapsed, p

    def _plain_update(self, p: JobProgress) -> None:
        self.last_event = p
        if self.plain and self.rate.elapsed - self.last_line >= self.plain_interval:
            self._line(p)

    def __call__(self, p: JobProgress) -> None:
        self.rate.update(p.done)
        self.bar.update(self.task, description=p.stage, total=p.total, completed=p.done, step=self._step_text(p),
                        loss=f"{p.loss:.4g}" if math.isfinite(p.loss) else "-", eta=self._eta(p))
        self._plain_update(p)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"brushwork {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    """brushwork: turn photos into paintings with neural style transfer."""
    _state["debug"], _state["quiet"] = debug, quiet


# ---------------------------------------------------------------------------------------------
# Options generated from the settings dataclass


def _option_type(annotation: Any) -> Any:
    """The CLI type of a settings field: tuples become comma-separated strings."""
    base, optional = fields_spec.kind(annotation)
    if base is tuple:
        return str | None
    if base in (int, float, str):
        return base | None if optional else base
    if base is bool:
        return bool
    return str | None


def _show_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def settings_parameters(settings_cls: type, panel_prefix: str = "") -> list[inspect.Parameter]:
    """One typer option per dataclass field, with the field's default, help text and choices."""
    hints = typing.get_type_hints(settings_cls)
    params = []
    for f in fields(settings_cls):
        default = f.default if f.default is not MISSING else None
        typ = _option_type(hints[f.name])
        flag = "--" + fields_spec.flag(f.name)
        decls = [f"{flag}/--no-{fields_spec.flag(f.name)}"] if typ is bool else [flag]
        allowed = f.metadata.get("choices")
        if allowed:  # typer lists an Enum's values as the choices, and refuses any other word
            typ = enum.Enum(f"{settings_cls.__name__}_{f.name}", {c: c for c in allowed}, type=str)
        panel = f.metadata.get("panel", fields_spec.ADVANCED)
        metavar = {"metavar": "LIST"} if fields_spec.kind(hints[f.name])[0] is tuple else {}
        opt = typer.Option(*decls, help=fields_spec.help_text(f), show_default=_show_default(default), **metavar,
                           rich_help_panel=panel_prefix + ("Essentials" if panel == fields_spec.ESSENTIAL else "Advanced"))
        cli_default = default if not isinstance(default, tuple) else None
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=cli_default, annotation=Annotated[typ, opt]))
    return params


def parse_settings(settings_cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Turn CLI values back into dataclass values (comma lists → tuples); unchanged ones are dropped."""
    hints = typing.get_type_hints(settings_cls)
    out: dict[str, Any] = {}
    for f in fields(settings_cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if isinstance(value, enum.Enum):
            value = value.value
        if fields_spec.kind(hints[f.name])[0] is tuple:
            if value is not None:
                out[f.name] = fields_spec.parse_text(settings_cls, f.name, value)
            continue
        if value != f.default:
            out[f.name] = value
    return out


def _with_settings(settings_cls: type) -> Any:
    """Decorator: append the settings options to a command's signature."""

    def wrap(func: Any) -> Any:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        func.__signature__ = sig.replace(parameters=[*own, *settings_parameters(settings_cls)])
        return func

    return wrap


# ---------------------------------------------------------------------------------------------
# Output names: a sensible default beside the input, never replacing a file unasked


#: Folders this command created for its output; removed again (when still empty) if it fails.
_created: list[Path] = []


def make_output_folder(output: Path, formats: dict[str, str] | None = None) -> None:
    """Create a missing output folder (as ``fast`` does for a folder of results), for a name that
    would be accepted otherwise; a bad extension is left to the output check's message."""
    parent = output.parent
    if str(parent) in ("", ".") or parent.exists() or output.suffix.lower() not in (formats or SAVE_FORMATS):
        return  # the output check explains a folder that is a file
    if any(p.exists() and not p.is_dir() for p in parent.parents):
        return
    missing = [p for p in [parent, *parent.parents] if not p.exists()]
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder '{parent}' ({exc.strerror or exc}): choose another "
                          "folder.") from None
    _created.extend(missing)  # deepest first


def _remove_created_folders() -> None:
    """After a failure: take away the output folders this run made, if nothing was written into them."""
    for folder in _created:
        with contextlib.suppress(OSError):
            folder.rmdir()
    _created.clear()


# ---------------------------------------------------------------------------------------------
# Ray clusters (brushwork.cluster, and Ray, are imported only when --ray is given)

_RayAddress = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS", rich_help_panel="Cluster", show_default=False,
    help="Run on a Ray cluster: local (a private one on this computer, for this run), auto or ray://HOST:10001 "
    "(an existing one). Outputs that exist are skipped, so a rerun continues. Needs `pip install 'brushwork\\[cluster]'`.")]
_GpusPerWorker = Annotated[float | None, typer.Option(
    "--gpus-per-worker", rich_help_panel="Cluster", show_default=False,
    help="--ray: GPUs each worker holds (default: 1 when the cluster has GPUs, else CPU workers).")]


def _cluster_options(address: str, gpus_per_worker: float | None, cpus_per_worker: float = 1.0) -> Any:
    from .cluster import ClusterOptions

    return ClusterOptions(address, gpus_per_worker, cpus_per_worker)


def _say_bad(src: Any, reason: Any) -> None:
    """A bad input among many: one line now, exit code 2 at the end (see _skipped)."""
    err.print(f"[bold red]error:[/] {escape(str(getattr(reason, 'message', reason)))} (skipped)")


def _skipped(bad: int, total: int) -> None:
    if bad:
        raise InputError(f"{bad} of {total} input(s) could not be read and were skipped (see above); the others were "
                         "written.")


def _images_on_cluster(job: Any, pairs: list[tuple[Path, Path]], overwrite: bool, address: str,
                       gpus_per_worker: float | None, where: Path, cpus_per_worker: float = 1.0) -> None:
    from .cluster import run_images

    with ProgressBar(job.kind) as bar:
        result = run_images(job, pairs, overwrite, _cluster_options(address, gpus_per_worker, cpus_per_worker), bar,
                            _say_bad)
    for _, reason in result.failed:
        err.print(f"[bold red]error:[/] {escape(reason)}")
    err.print(result.summary(where))
    if (problem := result.error()) is not None:
        raise problem


# ---------------------------------------------------------------------------------------------
# Commands


def _run_stylize(content: Path, styles: list[Path], output: Path | None, overwrite: bool, preset: str | None,
                 values: dict[str, Any], masks: list[Path] | None = None) -> StylizeResult:
    from .gatys.regions import check_counts, load_region_mask
    from .gatys.stylizer import Stylizer, save_path

    settings = settings_from(preset, **parse_settings(StylizeSettings, values))
    check_counts(len(styles), len(masks) if masks else None, settings.style_blend)  # before any work
    if output is None:
        output = default_output(content, [s.name for s in styles], ".png", overwrite)
    inputs = input_files([content, *styles, *(masks or []), settings.weights,
                          settings.init if settings.init not in ("content", "noise") else None])
    make_output_folder(output)
    out = check_output(output, overwrite, inputs=inputs)
    if settings.save_every:
        total = sum(sc.iterations for sc in settings.schedule)
        for it in range(settings.save_every, total + 1, settings.save_every):
            check_output(save_path(out, it), overwrite, inputs=inputs)
    c_img = load_image(content, "content image")
    s_imgs = [load_image(p, "style image") for p in styles]
    m_imgs = [load_region_mask(p) for p in masks] if masks else None
    stylizer = Stylizer(settings)

    def on_save(img: Any, iteration: int) -> None:
        save_image(img, save_path(out, iteration), overwrite)

    with ProgressBar("stylize") as bar:
        result = stylizer.run(c_img, s_imgs, bar, on_save, masks=m_imgs)
    save_image(result.image, out, overwrite)
    if result.stopped:
        raise result.stopped.error(out, "Lower --style-weight or --learning-rate and try again.")
    err.print(f"wrote {out} ({result.iterations} iterations, {result.seconds:.1f} s)")
    return result


@app.command(cls=_Command)
@_with_settings(StylizeSettings)
def stylize(
    content: Annotated[Path, typer.Argument(help="The photo to paint.", show_default=False)],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images (paintings).", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write the result (.png, .jpg, .webp); a missing folder is created. "
        "Default: beside CONTENT, named after it and the style (photo_starry_night.png), never replacing a file.",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    preset: Annotated[str | None, typer.Option("--preset", help="Start from a named preset: default, guohua.")] = None,
    mask: Annotated[list[Path] | None, typer.Option(
        "--mask", help="Region mask for a style (greyscale, the content's shape, white = paint here); repeat it, "
        "one per style in the order of STYLES. Uncovered parts stay close to the photo.", show_default=False)] = None,
    preserve_colors: Annotated[bool, typer.Option("--preserve-colors", hidden=True,
                                                  help="Deprecated: --color-mode preserve-matched.")] = False,
    match_style_colors: Annotated[bool, typer.Option("--match-style-colors", hidden=True,
                                                     help="Deprecated: --color-mode match-style.")] = False,
    ray: _RayAddress = None,
    gpus_per_worker: _GpusPerWorker = None,
    **values: Any,
) -> None:
    """Paint CONTENT (a photo, or a folder of photos into the folder OUTPUT) in the style of STYLES by optimising
    its pixels (Gatys et al.)."""
    with _user_errors():
        for flag, on, mode in (("--preserve-colors", preserve_colors, "preserve-matched"),
                               ("--match-style-colors", match_style_colors, "match-style")):
            if on:
                if values.get("color_mode", "none") not in ("none", mode):
                    raise SettingsError(f"{flag} and --color-mode {values['color_mode']} disagree: give only "
                                        "--color-mode.")
                err.print(f"note: {flag} is deprecated; use --color-mode {mode}.")
                values["color_mode"] = mode
        if content.is_dir() or ray is not None:
            _stylize_many(content, styles, output, overwrite, preset, values, mask, ray, gpus_per_worker)
        else:
            _run_stylize(content, styles, output, overwrite, preset, values, mask)


#: CPU cores each optimisation worker holds on a cluster (VGG passes use several well).
STYLIZE_CPUS_PER_WORKER = 4.0


def _stylize_many(content: Path, styles: list[Path], output: Path, overwrite: bool, preset: str | None,
                  values: dict[str, Any], masks: list[Path] | None, ray: str | None, gpus: float | None) -> None:
    """A folder of photos (or one photo with --ray): same output names as `fast`; bad photos skipped, exit 2 at the end."""
    from .gatys.stylizer import Stylizer

    if masks:
        raise SettingsError("--mask belongs to one photo: drop it, or stylize the photos one by one.")
    settings = settings_from(preset, **parse_settings(StylizeSettings, values))
    if settings.save_every:
        raise SettingsError("--save-every belongs to one photo: drop it for a folder or --ray.")
    pairs = _plan_outputs([content], output, overwrite or ray is not None,  # --ray: existing outputs are skipped
                          tuple(str(p) for p in styles))
    where = output if content.is_dir() else pairs[0][1]
    s_imgs = [load_image(p, "style image") for p in styles]  # checked before any work
    if ray is not None:
        from .cluster import ImageJob

        job = ImageJob("stylize", stylize=settings, styles=tuple(str(p.resolve()) for p in styles))
        _images_on_cluster(job, pairs, overwrite, ray, gpus, where, STYLIZE_CPUS_PER_WORKER)
        return
    start = time.perf_counter()
    stylizer = Stylizer(settings)
    bad, written, diverged = 0, 0, 0
    with ProgressBar("stylize") as bar:
        for k, (src, dest) in enumerate(pairs):
            try:
                c_img = load_image(src, "content image")
            except InputError as exc:
                _say_bad(src, exc)
                bad += 1
                continue

            def step(p: JobProgress, k: int = k, name: str = src.name) -> None:
                bar(replace(p, stage=f"{k + 1}/{len(pairs)} {name}", done=k + p.done / max(p.total, 1e-9), total=len(pairs)))

            result = stylizer.run(c_img, s_imgs, step)
            save_image(result.image, dest, overwrite)
            written += 1
            if result.stopped and result.stopped.interrupted:
                raise result.stopped.error(dest, "Run the same command with the remaining photos to finish.")
            if result.stopped:
                err.print(f"[yellow]warning:[/] {escape(result.stopped.error(dest, 'Lower --style-weight.').message)}")
                diverged += 1
    err.print(f"wrote {written} image(s) to {where} ({time.perf_counter() - start:.1f} s)")
    _skipped(bad, len(pairs))
    if diverged:
        raise Diverged(f"{diverged} image(s) diverged and kept their last good result: lower --style-weight or "
                       "--learning-rate and rerun them with --overwrite.")


@app.command(cls=_Command)
def demo(
    folder: Annotated[Path, typer.Argument(help="Folder for the demo result.")] = Path("brushwork-demo"),
    size: Annotated[int, typer.Option(help="Longest side of the result.")] = 384,
    quality: Annotated[str, typer.Option(help="draft, normal or high.")] = "normal",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier demo result.")] = False,
) -> None:
    """Stylize the bundled photo with the bundled painting and say where the result is."""
    from .assets import DEMO_CONTENT, DEMO_STYLE

    with _user_errors():
        # everything is checked before anything is copied: the settings, then the folder
        settings_from(None, **parse_settings(StylizeSettings, {"size": size, "quality": quality}))
        fit_size((size, size), size)  # the working-size bounds the run would check after copying
        existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists() or p.is_symlink())
        if not existing.is_dir():
            what = "a symbolic link to nothing" if not existing.exists() else "a file, not a folder"
            raise OutputError(f"demo folder '{folder}' cannot be used: '{existing}' is {what}; choose another folder.")
        if not os.access(existing, os.W_OK):
            raise OutputError(f"folder '{existing}' is not writable: choose another demo folder.")
        out = folder / "demo.png"
        if out.exists() and not overwrite:
            raise OutputError(f"output '{out}' already exists: pass --overwrite to replace it.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"could not create the demo folder '{folder}' ({exc.strerror or exc}): "
                              "choose another folder.") from None
        check_output(out, overwrite)
        for src in (DEMO_CONTENT, DEMO_STYLE):
            dest = folder / src.name
            if not dest.exists():
                write_atomically(dest, lambda tmp, src=src: shutil.copyfile(src, tmp))
        err.print(f"painting {DEMO_CONTENT.name} in the style of {DEMO_STYLE.name} at {size} px …")
        _run_stylize(DEMO_CONTENT, [DEMO_STYLE], out, overwrite, None, {"size": size, "quality": quality})
        typer.echo(f"demo result: {out.resolve()}")


# Fast styles: train, fast, export, styles (feed-forward networks, one per style)


def _is_rank0() -> bool:
    """Under torchrun only the first process draws progress and prints results."""
    return os.environ.get("RANK", "0") == "0"


@app.command(cls=_Command)
@_with_settings(TrainSettings)
def train(
    style: Annotated[Path, typer.Argument(help="The style image (a painting).", show_default=False)],
    data: Annotated[Path, typer.Option("--data", help="Folder of training photos, or a corpus manifest.csv "
                                       "(its train-split photos).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.safetensors); the checkpoint, "
                                         "CSV log and model card go beside it.", show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model and start afresh.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run whose checkpoint is beside OUTPUT.")] = False,
    **values: Any,
) -> None:
    """Train a fast style network for STYLE on a folder of photos (Johnson et al. 2016); runs under torchrun too."""
    from .fastnet.train import Trainer, card_path, checkpoint_path, log_path

    with _user_errors():
        settings = TrainSettings(**parse_settings(TrainSettings, values))
        refuse_inputs([output, checkpoint_path(output), log_path(output), card_path(output)], [style])
        trainer = Trainer(settings, style, data, output, overwrite=overwrite, resume=resume)
        if _is_rank0():
            with ProgressBar("train", unit="step") as bar:
                result = trainer.run(bar)
            note = f" ({result.stopped})" if result.stopped else ""
            err.print(f"wrote {output} after {result.step} steps, {result.seconds:.0f} s{note}")
        else:
            trainer.run()


def _plan_outputs(inputs: list[Path], output: Path | None, overwrite: bool, extra_inputs: tuple[str, ...] = (),
                  style: str = "fast") -> list[tuple[Path, Path]]:
    """(input, output) pairs: OUTPUT is a file for one input image, a folder otherwise; all checked first.

    Without OUTPUT one image goes beside itself (``photo_starry_night.png``), one folder into a
    new folder beside it (``photos_starry_night/``), several inputs into ``STYLE/``."""

    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"folder '{p}' holds no images (.jpg, .png …): name image files or another folder.")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"input '{p}' does not exist: check the path.")
    known = input_files([*extra_inputs, *files])
    if output is None:
        if len(inputs) == 1 and not inputs[0].is_dir():
            output = default_output(files[0], [style], ".png", overwrite)
        elif len(inputs) == 1:
            output = free_name(inputs[0].parent / f"{name_part(inputs[0].name)}_{name_part(style)}")
        else:
            output = free_name(Path(name_part(style)))
    if len(inputs) == 1 and not inputs[0].is_dir():
        make_output_folder(output)
        return [(files[0], check_output(output, overwrite, inputs=known))]
    if output.exists() and not output.is_dir():
        raise OutputError(f"output '{output}' is a file, but several images need a folder: give a folder name.")
    if not output.exists():
        parent = output.parent if str(output.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"output folder's parent '{parent}' does not exist: create it first.")
        output.mkdir()
    pairs, seen = [], {}
    for f in files:
        dest = output / (f.stem + (f.suffix.lower() if f.suffix.lower() in SAVE_FORMATS else ".png"))
        if dest in seen:
            raise OutputError(f"'{f}' and '{seen[dest]}' would both be written to '{dest}': rename one of them.")
        seen[dest] = f
        pairs.append((f, check_output(dest, overwrite, inputs=known)))
    return pairs


@app.command(cls=_Command)
@_with_settings(FastSettings)
def fast(
    model: Annotated[str, typer.Argument(help="A model file (.safetensors or .onnx), a shipped style name "
                                         "(see `brushwork styles`), or any painting (an image file).",
                                         show_default=False)],
    inputs: Annotated[list[Path], typer.Argument(help="Images and/or folders of images.", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Output file for one image; a folder for several (created when missing). "
        "Default: beside the input, named after it and the style (photo_starry_night.png; a folder: "
        "photos_starry_night/).", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    painting: Annotated[list[Path] | None, typer.Option(
        "--painting", help="With a painting as MODEL: another painting for another region (give one --mask per "
                           "painting, MODEL's first).", show_default=False)] = None,
    mask: Annotated[list[Path] | None, typer.Option(
        "--mask", help="With paintings: region mask (greyscale, the photo's shape, white = paint here), one per "
                       "painting in order; where no mask reaches the photo stays.", show_default=False)] = None,
    ray: _RayAddress = None,
    gpus_per_worker: _GpusPerWorker = None,
    **values: Any,
) -> None:
    """Stylize images in one forward pass of a trained network, or with any painting (fast; any size)."""
    from .fastnet.infer import FastStylizer, stylize_files
    from .fastnet.modelfile import is_painting

    with _user_errors():
        settings = FastSettings(**parse_settings(FastSettings, values))
        # --ray: outputs that exist are skipped
        pairs = _plan_outputs(inputs, output, overwrite or ray is not None, (model,), model)
        start = time.perf_counter()
        if is_painting(model):
            from .fastnet.anyinfer import AnyStyleStylizer

            if ray is not None:  # refused before the painting is encoded
                raise SettingsError("--ray runs trained models and shipped styles; with a painting as MODEL run "
                                    "without --ray.")
            stylizer = AnyStyleStylizer([Path(model), *(painting or [])], settings, masks=mask)
        elif painting or mask:
            raise SettingsError("--painting and --mask need a painting (an image file) as MODEL.")
        else:  # on --ray too: a bad model is one line before any worker starts
            stylizer = FastStylizer(model, settings)
        where = pairs[0][1] if len(inputs) == 1 and not inputs[0].is_dir() else pairs[0][1].parent
        if ray is not None:
            from .cluster import ImageJob

            name = str(Path(model).resolve()) if Path(model).exists() else model
            _images_on_cluster(ImageJob("fast", model=name, fast=settings), pairs, overwrite, ray, gpus_per_worker, where)
            return
        bad: list[Path] = []
        with ProgressBar("fast", unit="image", total=len(pairs), loss=False) as bar:
            n = stylize_files(stylizer, pairs, overwrite, bar, (lambda src, exc: (_say_bad(src, exc), bad.append(src)))
                              if len(pairs) > 1 else None)
        err.print(f"wrote {n} image(s) to {where} ({time.perf_counter() - start:.1f} s, {stylizer.backend.name})")
        _NO_TEARDOWN.set()
        _skipped(len(bad), len(pairs))


@app.command(cls=_Command)
def export(
    model: Annotated[str, typer.Argument(help="A model file or a shipped style name.", show_default=False)],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export as ONNX for onnxruntime.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file; default MODEL name with .onnx.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Export a fast style model to another format (ONNX)."""
    from .fastnet.anyinfer import export_onnx

    with _user_errors():
        if not onnx:
            raise SettingsError("choose a format to export to: pass --onnx.")
        out = export_onnx(model, output, overwrite)
        err.print(f"wrote {out}")


@app.command(cls=_Command)
def styles(
    sheet: Annotated[Path | None, typer.Option("--sheet", help="Paint this photo in every shipped style into one "
                                               "sheet (needs -o).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The sheet's file (.png, .jpg, .webp).",
                                                show_default=False)] = None,
    size: Annotated[int, typer.Option("--size", help="Longest side of each picture in the sheet, in px.")] = 384,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing sheet.")] = False,
) -> None:
    """List the shipped fast styles (use a name as MODEL in `brushwork fast`), or paint a sheet of them all."""
    from .fastnet.modelfile import read_info, shipped_styles

    with _user_errors():
        if sheet is not None or output is not None:
            _style_sheet(sheet, output, size, overwrite)
            return
        found = shipped_styles()
        if not found:
            typer.echo("no shipped styles")
        rows = []
        for name, path in found.items():
            info = read_info(path)
            e = info.extra
            painting = str(e.get("style_source", "?")).split(" (")[0].replace("*", "")
            rows.append((name, painting, f"width {info.width:g}, {info.blocks} blocks, {e.get('steps', '?')} steps at "
                                         f"{e.get('resolution', '?')} px, {path.stat().st_size / 1e6:.1f} MB"))
        wide = [max((len(r[k]) for r in rows), default=0) for k in (0, 1)]
        for name, painting, about in rows:
            typer.echo(f"{name:{wide[0]}}  {painting:{wide[1]}}  {about}")


def _style_sheet(photo: Path | None, output: Path | None, size: int, overwrite: bool) -> None:
    from .fastnet.gallery import style_sheet

    if photo is None or output is None:
        raise SettingsError("styles --sheet needs a photo and -o OUTPUT: brushwork styles --sheet photo.jpg -o sheet.png.")
    if not 32 <= size <= 4096:
        raise SettingsError(f"size must be between 32 and 4096 px, not {size}.")
    if not photo.is_file():
        raise InputError(f"photo '{photo}' does not exist: check the path.")
    check_output(output, overwrite, inputs=[photo])
    with ProgressBar("styles") as bar:
        img = style_sheet(load_image(photo, "photo"), size=size, progress=bar)
    save_image(img, output, overwrite)
    err.print(f"wrote {output}")


# ---------------------------------------------------------------------------------------------
# Painterly harmonization

#: From this automatic style level on, the CLI suggests a lower one (see docs/harmonization.md).
HIGH_STYLE_LEVEL = 8.0


@app.command(cls=_Command)
@_with_settings(HarmonizeSettings)
def harmonize(
    painting: Annotated[Path, typer.Argument(help="The painting, without the object.", show_default=False)],
    composite: Annotated[Path, typer.Argument(help="The painting with the object pasted in.", show_default=False)],
    mask: Annotated[Path, typer.Argument(help="Tight mask: white on the pasted object, black elsewhere.",
                                         show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write the result (.png, .jpg, .webp); a missing folder is created. "
        "Default: beside COMPOSITE (composite_harmonized.png), never replacing a file.", show_default=False)] = None,
    loose_mask: Annotated[Path | None, typer.Option(
        "--loose-mask", help="A looser mask around the object; derived by dilating MASK when not given.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    **values: Any,
) -> None:
    """Make the object pasted into COMPOSITE look painted like PAINTING (Luan et al. 2018)."""
    from .harmonization import Harmonizer

    with _user_errors():
        settings = replace(HarmonizeSettings(), **parse_settings(HarmonizeSettings, values))
        if output is None:
            output = default_output(composite, ["harmonized"], ".png", overwrite)
        make_output_folder(output)
        out = check_output(output, overwrite, inputs=[painting, composite, mask, loose_mask, settings.weights])
        p_img = load_image(painting, "painting")
        c_img = load_image(composite, "composite")
        m_img = load_image(mask, "mask")
        l_img = load_image(loose_mask, "loose mask") if loose_mask is not None else None
        harmonizer = Harmonizer(settings)
        with ProgressBar("harmonize") as bar:
            result = harmonizer.run(p_img, c_img, m_img, l_img, bar)
        save_image(result.image, out, overwrite)  # on an early stop: the last good image
        if result.stopped:
            raise result.stopped.error(out, "Lower --style-level and try again.")
        err.print(f"wrote {out} (style level {result.style_level:.2f}, {result.iterations} iterations, "
                  f"{result.seconds:.1f} s)")
        if settings.style_level is None and result.style_level >= HIGH_STYLE_LEVEL:
            # The estimate reads brush texture only; a dense but realistic painting can score high
            # and then the object disappears into the strokes (shared example 0).
            err.print(f"the style level was estimated at {result.style_level:.1f} from the painting's texture, which "
                      "repaints the object heavily; if it has vanished into the strokes, try --style-level 5.")
# ---------------------------------------------------------------------------------------------
# Video

#: Settings that ``brushwork video`` shares between VideoSettings and StylizeSettings: the
#: video's value is used for both.  The ignored ones make no sense for frames.
_VIDEO_SHARED = ("size", "device")
_VIDEO_IGNORED = ("save_every", "original_size")


def _with_video_settings(func: Any) -> Any:
    """Append the VideoSettings options, then the StylizeSettings options used by ``--style``."""
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    video_params = settings_parameters(VideoSettings, "Video: ")
    taken = {p.name for p in video_params} | {p.name for p in own} | set(_VIDEO_IGNORED)
    style_params = [p for p in settings_parameters(StylizeSettings) if p.name not in taken]
    for param in style_params:
        param.annotation.__metadata__[0].rich_help_panel = "Optimisation (--style only)"
    func.__signature__ = sig.replace(parameters=[*own, *video_params, *style_params])
    return func


class VideoProgressBar(ProgressBar):
    """Frames done, frames per second and ETA; in --style mode also the current frame's iterations.

    Shares ProgressBar's context handling; only the columns and the update differ."""

    def __init__(self) -> None:
        from rich.progress import MofNCompleteColumn

        self.unit, self.with_loss = "frame", False
        self.bar = self._progress(MofNCompleteColumn(), TextColumn("{task.fields[info]}"))
        self.task = self.bar.add_task("frames", total=None, info="", eta="-")
        self.inner: Any = None

    def __call__(self, p: JobProgress) -> None:
        fps = p.parts.get("fps", 0.0)
        self.rate.update(p.done)
        self.bar.update(self.task, description=p.stage, total=p.total, completed=p.done,
                        info=f"{fps:.2f} fps" if fps else "", eta=self._eta(p))
        self._plain_update(p)

    def frame(self, p: JobProgress) -> None:
        """Progress inside one frame (optimisation mode)."""
        if self.inner is None:
            self.inner = self.bar.add_task("frame", total=1.0, info="")
        self.bar.update(self.inner, description=f"  this frame: {p.stage}", total=p.total, completed=p.done,
                        info=f"loss {p.loss:.4g}", eta="")


#: Suffix of a shipped style's lighter network for video (the folded layout of ``fastnet.model``).
VIDEO_VARIANT = "_video"


def _run_video(source: Path, output: Path | None, styles: list[Path] | None, model: Path | None, overwrite: bool,
               preset: str | None, values: dict[str, Any], ray: str | None = None, gpus: float | None = None,
               segment_seconds: float = 10.0) -> None:
    from .fastnet.modelfile import resolve  # a shipped style name → its file
    from .gatys.regions import check_counts
    from .video import (
        NetworkFrameStylizer,
        OptimizationFrameStylizer,
        check_video_output,
        file_fingerprint,
        load_model,
        probe_video,
        stylize_video,
    )

    settings = VideoSettings(**parse_settings(VideoSettings, values))
    if bool(styles) == (model is not None):
        raise SettingsError("give either --model MODEL (a fast network) or --style STYLE (optimisation), "
                            f"{'not both' if styles else 'one of them'}.")
    if model is not None and preset is not None:
        raise SettingsError("--preset applies to --style only: drop it with --model.")
    own = {k: v for k, v in parse_settings(StylizeSettings, values).items() if k not in _VIDEO_SHARED}
    if model is not None and own:
        names = ", ".join("--" + fields_spec.flag(k) for k in own)
        raise SettingsError(f"{names} appl{'ies' if len(own) == 1 else 'y'} to --style only (optimisation): "
                            "drop it with --model.")
    if styles:
        opt = settings_from(preset, **own, device=settings.device)
        check_counts(len(styles), None, opt.style_blend)
    if output is None:
        tags = [str(model)] if model is not None else [s.name for s in styles or []]
        output = default_output(source, tags, ".mp4", overwrite)
    from .video.loop import VIDEO_FORMATS

    make_output_folder(output, VIDEO_FORMATS)
    out = check_video_output(output, overwrite, inputs=[source, *(styles or []), model])
    info = probe_video(source)  # refuse a bad input before loading any network
    if ray is not None:
        _video_on_cluster(source, out, styles, model, overwrite, preset, values, settings, ray, gpus, segment_seconds)
        return
    with VideoProgressBar() as bar:
        if model is not None:
            net = load_model(model, settings.device, settings.backend, settings.precision)
            stylizer: Any = NetworkFrameStylizer(net, settings.device, identity="model:" + file_fingerprint(resolve(model)))
        else:
            images = [load_image(p, "style image") for p in styles or []]
            stylizer = OptimizationFrameStylizer(images, opt, settings.frame_iterations, progress=bar.frame)
        result = stylize_video(source, out, stylizer, settings, overwrite, bar)
    for note in result.notes:
        err.print(f"note: {note}")
    cuts = f", {len(result.cuts)} scene cut(s)" if result.cuts else ""
    err.print(f"wrote {out} ({result.frames} frames of {info.width}×{info.height} at {float(info.rate):.3g} fps, "
              f"{result.seconds:.1f} s, {result.fps:.2f} frames/s stylized{cuts}; audio: {result.audio})")
    if model is not None and not str(model).endswith(VIDEO_VARIANT):
        from .fastnet.modelfile import shipped_styles

        if f"{model}{VIDEO_VARIANT}" in shipped_styles():
            err.print(f"tip: --model {model}{VIDEO_VARIANT} is the same style as a lighter network made for video "
                      "(several times faster at the video's own size, a little less fine detail).")



def _video_on_cluster(source: Path, out: Path, styles: list[Path] | None, model: Path | None, overwrite: bool,
                      preset: str | None, values: dict[str, Any], settings: VideoSettings, ray: str,
                      gpus: float | None, segment_seconds: float) -> None:
    from .cluster import VideoRecipe, run_video
    from .fastnet.modelfile import resolve

    if model is not None:
        recipe = VideoRecipe(model=str(resolve(model).resolve()))
    else:
        own = {k: v for k, v in parse_settings(StylizeSettings, values).items() if k not in _VIDEO_SHARED}
        opt = settings_from(preset, **own, device=settings.device)
        for p in styles or []:
            load_image(p, "style image")  # a bad style image is one line before any worker starts
        recipe = VideoRecipe(styles=tuple(str(p.resolve()) for p in styles or []), stylize=opt,
                             frame_iterations=settings.frame_iterations)
    with VideoProgressBar() as bar:
        result = run_video(source.resolve(), out.resolve(), recipe, settings, overwrite, _cluster_options(ray, gpus),
                           bar, segment_seconds)
    reused = f", {result.reused} segment(s) from an earlier run" if result.reused else ""
    err.print(f"wrote {out} ({result.frames} frames in {result.segments} segment(s){reused}, {result.seconds:.1f} s on "
              f"{result.workers}; audio: {result.audio})")


@app.command(cls=_Command)
@_with_video_settings
def video(
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="The video to paint (anything ffmpeg reads).",
                                           show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write the result (.mp4, .m4v or .mov); a missing folder is created. "
        "Default: beside INPUT, named after it and the style (clip_starry_night.mp4), never replacing a file.",
        show_default=False)] = None,
    style: Annotated[list[Path] | None, typer.Option(
        "--style", help="Style image for the optimisation mode; repeat to blend several.", show_default=False)] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="A fast style model file or shipped style name.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    preset: Annotated[str | None, typer.Option("--preset", help="--style only: start from a named preset.")] = None,
    ray: _RayAddress = None,
    gpus_per_worker: _GpusPerWorker = None,
    segment_seconds: Annotated[float, typer.Option(
        "--segment-seconds", rich_help_panel="Cluster", help="--ray: length of the pieces the video is cut into for the "
        "workers (each starts a second early, so the steadiness carries across the join).")] = 10.0,
    **values: Any,
) -> None:
    """Paint every frame of INPUT, steadily (optical-flow temporal consistency), keeping the audio.

    Interrupted runs continue where they stopped when the same command is run again.
    """
    with _user_errors():
        _run_video(source, output, style, model, overwrite, preset, values, ray, gpus_per_worker, segment_seconds)


# ---------------------------------------------------------------------------------------------
# Web UI (gradio is imported only inside brushwork.web.app)


@app.command(cls=_Command)
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 127.0.0.1 keeps the UI on this computer.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    device: Annotated[str, typer.Option(
        "--device", help="auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps, for every job.")] = "auto",
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Jobs running at once; 0 fits it to the machine (1 on a CPU, up to 4 on a GPU).")] = 0,
    queue_size: Annotated[int, typer.Option(
        "--queue-size", help="Jobs that may wait; more are turned away with a message. 0: 4 per running job + 4.")] = 0,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest upload in MB (images: at most 40).")] = 200,
) -> None:
    """Start the local web UI (gradio): stylize, fast styles, harmonize and video, one tab each."""
    with _user_errors():
        if not 1 <= port <= 65535:
            raise SettingsError(f"--port must be between 1 and 65535, not {port}.")
        if concurrency < 0 or queue_size < 0 or max_upload_mb < 1:
            raise SettingsError("--concurrency and --queue-size must be 0 or more, --max-upload-mb at least 1.")
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can run jobs.")
        from .web.app import serve as run_server

        run_server(host, port, device, concurrency, queue_size, max_upload_mb, announce=err.print)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
