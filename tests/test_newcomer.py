"""Issue #19, a newcomer's first hour: install, help, output names, progress, devices."""

from __future__ import annotations

import pytest
import torch

from brushwork.core import device as devmod
from brushwork.core.errors import ResourceError, SettingsError


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
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("onnxruntime") for d in deps) and any(d.startswith("onnx>") for d in deps)


# -- output names -------------------------------------------------------------------------------

from typer.testing import CliRunner  # noqa: E402

from brushwork.cli import app  # noqa: E402
from brushwork.core.names import default_output, free_name, name_part  # noqa: E402

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
