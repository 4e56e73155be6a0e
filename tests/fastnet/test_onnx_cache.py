"""The torch-free fast path: ONNX graphs exported once into the cache, and `brushwork fast` without PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.fastnet import FastSettings, FastStylizer, ModelInfo, TransformerNet
from brushwork.fastnet.infer import OnnxBackend, TorchBackend, choose_backend
from brushwork.fastnet.modelfile import save_model
from brushwork.fastnet.onnxcache import ENV_VAR, cached_path, graph_for

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder


def _model(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model(TransformerNet(0.25, 1).eval(), ModelInfo(width=0.25, blocks=1, style="test"), path)


def _photo(seed: int = 1, size: tuple[int, int] = (45, 37)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_auto_runs_a_model_file_on_onnxruntime_from_the_cache(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m.safetensors")
    auto = FastStylizer(model, FastSettings(device="cpu"))
    assert isinstance(auto.backend, OnnxBackend) and auto.info.style == "test"
    graphs = list((cache / "onnx").glob("*.onnx"))
    assert graphs == [cached_path(model)]
    stamp = graphs[0].stat().st_mtime_ns
    FastStylizer(model, FastSettings(device="cpu"))
    assert graphs[0].stat().st_mtime_ns == stamp  # the second use loads it, it does not export again
    a = np.asarray(auto(_photo()), dtype=np.int16)
    b = np.asarray(FastStylizer(model, FastSettings(backend="torch", precision="float32"))(_photo()), dtype=np.int16)
    assert np.abs(a - b).max() <= 1  # float rounding only


def test_another_model_gets_another_graph_and_a_damaged_one_is_exported_again(tmp_path: Path, cache: Path) -> None:
    first = _model(tmp_path / "m.safetensors", seed=0)
    path_a = cached_path(first)
    graph_for(first)
    (tmp_path / "other").mkdir()
    _model(tmp_path / "other" / "m.safetensors", seed=1)
    assert cached_path(tmp_path / "other" / "m.safetensors") != path_a  # same name, other weights
    good = np.asarray(FastStylizer(first)(_photo()))
    path_a.write_bytes(b"not a graph")
    again = FastStylizer(first)
    assert np.array_equal(np.asarray(again(_photo())), good)
    assert path_a.read_bytes() != b"not a graph"


def test_a_cache_that_cannot_be_written_keeps_the_graph_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(ENV_VAR, str(blocker))  # its onnx/ folder cannot be made
    model = _model(tmp_path / "m.safetensors")
    assert isinstance(graph_for(model), bytes)
    assert FastStylizer(model)(_photo()).size == (45, 37)


def test_backend_choice() -> None:
    assert choose_backend("torch", "cpu", False) == "torch"
    assert choose_backend("auto", "cpu", True) == "onnx"
    assert choose_backend("auto", "cuda", False) == "torch"
    assert choose_backend("auto", "cpu", False) == "onnx"  # onnxruntime is installed here


def test_an_explicit_gpu_or_torch_backend_uses_torch(tmp_path: Path) -> None:
    model = _model(tmp_path / "m.safetensors")
    assert isinstance(FastStylizer(model, FastSettings(backend="torch")).backend, TorchBackend)


def test_brushwork_fast_never_imports_torch_once_the_graph_is_cached(tmp_path: Path, cache: Path) -> None:
    model = _model(tmp_path / "m.safetensors")
    graph_for(model)
    _photo(size=(64, 48)).save(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    code = (
        "import sys, json\n"
        "from brushwork.cli import app\n"
        "try:\n"
        f"    app(['fast', {str(model)!r}, {str(tmp_path / 'photo.png')!r}, '-o', {str(out)!r}, '--net-size', '32',"
        " '--preserve-colors'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, 'onnx': 'onnx' in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), ENV_VAR: str(cache)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "torch": False, "onnx": False}, run.stderr
    assert Image.open(out).size == (64, 48)


def test_the_console_script_ends_with_code_0_and_a_complete_file(tmp_path: Path, cache: Path) -> None:
    """The quick exit after `fast` (os._exit) keeps the exit status and the written picture."""
    model = _model(tmp_path / "m.safetensors")
    _photo(size=(40, 30)).save(tmp_path / "photo.png")
    env = {**os.environ, "PYTHONPATH": str(SRC), ENV_VAR: str(cache)}
    run = subprocess.run([sys.executable, "-m", "brushwork.cli", "fast", str(model), str(tmp_path / "photo.png"),
                          "-o", str(tmp_path / "out.png")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "wrote 1 image(s)" in run.stderr
    Image.open(tmp_path / "out.png").load()  # the whole file is there
    bad = subprocess.run([sys.executable, "-m", "brushwork.cli", "fast", str(model), str(tmp_path / "photo.png"),
                          "-o", str(tmp_path / "out.png")], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3 and "already exists" in bad.stderr  # errors keep their own codes
