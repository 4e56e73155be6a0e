"""Pixels: decoding image files to RGB, resizing, and PIL ↔ tensor conversion.

Everything inside brushwork works on float32 NCHW tensors in [0, 1] RGB.  This module turns
whatever Pillow can read (CMYK, 16-bit, palette, alpha, EXIF-rotated …) into plain RGB and
refuses bad files with a message that says what to do; where files go and how they are written
safely is :mod:`brushwork.core.files`.  PyTorch is imported only by the tensor conversions, so
the torch-free paths (fast styles on onnxruntime) can load, resize and save with this module.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, ResourceError, SettingsError
from .files import SAVE_FORMATS, check_output, check_readable, write_atomically

if TYPE_CHECKING:
    import torch

#: Largest image we agree to open, in pixels (about 16k × 12k).  Larger files are refused before
#: any pixel memory is spent, which also stops decompression bombs.
MAX_INPUT_PIXELS = 200_000_000
#: Largest working size (longest side) we accept for an optimisation or network input.
MAX_WORKING_SIDE = 16384
#: Smallest working side: VGG pools four times before relu5_1, so fewer pixels leave no features.
MIN_WORKING_SIDE = 32

Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS


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


#: Largest image upload the web UI accepts, in bytes (a 40 MB JPEG is already a ~80-megapixel photo).
MAX_UPLOAD_BYTES = 40 * 2**20


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
    Resizing is linear, so ``up(out) + d·(full − up(small))`` is computed as
    ``up(out − d·small) + d·full``: one upsampling instead of two.  Pillow does it (per channel, in
    float), which keeps OpenCV's 0.07 s import out of `brushwork fast`.
    """
    size = (full.shape[1], full.shape[0])
    low = np.ascontiguousarray(out - np.float32(detail) * small, dtype=np.float32)
    up = np.empty(full.shape, dtype=np.float32)
    for c in range(3):
        up[..., c] = np.asarray(Image.fromarray(np.ascontiguousarray(low[..., c]), "F").resize(size, Image.Resampling.BICUBIC))
    up += np.float32(detail) * full
    return np.clip(up, 0.0, 1.0, out=up)


def shrink(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A downsized copy of an RGB image as float32 H×W×3 in [0, 1], by area averaging (the right
    filter for shrinking: every source pixel counts once; 4 ms at 1024×768, ten times less than Lanczos)."""
    return np.asarray(img.convert("RGB").resize(size, Image.Resampling.BOX), dtype=np.float32) / np.float32(255.0)


def resize_longest(img: Image.Image, longest: int) -> Image.Image:
    """Resize so the longest side is ``longest`` pixels, keeping the aspect ratio."""
    return resize(img, fit_size(img.size, longest))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image → float32 tensor 1×3×H×W in [0, 1]."""
    import torch

    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(x: torch.Tensor | np.ndarray) -> Image.Image:
    """Tensor (1×)3×H×W in [0, 1] → PIL RGB image (values are clamped and rounded); arrays go to :func:`from_array`."""
    if isinstance(x, np.ndarray):  # same layout as a tensor
        return from_array((x[0] if x.ndim == 4 else x).transpose(1, 2, 0))
    if x.dim() == 4:
        x = x[0]
    arr = (x.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def from_array(x: np.ndarray) -> Image.Image:
    """Float array H×W×3 in [0, 1] → PIL RGB image (values clamped and rounded)."""
    arr = np.rint(np.clip(x, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)  # as to_pil rounds a tensor
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def from_rgb8(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB array (a decoded video frame) → float32 tensor 1×3×H×W in [0, 1]."""
    import torch

    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def to_rgb8(x: torch.Tensor) -> np.ndarray:
    """Tensor 1×3×H×W in [0, 1] → H×W×3 uint8 RGB array (values clamped and rounded)."""
    return x[0].detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def save_image(img: Image.Image | torch.Tensor | np.ndarray, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write an image atomically: to a temporary file in the same folder, then renamed into place.

    Without ``overwrite`` an existing file is never replaced, even if it appeared while we worked
    (the final step is a hard link, which fails rather than clobbers).
    """
    p = check_output(path, overwrite)
    if not isinstance(img, Image.Image):
        img = to_pil(img)
    fmt = SAVE_FORMATS[p.suffix.lower()]
    # PNG at zlib level 1: a painting's texture compresses poorly at any level (measured on a
    # 1024×768 fast-style result: 1.74 MB at level 1 against 1.65 MB at Pillow's default 6), and
    # level 1 encodes in 0.09 s instead of 0.15 s, a sixth of the whole `brushwork fast` run.
    params: dict[str, int] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {"compress_level": 1} if fmt == "PNG" else {}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            img.convert("RGB").save(fh, format=fmt, **params)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomically(p, write, overwrite)
    return p
