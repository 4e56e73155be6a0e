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
