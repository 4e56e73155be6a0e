"""The web UI without a browser: forms ↔ settings, upload checks, job threads, and a live server
driven over its HTTP API (20 jobs at once against a small queue)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.core.errors import InputError, SettingsError
from brushwork.core.progress import Progress
from brushwork.fastnet.infer import FastSettings
from brushwork.gatys.presets import GUOHUA
from brushwork.gatys.stylizer import StylizeSettings
from brushwork.harmonization import HarmonizeSettings
from brushwork.video import VideoSettings
from brushwork.web import jobs
from brushwork.web.app import _display, read_form

gradio = pytest.importorskip("gradio", reason="gradio is not installed (pip install 'brushwork[web]')")


def test_brushwork_and_its_cli_do_not_import_gradio():
    code = ("import sys, brushwork, brushwork.cli, brushwork.web.jobs, brushwork.web; "
            "sys.exit(1 if 'gradio' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_serve_refuses_a_bad_or_busy_port():
    from typer.testing import CliRunner

    from brushwork.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 4 and "--port must be between" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = runner.invoke(app, ["serve", "--port", str(busy.getsockname()[1])])
    assert result.exit_code == 5 and "pass another --port" in result.output, result.output


# ---------------------------------------------------------------------------------------------
# Forms


@pytest.mark.parametrize("base", [StylizeSettings(), GUOHUA, FastSettings(), HarmonizeSettings(), VideoSettings()])
def test_form_round_trip_keeps_every_value(base):
    """What the form shows for a settings object reads back as the same object (defaults, presets)."""
    names = [f.name for f in fields(base)]
    shown = [_display(getattr(base, n)) for n in names]
    assert read_form(type(base), type(base)(), names, shown) == base


def test_form_values_are_converted_and_checked():
    names = ["size", "iterations", "style_layers", "style_layer_weights", "detail_transfer", "color_mode"]
    s = read_form(StylizeSettings, StylizeSettings(), names, [96.0, "3", "relu1_1, relu2_1", "1, 0.5", False, "preserve"])
    assert (s.size, s.iterations, s.style_layers, s.style_layer_weights, s.detail_transfer, s.color_mode) == \
        (96, 3, ("relu1_1", "relu2_1"), (1.0, 0.5), False, "preserve")
    assert read_form(StylizeSettings, StylizeSettings(), ["iterations"], [""]).iterations is None
    with pytest.raises(SettingsError, match="whole number"):
        read_form(StylizeSettings, StylizeSettings(), ["size"], [64.5])
    with pytest.raises(SettingsError, match="must be a number"):
        read_form(StylizeSettings, StylizeSettings(), ["iterations"], ["many"])
    with pytest.raises(SettingsError, match="size is empty"):
        read_form(StylizeSettings, StylizeSettings(), ["size"], [None])
    with pytest.raises(SettingsError, match="at least 32"):  # the dataclass's own check
        read_form(StylizeSettings, StylizeSettings(), ["size"], [8])


# ---------------------------------------------------------------------------------------------
# Queue limits, uploads, masks


def test_queue_limits_fit_the_machine():
    cpu = jobs.QueueLimits.for_device(torch.device("cpu"))
    assert cpu.concurrency == 1 and cpu.max_size > cpu.concurrency
    assert jobs.QueueLimits.for_device(torch.device("cpu"), concurrency=3, max_size=5) == jobs.QueueLimits(3, 5)


def test_upload_checks_give_clear_messages(tmp_path, content_file):
    with pytest.raises(InputError, match="no content image given"):
        jobs.check_image_upload(None, "content image")
    with pytest.raises(InputError, match=r"more than the 100 bytes allowed"):
        jobs.check_image_upload(content_file, "content image", max_bytes=100)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(InputError) as info:
        jobs.check_image_upload(text, "style image")
    assert "not an image file" in info.value.message and str(tmp_path) not in info.value.message
    assert jobs.check_image_upload(content_file, "content image").mode == "RGB"
    with pytest.raises(InputError, match="not a video|still image"):
        jobs.check_video_upload(content_file)


def test_mask_from_drawn_layers():
    layer = np.zeros((40, 60, 4), dtype=np.uint8)
    with pytest.raises(InputError, match="paint over the pasted object"):
        jobs.mask_from_layers([layer], (60, 40))
    layer[10:20, 5:15, 3] = 255
    mask = np.asarray(jobs.mask_from_layers([layer], (60, 40)))
    assert mask.shape == (40, 60) and (mask[10:20, 5:15] == 255).all() and mask.sum() == 100 * 255
    with pytest.raises(InputError, match="size"):
        jobs.mask_from_layers([layer], (50, 40))


# ---------------------------------------------------------------------------------------------
# Job threads


def _events(n: int, sleep: float = 0.0):
    def work(progress):
        for k in range(n):
            time.sleep(sleep)
            progress(Progress("t", "stage", k + 1, n, k + 1, n, preview=lambda: Image.new("RGB", (4, 4))))
        return jobs.Update("finished", 1.0)
    return work


def test_run_in_thread_yields_progress_then_the_result():
    updates = list(jobs.run_in_thread(_events(5), interval=0.0))
    assert [u.fraction for u in updates[:-1]] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert all(u.preview is not None for u in updates[:-1]) and updates[-1].status == "finished"


def test_run_in_thread_passes_errors_on_and_stops_when_closed():
    def broken(progress):
        raise InputError("bad input: fix it.")
    with pytest.raises(InputError, match="bad input"):
        list(jobs.run_in_thread(broken))

    before = threading.active_count()
    gen = jobs.run_in_thread(_events(1000, sleep=0.005))
    next(gen)
    gen.close()  # the browser went away
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before


def test_fast_job_writes_a_picture(tmp_path, content_file):
    updates = list(jobs.fast_job(content_file, "starry_night", FastSettings(size=64), tmp_path))
    final = updates[-1]
    assert final.result is not None and final.result.exists()
    assert Image.open(final.result).size == final.preview.size and max(final.preview.size) == 64


def _tiny_clip(path, frames=3, size=(48, 32)):
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=12)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(frames):
            f = av.VideoFrame.from_ndarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8), format="rgb24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def test_video_job_paints_with_a_fast_style_or_a_painting_at_a_capped_size(tmp_path, style_file, monkeypatch):
    clip = _tiny_clip(tmp_path / "clip.mp4")
    (tmp_path / "a").mkdir()
    fast = list(jobs.video_job(clip, "starry_night", VideoSettings(device="cpu"), tmp_path / "a"))
    assert fast[-1].result.exists() and "3 frames" in fast[-1].status
    monkeypatch.setitem(jobs.VIDEO_OPT_MAX_SIDE, "cpu", 32)  # the clip is 48 px wide: the cap applies
    (tmp_path / "b").mkdir()
    opt = list(jobs.video_job(clip, "", VideoSettings(device="cpu", frame_iterations=1), tmp_path / "b",
                              painting=style_file, stylize_settings=StylizeSettings(quality="single", iterations=2)))
    assert opt[-1].result.exists() and "painted at 32 px" in opt[-1].status
    with pytest.raises(InputError, match="painting"):
        list(jobs.video_job(clip, "", VideoSettings(device="cpu"), tmp_path, painting=tmp_path / "missing.png"))


# ---------------------------------------------------------------------------------------------
# A live server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    """A server on a free port with a small queue: one job at a time, four waiting."""
    from brushwork.web import app as webui

    app = webui.build_app("cpu", jobs.QueueLimits(1, 4), workdir=tmp_path)
    url = webui.launch(app, port=_free_port(), block=False)
    yield url
    app.close()


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def test_twenty_jobs_at_once_finish_or_are_turned_away(server, content_file, monkeypatch):
    """Every job either finishes or is refused with a message; none is lost and the server stays up."""
    from gradio_client import handle_file

    real = jobs.fast_job

    def slow_fast_job(*args, **kwargs):
        time.sleep(0.3)  # long enough for the queue to fill
        yield from real(*args, **kwargs)

    monkeypatch.setattr(jobs, "fast_job", slow_fast_job)
    client = _client(server)
    outcomes: list[str] = [""] * 20

    def submit(k: int) -> None:
        try:
            result = client.predict(handle_file(str(content_file)), "the_scream", 64, "512", False, 1.0, None, api_name="/fast")
            outcomes[k] = "done" if result[2] else "empty"
        except Exception as exc:  # noqa: BLE001 - the refusal arrives as an exception with a message
            outcomes[k] = f"refused: {exc}"

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done = outcomes.count("done")
    refused = [o for o in outcomes if o.startswith("refused")]
    assert done + len(refused) == 20, outcomes
    assert done >= 1 and refused, outcomes
    assert all("queue" in o.lower() and "full" in o.lower() for o in refused), refused
    # still answering, and a new job runs
    result = client.predict(handle_file(str(content_file)), "the_scream", 64, "512", False, 1.0, None, api_name="/fast")
    assert "the_scream.png" in str(result[2])


def test_errors_reach_the_page_as_one_line(server, tmp_path, content_file):
    """A bad upload or setting gives brushwork's own one-line message, not a traceback or gradio's generic error."""
    from gradio_client import handle_file

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # a PNG signature and nothing else
    client = _client(server)
    for upload, size, expected in ((bad, 64, "photo is not an image file brushwork can read"),
                                   (content_file, 8, "size must be between 32 and 16384")):
        with pytest.raises(Exception) as info:
            client.predict(handle_file(str(upload)), "the_scream", size, "512", False, 1.0, None, api_name="/fast")
        message = str(info.value)
        assert expected in message and "Traceback" not in message and "\n" not in message.strip()


def test_mask_drawn_in_the_editor_reaches_the_harmonizer(server, tmp_path, content_img, monkeypatch):
    """The image editor's payload (background + drawing layers) becomes the composite and the tight mask."""
    from gradio_client import handle_file

    seen = {}

    def fake_harmonize_job(painting, composite, mask, settings, workdir, max_bytes):
        seen.update(composite=composite.size, mask=np.asarray(mask), passes=settings.passes)
        yield jobs.Update("done", 1.0, composite, None)

    monkeypatch.setattr(jobs, "harmonize_job", fake_harmonize_job)
    w, h = content_img.size
    content_img.save(tmp_path / "painting.png")
    layer = np.zeros((h, w, 4), dtype=np.uint8)
    layer[10:30, 20:50] = (255, 48, 48, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "layer.png")
    editor = {"background": handle_file(str(tmp_path / "painting.png")), "layers": [handle_file(str(tmp_path / "layer.png"))],
              "composite": None}
    client = _client(server)
    names = [f.name for f in fields(HarmonizeSettings) if f.name not in ("device", "weights")]
    values = [_display(getattr(HarmonizeSettings(passes=1), n)) for n in names]
    client.predict(handle_file(str(tmp_path / "painting.png")), editor, None, *values, api_name="/harmonize")
    assert seen["composite"] == (w, h) and seen["passes"] == 1
    assert (seen["mask"] > 0).sum() == 20 * 30 and (seen["mask"][10:30, 20:50] > 0).all()


def _refusals(client, endpoint: str, build) -> dict[str, set[str]]:
    """The messages of ``endpoint`` for file values and style names the page never offers: server
    files that exist, ones that do not, ``..`` names and URLs; sent as a plain string (which
    gradio's own validation turns away for file inputs) and as a file payload's path."""
    from brushwork.fastnet.modelfile import shipped_styles

    model = str(next(iter(shipped_styles().values())))
    values = [model, "/etc/hostname", "/no/such/file.png", "../../../../etc/passwd", "..", "/",
              "http://127.0.0.1:9/x.png", "file:///etc/passwd"]
    messages: dict[str, set[str]] = {"string": set(), "payload": set()}
    for value in values:
        for form, sent in (("string", value), ("payload", {"path": value})):
            with pytest.raises(Exception) as info:  # noqa: PT011 - gradio_client raises its AppError
                client.predict(*build(sent, value), api_name=endpoint)
            messages[form].add(str(info.value))
    return messages


def test_every_endpoint_accepts_only_what_the_page_offers(server, content_file):
    """File inputs take only uploads, style names only the listed styles; every other value (a
    server path, existing or not, a `..` name, a URL) gets the same answer, so nothing can be read
    or probed through the API."""
    from gradio_client import handle_file

    from brushwork.web.app import HIDDEN, NOT_OFFERED, NOT_UPLOADED

    client = _client(server)
    photo = handle_file(str(content_file))

    def form(cls, base) -> list:
        return [_display(getattr(base, f.name)) for f in fields(cls) if f.name not in HIDDEN]

    stylize = form(StylizeSettings, StylizeSettings(size=64))
    harmonize = form(HarmonizeSettings, HarmonizeSettings())
    fast = form(FastSettings, FastSettings(size=64))
    video = form(VideoSettings, VideoSettings())
    cases = {
        "/stylize": lambda sent, raw: (sent, photo, "default", *stylize),
        "/fast": lambda sent, raw: (sent, "the_scream", *fast, None),
        "/harmonize": lambda sent, raw: (sent, {"background": photo, "layers": [], "composite": None}, None, *harmonize),
        "/video": lambda sent, raw: (sent, "fast style", "the_scream", None, *video),
    }
    for endpoint, build in cases.items():
        messages = _refusals(client, endpoint, build)
        assert all(len(m) == 1 for m in messages.values()), (endpoint, messages)  # one answer, whatever the value
        (answer,) = messages["payload"]  # brushwork's, or gradio's own refusal before the handler
        assert answer == NOT_UPLOADED or "exception" in answer, (endpoint, messages)
    # the Fast tab's own painting is a file input like the photo
    messages = _refusals(client, "/fast", lambda sent, raw: (photo, "the_scream", *fast, sent))
    assert all(len(m) == 1 for m in messages.values()), messages
    (answer,) = messages["payload"]
    assert answer == NOT_UPLOADED or "exception" in answer, messages
    for endpoint, build in {"/fast": lambda sent, raw: (photo, raw, *fast, None),
                            "/video": lambda sent, raw: (photo, "fast style", raw, None, *video)}.items():
        messages = _refusals(client, endpoint, build)
        assert {m for ms in messages.values() for m in ms} == {NOT_OFFERED}, (endpoint, messages)
    # and a path as the start image of an optimisation is refused too
    with pytest.raises(Exception, match="init must be one of"):  # noqa: PT011
        names = [f.name for f in fields(StylizeSettings) if f.name not in HIDDEN]
        values = list(stylize)
        values[names.index("init")] = "/etc/hostname"
        client.predict(photo, photo, "default", *values, api_name="/stylize")


def test_a_refused_upload_and_a_finished_jobs_files_are_removed(server, tmp_path, content_file):
    from gradio.utils import get_upload_folder
    from gradio_client import handle_file

    def uploads(name: str) -> list:
        return list(Path(get_upload_folder()).rglob(name))

    bad = tmp_path / "refused-upload.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    client = _client(server)
    with pytest.raises(Exception, match="not an image file"):  # noqa: PT011
        client.predict(handle_file(str(bad)), "the_scream", 64, "512", False, 1.0, None, api_name="/fast")
    assert uploads("refused-upload.png") == []
    client.predict(handle_file(str(content_file)), "the_scream", 64, "512", False, 1.0, None, api_name="/fast")
    deadline = time.monotonic() + 10
    while list(tmp_path.glob("job-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob("job-*")) == []  # the job's folder went; gradio keeps its copy of the result
