"""Inputs are never destroyed and nothing is done before a command knows it can finish: the
issue-18 reproductions on the real command line (the reliability matrix has the general cells)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

import brushwork.cli as cli

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(cli.app, ["-q", *args])


def _photo(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (36, 48, 3), dtype=np.uint8), "RGB").save(path)
    return path


def _one_line(result, code: int, needle: str) -> None:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_stylize_onto_its_own_photo_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    photo, style = _photo(out / "self.png"), _photo(tmp_path / "style.png", 1)
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    for spelling in ("out/self.png", "./out/self.png", "out/../out/self.png", str(photo)):
        result = _invoke("stylize", "out/self.png", str(style), "-o", spelling, "--overwrite",
                         "--size", "32", "--quality", "single", "--iterations", "1")
        _one_line(result, 3, "is the input")
    result = _invoke("stylize", str(photo), str(style), "-o", str(style), "--overwrite", "--size", "32")
    _one_line(result, 3, "is the input")  # a style image is an input too
    assert photo.read_bytes() == before


def test_fast_into_the_folder_of_its_originals_is_refused_even_with_overwrite(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    originals = {p.name: p.read_bytes() for p in (_photo(album / "a.png"), _photo(album / "b.jpg", 1))}
    result = _invoke("fast", "starry_night", str(album), "-o", str(album), "--overwrite", "--device", "cpu")
    _one_line(result, 3, "is the input")
    assert {p.name: p.read_bytes() for p in album.iterdir()} == originals


def test_video_onto_its_own_clip_is_refused_even_with_overwrite(tmp_path):
    import av

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("libx264", rate=12)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    before = clip.read_bytes()
    result = _invoke("video", str(clip), "-o", str(tmp_path / "." / "clip.mp4"), "--overwrite",
                     "--model", "starry_night", "--device", "cpu")
    _one_line(result, 3, "is the input")
    assert clip.read_bytes() == before and os.listdir(tmp_path) == ["clip.mp4"]


def test_demo_checks_everything_before_copying_anything(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    _one_line(_invoke("demo", str(afile)), 3, "is a file, not a folder")
    _one_line(_invoke("demo", str(afile / "sub")), 3, "is a file, not a folder")
    _one_line(_invoke("demo", str(tmp_path / "new"), "--quality", "bogus"), 4, "quality")
    _one_line(_invoke("demo", str(tmp_path / "new"), "--size", "100000"), 4, "size")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK and Path(p) == readonly
                        else real(p, mode, **kw))
    _one_line(_invoke("demo", str(readonly)), 3, "not writable")
    _one_line(_invoke("demo", str(readonly / "sub")), 3, "not writable")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["afile", "ro"]  # nothing copied, no folder made
