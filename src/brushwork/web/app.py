"""The local web UI (``brushwork serve``): one gradio tab per job.

The forms are generated from the settings dataclasses (:class:`~brushwork.gatys.StylizeSettings`,
:class:`~brushwork.fastnet.infer.FastSettings`, :class:`~brushwork.harmonization.HarmonizeSettings`,
:class:`~brushwork.video.VideoSettings`) with each field's default, help text and choices, exactly
like the command-line options, so the web form, the CLI and the API cannot disagree.  The work
itself is in :mod:`.jobs`; this module only lays out the page, converts form values and turns errors
into one-line messages.

gradio is imported only here, and only when the UI is built: ``import brushwork`` and the other
commands never load it.  Nothing on the page needs the internet: no share link, no analytics, no
web fonts (the theme uses the system's fonts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from ..core import settings
from ..core.errors import BrushworkError, InputError, ResourceError, SettingsError
from . import jobs

log = logging.getLogger("brushwork.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: One pool for every job, so the concurrency limit holds across the tabs.
CONCURRENCY_ID = "brushwork-jobs"

#: Settings the page does not offer: the server chooses the device (and its precision), files on the server are not
#: the browser's business (weights, init path), and intermediate files are shown instead of saved.
HIDDEN = {"device", "precision", "weights", "save_every", "cache", "backend", "threads", "batch_size",
          "frame_iterations", "style_model"}

#: The style a fast-style dropdown starts on: the full-width Starry Night (the list is alphabetical,
#: which would put the weakest first).
DEFAULT_STYLE = "starry_night"

#: Results fill their box whatever their size (a 64 px test run is not shown as a stamp).
CSS = """
#stylize-result img, #fast-result img, #harmonize-result img { width: 100%; height: 100%; object-fit: contain; }
"""


def thumbnail_folder() -> Path:
    """Where style thumbnails are kept between starts: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "brushwork" / "thumbnails"


def style_thumbnails(styles: Sequence[str], folder: Path, side: int = 160) -> list[tuple[str, str]]:
    """(picture, name) per fast style: the bundled photo painted small with it, so the choice is
    seen, not guessed from a name.  Made once per model file (about 0.5 s each on a CPU) and kept in
    ``folder``; a style that cannot be drawn is left out (the dropdown still has it)."""
    from ..assets import DEMO_CONTENT
    from ..core.image import load_image, resize_longest
    from ..fastnet.infer import FastSettings, FastStylizer
    from ..fastnet.modelfile import resolve

    photo = None
    out = []
    for name in styles:
        try:
            stat = Path(resolve(name)).stat()
            path = folder / f"{name}-{side}-{stat.st_size}-{int(stat.st_mtime)}.png"
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                photo = photo or resize_longest(load_image(DEMO_CONTENT), side)
                picture = FastStylizer(name, FastSettings(device="cpu", backend="torch"))(photo)
                tmp = path.with_suffix(f".{os.getpid()}.part")
                picture.save(tmp, "PNG")
                os.replace(tmp, path)
            out.append((str(path), name))
        except Exception:  # noqa: BLE001 - a thumbnail is a nicety
            log.exception("no thumbnail for %s", name)
    return out


def harmonize_example(folder: Path, side: int = 480) -> tuple[Path, Path, Path]:
    """painting, composite, mask for the Harmonize tab's example, made from the bundled pair: the
    cat's head from the demo photo pasted into the bundled painting, and the mask of what was pasted."""
    from PIL import Image, ImageDraw, ImageFilter

    from ..assets import DEMO_CONTENT, DEMO_STYLE
    from ..core.image import load_image, resize_longest

    folder.mkdir(parents=True, exist_ok=True)
    names = [folder / n for n in ("example_painting.png", "example_composite.png", "example_mask.png")]
    if all(p.exists() for p in names):
        return names[0], names[1], names[2]
    painting = resize_longest(load_image(DEMO_STYLE), side)
    photo = load_image(DEMO_CONTENT)
    w, h = photo.size
    head = photo.crop((int(w * 0.12), 0, int(w * 0.88), h))  # the cat's face
    head = resize_longest(head, side * 2 // 5)
    mask = Image.new("L", head.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, head.width - 1, head.height - 1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(1))
    at = (int(painting.width * 0.52), int(painting.height * 0.45))
    composite = painting.copy()
    composite.paste(head, at, mask)
    full_mask = Image.new("L", painting.size, 0)
    full_mask.paste(mask.point(lambda v: 255 if v >= 128 else 0), at)
    painting.save(names[0])
    composite.save(names[1])
    full_mask.save(names[2])
    return names[0], names[1], names[2]
def _import_gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gradio as gr
    except ImportError:
        raise SettingsError("the web UI needs gradio, which is not installed: pip install 'brushwork[web]'.") from None
    return gr


# ---------------------------------------------------------------------------------------------
# Forms from settings dataclasses


def _display(value: Any) -> Any:
    """A settings value as its form component shows it (None as an empty text box)."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return value


def settings_form(gr: Any, cls: type, base: Any, skip: Sequence[str] = (), main: Sequence[str] | None = None
                  ) -> dict[str, Any]:
    """One input component per visible field of ``cls``, holding ``base``'s value and the field's help;
    a field with declared choices is a dropdown of them.

    The ``main`` fields are shown first, the others folded away under "all settings" (all are
    shown when ``main`` is None).  Returns the components in the dataclass's field order."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in HIDDEN or f.name in skip:
            continue
        kind, optional = settings.kind(hints[f.name])
        value, label, info = getattr(base, f.name), f.name.replace("_", " "), settings.help_text(f)
        if optional and kind is not bool:
            info += " Leave empty for the default."
        common = {"label": label, "info": info, "render": False, "elem_id": f"{cls.__name__}-{f.name}"}
        allowed = f.metadata.get("choices")
        if allowed:
            comp = gr.Dropdown(list(allowed), value=value, **common)
        elif kind is bool:
            comp = gr.Checkbox(value=value, **common)
        elif kind in (int, float) and not optional:  # gr.Number shows None as 0: optional numbers are text
            comp = gr.Number(value=value, precision=0 if kind is int else None, **common)
        else:
            comp = gr.Textbox(value=str(_display(value)), **common)
        out[f.name] = comp
    first = [n for n in (main if main is not None else out) if n in out]
    for name in first:
        out[name].render()
    rest = [n for n in out if n not in first]
    if rest:
        with gr.Accordion("all settings", open=False):
            for name in rest:
                out[name].render()
    return out


def read_form(cls: type, base: Any, names: Sequence[str], values: Sequence[Any]) -> Any:
    """``base`` with the form's values, converted as the command line converts its options; the
    dataclass's own checks reject bad ones (SettingsError)."""
    return replace(base, **{name: settings.parse_text(cls, name, value) for name, value in zip(names, values)})


def _shown(update: jobs.Update) -> Any:
    """The picture to show: the written file once there is one (served as it is), else the preview.

    Showing the final file rather than the same pixels again also keeps gradio from rewriting
    the cached preview file (same pixels, same name) while the browser is still fetching it."""
    if update.result is not None and update.result.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
        return str(update.result)
    return update.preview


def _outputs(update: jobs.Update) -> tuple[Any, str, str | None]:
    """What a tab's (picture, status, download) outputs show for one job update."""
    return _shown(update), f"**{int(update.fraction * 100)} %** {update.status}", update.result and str(update.result)


#: The one answer to a file or style the page did not offer (a server path, a ``..`` name, a URL,
#: an upload that is gone): the same words for every such value, so that the answers tell nothing
#: about which files exist on the server.
NOT_UPLOADED = "that file was not uploaded through this page: upload it again."
NOT_OFFERED = "that style is not offered here: choose one of the styles the page lists."


def _upload_roots() -> list[Path]:
    """Where the files the page offers live: gradio's upload folder and the bundled examples."""
    from gradio.utils import get_upload_folder

    from ..assets import HERE

    return [Path(get_upload_folder()).resolve(), Path(HERE).resolve()]


def _raw_path(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        return value.get("path")
    return getattr(value, "path", None)


def _path(value: Any) -> str | None:
    """The server-side path of an uploaded file as a handler without preprocessing receives it.

    Only a regular file inside gradio's upload folder (or a bundled example) is accepted; any other
    value is refused with :data:`NOT_UPLOADED`, whether or not such a file exists."""
    raw = _raw_path(value)
    if raw is None:
        return None
    try:
        p = Path(raw).resolve(strict=True)
        ok = p.is_file() and any(p.is_relative_to(root) for root in _upload_roots())
    except (OSError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise BrushworkError(NOT_UPLOADED, 2)
    return str(p)


def _offered(name: Any, styles: Sequence[str]) -> str:
    """A style name the page lists, or the same refusal for anything else (paths included)."""
    if not isinstance(name, str) or name not in styles:
        raise BrushworkError(NOT_OFFERED, 4)
    return name


def _remove_refused(exc: BaseException) -> None:
    """Delete the upload a job refused (jobs marks it on the error): nothing would ever use it again.
    Only a file inside gradio's upload folder goes, never one the request merely named."""
    refused = getattr(exc, "upload", None)
    if refused is None:
        return
    root = _upload_roots()[0]
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        p = Path(refused).resolve(strict=True)
        if p.is_file() and p.is_relative_to(root):
            p.unlink()
            if p.parent != root:
                p.parent.rmdir()  # gradio keeps each upload in a folder of its own; fails unless empty


# ---------------------------------------------------------------------------------------------
# Errors → one line on the page


def _guarded(gr: Any, job: Callable[..., Iterator[tuple]]) -> Callable[..., Iterator[tuple]]:
    """Run a job generator; a BrushworkError becomes its one-line message, anything else one line
    naming the exception (the traceback goes to the server log, never to the page)."""
    import functools

    @functools.wraps(job)
    def run(*args: Any) -> Iterator[tuple]:
        try:
            yield from job(*args)
        except gr.Error:
            raise
        except BrushworkError as exc:
            _remove_refused(exc)
            raise gr.Error(exc.message, print_exception=False) from None
        except jobs.Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - the page gets one line, the log the traceback
            log.exception("job failed")
            raise gr.Error(jobs.one_line(exc), print_exception=False) from None

    return run


# ---------------------------------------------------------------------------------------------
# The page


def build_app(device: str = "auto", limits: jobs.QueueLimits | None = None, max_image_bytes: int = jobs.MAX_IMAGE_BYTES,
              max_video_bytes: int = jobs.MAX_VIDEO_BYTES, workdir: Path | None = None,
              thumbnails: Path | None = None) -> Any:
    """The gradio Blocks app with its queue configured; ``launch`` it (see :func:`serve`)."""
    gr = _import_gradio()
    from ..assets import DEMO_CONTENT, DEMO_STYLE
    from ..core.device import resolve_device
    from ..fastnet.infer import FastSettings
    from ..fastnet.modelfile import shipped_styles
    from ..gatys import PRESETS, StylizeSettings
    from ..gatys.settings import INIT_WORDS
    from ..harmonization import HarmonizeSettings
    from ..video import VideoSettings

    dev = resolve_device(device)  # refuse a missing GPU before the server starts
    limits = limits or jobs.QueueLimits.for_device(dev)
    root = Path(workdir or tempfile.mkdtemp(prefix="brushwork-web-"))
    styles = [n for n in shipped_styles() if n != "arbitrary"]  # the any-painting network needs an upload
    if not styles:
        raise ResourceError("this installation ships no fast styles: reinstall brushwork.")
    best = DEFAULT_STYLE if DEFAULT_STYLE in styles else styles[0]
    thumbs = style_thumbnails(styles, thumbnails or thumbnail_folder())
    example = harmonize_example(root / "example")

    @contextlib.contextmanager
    def new_dir() -> Iterator[Path]:
        """A job's own folder, removed when the job ends (gradio has copied the results by then)."""
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def with_device(settings: Any) -> Any:
        return replace(settings, device=device)

    upload = {"type": "filepath", "image_mode": None, "sources": ["upload", "clipboard"]}  # the file as sent: jobs checks it
    # preprocess=False: the handlers get the uploaded files as sent and check them themselves
    # (jobs.check_image_upload), so a bad file gets brushwork's one-line message, not gradio's.
    queue_kw = {"preprocess": False, "concurrency_limit": limits.concurrency, "concurrency_id": CONCURRENCY_ID,
                "show_progress": "minimal"}

    # delete_cache: gradio's copies of uploads and results older than 6 h go, checked hourly
    with gr.Blocks(title="brushwork", analytics_enabled=False, delete_cache=(3600, 6 * 3600)) as app:
        gr.Markdown("# brushwork\nTurn photos into paintings. Jobs run one after another "
                    f"(at most {limits.concurrency} at a time on {dev.type}, {limits.max_size} waiting).")
        with gr.Tabs():
            # -- stylize (optimisation) -----------------------------------------------------------
            with gr.Tab("Stylize", id="stylize"):
                with gr.Row():
                    with gr.Column():
                        with gr.Row():
                            content = gr.Image(label="content (photo)", **upload,
                                               elem_id="stylize-content", height=260)
                            style = gr.Image(label="style (painting)", **upload,
                                             elem_id="stylize-style", height=260)
                        gr.Examples([[str(DEMO_CONTENT), str(DEMO_STYLE)]], inputs=[content, style],
                                    label="bundled demo images")
                        run_s = gr.Button("Stylize", variant="primary", elem_id="stylize-run")
                        with gr.Accordion("blend a second style", open=False):
                            style2 = gr.Image(label="second style (optional)", **upload, elem_id="stylize-style2",
                                              height=200)
                            gr.Markdown("Both paintings are blended; set their weights with **style blend** under "
                                        "“all settings” (for example 3, 1), or leave it empty for equal parts.")
                        preset = gr.Dropdown(list(PRESETS), value="default", label="preset",
                                             info="Fills the settings below with a tuned set; edit them afterwards.")
                        s_form = settings_form(gr, StylizeSettings, PRESETS["default"],
                                               main=("size", "quality", "iterations", "style_weight", "color_mode"))
                    with gr.Column():
                        out_s = gr.Image(label="result", type="pil", interactive=False, elem_id="stylize-result",
                                         format="png", height=420,
                                         buttons=["download", "fullscreen"])
                        status_s = gr.Markdown(elem_id="stylize-status")
                        file_s = gr.File(label="download", interactive=False, elem_id="stylize-file")
                s_names = list(s_form)

                def on_preset(name: str) -> list[Any]:
                    base = PRESETS.get(name, PRESETS["default"])
                    return [gr.update(value=str(_display(getattr(base, n))) if isinstance(s_form[n], gr.Textbox)
                                      else getattr(base, n)) for n in s_names]

                preset.change(on_preset, preset, [s_form[n] for n in s_names], queue=False)

                # The second painting reaches the job through session state, so the API's /stylize keeps
                # its arguments (content, style, preset, settings …); it is checked like every upload.
                style2_state = gr.State(None)
                style2.change(lambda value: value, style2, style2_state, queue=False, preprocess=False,
                              api_name="second_style")

                def stylize(content_file: Any, style_file: Any, preset_name: str, *values: Any):
                    *values, style2_file = values  # the state is the last input
                    content_path, style_paths = _path(content_file), [_path(style_file), _path(style2_file)]
                    settings = with_device(read_form(StylizeSettings, PRESETS.get(preset_name, PRESETS["default"]),
                                                     s_names, values))
                    if settings.init not in INIT_WORDS:  # a path would read the server's files
                        raise SettingsError(f"init must be one of {', '.join(INIT_WORDS)} on this page.")
                    with new_dir() as folder:
                        for u in jobs.stylize_job(content_path, [p for p in style_paths if p], settings, folder,
                                                  max_image_bytes):
                            yield _outputs(u)

                run_s.click(_guarded(gr, stylize), [content, style, preset, *[s_form[n] for n in s_names], style2_state],
                            [out_s, status_s, file_s], api_name="stylize", **queue_kw)

            # -- fast styles ------------------------------------------------------------------------
            with gr.Tab("Fast styles", id="fast"):
                with gr.Row():
                    with gr.Column():
                        photo = gr.Image(label="photo", **upload, elem_id="fast-photo", height=300)
                        gr.Examples([[str(DEMO_CONTENT)]], inputs=[photo], label="bundled demo image")
                        fast_style = gr.Dropdown(styles, value=best, label="style",
                                                 info="The shipped fast styles (brushwork styles); or pick a picture below.")
                        run_f = gr.Button("Paint", variant="primary", elem_id="fast-run")
                        gallery = gr.Gallery(thumbs, label="the styles on the bundled photo", columns=min(len(thumbs), 4) or 1,
                                             height=280, allow_preview=False, elem_id="fast-styles", show_label=True)
                        own_painting = gr.Image(label="or your own painting (replaces the style above)", **upload,
                                                elem_id="fast-painting", height=200)
                        f_form = settings_form(gr, FastSettings, FastSettings())
                    with gr.Column():
                        out_f = gr.Image(label="result", type="pil", interactive=False, format="png", elem_id="fast-result",
                                         buttons=["download", "fullscreen"])
                        status_f = gr.Markdown(elem_id="fast-status")
                        file_f = gr.File(label="download", interactive=False)
                f_names = list(f_form)

                def pick(evt: Any) -> Any:
                    return gr.update(value=thumbs[evt.index][1])

                pick.__annotations__["evt"] = gr.SelectData  # gradio finds the event data by this type

                gallery.select(pick, None, fast_style, queue=False)

                def fast(photo_file: Any, style_name: str, *values: Any):
                    photo_path, style_name = _path(photo_file), _offered(style_name, styles)
                    painting_file, values = values[-1], values[:-1]
                    settings = with_device(read_form(FastSettings, FastSettings(), f_names, values))
                    with new_dir() as folder:
                        for u in jobs.fast_job(photo_path, style_name, settings, folder, max_image_bytes,
                                               painting=_path(painting_file)):
                            yield _shown(u), u.status, u.result and str(u.result)

                run_f.click(_guarded(gr, fast), [photo, fast_style, *f_form.values(), own_painting],
                            [out_f, status_f, file_f],
                            api_name="fast", **queue_kw)

            # -- harmonize ------------------------------------------------------------------------
            with gr.Tab("Harmonize", id="harmonize"):
                gr.Markdown("Upload the painting, then the same painting with an object pasted in (the composite); "
                            "paint over the pasted object with the brush, or upload a mask (white on the object).")
                with gr.Row():
                    with gr.Column():
                        painting = gr.Image(label="painting (without the object)", **upload,
                                            elem_id="harmonize-painting", height=260)
                        composite = gr.ImageEditor(label="composite: paint the mask over the pasted object",
                                                   type="numpy", image_mode="RGBA", sources=["upload", "clipboard"],
                                                   brush=gr.Brush(colors=["#ff3030"], color_mode="fixed"),
                                                   transforms=(), layers=False, height=360)
                        mask_up = gr.Image(label="or upload the mask", **upload, height=200)
                        with gr.Row():
                            example_h = gr.Button("load the example (a cat pasted into the bundled painting)",
                                                  elem_id="harmonize-example")
                            run_h = gr.Button("Harmonize", variant="primary", elem_id="harmonize-run")
                        h_form = settings_form(gr, HarmonizeSettings, HarmonizeSettings(),
                                               main=("style_level", "passes", "quality", "size"))
                    with gr.Column():
                        out_h = gr.Image(label="result", type="pil", interactive=False, format="png",
                                         elem_id="harmonize-result", buttons=["download", "fullscreen"])
                        status_h = gr.Markdown(elem_id="harmonize-status")
                        file_h = gr.File(label="download", interactive=False)
                h_names = list(h_form)

                def load_example() -> tuple[str, dict, str]:
                    painting_file, composite_file, mask_file = (str(p) for p in example)
                    return painting_file, {"background": composite_file, "layers": [], "composite": composite_file}, mask_file

                example_h.click(load_example, None, [painting, composite, mask_up], queue=False,
                                api_name="harmonize_example")

                def harmonize(painting_file: Any, editor: dict | None, mask_file: Any, *values: Any):
                    painting_path = _path(painting_file)  # every file value is checked before anything else
                    settings = with_device(read_form(HarmonizeSettings, HarmonizeSettings(), h_names, values))
                    background = _path((editor or {}).get("background"))
                    if background is None:
                        raise BrushworkError("no composite given: upload the painting with the object pasted in.", 2)
                    comp_img = jobs.check_image_upload(background, "composite", max_image_bytes)
                    if _path(mask_file):
                        mask = jobs.check_image_upload(_path(mask_file), "mask", max_image_bytes)
                    else:
                        layers = [jobs.load_layer(_path(layer), max_image_bytes) for layer in (editor or {}).get("layers") or []]
                        mask = jobs.mask_from_layers(layers, comp_img.size)
                    with new_dir() as folder:
                        for u in jobs.harmonize_job(painting_path, comp_img, mask, settings, folder, max_image_bytes):
                            yield _outputs(u)

                run_h.click(_guarded(gr, harmonize), [painting, composite, mask_up, *h_form.values()],
                            [out_h, status_h, file_h], api_name="harmonize", **queue_kw)

            # -- video ----------------------------------------------------------------------------
            with gr.Tab("Video", id="video"):
                opt_side = jobs.VIDEO_OPT_MAX_SIDE.get(dev.type, jobs.VIDEO_OPT_MAX_SIDE["cpu"])
                with gr.Row():
                    with gr.Column():
                        clip = gr.File(label="video (MP4, MOV, MKV, WebM …)", file_types=["video"], type="filepath")
                        video_mode = gr.Radio(["fast style", "your painting"], value="fast style", label="paint with",
                                              info="A shipped fast style (seconds per second of video on a CPU) or "
                                                   f"any painting by optimisation (slow: painted at up to {opt_side} px "
                                                   f"on this {dev.type}, then brought to the video's size).")
                        video_style = gr.Dropdown(styles, value=best, label="style",
                                                  info="A shipped fast style; every frame is painted with it.")
                        video_painting = gr.Image(label="painting", visible=False, **upload)
                        v_form = settings_form(gr, VideoSettings, VideoSettings(), main=("size", "temporal_weight"))
                        run_v = gr.Button("Paint the video", variant="primary")
                    with gr.Column():
                        preview_v = gr.Image(label="latest frame", type="pil", interactive=False, format="png")
                        status_v = gr.Markdown()
                        player_v = gr.Video(label="painted video", interactive=False)
                        file_v = gr.File(label="download the video", interactive=False)
                v_names = list(v_form)

                def pick_mode(mode: str):
                    opt = mode == "your painting"
                    return gr.update(visible=not opt), gr.update(visible=opt)

                video_mode.change(pick_mode, video_mode, [video_style, video_painting])

                def video(clip_file: Any, mode: str, style_name: str, painting_file: Any, *values: Any):
                    clip_path = _path(clip_file)
                    settings = with_device(read_form(VideoSettings, VideoSettings(), v_names, values))
                    painting = _path(painting_file) if mode == "your painting" else None
                    if mode == "your painting" and painting is None:
                        raise InputError("no painting given: upload one, or pick a fast style.")
                    if painting is None:
                        style_name = _offered(style_name, styles)
                    with new_dir() as folder:
                        for u in jobs.video_job(clip_path, style_name, settings, folder, max_video_bytes,
                                                painting=painting, max_image_bytes=max_image_bytes):
                            yield (*_outputs(u), u.result and str(u.result))

                run_v.click(_guarded(gr, video), [clip, video_mode, video_style, video_painting, *v_form.values()],
                            [preview_v, status_v, file_v, player_v], api_name="video", **queue_kw)

    app.queue(max_size=limits.max_size, default_concurrency_limit=limits.concurrency)
    app.brushwork_limits = limits  # for tests and the start-up message
    app.brushwork_workdir = root
    return app


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ResourceError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
                                "pass another --port, or stop what uses it.") from None


def launch(app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, max_upload_bytes: int = jobs.MAX_VIDEO_BYTES,
           block: bool = True) -> str:
    """Start the server; returns its address.  ``block=False`` returns at once (tests)."""
    gr = _import_gradio()
    from ..assets import HERE

    _check_port(host, port)
    theme = gr.themes.Default(font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
                              font_mono=["ui-monospace", "Consolas", "monospace"]).set(
        block_info_text_color="*neutral_700", block_info_text_color_dark="*neutral_300")  # readable help texts
    _, url, _ = app.launch(server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
                           prevent_thread_lock=not block, max_file_size=max_upload_bytes, footer_links=[], css=CSS,
                           mcp_server=False, ssr_mode=False, pwa=False, theme=theme, show_error=False,
                           allowed_paths=[str(HERE)], enable_monitoring=False)
    return url


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, device: str = "auto", concurrency: int = 0,
          queue_size: int = 0, max_upload_mb: int = 200, announce: Callable[[str], None] = print) -> None:
    """Build the app for this machine and serve it until Ctrl-C."""
    from ..core.device import resolve_device

    _check_port(host, port)  # before the slow start-up
    limits = jobs.QueueLimits.for_device(resolve_device(device), concurrency, queue_size)
    cap = max_upload_mb * 2**20
    app = build_app(device, limits, max_image_bytes=min(cap, jobs.MAX_IMAGE_BYTES), max_video_bytes=cap)
    announce(f"brushwork web UI on http://{host}:{port} ({limits.concurrency} job(s) at a time, "
             f"{limits.max_size} waiting; Ctrl-C stops it)")
    try:
        launch(app, host, port, cap, block=True)
    finally:
        shutil.rmtree(app.brushwork_workdir, ignore_errors=True)  # the results of this session
