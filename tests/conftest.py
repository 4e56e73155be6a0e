"""Shared fixtures: small real images (the bundled demo pair) and one VGG per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from brushwork.assets import DEMO_CONTENT, DEMO_STYLE
from brushwork.core.image import load_image, resize_longest
from brushwork.core.vgg import load_vgg

torch.set_num_threads(2)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exported ONNX graphs go to a folder of this run, never to the user's cache (children inherit it)."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["BRUSHWORK_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def vgg():
    return load_vgg()


@pytest.fixture(scope="session")
def content_img() -> Image.Image:
    return resize_longest(load_image(DEMO_CONTENT), 96)


@pytest.fixture(scope="session")
def style_img() -> Image.Image:
    return resize_longest(load_image(DEMO_STYLE), 96)


@pytest.fixture()
def content_file(tmp_path: Path, content_img: Image.Image) -> Path:
    p = tmp_path / "content.png"
    content_img.save(p)
    return p


@pytest.fixture()
def style_file(tmp_path: Path, style_img: Image.Image) -> Path:
    p = tmp_path / "style.png"
    style_img.save(p)
    return p
