"""Any-painting network: shapes, determinism, the painting-code cache, strength, masks, ONNX parity,
training (resume), the CLI end to end and bad paintings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.core.errors import InputError, WeightsError
from brushwork.fastnet import FastSettings, fast_stylize, load_model
from brushwork.fastnet.anyinfer import AnyStyleStylizer, encoder_onnx_bytes, stylizer_onnx_bytes
from brushwork.fastnet.anystyle import AnyStyleModel, CodeCache, load_anystyle, make_info
from brushwork.fastnet.anystyle_train import AnyTrainer, AnyTrainSettings
from brushwork.fastnet.modelfile import save_model

runner = CliRunner()


def tiny_model(seed: int = 0) -> AnyStyleModel:
    torch.manual_seed(seed)
    m = AnyStyleModel(width=0.25, blocks=1, code_dim=8, style_size=64)
    with torch.no_grad():  # make the code matter: untrained, to_params starts near zero
        m.net.to_params.weight.normal_(0, 0.5)
        m.encoder.mlp[-1].weight.mul_(30)
    return m.eval()


@pytest.fixture()
def any_model(tmp_path: Path) -> Path:
    return save_model(tiny_model(), make_info(tiny_model(), steps=0), tmp_path / "any.safetensors")  # type: ignore[arg-type]


@pytest.fixture()
def paintings(tmp_path: Path, style_img: Image.Image, content_img: Image.Image) -> list[Path]:
    a, b = tmp_path / "p1.jpg", tmp_path / "p2.png"
    style_img.resize((80, 64)).save(a)
    Image.merge("RGB", content_img.resize((64, 64)).split()[::-1]).save(b)
    return [a, b]


@pytest.fixture()
def photo(tmp_path: Path, content_img: Image.Image) -> Path:
    p = tmp_path / "photo.png"
    content_img.resize((64, 48)).save(p)
    return p


def test_shape_and_determinism() -> None:
    m = tiny_model()
    x, y = torch.rand(2, 3, 32, 48), torch.rand(1, 3, 40, 64)
    with torch.no_grad():
        code = m.encoder(y)
        assert code.shape == (1, 8)
        out1, out2 = m.net(x, code), m.net(x, code)
        assert out1.shape == x.shape and torch.equal(out1, out2)
        assert 0 <= float(out1.min()) and float(out1.max()) <= 1
        # the code is broadcast over the batch: each image gets the same result as alone
        assert torch.allclose(m.net(x[1:], code), out1[1:], atol=1e-6)
        # another painting, another picture
        assert (m.net(x, m.encoder(torch.rand(1, 3, 64, 64) ** 3)) - out1).abs().max() > 1e-3


def test_model_file_round_trip(any_model: Path) -> None:
    loaded = load_anystyle(any_model)
    assert loaded.info.extra["kind"] == "arbitrary" and loaded.model.net.code_dim == 8
    with pytest.raises(WeightsError, match="any-painting model"):  # not usable as a one-style model
        load_model(any_model)


def test_code_cache_computes_each_painting_once(paintings: list[Path]) -> None:
    cache = CodeCache(tiny_model())
    a1, a2, b = cache(paintings[0]), cache(paintings[0]), cache(paintings[1])
    assert cache.misses == 2 and torch.equal(a1, a2) and not torch.equal(a1, b)


def test_strength(any_model: Path, paintings: list[Path], photo: Path) -> None:
    img = Image.open(photo).convert("RGB")
    zero = fast_stylize(paintings[0], img, style_model=str(any_model), strength=0.0)
    assert np.array_equal(np.asarray(zero), np.asarray(img))
    half = np.asarray(fast_stylize(paintings[0], img, style_model=str(any_model), strength=0.5), dtype=float)
    full = np.asarray(fast_stylize(paintings[0], img, style_model=str(any_model)), dtype=float)
    assert full.shape == half.shape == (48, 64, 3) and np.abs(full - half).mean() > 0.5


def test_masks_split_the_picture(any_model: Path, paintings: list[Path], photo: Path, tmp_path: Path) -> None:
    img = Image.open(photo).convert("RGB")
    left = np.zeros((48, 64), np.uint8)
    left[:, :32] = 255
    ml, mr = tmp_path / "l.png", tmp_path / "r.png"
    Image.fromarray(left).save(ml)
    Image.fromarray(255 - left).save(mr)
    s = FastSettings(style_model=str(any_model))
    both = np.asarray(AnyStyleStylizer(paintings, s, masks=[ml, mr])(img), dtype=int)
    only_a = np.asarray(AnyStyleStylizer(paintings[:1], s)(img), dtype=int)
    only_b = np.asarray(AnyStyleStylizer(paintings[1:], s)(img), dtype=int)
    assert np.abs(both[:, :32] - only_a[:, :32]).max() <= 1
    assert np.abs(both[:, 32:] - only_b[:, 32:]).max() <= 1
    assert np.abs(only_a - only_b).mean() > 1  # the two paintings really differ
    with pytest.raises(Exception, match="one --mask"):
        AnyStyleStylizer(paintings, s)


def test_onnx_parity(any_model: Path, paintings: list[Path], photo: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    loaded = load_anystyle(any_model)
    x, y = torch.rand(2, 3, 36, 52), torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        code = loaded.model.encoder(y)
        want = loaded.model.net(x, code).numpy()
    enc = ort.InferenceSession(encoder_onnx_bytes(loaded), providers=["CPUExecutionProvider"])
    got_code = enc.run(None, {"painting": y.numpy()})[0]
    assert np.abs(got_code - code.numpy()).max() < 1e-4
    sty = ort.InferenceSession(stylizer_onnx_bytes(loaded), providers=["CPUExecutionProvider"])
    got = sty.run(None, {"image": x.numpy(), "code": code.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4
    img = Image.open(photo).convert("RGB")
    t = np.asarray(fast_stylize(paintings[0], img, style_model=str(any_model), precision="float32"), dtype=int)
    o = np.asarray(fast_stylize(paintings[0], img, style_model=str(any_model), backend="onnx"), dtype=int)
    assert np.abs(t - o).max() <= 1


def test_cli_end_to_end(any_model: Path, paintings: list[Path], photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    r = runner.invoke(app, ["-q", "fast", str(paintings[0]), str(photo), "-o", str(out), "--style-model",
                            str(any_model), "--size", "64", "--strength", "0.8", "--net-size", "32"])
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (64, 48)
    r = runner.invoke(app, ["-q", "fast", str(paintings[0]), str(photo), "-o", str(out), "--style-model",
                            str(any_model)])
    assert r.exit_code == 3  # never overwritten silently
    onnx = tmp_path / "any.onnx"
    r = runner.invoke(app, ["-q", "export", str(any_model), "--onnx", "-o", str(onnx)])
    assert r.exit_code == 0, r.output
    assert onnx.is_file() and (tmp_path / "any.encoder.onnx").is_file()
    # the exported graph beside the model is used instead of exporting again
    from brushwork.fastnet.anyinfer import _exported_or_export
    assert _exported_or_export(load_anystyle(any_model)) == onnx


def test_bad_paintings(any_model: Path, photo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture")
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), "red").save(dot)
    for painting, words in ((fake, "fake.jpg"), (dot, "1×1"), (tmp_path / "missing.jpg", "does not exist")):
        r = runner.invoke(app, ["-q", "fast", str(painting), str(photo), "-o", str(tmp_path / "o.png"),
                                "--style-model", str(any_model)])
        assert r.exit_code == 2, r.output
        assert words in r.output and r.output.strip().count("\n") == 0, r.output
    with pytest.raises(InputError):
        fast_stylize(dot, photo, style_model=str(any_model))


def test_training_resumes_the_same_run(tmp_path: Path, content_img: Image.Image, style_img: Image.Image) -> None:
    rows = []
    for kind, img, folder in (("photo", content_img, "photos"), ("painting", style_img, "paintings")):
        (tmp_path / folder).mkdir()
        for i in range(3):
            name = f"{folder}/{i}.png"
            img.resize((40 + 4 * i, 36)).rotate(90 * i).save(tmp_path / name)
            rows.append({"file": name, "kind": kind, "split": "val" if i == 2 else "train"})
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "kind", "split"])
        w.writeheader()
        w.writerows(rows)
    tiny = dict(crop=32, style_crop=32, batch_size=2, width=0.25, blocks=1, code_dim=8, device="cpu", log_every=1,
                val_every=2, checkpoint_every=0, val_photos=1, val_paintings=1)
    AnyTrainer(AnyTrainSettings(steps=3, **tiny), manifest, tmp_path / "straight").train()
    AnyTrainer(AnyTrainSettings(steps=2, **tiny), manifest, tmp_path / "chunked").train()
    AnyTrainer(AnyTrainSettings(steps=3, **tiny), manifest, tmp_path / "chunked", resume=True).train()
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "chunked" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 3
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-5), k
    assert (tmp_path / "chunked" / "val.csv").is_file() and list((tmp_path / "chunked").glob("preview_*.jpg"))
    assert load_anystyle(tmp_path / "chunked" / "arbitrary.safetensors").info.extra["steps"] == 3
    assert "| steps | 3 at batch 2" in (tmp_path / "chunked" / "arbitrary.md").read_text()
    with pytest.raises(Exception, match="--resume"):
        AnyTrainer(AnyTrainSettings(steps=3, **tiny), manifest, tmp_path / "chunked").train()


def test_video_model_hook_takes_a_painting(any_model: Path, paintings: list[Path], monkeypatch) -> None:
    from brushwork.video import load_model as video_model

    monkeypatch.setenv("BRUSHWORK_ARBITRARY_MODEL", str(any_model))
    frame = torch.rand(1, 3, 30, 42)
    outs = {b: video_model(paintings[0], device="cpu", backend=b, precision="float32")(frame) for b in ("torch", "onnx")}
    assert outs["torch"].shape == frame.shape
    assert (outs["torch"] - outs["onnx"]).abs().max() < 1e-3


def test_web_fast_job_paints_with_an_uploaded_painting(any_model: Path, paintings: list[Path], photo: Path,
                                                       tmp_path: Path, monkeypatch) -> None:
    from brushwork.web import jobs

    monkeypatch.setenv("BRUSHWORK_ARBITRARY_MODEL", str(any_model))
    updates = list(jobs.fast_job(photo, "the_scream", FastSettings(size=64), tmp_path, painting=paintings[0]))
    assert updates[-1].result is not None and Image.open(updates[-1].result).size == (64, 48)
