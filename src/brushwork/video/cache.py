"""The resume cache: finished frames kept next to the output, so an interrupted run continues."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
from pathlib import Path

import cv2
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


class FrameCache:
    """Finished frames as PNG files in ``.<output name>.brushwork-<key>/`` next to the output.

    Frames are written by one background thread (PNG compression would otherwise hold up the
    loop), each to a temporary name and then renamed, so a frame file is either complete or
    absent.  A rerun with the same input and settings finds the same folder.
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
        return self.folder / f"{index:06d}.png"

    def finished(self) -> int:
        """How many frames from the start are already done."""
        if not self.enabled or not self.folder.is_dir():
            return 0
        n = 0
        while self._path(n).exists():
            n += 1
        while n > 0 and self.load(n - 1) is None:  # a frame that did not survive is redone
            n -= 1
        return n

    def load(self, index: int) -> np.ndarray | None:
        img = cv2.imread(str(self._path(index)), cv2.IMREAD_COLOR)
        return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def _write(self, index: int, rgb: np.ndarray) -> None:
        tmp = self.folder / f"{index:06d}.part.png"
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OutputError(f"could not write the frame cache in '{self.folder}': check free space, or pass --no-cache.")
        os.replace(tmp, self._path(index))

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
        self._pending.append(self._pool.submit(self._write, index, rgb.copy()))

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


