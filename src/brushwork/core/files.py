"""Files: checking inputs and outputs before work starts, and writing results atomically.

A crash, Ctrl-C or a full disk never leaves a half-written or clobbered file: every result goes
to a temporary file beside its destination and is put in place in one step at the end.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InputError, OutputError

#: Image formats brushwork writes, by extension.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}
#: Suffixes of the image files brushwork reads from a folder (and takes a MODEL argument for a painting).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file or folder (a FIFO, a device …), else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None


def what_is(path: Path) -> str | None:
    """Why ``path`` is not a regular file, as words that follow its name ("does not exist", "is a
    folder", "is a named pipe (FIFO)" …); None when it is one."""
    if path.is_symlink() and not path.exists():
        return f"is a symbolic link to '{os.readlink(path)}', which does not exist"
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return "is a folder"
    special = _not_regular(path)
    return f"is {special}" if special else None


def check_readable(path: Path, what: str, kind: str = "image") -> None:
    """Refuse a missing, folder, special, empty or unreadable input with one line naming the fix."""
    article = "an" if kind[0] in "aeiou" else "a"
    if path.is_symlink() and not path.exists():
        raise InputError(f"{what} '{path}' is a symbolic link to '{os.readlink(path)}', which does not exist: "
                         "check the link.")
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist: check the path.")
    if path.is_dir():
        raise InputError(f"{what} '{path}' is a folder, not {article} {kind} file: name a file inside it.")
    special = _not_regular(path)
    if special:
        raise InputError(f"{what} '{path}' is {special}, not {article} {kind} file: give a regular file.")
    if path.stat().st_size == 0:
        raise InputError(f"{what} '{path}' is an empty file: use a real {kind}.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} '{path}' cannot be read: check its permissions.")


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (in bytes) the file system of ``folder`` allows (255 when unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def temporary_prefix(path: Path, suffix: str = ".part", random: int = 8) -> str:
    """The ``.NAME.`` prefix of a temporary file beside ``path``, with NAME shortened so the whole
    name (prefix, ``random`` characters of :func:`tempfile.mkstemp`, ``suffix``) fits the file system."""
    parent = path.parent if str(path.parent) else Path(".")
    room = name_max(parent) - len(os.fsencode(suffix)) - random - 2
    name = os.fsencode(path.name)[: max(room, 1)].decode(errors="ignore") or "x"
    return f".{name}."


def temporary_file(path: Path, suffix: str = ".part") -> str:
    """Create an empty private temporary file beside ``path`` whose name always fits; returns its name."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path, suffix), suffix=suffix, dir=parent)
    os.close(fd)
    return tmp


def _identity(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def input_files(inputs: Iterable[str | os.PathLike[str] | None]) -> dict[tuple[int, int], Path]:
    """(device, inode) → path of every existing input file; a folder stands for the files directly in it."""
    found: dict[tuple[int, int], Path] = {}
    for item in inputs:
        if item is None or str(item) == "":
            continue
        p = Path(item)
        try:
            members = [f for f in p.iterdir() if f.is_file()] if p.is_dir() else [p]
        except OSError:
            members = []
        for f in members:
            key = _identity(f)
            if key is not None:
                found.setdefault(key, f)
    return found


def refuse_inputs(outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None]
                  | dict[tuple[int, int], Path]) -> None:
    """Refuse (exit 3) when any output is the same file as any input, however it is spelled
    (``./``, ``..``, symbolic or hard links, letter case on a case-insensitive file system):
    ``--overwrite`` must never replace an input.  ``inputs`` are paths (a folder stands for the
    files directly inside it) or what :func:`input_files` made of them."""
    known = inputs if isinstance(inputs, dict) else input_files(inputs)
    if not known:
        return
    for out in outputs:
        o = Path(out)
        key = _identity(o)  # follows links; a file that does not exist is no input
        if key is not None and key in known:
            f = known[key]
            spelled = "" if str(o) == str(f) else f" ('{f}')"
            raise OutputError(f"output '{o}' is the input{spelled}: brushwork never replaces an input, "
                              "even with --overwrite; choose another output name.")


def _describe_folder(parent: Path) -> str:
    """Why ``parent`` cannot hold files: what the first part of it that is not a folder is."""
    for p in (parent, *parent.parents):
        if p.is_symlink() and not p.exists():
            return f"output folder '{parent}' does not exist ('{p}' is a symbolic link to nothing): fix the link."
        if p.exists():
            if p.is_dir():
                break
            return f"output folder '{parent}' cannot be made: '{p}' is a file, not a folder; choose another folder."
    return f"output folder '{parent}' does not exist: create it first."


def check_output(path: str | os.PathLike[str], overwrite: bool = False, formats: dict[str, str] | None = None,
                 inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """Validate an output path *before* any work starts.

    Raises :class:`OutputError` when the format is unknown (``formats`` maps extensions to
    formats; default: the image formats), the name is too long for the file system, the folder
    is missing or not writable, the path is a symbolic link to nothing, the file is one of
    ``inputs`` (see :func:`refuse_inputs`), or it exists and ``overwrite`` is false.
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
        raise OutputError(_describe_folder(parent))
    limit = name_max(parent)
    if len(os.fsencode(p.name)) > limit:
        raise OutputError(f"output name '{p.name[:40]}…' is {len(os.fsencode(p.name))} bytes long, more than the "
                          f"{limit} this file system allows: choose a shorter name.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder '{parent}' is not writable: choose another folder.")
    if p.is_dir():
        raise OutputError(f"output '{p}' is a folder: give a file name such as '{p / 'out.png'}'.")
    refuse_inputs([p], inputs)
    if p.is_symlink() and not p.exists() and not overwrite:
        raise OutputError(f"output '{p}' is a symbolic link to '{os.readlink(p)}', which does not exist: remove the "
                          "link, or pass --overwrite to replace it.")
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
    tmp = temporary_file(path)
    try:
        write(tmp)
        commit_file(tmp, path, overwrite)
    except OSError as exc:
        raise OutputError(f"could not write '{path}' ({exc.strerror or exc}): check free space and permissions.") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
