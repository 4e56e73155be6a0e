"""ONNX graphs of fast-style models, exported once per model file and kept in the user's cache.

Why: onnxruntime runs these networks faster than PyTorch on a CPU, and a process that finds its
graph ready never imports PyTorch, whose import alone (about 2 s on the project's 2-core CPU) takes
longer than painting a photo.  The first use of a model file exports it (that run imports torch
and onnx once, a few seconds); every later run loads the cached graph.

The cache key is the SHA-256 of the model file plus :data:`EXPORT_VERSION`, so a retrained or
edited model, or a change to the exporter, never reuses a stale graph.  The folder is
``$BRUSHWORK_CACHE_DIR`` when set, else the platform's user cache folder (``platformdirs``) with
``onnx/`` below it.  Graphs are written atomically; when the folder cannot be written the graph is
kept in memory for this process only, as before the cache existed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Bump whenever :func:`brushwork.fastnet.export.onnx_bytes` would write a different graph.
EXPORT_VERSION = 2  # 2: the folded layout unfolds with a convolution
ENV_VAR = "BRUSHWORK_CACHE_DIR"


def cache_dir() -> Path:
    """Where exported graphs are kept (not created here)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env) / "onnx"
    import platformdirs

    return Path(platformdirs.user_cache_dir("brushwork")) / "onnx"


def digest(path: Path) -> str:
    """SHA-256 of a model file (a few milliseconds for the shipped 1–3 MB models)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_path(model: Path) -> Path:
    """The cache file that holds (or will hold) ``model``'s graph."""
    return cache_dir() / f"{model.stem[:80]}-{digest(model)[:32]}-v{EXPORT_VERSION}.onnx"


def graph_for(model: Path, refresh: bool = False) -> Path | bytes:
    """``model``'s ONNX graph: the cached file's path, exporting it first when it is missing (or
    ``refresh``, e.g. after the cached copy failed to load); the bytes themselves when the cache
    cannot be written."""
    target = cached_path(model)
    if target.is_file() and not refresh:
        return target
    from ..core.errors import OutputError
    from ..core.files import write_atomically
    from .export import onnx_bytes, write_bytes
    from .modelfile import load_model

    data = onnx_bytes(load_model(model))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda tmp: write_bytes(tmp, data), True)
    except (OSError, OutputError):  # temporary_file raises OSError itself; the write, OutputError
        return data
    return target
