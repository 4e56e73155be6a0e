"""Files: checking inputs and outputs before work starts, and writing results atomically.

A crash, Ctrl-C or a full disk never leaves a half-written or clobbered file: every result goes
to a temporary file beside its destination and is put in place in one step at the end.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import InputError, OutputError

#: Image formats brushwork writes, by extension.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}


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
