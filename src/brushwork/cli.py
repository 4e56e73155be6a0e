"""The ``brushwork`` command line: options → settings dataclass → API call, nothing more.

The options of ``stylize`` are generated from :class:`~brushwork.optimize.StylizeSettings`, so a
new setting appears on the command line with its default and help text without being written
twice.  Every :class:`~brushwork.errors.BrushworkError` becomes one line on stderr and its exit
code; ``--debug`` shows tracebacks instead.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import shutil
import sys
import typing
from collections.abc import Iterator
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .device import is_out_of_memory
from .errors import BrushworkError, Interrupted, OutputError, ResourceError
from .progress import Progress as JobProgress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="brushwork: turn photos into paintings with neural style transfer.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay one line however narrow the terminal
_state = {"debug": False, "quiet": False}


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """One line per user error, a documented exit code, and no traceback unless --debug."""
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
        raise typer.Exit(1) from None


class ProgressBar:
    """Draws :class:`~brushwork.progress.Progress` events as a rich progress bar with ETA."""

    def __init__(self, description: str) -> None:
        self.bar = self._progress(TaskProgressColumn(), TextColumn("it {task.fields[step]}"),
                                  TextColumn("loss {task.fields[loss]}"))
        self.task = self.bar.add_task(description, total=1.0, step="-", loss="-")

    @staticmethod
    def _progress(*middle: Any) -> Progress:
        """The bar layout every command shares: name, bar, the job's own columns, elapsed time, ETA."""
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), *middle, TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=err, disable=_state["quiet"], transient=False)

    def __enter__(self) -> ProgressBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, p: JobProgress) -> None:
        self.bar.update(self.task, description=p.stage, total=p.total, completed=p.done,
                        step=f"{p.step}/{p.steps}", loss=f"{p.loss:.4g}" if math.isfinite(p.loss) else "-")


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """brushwork: turn photos into paintings with neural style transfer."""
    _state["debug"], _state["quiet"] = debug, quiet
    if version:
        typer.echo(f"brushwork {__version__}")
        raise typer.Exit(0)


# ---------------------------------------------------------------------------------------------
# Options generated from the settings dataclass


def _option_type(annotation: Any) -> Any:
    """The CLI type of a settings field: tuples become comma-separated strings."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = type(None) in typing.get_args(annotation)
    base = args[0] if optional and args else annotation
    if typing.get_origin(base) is tuple or base is tuple:
        return str | None
    if base in (int, float, str):
        return base | None if optional else base
    if base is bool:
        return bool
    return str | None


def _is_tuple(annotation: Any) -> bool:
    return any(typing.get_origin(a) is tuple for a in (annotation, *typing.get_args(annotation)))


def _is_float_tuple(annotation: Any) -> bool:
    return any(typing.get_origin(a) is tuple and float in typing.get_args(a)
               for a in (annotation, *typing.get_args(annotation)))


def _show_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def settings_parameters(settings_cls: type) -> list[inspect.Parameter]:
    """One typer option per dataclass field, with the field's default and help text."""
    hints = typing.get_type_hints(settings_cls)
    params = []
    for f in fields(settings_cls):
        default = f.default if f.default is not MISSING else None
        typ = _option_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        decls = [f"{flag}/--no-{f.name.replace('_', '-')}"] if typ is bool else [flag]
        opt = typer.Option(*decls, help=f.metadata.get("help", ""), show_default=_show_default(default),
                           rich_help_panel="Settings")
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
        if _is_tuple(hints[f.name]):
            if value is None:
                continue
            items = [v.strip() for v in str(value).split(",") if v.strip()]
            try:
                out[f.name] = tuple(float(v) for v in items) if _is_float_tuple(hints[f.name]) else tuple(items)
            except ValueError:
                raise BrushworkError(f"--{f.name.replace('_', '-')} takes comma-separated numbers, not '{value}'.",
                                     exit_code=4) from None
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
# Commands

from .optimize import Stylizer, StylizeResult, StylizeSettings, _save_path  # noqa: E402


def _run_stylize(content: Path, styles: list[Path], output: Path, overwrite: bool, preset: str | None,
                 values: dict[str, Any], masks: list[Path] | None = None) -> StylizeResult:
    from .image import check_output, load_image, save_image
    from .presets import settings_from
    from .regions import load_mask

    settings = settings_from(preset, **parse_settings(StylizeSettings, values))
    out = check_output(output, overwrite)
    if settings.save_every:
        total = sum(sc.iterations for sc in settings.schedule)
        for it in range(settings.save_every, total + 1, settings.save_every):
            check_output(_save_path(out, it), overwrite)
    c_img = load_image(content, "content image")
    s_imgs = [load_image(p, "style image") for p in styles]
    m_imgs = [load_mask(p) for p in masks] if masks else None
    stylizer = Stylizer(settings)

    def on_save(img: Any, iteration: int) -> None:
        save_image(img, _save_path(out, iteration), overwrite)

    with ProgressBar("stylize") as bar:
        result = stylizer.run(c_img, s_imgs, bar, on_save, masks=m_imgs)
    save_image(result.image, out, overwrite)
    if result.stopped:
        message = f"{result.stopped}; the last good image is in {out}"
        if result.stopped.startswith("interrupted"):
            raise Interrupted(message)
        raise BrushworkError(message + ". Lower --style-weight or --learning-rate and try again.", exit_code=7)
    err.print(f"wrote {out} ({result.iterations} iterations, {result.seconds:.1f} s)")
    return result


@app.command()
@_with_settings(StylizeSettings)
def stylize(
    content: Annotated[Path, typer.Argument(help="The photo to paint.", show_default=False)],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images (paintings).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result (.png, .jpg, .webp).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    preset: Annotated[str | None, typer.Option("--preset", help="Start from a named preset: default, guohua.")] = None,
    mask: Annotated[list[Path] | None, typer.Option(
        "--mask", help="Region mask for a style (greyscale, the content's shape, white = paint here); repeat it, "
        "one per style in the order of STYLES. Uncovered parts stay close to the photo.", show_default=False)] = None,
    preserve_colors: Annotated[bool, typer.Option("--preserve-colors", hidden=True,
                                                  help="Deprecated: --color-mode preserve-matched.")] = False,
    match_style_colors: Annotated[bool, typer.Option("--match-style-colors", hidden=True,
                                                     help="Deprecated: --color-mode match-style.")] = False,
    **values: Any,
) -> None:
    """Paint CONTENT in the style of STYLES by optimising its pixels (Gatys et al.)."""
    with _user_errors():
        for flag, on, mode in (("--preserve-colors", preserve_colors, "preserve-matched"),
                               ("--match-style-colors", match_style_colors, "match-style")):
            if on:
                if values.get("color_mode", "none") not in ("none", mode):
                    raise BrushworkError(f"{flag} and --color-mode {values['color_mode']} disagree: give only "
                                         "--color-mode.", exit_code=4)
                err.print(f"note: {flag} is deprecated; use --color-mode {mode}.")
                values["color_mode"] = mode
        _run_stylize(content, styles, output, overwrite, preset, values, mask)


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Folder for the demo result.")] = Path("brushwork-demo"),
    size: Annotated[int, typer.Option(help="Longest side of the result.")] = 384,
    quality: Annotated[str, typer.Option(help="draft, normal or high.")] = "normal",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier demo result.")] = False,
) -> None:
    """Stylize the bundled photo with the bundled painting and say where the result is."""
    from .assets import DEMO_CONTENT, DEMO_STYLE

    with _user_errors():
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "demo.png"
        for src in (DEMO_CONTENT, DEMO_STYLE):
            dest = folder / src.name
            if not dest.exists():
                shutil.copyfile(src, dest)
        if out.exists() and not overwrite:
            raise OutputError(f"output '{out}' already exists: pass --overwrite to replace it.")
        err.print(f"painting {DEMO_CONTENT.name} in the style of {DEMO_STYLE.name} at {size} px …")
        _run_stylize(DEMO_CONTENT, [DEMO_STYLE], out, overwrite, None, {"size": size, "quality": quality})
        typer.echo(f"demo result: {out.resolve()}")


# =============================================================================================
# Fast styles (fastnet job): train, fast, export, styles — feed-forward networks per style.
# =============================================================================================

from .fastnet.infer import FastSettings  # noqa: E402
from .fastnet.train import TrainSettings  # noqa: E402


def _is_rank0() -> bool:
    """Under torchrun only the first process draws progress and prints results."""
    import os

    return os.environ.get("RANK", "0") == "0"


@app.command()
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
    from .fastnet.train import Trainer

    with _user_errors():
        settings = TrainSettings(**parse_settings(TrainSettings, values))
        trainer = Trainer(settings, style, data, output, overwrite=overwrite, resume=resume)
        if _is_rank0():
            with ProgressBar("train") as bar:
                result = trainer.run(bar)
            note = f" ({result.stopped})" if result.stopped else ""
            err.print(f"wrote {output} after {result.step} steps, {result.seconds:.0f} s{note}")
        else:
            trainer.run()


def _plan_outputs(inputs: list[Path], output: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs: OUTPUT is a file for one input image, a folder otherwise; all checked first."""
    from .errors import InputError
    from .fastnet.data import IMAGE_SUFFIXES
    from .image import SAVE_FORMATS, check_output

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
    if len(inputs) == 1 and not inputs[0].is_dir():
        return [(files[0], check_output(output, overwrite))]
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
        pairs.append((f, check_output(dest, overwrite)))
    return pairs


@app.command()
@_with_settings(FastSettings)
def fast(
    model: Annotated[str, typer.Argument(help="A model file (.safetensors or .onnx) or a shipped style name "
                                         "(see `brushwork styles`).", show_default=False)],
    inputs: Annotated[list[Path], typer.Argument(help="Images and/or folders of images.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file for one image; a folder for several.",
                                         show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    **values: Any,
) -> None:
    """Stylize images in one forward pass of a trained network (fast; any size)."""
    import time

    from .fastnet.infer import FastStylizer, stylize_files

    with _user_errors():
        settings = FastSettings(**parse_settings(FastSettings, values))
        pairs = _plan_outputs(inputs, output, overwrite)
        start = time.perf_counter()
        stylizer = FastStylizer(model, settings)
        with ProgressBar("fast") as bar:
            n = stylize_files(stylizer, pairs, overwrite, bar)
        where = pairs[0][1] if len(pairs) == 1 and pairs[0][1] == output else output
        err.print(f"wrote {n} image(s) to {where} ({time.perf_counter() - start:.1f} s, {stylizer.backend.name})")


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="A model file or a shipped style name.", show_default=False)],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export as ONNX for onnxruntime.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file; default MODEL name with .onnx.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Export a fast style model to another format (ONNX)."""
    from .errors import SettingsError
    from .fastnet.export import export_onnx

    with _user_errors():
        if not onnx:
            raise SettingsError("choose a format to export to: pass --onnx.")
        out = export_onnx(model, output, overwrite)
        err.print(f"wrote {out}")


@app.command()
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
    from .errors import InputError, SettingsError
    from .fastnet.gallery import style_sheet
    from .image import check_output, load_image, save_image

    if photo is None or output is None:
        raise SettingsError("styles --sheet needs a photo and -o OUTPUT: brushwork styles --sheet photo.jpg -o sheet.png.")
    if not 32 <= size <= 4096:
        raise SettingsError(f"size must be between 32 and 4096 px, not {size}.")
    if not photo.is_file():
        raise InputError(f"photo '{photo}' does not exist: check the path.")
    check_output(output, overwrite)
    with ProgressBar("styles") as bar:
        img = style_sheet(load_image(photo, "photo"), size=size, progress=bar)
    save_image(img, output, overwrite)
    err.print(f"wrote {output}")


# ============================================================================ end of fast styles


# ---------------------------------------------------------------------------------------------
# Painterly harmonization (harmonize.py, matching.py)

from .harmonize import HarmonizeSettings  # noqa: E402

#: From this automatic style level on, the CLI suggests a lower one (see docs/harmonization.md).
HIGH_STYLE_LEVEL = 8.0


@app.command()
@_with_settings(HarmonizeSettings)
def harmonize(
    painting: Annotated[Path, typer.Argument(help="The painting, without the object.", show_default=False)],
    composite: Annotated[Path, typer.Argument(help="The painting with the object pasted in.", show_default=False)],
    mask: Annotated[Path, typer.Argument(help="Tight mask: white on the pasted object, black elsewhere.",
                                         show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result (.png, .jpg, .webp).")],
    loose_mask: Annotated[Path | None, typer.Option(
        "--loose-mask", help="A looser mask around the object; derived by dilating MASK when not given.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    **values: Any,
) -> None:
    """Make the object pasted into COMPOSITE look painted like PAINTING (Luan et al. 2018)."""
    with _user_errors():
        from dataclasses import replace

        from .harmonize import Harmonizer
        from .image import check_output, load_image, save_image

        settings = replace(HarmonizeSettings(), **parse_settings(HarmonizeSettings, values))
        out = check_output(output, overwrite)
        p_img = load_image(painting, "painting")
        c_img = load_image(composite, "composite")
        m_img = load_image(mask, "mask")
        l_img = load_image(loose_mask, "loose mask") if loose_mask is not None else None
        harmonizer = Harmonizer(settings)
        with ProgressBar("harmonize") as bar:
            result = harmonizer.run(p_img, c_img, m_img, l_img, bar)
        save_image(result.image, out, overwrite)  # on an early stop: the last good image
        if result.stopped and result.stopped.startswith("interrupted"):
            raise Interrupted(f"{result.stopped}; the last good image is in {out}")
        if result.stopped:
            raise BrushworkError(f"{result.stopped}; the last good image is in {out}. Lower --style-level and try again.",
                                 exit_code=7)
        err.print(f"wrote {out} (style level {result.style_level:.2f}, {result.iterations} iterations, "
                  f"{result.seconds:.1f} s)")
        if settings.style_level is None and result.style_level >= HIGH_STYLE_LEVEL:
            # The estimate reads brush texture only; a dense but realistic painting can score high
            # and then the object disappears into the strokes (shared example 0).
            err.print(f"the style level was estimated at {result.style_level:.1f} from the painting's texture, which "
                      "repaints the object heavily; if it has vanished into the strokes, try --style-level 5.")
# ---------------------------------------------------------------------------------------------
# Video (helper job: video style transfer — brushwork.video, brushwork.flow)

from .video import VideoSettings  # noqa: E402

#: Settings that ``brushwork video`` shares between VideoSettings and StylizeSettings: the
#: video's value is used for both.  The ignored ones make no sense for frames.
_VIDEO_SHARED = ("size", "device")
_VIDEO_IGNORED = ("save_every", "original_size")


def _with_video_settings(func: Any) -> Any:
    """Append the VideoSettings options, then the StylizeSettings options used by ``--style``."""
    sig = inspect.signature(func, eval_str=True)
    own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    video_params = settings_parameters(VideoSettings)
    taken = {p.name for p in video_params} | {p.name for p in own} | set(_VIDEO_IGNORED)
    style_params = [p for p in settings_parameters(StylizeSettings) if p.name not in taken]
    for params, panel in ((video_params, "Video"), (style_params, "Optimisation (--style only)")):
        for param in params:
            param.annotation.__metadata__[0].rich_help_panel = panel
    func.__signature__ = sig.replace(parameters=[*own, *video_params, *style_params])
    return func


class VideoProgressBar(ProgressBar):
    """Frames done, frames per second and ETA; in --style mode also the current frame's iterations.

    Shares ProgressBar's context handling; only the columns and the update differ."""

    def __init__(self) -> None:
        from rich.progress import MofNCompleteColumn

        self.bar = self._progress(MofNCompleteColumn(), TextColumn("{task.fields[info]}"))
        self.task = self.bar.add_task("frames", total=None, info="")
        self.inner: Any = None

    def __call__(self, p: JobProgress) -> None:
        fps = p.parts.get("fps", 0.0)
        self.bar.update(self.task, description=p.stage, total=p.total, completed=p.done,
                        info=f"{fps:.2f} fps" if fps else "")

    def frame(self, p: JobProgress) -> None:
        """Progress inside one frame (optimisation mode)."""
        if self.inner is None:
            self.inner = self.bar.add_task("frame", total=1.0, info="")
        self.bar.update(self.inner, description=f"  this frame: {p.stage}", total=p.total, completed=p.done,
                        info=f"loss {p.loss:.4g}")


def _run_video(source: Path, output: Path, styles: list[Path] | None, model: Path | None, overwrite: bool,
               preset: str | None, values: dict[str, Any]) -> None:
    from .errors import SettingsError
    from .image import load_image
    from .presets import settings_from
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
    out = check_video_output(output, overwrite)
    info = probe_video(source)  # refuse a bad input before loading any network
    with VideoProgressBar() as bar:
        if model is not None:
            net = load_model(model, settings.device, settings.backend)
            from .fastnet.modelfile import resolve  # a shipped style name → its file

            stylizer: Any = NetworkFrameStylizer(net, settings.device, identity="model:" + file_fingerprint(resolve(model)))
        else:
            own = {k: v for k, v in parse_settings(StylizeSettings, values).items() if k not in _VIDEO_SHARED}
            opt = settings_from(preset, **own, device=settings.device)
            images = [load_image(p, "style image") for p in styles or []]
            stylizer = OptimizationFrameStylizer(images, opt, settings.frame_iterations, progress=bar.frame)
        result = stylize_video(source, out, stylizer, settings, overwrite, bar)
    for note in result.notes:
        err.print(f"note: {note}")
    cuts = f", {len(result.cuts)} scene cut(s)" if result.cuts else ""
    err.print(f"wrote {out} ({result.frames} frames of {info.width}×{info.height} at {float(info.rate):.3g} fps, "
              f"{result.seconds:.1f} s, {result.fps:.2f} frames/s stylized{cuts}; audio: {result.audio})")


@app.command()
@_with_video_settings
def video(
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="The video to paint (anything ffmpeg reads).",
                                           show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result (.mp4, .m4v or .mov).")],
    style: Annotated[list[Path] | None, typer.Option(
        "--style", help="Style image for the optimisation mode; repeat to blend several.", show_default=False)] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="A fast style model file or shipped style name.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    preset: Annotated[str | None, typer.Option("--preset", help="--style only: start from a named preset.")] = None,
    **values: Any,
) -> None:
    """Paint every frame of INPUT, steadily (optical-flow temporal consistency), keeping the audio.

    Interrupted runs continue where they stopped when the same command is run again.
    """
    with _user_errors():
        _run_video(source, output, style, model, overwrite, preset, values)


# (end of the video section)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Web UI (helper job: issue #8 — brushwork.webui, brushwork.jobs; gradio is imported only inside)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 127.0.0.1 keeps the UI on this computer.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N for every job.")] = "auto",
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Jobs running at once; 0 fits it to the machine (1 on a CPU, up to 4 on a GPU).")] = 0,
    queue_size: Annotated[int, typer.Option(
        "--queue-size", help="Jobs that may wait; more are turned away with a message. 0: 4 per running job + 4.")] = 0,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest upload in MB (images: at most 40).")] = 200,
) -> None:
    """Start the local web UI (gradio): stylize, fast styles, harmonize and video, one tab each."""
    from .errors import SettingsError

    with _user_errors():
        if not 1 <= port <= 65535:
            raise SettingsError(f"--port must be between 1 and 65535, not {port}.")
        if concurrency < 0 or queue_size < 0 or max_upload_mb < 1:
            raise SettingsError("--concurrency and --queue-size must be 0 or more, --max-upload-mb at least 1.")
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can run jobs.")
        from .webui import serve as run_server

        run_server(host, port, device, concurrency, queue_size, max_upload_mb, announce=err.print)


# (end of the web UI section)
# ---------------------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pressed outside a job
        err.print("interrupted.")
        sys.exit(130)


if __name__ == "__main__":
    main()
