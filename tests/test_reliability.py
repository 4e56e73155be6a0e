"""The bad-input and fault matrix: every case × every command, one promise per cell.

Each cell runs one command on one bad (or merely unusual) input or injected fault and checks:
the documented exit code; on failure exactly one line on stderr that names the problem and the
fix, with no traceback; no output or temporary file left behind (except a result that is meant
to be kept, such as the last good image after Ctrl-C); the input files untouched (bytes and
modification time).  Cases that must work check for a valid output instead.

The cells also write ``docs/reliability.md``: ``test_reliability_doc_is_current`` fails when the
committed file differs from what the cells produced.  Regenerate it with::

    BRUSHWORK_WRITE_RELIABILITY=1 PYTHONPATH=src python -m pytest -q tests/test_reliability.py

Adding a command is one :class:`Command` row in ``COMMANDS`` (how to invoke it tiny and fast,
which input the input cases replace); adding a case is one :class:`Case` row in ``CASES`` (how
to make the input or fault, and the expected exit code for each command it applies to).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter
from typer.testing import CliRunner

import brushwork.cli as cli
from brushwork.core.errors import BrushworkError
from brushwork.core.image import check_upload
from brushwork.core.losses import Objective
from brushwork.core.schedule import coarse_to_fine
from brushwork.fastnet import export as export_mod
from brushwork.fastnet.infer import OnnxBackend
from brushwork.fastnet.model import TransformerNet
from brushwork.fastnet.modelfile import ModelInfo, save_model
from brushwork.web import jobs

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
runner = CliRunner()


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass
class Env:
    """One cell's folders and files; cases replace entries of ``files`` and add ``extra`` arguments."""

    root: Path
    inp: Path
    out: Path
    files: dict[str, Path]
    extra: list[str] = field(default_factory=list)
    max_bytes: int = 50 * 2**20
    output_name: str | None = None
    """The output's name when a case renames it (``-o`` given again in ``extra``)."""


def _landscape(w: int = 48, h: int = 36, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.zeros((h, w, 3), np.float32)
    arr[..., 0] = np.linspace(0.1, 0.9, w)[None, :]
    arr[..., 1] = np.linspace(0.8, 0.2, h)[:, None]
    arr[..., 2] = 0.5 + 0.2 * np.sin(np.arange(w) / 2.0)[None, :]
    arr += rng.normal(0, 0.05, arr.shape)
    return Image.fromarray((arr.clip(0, 1) * 255).astype(np.uint8), "RGB")


BOX = (20, 14, 44, 34)


def _painting() -> tuple[Image.Image, Image.Image, Image.Image]:
    painting = _landscape(64, 48, seed=3)
    composite = painting.copy()
    ImageDraw.Draw(composite).ellipse(BOX, fill=(230, 40, 20))
    mask = Image.new("L", painting.size, 0)
    ImageDraw.Draw(mask).rectangle(BOX, fill=255)
    return painting, composite, mask


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, bytes]:
    """Bytes of the inputs that are slow to make: a tiny model and a 4-frame 64×48 clip."""
    folder = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    model = save_model(TransformerNet(0.25, 1).eval(), ModelInfo(width=0.25, blocks=1, style="test"),
                       folder / "m.safetensors")
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("libx264", rate=12)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.asarray(_landscape(64, 48, seed=i)), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return {"model": model.read_bytes(), "clip": clip.read_bytes()}


def make_env(root: Path, assets: dict[str, bytes]) -> Env:
    inp, out = root / "in", root / "out"
    inp.mkdir()
    out.mkdir()
    files = {}
    for name, img in (("content", _landscape()), ("style", _landscape(40, 40, seed=1))):
        files[name] = inp / f"{name}.png"
        img.save(files[name])
    for name, img in zip(("painting", "composite", "mask"), _painting()):
        files[name] = inp / f"{name}.png"
        img.save(files[name])
    photos = inp / "photos"
    photos.mkdir()
    _landscape(48, 40, seed=5).save(photos / "a.png")
    _landscape(40, 48, seed=6).save(photos / "b.jpg")
    files["photos"] = photos
    for name, ext in (("model", ".safetensors"), ("clip", ".mp4")):
        files[name] = inp / f"{name}{ext}"
        files[name].write_bytes(assets[name])
    files["upload"] = files["content"]
    return Env(root, inp, out, files)


# ---------------------------------------------------------------------------------------------
# Commands: one row each.  ``slot`` is the input the input cases replace, ``suffix`` the extension
# a replacement gets, ``image_slots`` the inputs the image-format cases convert.


@dataclass
class Command:
    name: str
    slot: str
    suffix: str
    output: str | None
    args: Callable[[Env], list[str]] | None
    image_slots: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    """Files written beside the output on success (globs)."""
    kept: tuple[str, ...] = ()
    """What an interrupted or diverged run keeps (globs); the output itself for image commands."""

    def output_path(self, env: Env) -> Path | None:
        return env.out / self.output if self.output else None


def _f(env: Env, key: str) -> str:
    return str(env.files[key])


COMMANDS = [
    Command("stylize", "content", ".png", "out.png",
            lambda e: ["stylize", _f(e, "content"), _f(e, "style"), "-o", str(e.out / "out.png"),
                       "--size", "32", "--quality", "single", "--iterations", "2"],
            image_slots=("content",), kept=("out.png",)),
    Command("harmonize", "painting", ".png", "out.png",
            lambda e: ["harmonize", _f(e, "painting"), _f(e, "composite"), _f(e, "mask"), "-o", str(e.out / "out.png"),
                       "--size", "64", "--passes", "1", "--quality", "draft", "--style-level", "5"],
            image_slots=("painting", "composite"), kept=("out.png",)),
    Command("train", "style", ".png", "m.safetensors",
            lambda e: ["train", _f(e, "style"), "--data", _f(e, "photos"), "-o", str(e.out / "m.safetensors"),
                       "--steps", "1", "--crop", "32", "--batch-size", "1", "--width", "0.25", "--blocks", "1",
                       "--style-size", "32", "--device", "cpu"],
            image_slots=("style",), products=("m.ckpt", "m.log.csv", "m.md"), kept=("m.ckpt", "m.log.csv")),
    Command("fast", "content", ".png", "out.png",
            lambda e: ["fast", _f(e, "model"), _f(e, "content"), "-o", str(e.out / "out.png"), "--device", "cpu"],
            image_slots=("content",), kept=("out.png",)),
    Command("export", "model", ".safetensors", "m.onnx",
            lambda e: ["export", _f(e, "model"), "--onnx", "-o", str(e.out / "m.onnx")]),
    Command("video", "clip", ".mp4", "out.mp4",
            lambda e: ["video", _f(e, "clip"), "-o", str(e.out / "out.mp4"), "--device", "cpu", "--flow-side", "32",
                       *([] if "--style" in e.extra else ["--model", _f(e, "model")])],
            kept=(".out.mp4.brushwork-*",)),
    # The web UI's upload path (jobs.check_image_upload → image.check_upload): "exit code" is the error's code.
    Command("upload", "upload", ".png", None, None, image_slots=("upload",)),
]
BY_NAME = {c.name: c for c in COMMANDS}
IMAGE_COMMANDS = ("stylize", "harmonize", "train", "fast", "upload")


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    id: str
    group: str
    text: str
    prepare: Callable[[Env, Command, pytest.MonkeyPatch], None]
    expect: dict[str, int]
    """Command → documented exit code (0: must work); commands not named do not apply."""
    needle: str = ""
    """A regular expression every error message of the row must match (names the problem)."""
    keeps: bool = False
    """The run stops early but keeps its last good result."""


def codes(default: int, commands: tuple[str, ...] | str, **override: int) -> dict[str, int]:
    names = commands.split() if isinstance(commands, str) else commands
    return {n: override.get(n, default) for n in names}


def _replace(env: Env, cmd: Command, make: Callable[[Path], None], name: str = "bad", suffix: str | None = None) -> None:
    """Make a replacement for the command's main input with ``make(path)``."""
    path = env.inp / f"{name}{suffix or cmd.suffix}"
    make(path)
    env.files[cmd.slot] = path


def _truncated(env: Env, cmd: Command, fmt: str) -> None:
    if cmd.slot in ("model", "clip"):
        data = env.files[cmd.slot].read_bytes()
        _replace(env, cmd, lambda p: p.write_bytes(data[: len(data) // 2]))
        return
    buf = io.BytesIO()
    _landscape(96, 72).save(buf, fmt)
    data = buf.getvalue()
    _replace(env, cmd, lambda p: p.write_bytes(data[: len(data) * 2 // 3]), suffix=".jpg" if fmt == "JPEG" else ".png")


def _png_header(w: int, h: int) -> bytes:
    """A PNG that claims w×h pixels but holds almost nothing: opening it must not allocate them."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _gif(img: Image.Image, path: Path) -> None:
    frames = [img, *(_landscape(*img.size, seed=i) for i in range(2))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)


def _convert(env: Env, cmd: Command, write: Callable[[Image.Image, Path], None], suffix: str) -> None:
    """Rewrite every image input of the command in another format (same picture)."""
    for slot in cmd.image_slots:
        img = Image.open(env.files[slot]).convert("RGB")
        path = env.inp / f"{slot}_conv{suffix}"
        write(img, path)
        env.files[slot] = path


def _png16(img: Image.Image, path: Path) -> None:
    arr = np.asarray(img, dtype=np.uint16) * 257
    cv2.imwrite(str(path), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))


def _palette_alpha(img: Image.Image, path: Path) -> None:
    p = img.quantize(64)
    p.info["transparency"] = 0
    p.save(path, transparency=0)


def _exif_rotated(img: Image.Image, path: Path) -> None:
    """Stored on its side with the tag that turns it upright: readers must apply the tag."""
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    img.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)


def _tiny(side: int) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        _convert(env, cmd, lambda img, p: img.resize((side, side)).save(p), ".png")
        if cmd.name == "harmonize":
            env.files["mask"] = env.inp / "tiny_mask.png"
            Image.new("L", (side, side), 255).save(env.files["mask"])
    return prepare


def _mask(make: Callable[[Image.Image], Image.Image]) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        mask = make(Image.open(env.files["mask"]).convert("L"))
        env.files["mask"] = env.inp / "mask2.png"
        mask.save(env.files["mask"])
    return prepare


def _unwritable(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    os.chmod(env.out, 0o555)  # enough for a normal user; root ignores it, so os.access says so too
    real = os.access
    mp.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK and Path(p) == env.out else real(p, mode, **kw))


def _existing(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    path = cmd.output_path(env)
    assert path is not None
    path.write_bytes(b"precious")


def _fail_write(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    """The disk fills up half way through writing the result."""
    full = OSError(errno.ENOSPC, "No space left on device")
    real_save = Image.Image.save

    def half_save(self: Image.Image, fp, format=None, **params) -> None:  # noqa: A002 - Pillow's name
        buf = io.BytesIO()
        real_save(self, buf, format=format or "PNG", **params)
        data = buf.getvalue()
        if hasattr(fp, "write"):
            fp.write(data[: len(data) // 2])
        else:
            Path(fp).write_bytes(data[: len(data) // 2])
        raise full

    def half_file(tmp: str, *args, **kwargs) -> None:
        Path(tmp).write_bytes(b"\0" * 1000)
        raise full

    mp.setattr(Image.Image, "save", half_save)
    import safetensors.torch  # modelfile imports save_file from it when it saves

    mp.setattr(safetensors.torch, "save_file", lambda tensors, tmp, metadata=None: half_file(tmp))
    mp.setattr(export_mod, "write_bytes", lambda tmp, data: half_file(tmp))
    import brushwork.video.io as video

    real_write, count = video.Writer.write, [0]

    def write_twice(self, rgb, pts) -> None:
        count[0] += 1
        if count[0] > 2:
            raise full
        real_write(self, rgb, pts)

    mp.setattr(video.Writer, "write", write_twice)


def _interrupt(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the first progress report (after the first iteration, step, image or frame)."""
    def press(*_: object) -> None:
        raise KeyboardInterrupt

    mp.setattr(cli.ProgressBar, "__call__", press)
    mp.setattr(cli.VideoProgressBar, "__call__", press)
    if cmd.name == "export":  # export has no progress bar; video also exports (its onnx backend), before any frame
        mp.setattr(export_mod, "onnx_bytes", press)


def _nan(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    """The loss turns NaN from its second evaluation on."""
    real, calls = Objective.forward, [0]

    def forward(self, image):
        loss, parts = real(self, image)
        calls[0] += 1
        return (loss * float("nan") if calls[0] > 1 else loss), parts

    mp.setattr(Objective, "forward", forward)
    if cmd.name == "train":
        env.extra += ["--steps", "3"]
    if cmd.name == "video":  # the optimisation mode has a loss
        env.extra += ["--style", _f(env, "style"), "--size", "32", "--quality", "single", "--iterations", "2",
                      "--frame-iterations", "1"]


def _oom(error: Callable[[], BaseException]) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        def boom(*_: object, **__: object):
            raise error()

        mp.setattr(Objective, "forward", boom)
        mp.setattr(TransformerNet, "forward", boom)
        mp.setattr(OnnxBackend, "__call__", boom)  # `fast` and `video --model` run on onnxruntime
        if cmd.name == "upload":  # while decoding the picture
            import brushwork.core.image as image

            mp.setattr(image, "_to_rgb", boom)
    return prepare


def _bad_model(kind: str) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        good = env.files["model"].read_bytes()
        if cmd.name == "train":  # a checkpoint beside the output, and --resume
            ckpt = env.out / "m.ckpt"
            if kind == "corrupt":
                ckpt.write_bytes(b"PK\x03\x04" + os.urandom(0) + b"not really a zip" * 20)
            else:
                torch.save({"format": "brushwork-fastnet-checkpoint", "version": 99}, ckpt)
            env.extra += ["--resume"]
        elif cmd.name in ("stylize", "harmonize"):  # the VGG weights file
            weights = env.inp / "vgg.pth"
            weights.write_bytes(b"\x80\x02garbage" * 50)
            env.extra += ["--weights", str(weights)]
        elif kind == "corrupt":
            env.files["model"] = env.inp / "broken.safetensors"
            env.files["model"].write_bytes(good[: len(good) // 2])
        else:
            torch.manual_seed(0)
            env.files["model"] = save_model(TransformerNet(0.25, 1), ModelInfo(0.25, 1, "test", format_version=2),
                                            env.inp / "future.safetensors")
    return prepare


def _data(make: Callable[[Path], None]) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        make(env.files["photos"])
    return prepare


def _damaged_photo(folder: Path) -> None:
    data = (folder / "b.jpg").read_bytes()
    (folder / "c.jpg").write_bytes(data[: len(data) // 2])


def _no_photos(folder: Path) -> None:
    for p in folder.iterdir():
        p.unlink()
    (folder / "notes.txt").write_text("no photos here")


def _absurd_size(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    env.extra += ["--crop", "100000"] if cmd.name == "train" else ["--size", "100000"]


def _upload_bytes(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    env.max_bytes = 1000


def _output_is_input(link: Callable[[Path, Path], None]) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    """The output is the command's main input under another name (a hard or symbolic link), with
    --overwrite: the input must survive."""
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        path = cmd.output_path(env)
        assert path is not None
        link(env.files[cmd.slot], path)
        env.extra += ["--overwrite"]
    return prepare


def _rename_output(env: Env, cmd: Command, name: str) -> Path:
    """Give the output another name (typer takes the last ``-o``)."""
    assert cmd.output is not None
    path = env.out / name
    env.extra += ["-o", str(path)]
    env.output_name = name
    return path


def _long_name(extra: int) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    """An output name ``extra`` bytes longer or shorter than the longest the file system allows."""
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        assert cmd.output is not None
        suffix = Path(cmd.output).suffix
        _rename_output(env, cmd, "a" * (os.pathconf(env.out, "PC_NAME_MAX") + extra - len(suffix)) + suffix)
    return prepare


def _dangling_output(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    path = cmd.output_path(env)
    assert path is not None
    path.symlink_to(env.out / "gone")


def _output_in_a_file(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    (env.out / "afile").write_text("not a folder")
    _rename_output(env, cmd, f"afile/{cmd.output}")


def _unreadable(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    """The input cannot be read (a normal user's chmod 000; root ignores it, so os.access says so too)."""
    path = env.files[cmd.slot]
    os.chmod(path, 0)
    real = os.access
    mp.setattr(os, "access", lambda p, mode, **kw: False if mode & os.R_OK and Path(p) == path else real(p, mode, **kw))


def _unparsable(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    env.extra += ["--steps", "abc"] if cmd.name == "train" else ["--size", "abc"]


def _layer_weights(text: str) -> Callable[[Env, Command, pytest.MonkeyPatch], None]:
    def prepare(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
        n = 4 if cmd.name == "train" else 5
        env.extra += [f"--style-layer-weights={text}" + ",1" * (n - 1)]
        if cmd.name == "video":  # an optimisation setting: the --style mode
            env.extra += ["--style", _f(env, "style")]
    return prepare


def _nan_model(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = TransformerNet(0.25, 1)
    with torch.no_grad():
        next(net.parameters()).view(-1)[0] = float("nan")
    env.files["model"] = save_model(net, ModelInfo(0.25, 1, "test"), env.inp / "nan.safetensors")


def _diverging_tiles(env: Env, cmd: Command, mp: pytest.MonkeyPatch) -> None:
    env.extra += ["--size", "128", "--tile", "64", "--style-weight", "1e300"]


ALL = ("stylize", "harmonize", "train", "fast", "export", "video", "upload")
WRITERS = ("stylize", "harmonize", "train", "fast", "export", "video")
IMAGES = "stylize harmonize train fast upload"
OPTIMISERS = "stylize harmonize train video"

CASES = [
    # -- files that are not what they claim
    Case("missing", "input", "input file does not exist", lambda e, c, m: _replace(e, c, lambda p: None, "nope"),
         codes(2, ALL, export=6), r"does not exist|no model file"),
    Case("directory", "input", "input is a folder", lambda e, c, m: _replace(e, c, lambda p: p.mkdir(), "folder"),
         codes(2, ALL, export=6), r"is a folder|holds no images"),
    Case("empty", "input", "empty file (0 bytes)", lambda e, c, m: _replace(e, c, lambda p: p.write_bytes(b"")),
         codes(2, ALL, export=6), r"empty|not a brushwork"),
    Case("truncated-jpeg", "input", "JPEG cut off half way (video: MP4, export: model file)",
         lambda e, c, m: _truncated(e, c, "JPEG"), codes(2, ALL, export=6), r"damaged|truncated|not a brushwork|not a video"),
    Case("truncated-png", "input", "PNG cut off two thirds of the way", lambda e, c, m: _truncated(e, c, "PNG"),
         codes(2, IMAGES), r"damaged|truncated"),
    Case("fifo", "input", "a named pipe (FIFO) given as the input",
         lambda e, c, m: _replace(e, c, lambda p: os.mkfifo(p)), codes(2, ALL, export=6, upload=2),
         r"named pipe|did not arrive"),
    Case("dev-zero", "input", "/dev/zero given as the input (endless zeros)",
         lambda e, c, m: e.files.__setitem__(c.slot, Path("/dev/zero")), codes(2, WRITERS, export=6),
         r"character device"),
    Case("unreadable", "input", "input without read permission", _unreadable, codes(2, WRITERS, export=6),
         r"cannot be read|not readable"),
    Case("text-as-image", "input", "a text file named .jpg (video: .mp4, export: .safetensors)",
         lambda e, c, m: _replace(e, c, lambda p: p.write_text("hello, I am not a picture\n" * 20)),
         codes(2, ALL, export=6), r"not an image|not a video|not a brushwork"),
    Case("animated-gif", "input", "animated GIF (the first frame is used)",
         lambda e, c, m: _convert(e, c, _gif, ".gif"), codes(0, IMAGES)),
    Case("still-as-video", "input", "a PNG picture given as the video", lambda e, c, m: _replace(
        e, c, lambda p: _landscape().save(p, "PNG"), suffix=".png"), codes(2, "video"), r"still image"),
    # -- sizes
    Case("bomb", "size", "PNG header claiming 30000×30000 pixels (a decompression bomb)",
         lambda e, c, m: _replace(e, c, lambda p: p.write_bytes(_png_header(30000, 30000))), codes(2, IMAGES),
         r"too large|30000×30000"),
    Case("unparsable-number", "settings", "--size abc (train: --steps abc)", _unparsable,
         codes(4, "stylize harmonize train fast video"), r"--size|--steps"),
    Case("layer-weights-negative", "settings", "--style-layer-weights=-1,1,…", _layer_weights("-1"),
         codes(4, "stylize train video"), r"at least 0"),
    Case("layer-weights-nan", "settings", "--style-layer-weights=nan,1,…", _layer_weights("nan"),
         codes(4, "stylize train video"), r"finite"),
    Case("absurd-size", "size", "--size 100000 (train: --crop 100000)", _absurd_size,
         codes(4, "stylize harmonize train fast video"), r"size|crop"),
    Case("1x1", "size", "a 1×1 image", _tiny(1), codes(0, IMAGES, harmonize=2), r"too small"),
    Case("2x2", "size", "a 2×2 image", _tiny(2), codes(0, IMAGES, harmonize=2), r"too small"),
    Case("upload-too-big", "size", "an upload larger than the web UI's byte limit", _upload_bytes, codes(2, "upload"),
         r"more than the .* allowed"),
    # -- unusual formats that must work
    Case("cmyk", "format", "CMYK JPEG", lambda e, c, m: _convert(e, c, lambda i, p: i.convert("CMYK").save(p), ".jpg"),
         codes(0, IMAGES)),
    Case("png16", "format", "16-bit RGB PNG", lambda e, c, m: _convert(e, c, _png16, ".png"), codes(0, IMAGES)),
    Case("palette-alpha", "format", "palette PNG with a transparent colour",
         lambda e, c, m: _convert(e, c, _palette_alpha, ".png"), codes(0, IMAGES)),
    Case("exif-rotated", "format", "JPEG stored on its side with an EXIF orientation tag (output is upright)",
         lambda e, c, m: _convert(e, c, _exif_rotated, ".jpg"), codes(0, IMAGES)),
    Case("greyscale", "format", "greyscale PNG", lambda e, c, m: _convert(e, c, lambda i, p: i.convert("L").save(p), ".png"),
         codes(0, IMAGES)),
    # -- masks
    Case("mask-wrong-size", "mask", "mask of another shape than the painting",
         _mask(lambda m: m.resize((30, 40))), codes(2, "harmonize"), r"mask is 30×40"),
    Case("mask-black", "mask", "all-black mask", _mask(lambda m: Image.new("L", m.size, 0)), codes(2, "harmonize"),
         r"empty"),
    Case("mask-white", "mask", "all-white mask", _mask(lambda m: Image.new("L", m.size, 255)), codes(2, "harmonize"),
         r"covers 100%"),
    Case("mask-grey", "mask", "uniform dark-grey mask (40 %)", _mask(lambda m: Image.new("L", m.size, 100)),
         codes(2, "harmonize"), r"brighter than 50"),
    Case("mask-soft", "mask", "soft-edged (blurred) mask", _mask(lambda m: m.filter(ImageFilter.GaussianBlur(2))),
         codes(0, "harmonize")),
    # -- training data
    Case("data-damaged-photo", "input", "training folder with a truncated photo in it",
         _data(_damaged_photo), codes(2, "train"), r"damaged|truncated"),
    Case("data-no-photos", "input", "training folder without any image", _data(_no_photos), codes(2, "train"),
         r"no images"),
    # -- outputs
    Case("unwritable-output", "output", "output folder not writable", _unwritable, codes(3, WRITERS), r"not writable"),
    Case("existing-output", "output", "output exists and no --overwrite", _existing, codes(3, WRITERS),
         r"already exists"),
    Case("output-is-input", "output", "output is a hard link to the input, with --overwrite",
         _output_is_input(lambda src, dst: os.link(src, dst)), codes(3, WRITERS), r"is the input"),
    Case("output-links-to-input", "output", "output is a symbolic link to the input, with --overwrite",
         _output_is_input(lambda src, dst: dst.symlink_to(src)), codes(3, WRITERS), r"is the input"),
    Case("output-dangling-link", "output", "output is a symbolic link to nothing", _dangling_output, codes(3, WRITERS),
         r"symbolic link"),
    Case("output-name-too-long", "output", "output name longer than the file system allows (refused before work)",
         _long_name(1), codes(3, WRITERS), r"shorter name"),
    Case("output-name-longest", "output", "output name 7 bytes shorter than the file system's limit (temporary names "
         "must still fit)", _long_name(-7), codes(0, "stylize harmonize fast export video")),
    Case("output-in-a-file", "output", "output folder is a file (-o afile/out.png)", _output_in_a_file,
         codes(3, WRITERS), r"is a file, not a folder"),
    Case("write-fails", "output", "disk full half way through writing the result (simulated)", _fail_write,
         codes(3, WRITERS), r"could not write|No space"),
    # -- faults during the run
    Case("ctrl-c", "fault", "Ctrl-C after the first iteration/step/image/frame", _interrupt,
         codes(130, WRITERS), r"interrupted", keeps=True),
    Case("nan", "fault", "the loss becomes NaN after the first evaluation", _nan, codes(7, OPTIMISERS),
         r"nan", keeps=True),
    Case("diverges-tiled", "fault", "--style-weight 1e300 in a tiled scale (--size 128 --tile 64)", _diverging_tiles,
         codes(7, "stylize"), r"nan|infinite|diverge", keeps=True),
    Case("oom-cuda", "fault", "torch.OutOfMemoryError (GPU memory)", _oom(lambda: torch.OutOfMemoryError("CUDA out of memory")),
         codes(5, "stylize harmonize train fast video"), r"smaller --size|smaller --crop"),
    Case("oom-cpu", "fault", "RuntimeError from the CPU allocator",
         _oom(lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")),
         codes(5, "stylize harmonize train fast video"), r"smaller --size|smaller --crop"),
    Case("memory-error", "fault", "MemoryError (Python or NumPy)", _oom(MemoryError),
         codes(5, "stylize harmonize train fast video upload"), r"memory"),
    # -- model and weights files
    Case("model-corrupt", "model", "model cut in half (train: corrupt checkpoint with --resume; stylize, harmonize: "
         "garbage --weights file)", _bad_model("corrupt"), codes(6, "stylize harmonize train fast export video"),
         r"not a|not readable|damaged"),
    Case("model-nan", "model", "model whose weights hold NaN", _nan_model, codes(6, "fast export video"),
         r"NaN"),
    Case("model-version", "model", "model of format version 2 (train: checkpoint of version 99)", _bad_model("version"),
         codes(6, "train fast export video"), r"version"),
]


# ---------------------------------------------------------------------------------------------
# Running one cell


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _run(cmd: Command, env: Env, debug: bool = False) -> Outcome:
    if cmd.args is None:  # the upload check
        try:
            img = jobs.check_image_upload(env.files[cmd.slot], "upload", env.max_bytes)
        except BrushworkError as exc:
            return Outcome(exc.exit_code, "", f"error: {exc.message}\n")
        return Outcome(0, f"{img.width}×{img.height}", "")
    args = (["--debug"] if debug else []) + ["-q"] + cmd.args(env) + env.extra
    result = runner.invoke(app_for_tests(), args, prog_name="brushwork")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def app_for_tests():
    return cli.app


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file below ``folder``: (sha256, mtime) — inputs must come out exactly as they went in."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _matches(names: set[str], patterns: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(Path(n).match(p) or Path(n.split("/")[0]).match(p) for p in patterns)}


def _check_image(path: Path, cmd: Command, case: Case) -> str:
    with Image.open(path) as img:
        img.load()
        w, h = img.size
    if case.group == "format" or case.id == "animated-gif":  # all start as a landscape picture
        assert w > h, f"{case.id}: {w}×{h} output is not upright/landscape"
    return f"works ({w}×{h})"


def _normalise(text: str, env: Env) -> str:
    text = text.replace(f"{env.inp}/", "").replace(f"{env.out}/", "out/").replace(str(env.root), "TMP")
    return re.sub(r"\s+", " ", text).strip()


RECORDS: dict[tuple[str, str], tuple[int, str]] = {}
CELLS = [(case, cmd) for case in CASES for cmd in COMMANDS if cmd.name in case.expect]


@pytest.fixture(autouse=True)
def _small_schedules(monkeypatch):
    """Harmonize's draft schedule cut to two iterations, one thread for tiny tensors."""
    import importlib

    monkeypatch.setitem(importlib.import_module("brushwork.harmonization").SCHEDULES, "draft",
                        (coarse_to_fine((1.0, 2)), coarse_to_fine((1.0, 2))))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("case", "cmd"), CELLS, ids=[f"{c.id}-{m.name}" for c, m in CELLS])
def test_cell(case: Case, cmd: Command, tmp_path: Path, assets, monkeypatch):
    env = make_env(tmp_path, assets)
    with monkeypatch.context() as mp:
        case.prepare(env, cmd, mp)
        inputs = _snapshot(env.inp)
        before = _listing(env.out)
        precious = {n: (env.out / n).read_bytes() for n in before if (env.out / n).is_file()}
        outcome = _run(cmd, env)
    os.chmod(env.out, 0o755)
    expected = case.expect[cmd.name]
    err_lines = [ln for ln in outcome.stderr.splitlines() if ln.strip()]
    assert outcome.code == expected, f"exit {outcome.code}, wanted {expected}: {outcome.stderr}{outcome.stdout}"
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert _snapshot(env.inp) == inputs, "an input file was changed"
    after = _listing(env.out)
    assert not {n for n in after if n.endswith(".part") or ".part." in n}, f"temporary files left: {after}"
    for name, data in precious.items():
        assert (env.out / name).read_bytes() == data, f"{name} was overwritten"
    if expected == 0:
        assert len(err_lines) <= 1, outcome.stderr
        if cmd.output is None:
            message = f"works ({outcome.stdout})"
        else:
            name = env.output_name or cmd.output
            message = _check_image(env.out / name, cmd, case) if name.endswith(".png") else "works"
            assert after - before == {name, *_matches(after, cmd.products)}, after
    else:
        assert len(err_lines) == 1, f"wanted one line, got: {outcome.stderr!r}"
        line = err_lines[0]
        assert line.startswith(("error:", "interrupted")), line
        assert re.search(case.needle, line, re.IGNORECASE), f"{case.needle!r} not in {line!r}"
        assert re.search(r"\S: \S|; \S", line), f"no fix after the problem: {line!r}"
        new = after - before
        if case.keeps:
            assert new == _matches(after, cmd.kept) - before, f"left behind: {new}"
            must_keep = cmd.kept if case.id == "ctrl-c" else ("out.png",) if cmd.name in ("stylize", "harmonize") else ()
            for pattern in must_keep:
                assert _matches(after, (pattern,)), f"the last good result ({pattern}) was not kept"
            if "out.png" in must_keep:
                _check_image(env.out / "out.png", cmd, case)
        else:
            # a failed write keeps what a rerun can continue from (train: checkpoint, video: finished frames)
            assert new <= _matches(after, cmd.kept) if case.id == "write-fails" else not new, f"left behind: {new}"
        message = line.removeprefix("error: ")
    RECORDS[(case.id, cmd.name)] = (outcome.code, _normalise(message, env))


# ---------------------------------------------------------------------------------------------
# Checks that need the real process or the --debug flag


def test_debug_shows_the_traceback(tmp_path, assets):
    env = make_env(tmp_path, assets)
    env.files["content"] = env.inp / "nope.png"
    result = runner.invoke(cli.app, ["--debug", "-q", *BY_NAME["stylize"].args(env)])
    assert result.exit_code != 0 and result.exception is not None and not isinstance(result.exception, SystemExit)
    assert "does not exist" in str(result.exception)


def _default_signals() -> None:
    """In the child: SIGINT, SIGTERM and SIGHUP as a fresh process has them, whatever the parent
    does with them (a background job, nohup or a CI runner ignores SIGINT), so the test checks
    brushwork, not the shell it was started from."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _child(args: list[str]):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "from brushwork.cli import main; main()", "-q", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals,
                            env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})


def _stop(proc, sig: int, ready: Callable[[], bool]) -> str:
    """Send ``sig`` once ``ready()``; returns stderr."""
    import subprocess
    import time

    deadline = time.monotonic() + 300  # generous: the machine may be busy with other jobs
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_real_ctrl_c_keeps_the_last_good_image(tmp_path, assets, signame):
    """SIGINT (Ctrl-C), SIGTERM (kill, docker stop) or SIGHUP to a real process in the middle of a
    stylization: exit 130, 143 or 129, one line, the last good image kept, no temporary file."""
    import signal

    sig = getattr(signal, signame)
    env = make_env(tmp_path, assets)
    out = env.out / "out.png"
    args = BY_NAME["stylize"].args(env)
    args[args.index("2")] = "500"  # iterations: long enough to be interrupted
    proc = _child([*args, "--save-every", "1"])
    stderr = _stop(proc, sig, lambda: (env.out / "out_00002.png").exists())
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert proc.returncode == (130 if sig == signal.SIGINT else 128 + sig), stderr
    assert len(lines) == 1 and "interrupted" in lines[0] and str(out) in lines[0], stderr
    with Image.open(out) as img:
        assert img.size == (32, 24)
    assert not [p for p in env.out.iterdir() if ".part" in p.name]


def test_nohup_keeps_ignoring_sighup(tmp_path, assets):
    """A SIGHUP the parent ignores (``nohup brushwork …``) stays ignored: the run goes on."""
    import signal
    import subprocess
    import sys
    import time

    env = make_env(tmp_path, assets)
    args = BY_NAME["stylize"].args(env)
    args[args.index("2")] = "500"

    def nohup() -> None:
        _default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-c", "from brushwork.cli import main; main()", "-q", *args,
                             "--save-every", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=nohup, env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])})
    deadline = time.monotonic() + 300
    while not (env.out / "out_00002.png").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    later = env.out / "out_00004.png"
    while not later.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and later.exists(), proc.communicate()
    stderr = _stop(proc, signal.SIGINT, lambda: True)
    assert proc.returncode == 130, stderr


def test_sigterm_during_a_video_keeps_the_frames_and_no_temporary_file(tmp_path, assets):
    """The video's temporary .part file went with a plain SIGTERM; now it is removed, the finished
    frames are kept, and a rerun continues from them."""
    import signal

    env = make_env(tmp_path, assets)
    args = [*BY_NAME["video"].args(env), "--style", _f(env, "style"), "--size", "32", "--quality", "single",
            "--iterations", "2", "--frame-iterations", "300"]
    args.remove("--model")
    args.remove(_f(env, "model"))
    proc = _child(args)
    stderr = _stop(proc, signal.SIGTERM, lambda: any(env.out.glob(".out.mp4.brushwork-*/000000.frame")))
    assert proc.returncode == 143, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    names = [p.name for p in env.out.rglob("*")]
    assert not [n for n in names if ".part" in n], names
    assert "000000.frame" in names and not (env.out / "out.mp4").exists()


# ---------------------------------------------------------------------------------------------
# docs/reliability.md


EXIT_CODES = [
    (0, "success"),
    (1, "internal error (a bug: please report it with the output of `brushwork --debug …`)"),
    (2, "an input file is missing, unreadable, damaged, too large, or not usable (InputError)"),
    (3, "an output cannot be written, or exists and `--overwrite` was not given (OutputError)"),
    (4, "a setting is out of range or contradicts another (SettingsError)"),
    (5, "out of memory or the device is unavailable: use a smaller `--size` (ResourceError)"),
    (6, "a weights, model or checkpoint file is missing, damaged, or of another format version (WeightsError)"),
    (7, "the loss became NaN or infinite: the last good result is kept"),
    (130, "interrupted (Ctrl-C): the last good result is kept"),
    (129, "stopped by SIGHUP (the terminal closed): handled like Ctrl-C, the last good result is kept"),
    (143, "stopped by SIGTERM (`kill`, `docker stop`, a scheduler): handled like Ctrl-C, the last good result is kept"),
]


def render_doc() -> str:
    names = [c.name for c in COMMANDS]
    lines = [
        "# Reliability: bad input and faults",
        "",
        "<!-- Generated by tests/test_reliability.py; do not edit. Regenerate with",
        "     BRUSHWORK_WRITE_RELIABILITY=1 PYTHONPATH=src python -m pytest -q tests/test_reliability.py -->",
        "",
        "Every problem a user can cause ends with one line on stderr that names the problem and the fix,",
        "and a documented exit code. There is no traceback unless `brushwork --debug …` is given, no",
        "partial output file is left behind, and input files are never modified. Ctrl-C and a loss",
        "that turns NaN keep the last good result and say where it is.",
        "",
        "An output that is the same file as an input (any spelling: `./`, `..`, symbolic or hard links,",
        "letter case) is refused even with `--overwrite`. Output names that the file system cannot hold,",
        "a symbolic link to nothing as output, and an output folder that is a file are refused before",
        "any work starts; temporary names always fit. SIGTERM (`kill`, `docker stop`, schedulers) and",
        "SIGHUP are handled like Ctrl-C: the last good result is kept, temporary files are removed, and",
        "the exit code is 143 or 129 (tested with real processes: `test_real_ctrl_c_keeps_the_last_good_image`,",
        "`test_sigterm_during_a_video_keeps_the_frames_and_no_temporary_file`).",
        "",
        "## Exit codes",
        "",
        "| code | meaning |",
        "|---:|---|",
        *[f"| {code} | {text} |" for code, text in EXIT_CODES],
        "",
        "## The matrix",
        "",
        "Each cell is a test in `tests/test_reliability.py` and shows the exit code the command gives;",
        "0 means the input works and a valid result is written; a dash means the case does not apply.",
        "`upload` is the web UI's upload check, `brushwork.core.image.check_upload` (its code is that of",
        "the error it raises).",
        "",
        "| case | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for case in CASES:
        cells = [str(RECORDS[(case.id, n)][0]) if (case.id, n) in RECORDS else "–" for n in names]
        lines.append(f"| `{case.id}`: {case.text} | " + " | ".join(cells) + " |")
    lines += ["", "## Messages", "", "The first line each command prints (paths shortened).", ""]
    for case in CASES:
        lines += [f"### `{case.id}`", "", case.text[0].upper() + case.text[1:] + ".", "",
                  "| command | exit | message |", "|---|---:|---|"]
        for n in names:
            if (case.id, n) in RECORDS:
                code, message = RECORDS[(case.id, n)]
                lines.append(f"| {n} | {code} | {message.replace('|', '/')} |")
        lines.append("")
    lines += [
        "## Adding a command or a case",
        "",
        "A command is one `Command` row in `COMMANDS` (tests/test_reliability.py): how to invoke it",
        "tiny and fast, which input the input cases replace, which files it writes. A case is one",
        "`Case` row in `CASES`: how to make the input or inject the fault, and the exit code per",
        "command it applies to. Then regenerate this file (command at the top).",
        "",
    ]
    return "\n".join(lines)


def test_reliability_doc_is_current():
    if len(RECORDS) < len(CELLS):
        pytest.skip(f"only {len(RECORDS)} of {len(CELLS)} cells ran: run the whole file to check the document")
    text = render_doc()
    if os.environ.get("BRUSHWORK_WRITE_RELIABILITY"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.exists() and DOC.read_text(encoding="utf-8") == text, (
        "docs/reliability.md is out of date: regenerate it with "
        "BRUSHWORK_WRITE_RELIABILITY=1 PYTHONPATH=src python -m pytest -q tests/test_reliability.py"
    )


def test_every_command_is_in_the_matrix():
    """A new CLI command must get a row in COMMANDS (or be listed here as having no inputs)."""
    without_inputs = {"demo", "styles", "serve"}  # serve's uploads: the "upload" row (jobs.check_image_upload → check_upload)
    registered = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    assert registered - without_inputs <= set(BY_NAME), registered - without_inputs - set(BY_NAME)


def test_upload_accepts_bytes(tmp_path):
    buf = io.BytesIO()
    _landscape().save(buf, "PNG")
    assert check_upload(buf.getvalue()).size == (48, 36)
    with pytest.raises(BrushworkError, match="is 0.0 MB|more than"):
        check_upload(buf.getvalue(), max_bytes=10)
    with pytest.raises(BrushworkError, match="not an image"):
        check_upload(b"hello" * 10)
    shutil.rmtree(tmp_path, ignore_errors=True)
