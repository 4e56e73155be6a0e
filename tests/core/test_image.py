"""Unusual but valid images work; bad files get one clear error; writes are atomic."""

import io
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from brushwork.core.errors import InputError, OutputError, SettingsError
from brushwork.core.image import (
    MAX_INPUT_PIXELS,
    check_output,
    fit_size,
    load_image,
    resize_longest,
    save_image,
    to_pil,
    to_tensor,
)


def _rgb(w=40, h=30):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 1] = 128
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("mode", ["L", "1", "CMYK", "P", "RGBA", "LA", "I;16", "I", "F", "YCbCr"])
def test_modes_become_rgb(tmp_path, mode):
    img = _rgb()
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257)
    elif mode == "F":
        img = Image.fromarray(np.asarray(img.convert("L"), np.float32) / 255.0, "F")
    else:
        img = img.convert(mode)
    ext = {"CMYK": ".jpg", "YCbCr": ".jpg", "F": ".tif", "I": ".tif"}.get(mode, ".png")
    path = tmp_path / f"x{ext}"
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (40, 30)
    # the left-to-right ramp survives every conversion
    lum = np.asarray(out.convert("L"), float)
    assert lum[:, -1].mean() > lum[:, 0].mean() or mode == "1"


def test_16bit_grey_png_keeps_its_range(tmp_path):
    arr = np.tile(np.linspace(0, 65535, 50).astype(np.uint16), (10, 1))
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(load_image(path))
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255


def test_alpha_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    img.save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").getpixel((3, 3)) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png")
    assert out.getpixel((0, 0)) == (255, 0, 0) and out.getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    img = _rgb(40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (30, 40)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    r, g, b = load_image(tmp_path / "a.gif").getpixel((5, 5))
    assert r > 200 and b < 50


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, I am text"), "not an image"),
        (lambda p: p.write_bytes(_jpeg_bytes()[:300]), "damaged or truncated"),
        (lambda p: p.write_bytes(_png_bytes()[:-40]), "damaged or truncated"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated-jpeg", "truncated-png"],
)
def test_bad_inputs_raise_one_clear_error(tmp_path, setup, message):
    path = tmp_path / "bad.jpg"
    setup(path)
    with pytest.raises(InputError, match=message) as info:
        load_image(path, "content image")
    assert "\n" not in str(info.value) and "content image" in str(info.value)


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    _rgb(64, 64).save(buf, "JPEG")
    return buf.getvalue()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_decompression_bomb_refused_before_decoding(tmp_path):
    side = int(MAX_INPUT_PIXELS**0.5) + 100
    img = Image.new("1", (side, side))  # 1-bit: a tiny file that claims a huge image
    img.save(tmp_path / "bomb.png", optimize=True)
    with pytest.raises(InputError, match="pixels|too large"):
        load_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("w, h", [(1, 1), (2, 2)])
def test_tiny_images_load_and_scale_up(tmp_path, w, h):
    Image.new("RGB", (w, h), (10, 20, 30)).save(tmp_path / "t.png")
    img = resize_longest(load_image(tmp_path / "t.png"), 64)
    assert img.size == (64, 64)


def test_extreme_aspect_is_refused():
    with pytest.raises(InputError, match="too thin"):
        fit_size((10000, 10), 512)


@pytest.mark.parametrize("size", [0, 8, 100000])
def test_absurd_sizes_are_refused(size):
    with pytest.raises(SettingsError):
        fit_size((100, 100), size)


@given(w=st.integers(1, 3000), h=st.integers(1, 3000), longest=st.integers(32, 2048))
@settings(max_examples=200, deadline=None)
def test_fit_size_keeps_aspect(w, h, longest):
    if min(w, h) / max(w, h) * longest < 16:
        return
    nw, nh = fit_size((w, h), longest)
    assert max(nw, nh) == longest
    assert abs(nw / nh - w / h) <= (w / h) * (1 / min(nw, nh)) + 1e-9 + 1 / min(nw, nh)


def test_tensor_round_trip():
    img = _rgb()
    t = to_tensor(img)
    assert t.shape == (1, 3, 30, 40) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(img))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp"])
def test_save_by_extension_and_never_overwrite(tmp_path, ext):
    path = tmp_path / f"out{ext}"
    save_image(_rgb(), path)
    assert Image.open(path).format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[ext]
    before = path.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        save_image(Image.new("RGB", (5, 5)), path)
    assert path.read_bytes() == before
    save_image(Image.new("RGB", (5, 5)), path, overwrite=True)
    assert Image.open(path).size == (5, 5)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "out.png"

    def boom(self, fp, *a, **k):
        fp.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OutputError, match="No space left"):
        save_image(_rgb(), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    save_image(_rgb(), path)
    before = path.read_bytes()
    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (_ for _ in ()).throw(OSError(5, "I/O")))
    with pytest.raises(OutputError):
        save_image(_rgb(), path, overwrite=True)
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_output_checks(tmp_path):
    with pytest.raises(OutputError, match="unknown extension"):
        check_output(tmp_path / "x.gifx")
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.png")
    with pytest.raises(OutputError, match="is a folder"):
        (tmp_path / "d.png").mkdir()
        check_output(tmp_path / "d.png", overwrite=True)


def test_unwritable_folder(tmp_path, monkeypatch):
    # simulated: the tests may run as root, who can write anywhere
    monkeypatch.setattr(os, "access", lambda path, mode: not (mode & os.W_OK))
    with pytest.raises(OutputError, match="not writable"):
        check_output(tmp_path / "x.png")
