"""Image files in and out, and conversion between PIL images and tensors.

Everything inside brushwork works on float32 NCHW tensors in [0, 1] RGB.  This module is the one
place that knows about files: it turns whatever Pillow can read (CMYK, 16-bit, palette, alpha,
EXIF-rotated …) into plain RGB, refuses bad files with a message that says what to do, and writes
results atomically so that a crash or Ctrl-C never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError, ResourceError, SettingsError

#: Largest image we agree to open, in pixels (about 16k × 12k).  Larger files are refused before
#: any pixel memory is spent, which also stops decompression bombs.
MAX_INPUT_PIXELS = 200_000_000
#: Largest working size (longest side) we accept for an optimisation or network input.
MAX_WORKING_SIDE = 16384
#: Smallest working side: VGG pools four times before relu5_1, so fewer pixels leave no features.
MIN_WORKING_SIDE = 32

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}

Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS


def check_readable(path: Path, what: str, kind: str = "image") -> None:
    """Refuse a missing, folder, empty or unreadable input with one line naming the fix."""
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist: check the path.")
    if path.is_dir():
        raise InputError(f"{what} '{path}' is a folder, not an {kind} file: name a file inside it."
                         if kind[0] in "aeiou" else f"{what} '{path}' is a folder, not a {kind} file: name a file inside it.")
    if path.stat().st_size == 0:
        raise InputError(f"{what} '{path}' is an empty file: use a real {kind}.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} '{path}' cannot be read: check its permissions.")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if mode == "F" and arr.max(initial=0.0) <= 1.0 else (255.0 if arr.max(initial=0.0) <= 255 else 65535.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")


def load_image(path: str | os.PathLike[str], what: str = "image") -> Image.Image:
    """Open an image file as 8-bit RGB with EXIF orientation applied.

    ``what`` names the role of the file ("content image", "mask", …) in error messages.
    Animated files use their first frame.
    """
    p = Path(path)
    check_readable(p, what)
    return _decode(p, f"{what} '{p}'")


#: Largest upload the web UI accepts, in bytes (a 50 MB JPEG is already a ~100-megapixel photo).
MAX_UPLOAD_BYTES = 50 * 2**20


def check_upload(source: str | os.PathLike[str] | bytes, max_bytes: int = MAX_UPLOAD_BYTES,
                 what: str = "upload") -> Image.Image:
    """Validate an uploaded image (a temporary file path or the raw bytes) and return it as RGB.

    The web UI calls this on every upload, so a browser user gets the same one-line
    :class:`InputError` as the command line: too many bytes, an empty or damaged file, a file that
    is not an image, or too many pixels (checked from the header, before any pixel is decoded).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        size, label = len(data), what
    else:
        p = Path(source)
        check_readable(p, what)
        size, label, data = p.stat().st_size, f"{what} '{p.name}'", None
    if size == 0:
        raise InputError(f"{label} is an empty file: upload a real image.")
    if size > max_bytes:
        raise InputError(f"{label} is {_amount(size)}, more than the {_amount(max_bytes)} allowed: "
                         "upload a smaller or more compressed image.")
    return _decode(io.BytesIO(data) if data is not None else Path(source), label)


def _amount(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _decode(src: Path | io.BytesIO, label: str) -> Image.Image:
    """Decode ``src`` to RGB; ``label`` ("content image 'x.jpg'") starts every error message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(src)
            w, h = img.size
            if w * h > MAX_INPUT_PIXELS:
                raise InputError(
                    f"{label} is {w}×{h} pixels, more than brushwork opens "
                    f"({MAX_INPUT_PIXELS:,}): scale it down first."
                )
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
    except InputError:
        raise
    except MemoryError:
        raise ResourceError(f"{label} is too large to decode in the memory available: use a smaller image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{label} is too large to open safely: scale it down first.") from None
    except UnidentifiedImageError:
        raise InputError(
            f"{label} is not an image file brushwork can read: use PNG, JPEG, WebP, TIFF or BMP."
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(
            f"{label} is damaged or truncated ({exc}): re-export or re-download it."
        ) from None
    if min(img.size) < 1:
        raise InputError(f"{label} has no pixels: use a real image.")
    try:
        return _to_rgb(img)
    except MemoryError:
        raise ResourceError(f"{label} is too large to convert in the memory available: use a smaller image.") from None


def fit_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is ``longest``, keeping the aspect ratio."""
    w, h = size
    if longest < MIN_WORKING_SIDE:
        raise SettingsError(f"size {longest} px is too small: use at least {MIN_WORKING_SIDE} px.")
    if longest > MAX_WORKING_SIDE:
        raise SettingsError(f"size {longest} px is too large: use at most {MAX_WORKING_SIDE} px.")
    scale = longest / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if min(nw, nh) < MIN_WORKING_SIDE // 2:
        raise InputError(
            f"an image of {w}×{h} becomes {nw}×{nh} at {longest} px, too thin to stylize: "
            "crop it to a less extreme aspect ratio or use a larger size."
        )
    return nw, nh


def resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to exactly (width, height) with a high-quality filter."""
    if img.size == tuple(size):
        return img
    return img.resize(tuple(size), Image.Resampling.LANCZOS)


def aspect_differs(size: tuple[int, int], target: tuple[int, int], tolerance: float = 0.02) -> bool:
    """Whether (width, height) ``size`` has another aspect ratio than ``target``, beyond a relative
    ``tolerance``: a mask that only differs in scale is resized, one of another shape is refused."""
    return abs((size[0] / size[1]) / (target[0] / target[1]) - 1) > tolerance


#: Share of the photo's fine detail (what a smaller copy loses) added to an upsampled result.
DETAIL = 0.75


def upsample_with_detail(out: np.ndarray, small: np.ndarray, full: np.ndarray, detail: float = DETAIL) -> np.ndarray:
    """Bring a network output made from ``small`` (h×w×3, a downsized copy of ``full``) to the
    size of ``full`` (H×W×3, all float32 in [0, 1]).

    Bicubic upsampling keeps the network's strokes, which come out larger relative to the
    picture than at full size; the detail band of the photo (``full`` minus the upsampled
    ``small``) restores edges such as windows and branches that the small copy could not hold.
    """
    import cv2  # only the downsized paths need OpenCV; keep it out of every command's start-up

    size = (full.shape[1], full.shape[0])
    up = cv2.resize(np.ascontiguousarray(out), size, interpolation=cv2.INTER_CUBIC)
    up += detail * (full - cv2.resize(np.ascontiguousarray(small), size, interpolation=cv2.INTER_CUBIC))
    return np.clip(up, 0.0, 1.0, out=up)


def resize_longest(img: Image.Image, longest: int) -> Image.Image:
    """Resize so the longest side is ``longest`` pixels, keeping the aspect ratio."""
    return resize(img, fit_size(img.size, longest))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image → float32 tensor 1×3×H×W in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(x: torch.Tensor) -> Image.Image:
    """Tensor (1×)3×H×W in [0, 1] → PIL RGB image (values are clamped and rounded)."""
    if x.dim() == 4:
        x = x[0]
    arr = (x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def check_output(path: str | os.PathLike[str], overwrite: bool = False, formats: dict[str, str] | None = None) -> Path:
    """Validate an output path *before* any work starts.

    Raises :class:`OutputError` when the format is unknown (``formats`` maps extensions to
    formats; default: the image formats), the folder is missing or not writable, or the file
    exists and ``overwrite`` is false.
    """
    p = Path(path)
    formats = SAVE_FORMATS if formats is None else formats
    fmt = formats.get(p.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"output '{p}' has an unknown extension: end it in one of {', '.join(sorted(formats))}."
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output folder '{parent}' does not exist: create it first.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder '{parent}' is not writable: choose another folder.")
    if p.is_dir():
        raise OutputError(f"output '{p}' is a folder: give a file name such as '{p / 'out.png'}'.")
    if p.exists() and not overwrite:
        raise OutputError(f"output '{p}' already exists: pass --overwrite to replace it, or pick another name.")
    return p


def commit_file(tmp: str | os.PathLike[str], path: Path, overwrite: bool = False) -> None:
    """Put a finished temporary file (in the same folder) in place as ``path``.

    Without ``overwrite`` the last step is a hard link, which fails rather than replaces a file
    that appeared meanwhile; the caller deletes ``tmp`` afterwards if it still exists.  The file
    gets the permissions of a normally created one (temporary files are private to their owner).
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(
            f"output '{path}' appeared while brushwork was working: pass --overwrite or pick another name."
        ) from None
    except OSError:  # filesystems without hard links
        if path.exists():
            raise OutputError(f"output '{path}' already exists: pass --overwrite.") from None
        os.replace(tmp, path)


def write_atomically(path: Path, write: Callable[[str], None], overwrite: bool = False) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then put it in place with
    :func:`commit_file`.  Any OS error becomes one :class:`OutputError`; the temporary file never
    survives, and an existing ``path`` is untouched unless the write completed."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        commit_file(tmp, path, overwrite)
    except OSError as exc:
        raise OutputError(f"could not write '{path}' ({exc.strerror or exc}): check free space and permissions.") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_image(img: Image.Image | torch.Tensor, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write an image atomically: to a temporary file in the same folder, then renamed into place.

    Without ``overwrite`` an existing file is never replaced, even if it appeared while we worked
    (the final step is a hard link, which fails rather than clobbers).
    """
    p = check_output(path, overwrite)
    if isinstance(img, torch.Tensor):
        img = to_pil(img)
    fmt = SAVE_FORMATS[p.suffix.lower()]
    params = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            img.convert("RGB").save(fh, format=fmt, **params)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomically(p, write, overwrite)
    return p
