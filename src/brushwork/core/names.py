"""Default output names: beside the input, named after it and the style, never replacing a file.

``photo.jpg`` painted with ``starry_night`` becomes ``photo_starry_night.png``; when that exists,
``photo_starry_night_2.png`` and so on.  The CLI uses them when ``-o`` is not given and the web UI
for its downloads.  No torch, no pixels.
"""

from __future__ import annotations

from pathlib import Path


def name_part(text: str) -> str:
    """A piece of a file name from a file or style name: ``starry night.jpg`` → ``starry_night``."""
    stem = Path(text).stem if Path(text).suffix else Path(text).name
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_")
    return safe[:60] or "image"


def free_name(path: Path, overwrite: bool = False) -> Path:
    """``path`` if it is free (or may be replaced), else the first of ``stem_2``, ``stem_3`` … that is."""
    if overwrite or not (path.exists() or path.is_symlink()):
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not (candidate.exists() or candidate.is_symlink()):
            return candidate
        n += 1


def default_output(source: Path, tags: list[str], suffix: str, overwrite: bool = False) -> Path:
    """The output beside ``source`` when -o is not given: ``photo.jpg`` + ``starry_night`` → ``photo_starry_night.png``."""
    name = "_".join([name_part(source.name), *(name_part(t) for t in tags)])
    return free_name(source.parent / f"{name}{suffix}", overwrite)
