"""The command line end to end, and its promise on bad input: one line, an exit code, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.gatys.settings import StylizeSettings, settings_fields

runner = CliRunner()
FAST = ["--size", "64", "--quality", "single", "--iterations", "2", "-q"]


def _invoke(args: list[str]):
    if "-q" in args:  # -q is a global option: it goes before the command
        args = ["-q"] + [a for a in args if a != "-q"]
    return runner.invoke(app, args)


def test_help_shows_every_setting_with_default():
    result = runner.invoke(app, ["stylize", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in settings_fields():
        flag = name.replace("_", "-")
        assert f"--{flag}" in result.output or f"--[no-]{flag}" in result.output, name
    assert "512" in result.output and "relu4_2" in result.output  # defaults shown
    assert StylizeSettings().quality in result.output


def test_stylize_end_to_end(content_file, style_file, tmp_path):
    out = tmp_path / "out.png"
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (64, 43)
    assert "wrote" in result.output


def test_stylize_two_styles_blend_and_save_every(content_file, style_file, tmp_path):
    out = tmp_path / "out.jpg"
    args = ["stylize", str(content_file), str(style_file), str(style_file), "-o", str(out), *FAST,
            "--style-blend", "2,1", "--save-every", "1", "--preserve-colors", "--style-layers", "relu1_1,relu3_1"]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "out_00001.jpg").exists() and (tmp_path / "out_00002.jpg").exists()


def test_preset_guohua_runs(content_file, style_file, tmp_path):
    out = tmp_path / "ink.png"
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(out), "--preset", "guohua", *FAST])
    assert result.exit_code == 0, result.output
    assert out.exists()


def _setup_bad(kind: str, tmp_path: Path, good: Path) -> tuple[Path, Path]:
    """(content path, output path) for each bad-input case."""
    out = tmp_path / "out.png"
    bad = tmp_path / "bad.jpg"
    if kind == "missing":
        return tmp_path / "nope.jpg", out
    if kind == "directory":
        bad.mkdir()
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "text":
        bad.write_text("not an image")
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[:200])
    elif kind == "no-folder":  # a missing folder is created; one that cannot be is refused
        (tmp_path / "afile").write_bytes(b"")
        return good, tmp_path / "afile" / "out.png"
    elif kind == "bad-extension":
        return good, tmp_path / "out.xyz"
    return bad, out


BAD = {
    "missing": (2, "does not exist"),
    "directory": (2, "holds no images"),  # a folder is stylize input now: an empty one is refused
    "empty": (2, "empty file"),
    "text": (2, "not an image"),
    "truncated": (2, "damaged or truncated"),
    "no-folder": (3, "is a file"),
    "bad-extension": (3, "unknown extension"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_one_line_error(kind, content_file, style_file, tmp_path):
    content, out = _setup_bad(kind, tmp_path, content_file)
    before = sorted(os.listdir(tmp_path))
    result = _invoke(["stylize", str(content), str(style_file), "-o", str(out), *FAST])
    code, message = BAD[kind]
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_existing_output_is_kept_without_overwrite(content_file, style_file, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(out), *FAST])
    assert result.exit_code == 3 and "--overwrite" in result.output
    assert out.read_bytes() == b"precious"
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(out), *FAST, "--overwrite"])
    assert result.exit_code == 0 and Image.open(out).size == (64, 43)


def test_unwritable_output_folder(content_file, style_file, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda p, mode: not (mode & os.W_OK))
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(tmp_path / "o.png"), *FAST])
    assert result.exit_code == 3 and "not writable" in result.output


def test_bad_setting_is_one_line(content_file, style_file, tmp_path):
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(tmp_path / "o.png"),
                      *FAST, "--style-weight", "-3"])
    assert result.exit_code == 4 and "style-weight" in result.output and "Traceback" not in result.output


def test_interrupt_writes_last_good_and_exits_130(content_file, style_file, tmp_path, monkeypatch):
    import brushwork.cli as cli

    def interrupting(self, p):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.ProgressBar, "__call__", interrupting)
    out = tmp_path / "o.png"
    result = _invoke(["stylize", str(content_file), str(style_file), "-o", str(out), *FAST])
    assert result.exit_code == 130
    assert "interrupted" in result.output and str(out) in result.output.replace("\n", "")
    assert Image.open(out).size == (64, 43)


def test_demo(tmp_path, monkeypatch):
    result = _invoke(["demo", str(tmp_path / "d"), "--size", "64", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "demo.png").exists() and "demo result" in result.output
