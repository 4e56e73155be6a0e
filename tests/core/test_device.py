"""Telling out-of-memory errors apart, whichever library raised them."""

from __future__ import annotations


def test_out_of_memory_is_told_from_every_library() -> None:
    import onnxruntime.capi.onnxruntime_pybind11_state as ort_errors

    from brushwork.core.device import is_out_of_memory

    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB"))
    assert is_out_of_memory(ort_errors.RuntimeException("Failed to allocate memory for requested buffer of size 123"))
    assert not is_out_of_memory(ort_errors.RuntimeException("Invalid input shape"))
    assert not is_out_of_memory(ValueError("out of memory"))  # not an allocator's error type


def test_precision_auto_means_bfloat16_only_on_a_cpu_that_has_it(monkeypatch) -> None:
    import pytest
    import torch

    from brushwork.core import device
    from brushwork.core.errors import SettingsError

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for native in (True, False):
        monkeypatch.setattr(device, "native_bfloat16", lambda native=native: native)
        assert device.compute_dtype("auto", cpu) == (torch.bfloat16 if native else None)
        assert device.compute_dtype("auto", gpu) is None  # a GPU keeps float32 unless asked
        assert device.compute_dtype("float32", cpu) is None
        assert device.compute_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(SettingsError, match="precision must be one of"):
        device.compute_dtype("half", cpu)


def test_native_bfloat16_reads_the_cpu_flags(monkeypatch, tmp_path) -> None:
    from brushwork.core import device

    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(device, "CPUINFO", str(info))
    for flags, want in (("fpu sse2 avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True), ("fpu sse2 avx2", False)):
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert device.native_bfloat16() is want
    info.unlink()  # no such file (not Linux): float32
    assert device.native_bfloat16() is False
