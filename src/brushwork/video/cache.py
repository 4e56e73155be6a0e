"""The resume cache: finished frames kept next to the output, so an interrupted run continues."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..core.errors import OutputError
from ..core.files import temporary_prefix


def file_fingerprint(path: Path) -> str:
    """Size plus the first and last MiB: changes when the file does, without reading all of it."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()


#: A cached frame is its raw pixels between a header (magic, height, width) and an end marker.
#: Why not PNG: painted frames barely compress (a 640×360 frame: 491 KB as the fastest PNG
#: against 675 KB raw) while PNG costs ~21 ms of CPU per frame, a fifth of a frame's budget at
#: 10 fps on a 2-core CPU; raw frames cost well under a millisecond.  The cache is deleted after
#: success (and --no-cache skips it).
_MAGIC = b"BWFRAME1"
_END = b"BWFRMEND"
_HEADER = 16
SUFFIX = ".frame"


def _frame_bytes(rgb: np.ndarray) -> bytes:
    h, w = rgb.shape[:2]
    return _MAGIC + struct.pack("<II", h, w) + np.ascontiguousarray(rgb, dtype=np.uint8).tobytes() + _END


def _frame_shape(fh: BinaryIO) -> tuple[int, int] | None:
    """(height, width) of the frame file open in ``fh`` when it is complete (header, size and end
    marker agree), else None; reads only the header and the last bytes."""
    head = fh.read(_HEADER)
    if len(head) != _HEADER or head[:8] != _MAGIC:
        return None
    h, w = struct.unpack("<II", head[8:])
    size = _HEADER + h * w * 3 + len(_END)
    if os.fstat(fh.fileno()).st_size != size:
        return None
    fh.seek(size - len(_END))
    return (h, w) if fh.read() == _END else None


def _complete(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return _frame_shape(fh) is not None
    except OSError:
        return False


def _read_frame(path: Path) -> np.ndarray | None:
    """The frame in ``path`` (H×W×3 uint8), or None when it is not a complete frame file."""
    try:
        with open(path, "rb") as fh:
            shape = _frame_shape(fh)
            if shape is None:
                return None
            fh.seek(_HEADER)
            data = fh.read(shape[0] * shape[1] * 3)
    except OSError:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(*shape, 3).copy() if len(data) == shape[0] * shape[1] * 3 else None


class FrameCache:
    """Finished frames as raw frame files in ``.<output name>.brushwork-<key>/`` next to the output.

    Frames are written by one background thread (so the disk never holds up the loop): to a
    temporary name, flushed to the disk and then renamed, so a frame file is either complete or
    absent.  On resume every frame is checked (its size and end marker), the run continues from
    the first that is not complete, and the frames after it are dropped.  A rerun with the same
    input and settings finds the same folder.
    """

    def __init__(self, output: Path, key: str, enabled: bool = True) -> None:
        prefix = temporary_prefix(output, suffix=f"brushwork-{key[:16]}", random=0)  # fits however long the name
        self.folder = output.parent / f"{prefix}brushwork-{key[:16]}"
        self.pattern = f"{prefix}brushwork-*"
        self.parent = output.parent
        self.enabled = enabled
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future[None]] = []

    def _path(self, index: int) -> Path:
        return self.folder / f"{index:06d}{SUFFIX}"

    def finished(self) -> int:
        """How many frames from the start are already done."""
        if not self.enabled or not self.folder.is_dir():
            return 0
        n = 0
        while _complete(self._path(n)):
            n += 1
        while n > 0 and self.load(n - 1) is None:  # a frame that did not survive is redone
            n -= 1
        for later in sorted(self.folder.glob(f"*{SUFFIX}")):  # after a gap or a damaged frame: redone too
            if later.name[:6].isdigit() and int(later.name[:6]) >= n:
                later.unlink(missing_ok=True)
        return n

    def load(self, index: int) -> np.ndarray | None:
        return _read_frame(self._path(index))

    def _write(self, index: int, data: bytes) -> None:
        tmp = self.folder / f"{index:06d}.part{SUFFIX}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(index))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"could not write the frame cache in '{self.folder}' ({exc.strerror or exc}): check free "
                              "space, or pass --no-cache.") from None

    def save(self, index: int, rgb: np.ndarray) -> None:
        if not self.enabled:
            return
        if self._pool is None:
            try:
                self.folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise OutputError(f"could not create the frame cache '{self.folder}' ({exc.strerror}): "
                                  "check permissions, or pass --no-cache.") from None
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="brushwork-cache")
        self._pending = [f for f in self._pending if not f.done() or f.result() is not None]
        self._pending.append(self._pool.submit(self._write, index, _frame_bytes(rgb)))  # bytes: the frame's own copy

    def flush(self) -> None:
        """Wait for queued frames to reach the disk (raises the first write error)."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def remove_all(self) -> None:
        """Delete this cache and any older one for the same output (after success)."""
        self.flush()
        for folder in self.parent.glob(self.pattern):
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)


