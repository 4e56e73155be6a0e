"""Issue #19, a newcomer's first hour: install, help, output names, progress, devices."""

from __future__ import annotations

import pytest
import torch

from brushwork.core import device as devmod
from brushwork.core.errors import ResourceError, SettingsError


# -- devices ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(devmod, "_mps_available", lambda: mps)
    assert devmod.resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["mps", "cuda", "cuda:3"])
def test_missing_device_is_exit_5(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(devmod, "_mps_available", lambda: False)
    with pytest.raises(ResourceError) as info:
        devmod.resolve_device(name)
    assert info.value.exit_code == 5 and "\n" not in info.value.message


def test_unknown_device_is_a_settings_error():
    with pytest.raises(SettingsError):
        devmod.resolve_device("tpu")


# -- ONNX: a missing package is one line naming what to install (exit 4) -----------------------


def test_missing_onnx_names_the_extra(monkeypatch):
    import builtins

    from brushwork.fastnet.export import import_onnx

    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(SettingsError) as info:
        import_onnx()
    assert info.value.exit_code == 4 and "brushwork[onnx]" in info.value.message


def test_onnx_is_a_regular_dependency():
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("onnxruntime") for d in deps) and any(d.startswith("onnx>") for d in deps)
