"""Issue #19, a newcomer's first hour: install, help, output names, progress, devices."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from brushwork import cli
from brushwork.cli import app
from brushwork.core import device as devmod
from brushwork.core.errors import ResourceError, SettingsError
from brushwork.core.names import default_output, free_name, name_part
from brushwork.core.progress import Progress, RecentRate, clock

# -- devices ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(devmod, "_mps_available", lambda: mps)
    assert devmod.resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["mps", "cuda", "cuda:3"])
def test_missing_device_is_exit_5(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(devmod, "_mps_available", lambda: False)
    with pytest.raises(ResourceError) as info:
        devmod.resolve_device(name)
    assert info.value.exit_code == 5 and "\n" not in info.value.message


def test_unknown_device_is_a_settings_error():
    with pytest.raises(SettingsError):
        devmod.resolve_device("tpu")


# -- ONNX: a missing package is one line naming what to install (exit 4) -----------------------


def test_missing_onnx_names_the_extra(monkeypatch):
    import builtins

    from brushwork.fastnet.export import import_onnx

    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(SettingsError) as info:
        import_onnx()
    assert info.value.exit_code == 4 and "brushwork[onnx]" in info.value.message


def test_onnx_is_a_regular_dependency():
    from pathlib import Path

    import tomllib

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("onnxruntime") for d in deps) and any(d.startswith("onnx>") for d in deps)


# -- output names -------------------------------------------------------------------------------


runner = CliRunner()
TINY = ["--size", "48", "--quality", "single", "--iterations", "1"]


def test_default_names_beside_the_input(tmp_path):
    photo = tmp_path / "photo.jpg"
    assert default_output(photo, ["starry_night.jpg"], ".png") == tmp_path / "photo_starry_night.png"
    assert default_output(tmp_path / "clip.mov", ["starry_night"], ".mp4") == tmp_path / "clip_starry_night.mp4"
    assert default_output(tmp_path / "composite.jpg", ["harmonized"], ".png") == tmp_path / "composite_harmonized.png"
    assert name_part("my photo (1).JPG") == "my_photo__1"
    (tmp_path / "photo_starry_night.png").write_bytes(b"x")
    assert default_output(photo, ["starry_night"], ".png") == tmp_path / "photo_starry_night_2.png"  # never replaced
    assert default_output(photo, ["starry_night"], ".png", overwrite=True) == tmp_path / "photo_starry_night.png"
    (tmp_path / "photo_starry_night_2.png").write_bytes(b"x")
    assert free_name(tmp_path / "photo_starry_night.png") == tmp_path / "photo_starry_night_3.png"


def test_stylize_without_output_writes_beside_the_photo(content_file, style_file):
    first = runner.invoke(app, ["-q", "stylize", str(content_file), str(style_file), *TINY])
    assert first.exit_code == 0, first.output
    assert (content_file.parent / "content_style.png").is_file()
    second = runner.invoke(app, ["-q", "stylize", str(content_file), str(style_file), *TINY])
    assert second.exit_code == 0, second.output
    assert (content_file.parent / "content_style_2.png").is_file()  # the first one is kept


def test_stylize_creates_a_missing_output_folder(content_file, style_file, tmp_path):
    out = tmp_path / "new" / "sub" / "out.png"
    result = runner.invoke(app, ["-q", "stylize", str(content_file), str(style_file), *TINY, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_a_failed_run_leaves_no_new_folder(style_file, tmp_path):
    out = tmp_path / "new" / "sub" / "out.png"
    result = runner.invoke(app, ["-q", "stylize", str(tmp_path / "missing.jpg"), str(style_file), *TINY, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "new").exists()


def test_fast_without_output(content_file, tmp_path):
    result = runner.invoke(app, ["-q", "fast", "the_scream", str(content_file), "--size", "48"])
    assert result.exit_code == 0, result.output
    assert (content_file.parent / "content_the_scream.png").is_file()
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(content_file.read_bytes())
    result = runner.invoke(app, ["-q", "fast", "the_scream", str(folder), "--size", "48"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "photos_the_scream" / "a.png").is_file()


# -- every setting is checked before any work --------------------------------------------------


def test_blend_and_mask_counts_are_checked_before_reading_images(tmp_path):
    missing = [str(tmp_path / "no-photo.jpg"), str(tmp_path / "no-a.jpg"), str(tmp_path / "no-b.jpg")]
    blend = runner.invoke(app, ["stylize", *missing, "--style-blend", "1,2,3", "-o", str(tmp_path / "o.png")])
    assert blend.exit_code == 4 and "3 style blend weights for 2" in blend.output, blend.output
    masks = runner.invoke(app, ["stylize", *missing, "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png")])
    assert masks.exit_code == 4 and "1 mask(s) for 2" in masks.output, masks.output


def test_video_model_refuses_optimisation_options(tmp_path):
    result = runner.invoke(app, ["video", str(tmp_path / "no-clip.mp4"), "--model", "starry_night", "--tile", "256"])
    assert result.exit_code == 4 and "--tile applies to --style only" in result.output, result.output


# -- progress -----------------------------------------------------------------------------------


def test_eta_follows_the_recent_pace():
    t = [0.0]
    rate = RecentRate(window=10, now=lambda: t[0])
    for done in range(0, 11):  # a slow start: 10 s per step …
        t[0] = done * 10.0
        rate.update(done)
    for done in range(11, 31):  # … then 1 s per step
        t[0] += 1.0
        rate.update(done)
    assert rate.eta(100) == pytest.approx(70, rel=0.15)  # the average since the start would say ~280
    assert clock(75) == "1:15" and clock(3725) == "1:02:05"


def test_plain_progress_lines_when_stderr_is_not_a_terminal(content_file, style_file, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.ProgressBar, "plain_interval", 0.0)
    out = tmp_path / "o.png"
    result = runner.invoke(app, ["stylize", str(content_file), str(style_file), "--size", "48", "--quality", "single",
                                 "--iterations", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if "elapsed" in ln]
    assert len(lines) >= 3, result.stderr
    assert re.search(r"it 1/3 \(\d+ %\), loss [\d.e+]+, elapsed \d+:\d\d, ETA (-|\d+:\d\d)", lines[0]), lines[0]
    assert "\x1b" not in result.stderr  # plain text, no escape codes


def test_fast_progress_counts_images(content_file, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.ProgressBar, "plain_interval", 0.0)
    result = runner.invoke(app, ["fast", "the_scream", str(content_file), "--size", "48", "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0, result.output
    assert "image 1/1 (100 %)" in result.stderr and "loss" not in result.stderr, result.stderr


@pytest.mark.parametrize("width", [60, 80, 100])
def test_bars_keep_their_times_in_narrow_terminals(monkeypatch, width):
    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, width=width, force_terminal=True, highlight=False, soft_wrap=True))
    with cli.ProgressBar("harmonize") as bar:
        for i in (1, 2):
            bar(Progress("harmonize", "pass 1/2 robust (700 px)", i, 700, i, 700, loss=12345.6))
    last = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buf.getvalue()).replace("\r", "\n").strip().splitlines()[-1]
    assert len(last) <= width and re.search(r"\d:\d\d:\d\d ETA (-|\d+:\d\d)$", last.rstrip()), last


def test_web_status_shows_elapsed_and_eta():
    from brushwork.web.jobs import _describe

    t = [0.0]
    rate = RecentRate(now=lambda: t[0])
    for i in range(5):
        t[0] = float(i)
        rate.update(i)
    text = _describe(Progress("stylize", "scale 1/3", 4, 100, 4, 100, loss=2.0), rate)
    assert "0:04 elapsed" in text and "about 1:36 left" in text, text


# -- --help and --version ------------------------------------------------------------------------

COMMANDS = ["stylize", "demo", "train", "fast", "export", "styles", "harmonize", "video", "serve"]


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_reads_well_at_100_columns(command):
    text = _help(*([command] if command else []))
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 100
    for bad in ("<bool>", "[default:", "(none)", "`", "None ", "<list[", "<str>"):
        assert bad not in text, (bad, command)
    # the flag column is at most about a third of the page: every help text starts by column 40
    for ln in lines:
        m = re.match(r"│ (--?\S.*?)\s{2,}\S", ln)
        if m:
            assert len(m.group(0)) <= 40, ln


def test_stylize_help_defaults_choices_and_panels():
    text = _help("stylize")
    flat = " ".join(ln.strip("│ ").strip() for ln in text.splitlines())
    assert "Default: 512." in flat and "Default: normal." in flat
    assert "Default: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1." in flat  # never cut
    assert "--style-loss [gram|w2]" in text and "--original-size " in text and "--[no-]detail-transfer" in text
    panels = [m.group(1) for m in re.finditer(r"╭─ (.+?) ─", text)]
    assert panels == ["Arguments", "Options", "Essentials", "Advanced", "Cluster"], panels
    assert text.index("--size INT") < text.index("--tv-weight")  # essentials first


def test_video_help_panels_in_order():
    panels = [m.group(1) for m in re.finditer(r"╭─ (.+?) ─", _help("video"))]
    assert panels == ["Arguments", "Options", "Video: Essentials", "Video: Advanced", "Optimisation (--style only)",
                      "Cluster"]


@pytest.mark.parametrize("args", [["--version"], ["styles", "--version"], ["-q", "--version"]])
def test_version_anywhere(args):
    from brushwork import __version__

    result = runner.invoke(app, args)
    assert result.exit_code == 0 and result.output.strip() == f"brushwork {__version__}", result.output


# -- the web page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pytest.importorskip("gradio")
    from brushwork.web import app as webui
    from brushwork.web import jobs

    root = tmp_path_factory.mktemp("web")
    return webui.build_app("cpu", jobs.QueueLimits(1, 4), workdir=root / "work", thumbnails=root / "thumbs"), root


def _components(app, kind):
    return [b for b in app.blocks.values() if type(b).__name__ == kind]


def test_fast_tab_starts_on_the_best_style_with_thumbnails(page):
    app, root = page
    fast_style = next(d for d in _components(app, "Dropdown") if d.label == "style")
    assert fast_style.value == "starry_night"
    gallery = next(g for g in _components(app, "Gallery") if g.elem_id == "fast-styles")
    names = [item["caption"] for item in gallery.value]
    from brushwork.fastnet.modelfile import shipped_styles

    assert names == list(shipped_styles()) and "starry_night" in names
    assert len(list((root / "thumbs").glob("*.png"))) == len(names)  # kept for the next start


def test_stylize_tab_blends_a_second_style_and_puts_the_button_first(page):
    app, _ = page
    ids = [b.elem_id for b in app.blocks.values() if getattr(b, "elem_id", None)]
    assert "stylize-style2" in ids
    assert ids.index("stylize-run") < ids.index("StylizeSettings-size")  # above the settings, so above the fold


def test_harmonize_example_is_a_real_composite(page):
    from PIL import Image

    from brushwork.web.app import harmonize_example

    _, root = page
    painting, composite, mask = (Image.open(p) for p in harmonize_example(root / "work" / "example"))
    assert painting.size == composite.size == mask.size
    m = np.asarray(mask.convert("L")) > 127
    diff = np.abs(np.asarray(painting, dtype=int) - np.asarray(composite.convert("RGB"), dtype=int)).sum(axis=2) > 30
    assert 0.05 < m.mean() < 0.4 and (diff & ~m).mean() < 0.01 and diff[m].mean() > 0.5  # changed only under the mask
