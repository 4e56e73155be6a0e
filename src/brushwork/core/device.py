"""Choosing the compute device, and turning out-of-memory into advice.

PyTorch is imported inside the functions that need it: the torch-free paths (fast styles on
onnxruntime) use :func:`memory_guard` and :func:`is_out_of_memory` without paying for its import.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ResourceError, SettingsError

if TYPE_CHECKING:
    import torch


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks a CUDA GPU, else Apple's MPS, else the CPU; an explicit device must exist
    (a missing one is a :class:`ResourceError`, exit 5)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SettingsError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise SettingsError(f"device '{name}' is not supported: use auto, cpu, cuda, cuda:N or mps.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResourceError("--device cuda was asked for but no CUDA GPU is available: use --device cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ResourceError(f"there is no GPU {dev.index}: this machine has {torch.cuda.device_count()}.")
    if dev.type == "mps" and not _mps_available():
        raise ResourceError("--device mps was asked for but Apple's MPS is not available here "
                            "(it needs a Mac with Apple silicon): use --device cpu.")
    return dev


#: ``--precision`` values: what the heavy convolutions compute in.
PRECISIONS = ("auto", "float32", "bfloat16")
#: Where Linux lists the CPU's instruction-set flags.
CPUINFO = "/proc/cpuinfo"


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo
    so that it costs no PyTorch import.  There oneDNN runs a convolution about twice as fast in
    bfloat16 as in float32 (measured on the project's 2-core AMD EPYC: VGG-19 forward + backward at
    512×384, 1.9 → 1.0 s; the video network at 640×360, 30 → 15 ms); elsewhere bfloat16 is
    emulated and slower, so ``auto`` keeps float32."""
    try:
        with open(CPUINFO, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def compute_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype convolutions run in under ``precision`` on ``device`` (None: float32, no autocast).

    ``auto`` means bfloat16 on a CPU that has it natively and float32 everywhere else (a GPU's
    float32 is already fast, and its results are then the same as before)."""
    import torch

    if precision not in PRECISIONS:
        raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "bfloat16" or (precision == "auto" and device.type == "cpu" and native_bfloat16()):
        return torch.bfloat16
    return None


def autocast(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """PyTorch's autocast to ``dtype`` on ``device``, or nothing when ``dtype`` is None: matrix
    products and convolutions run in it, reductions and losses stay in float32."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


#: How running out of memory reads in the messages of PyTorch's and onnxruntime's allocators.
_OOM_WORDS = ("out of memory", "can't allocate memory", "failed to allocate memory", "bad allocation", "bad_alloc")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for every way running out of memory shows up: CUDA, the CPU allocator, NumPy, Python or
    onnxruntime (whose errors are plain ``Exception`` subclasses, told by their module)."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # an error from torch means torch is loaded; never import it here
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    from_ort = type(exc).__module__.startswith("onnxruntime")
    text = str(exc).lower()
    return (isinstance(exc, RuntimeError) or from_ort) and any(w in text for w in _OOM_WORDS)


@contextlib.contextmanager
def memory_guard(what: str, fix: str = "try a smaller --size") -> Iterator[None]:
    """Re-raise out-of-memory errors as a :class:`ResourceError` that says what to make smaller."""
    try:
        yield
    except Exception as exc:
        if is_out_of_memory(exc):
            raise ResourceError(f"ran out of memory while {what}: {fix}.") from None
        raise


def available_memory(device: torch.device) -> int | None:
    """Bytes the job may still allocate on ``device``; None when it cannot be told."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return proc_bytes("/proc/meminfo", "MemAvailable")


def proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` entry of a Linux /proc file, in bytes; None where it cannot be read."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(needed: int, device: torch.device, what: str) -> None:
    """Refuse, before any work starts, a job whose estimated peak memory exceeds what is free."""
    free = available_memory(device)
    if free is not None and needed > free:
        raise ResourceError(
            f"{what} needs about {needed / 2**30:.1f} GB but only {free / 2**30:.1f} GB is free: "
            "use a smaller --size."
        )
