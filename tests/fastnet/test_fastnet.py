"""Fast style networks: model shapes, model files, training (loss, resume, DDP), inference, ONNX, CLI."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.core.errors import OutputError, WeightsError
from brushwork.fastnet import FastSettings, FastStylizer, ModelInfo, TransformerNet, fast_stylize, load_model
from brushwork.fastnet.infer import padding
from brushwork.fastnet.modelfile import save_model, shipped_styles
from brushwork.fastnet.train import checkpoint_path, log_path, train

runner = CliRunner()
STYLE = Path(__file__).resolve().parents[2] / "src" / "brushwork" / "assets" / "starry_night.jpg"
#: The smallest run that still exercises every part of training.
TINY = dict(crop=32, batch_size=2, width=0.25, blocks=1, style_size=64, log_every=1, device="cpu")


@pytest.fixture()
def photos(tmp_path: Path, content_img: Image.Image) -> Path:
    """Two tiny photos: the cat and its mirror image in false colours."""
    folder = tmp_path / "photos"
    folder.mkdir()
    small = content_img.resize((48, 40))
    small.save(folder / "a.png")
    Image.merge("RGB", small.split()[::-1]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.jpg")
    return folder


@pytest.fixture()
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = TransformerNet(0.25, 2).eval()
    return save_model(net, ModelInfo(width=0.25, blocks=2, style="test"), tmp_path / "m.safetensors")


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("size", [(37, 53), (53, 37), (1, 1), (5, 9), (64, 48)])
def test_output_has_input_size(model_file: Path, size: tuple[int, int]) -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    out = fast_stylize(model_file, img)
    assert out.size == img.size and out.mode == "RGB"


def test_padding_makes_sides_divisible_by_four() -> None:
    for n in range(1, 40):
        ph, pw = padding(n, n + 1)
        assert (n + ph) % 4 == 0 and (n + 1 + pw) % 4 == 0 and n + ph >= 8
        ph, pw = padding(n, n + 1, 8)
        assert (n + ph) % 8 == 0 and (n + 1 + pw) % 8 == 0 and ph < 8 + 8


def test_width_and_blocks_change_the_network() -> None:
    sizes = {w: sum(p.numel() for p in TransformerNet(w, 5).parameters()) for w in (1.0, 0.5, 0.25)}
    assert sizes[1.0] > 3 * sizes[0.5] > 9 * sizes[0.25]
    assert len(TransformerNet(0.25, 2).res) == 2
    y = TransformerNet(0.25, 1)(torch.rand(1, 3, 16, 20)).detach()
    assert y.shape == (1, 3, 16, 20) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_folded_layout_keeps_the_size_and_runs_nothing_at_full_resolution(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = TransformerNet(0.25, 1, fold=2).eval()
    assert net.multiple == 8 and net.in_conv.conv.in_channels == 12 and net.out_conv.conv.out_channels == 12
    seen: list[tuple[int, int]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[-2:])))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    y = net(torch.rand(1, 3, 16, 24)).detach()
    for h in hooks:
        h.remove()
    assert y.shape == (1, 3, 16, 24) and float(y.min()) >= 0 and float(y.max()) <= 1
    assert max(seen) == (8, 12)  # every convolution at half resolution or less
    with pytest.raises(ValueError):
        TransformerNet(0.25, 1, fold=3)
    # the layout travels in the model file; files without it are the paper's layout
    path = save_model(net, ModelInfo(width=0.25, blocks=1, style="t", fold=2), tmp_path / "f.safetensors")
    loaded = load_model(path)
    assert loaded.info.fold == 2 and loaded.net.fold == 2
    assert torch.allclose(loaded.net(torch.ones(1, 3, 16, 16)), net(torch.ones(1, 3, 16, 16)), atol=1e-2)
    assert "fold" not in ModelInfo(width=0.25, blocks=1, style="t").to_json()
    from brushwork.fastnet.export import export_net, unfold_as_conv

    x = torch.rand(2, 3, 16, 24)
    assert torch.equal(unfold_as_conv(2)(x), torch.nn.functional.pixel_unshuffle(x, 2))
    assert torch.allclose(export_net(net)(x), net(x), atol=1e-6)
    # sides that are not multiples of 8 are padded and cropped back, on both backends, which agree
    img = Image.fromarray(np.random.default_rng(3).integers(0, 255, (45, 61, 3), dtype=np.uint8))
    a = np.asarray(FastStylizer(path, FastSettings(backend="torch", precision="float32"))(img), dtype=np.int16)
    b = np.asarray(FastStylizer(path, FastSettings(backend="onnx"))(img), dtype=np.int16)
    assert a.shape == b.shape == (45, 61, 3)
    assert np.abs(a - b).max() <= 1


def test_onnx_matches_torch(model_file: Path) -> None:
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (45, 61, 3), dtype=np.uint8))
    a = np.asarray(FastStylizer(model_file, FastSettings(backend="torch", precision="float32"))(img), dtype=np.int16)
    b = np.asarray(FastStylizer(model_file, FastSettings(backend="onnx"))(img), dtype=np.int16)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1  # float differences may flip a rounding


def test_transposed_output_conv_is_the_same_convolution() -> None:
    from brushwork.fastnet.export import as_transposed, export_net

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 3, 9)
    x = torch.rand(2, 8, 23, 30)
    with torch.no_grad():
        assert torch.allclose(as_transposed(conv)(x), conv(x), atol=1e-5)
        net = TransformerNet(0.25, 1).eval()
        y = torch.rand(1, 3, 16, 20)
        assert torch.allclose(export_net(net)(y), net(y), atol=1e-5)
    assert isinstance(net.out_conv.conv, torch.nn.Conv2d)  # the model itself is untouched
    with pytest.raises(ValueError):
        as_transposed(torch.nn.Conv2d(8, 3, 3, stride=2))


def test_preserve_colors_keeps_chroma(model_file: Path) -> None:
    from brushwork.core.color import rgb_to_yiq
    from brushwork.core.image import to_tensor

    img = Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 40, 3), dtype=np.uint8))
    out = fast_stylize(model_file, img, preserve_colors=True)
    iq_in, iq_out = rgb_to_yiq(to_tensor(img))[:, 1:], rgb_to_yiq(to_tensor(out))[:, 1:]
    assert float((iq_in - iq_out).abs().mean()) < 0.03


def test_net_size_runs_small_and_keeps_the_size(model_file: Path, content_img: Image.Image) -> None:
    img = content_img.resize((96, 72))
    calls: list[tuple[int, ...]] = []
    stylizer = FastStylizer(model_file, FastSettings(net_size=48))
    run = stylizer.backend.__call__
    stylizer.backend = lambda x: (calls.append(x.shape), run(x))[1]  # type: ignore[assignment]
    out = stylizer(img)
    assert out.size == img.size
    assert calls == [(1, 3, 36, 48)]  # the network saw the 48 px copy only


def test_upsample_with_detail_restores_the_photo() -> None:
    from brushwork.core.image import upsample_with_detail

    rng = np.random.default_rng(4)
    full = rng.random((40, 60, 3), dtype=np.float32) * 0.8 + 0.1
    small = np.asarray(Image.fromarray((full * 255).astype(np.uint8)).resize((30, 20)), dtype=np.float32) / 255
    # an identity "network": with all the detail added back, the photo itself comes back
    back = upsample_with_detail(small, small, full, detail=1.0)
    assert back.shape == full.shape and np.abs(back - full).max() < 1e-4
    # without the detail it is only a blurred copy
    assert np.abs(upsample_with_detail(small, small, full, detail=0.0) - full).mean() > 0.05


def test_batched_equals_single(model_file: Path) -> None:
    rng = np.random.default_rng(3)
    imgs = [Image.fromarray(rng.integers(0, 255, (20, 28, 3), dtype=np.uint8)) for _ in range(3)]
    stylizer = FastStylizer(model_file, FastSettings(batch_size=3))
    batched = list(stylizer.stream(imgs))
    for img, b in zip(imgs, batched):
        assert np.abs(np.asarray(stylizer(img), dtype=int) - np.asarray(b, dtype=int)).max() <= 1


def test_not_a_model_and_other_version_are_refused(tmp_path: Path, model_file: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="not a brushwork fast-style model"):
        load_model(junk)
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(WeightsError, match="not a brushwork fast-style model"):
        load_model(other)
    future = save_model(TransformerNet(0.25, 1), ModelInfo(width=0.25, blocks=1, style="t", format_version=99),
                        tmp_path / "future.safetensors")
    with pytest.raises(WeightsError, match="format version 99") as exc:
        load_model(future)
    assert exc.value.exit_code == 6 and "\n" not in str(exc.value)
    with pytest.raises(WeightsError, match="no model file or shipped style"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(OutputError, match="already exists"):
        save_model(TransformerNet(0.25, 1), ModelInfo(width=0.25, blocks=1, style="t"), model_file)


def test_training_lowers_the_loss(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "s.safetensors"
    result = train(STYLE, photos, out, steps=10, learning_rate=1e-2, **TINY)
    with log_path(out).open() as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh)]
    assert len(losses) == 10 and result.step == 10
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    info = load_model(out).info
    assert info.style == "starry_night" and info.extra["steps"] == 10 and info.extra["resolution"] == 32
    assert out.with_suffix(".md").read_text().startswith("# starry_night")


def test_resume_continues_the_same_run(tmp_path: Path, photos: Path) -> None:
    straight = train(STYLE, photos, tmp_path / "a.safetensors", steps=4, checkpoint_every=2, **TINY)
    first = train(STYLE, photos, tmp_path / "b.safetensors", steps=2, **TINY)
    ckpt = torch.load(checkpoint_path(tmp_path / "b.safetensors"), weights_only=True)
    assert ckpt["step"] == 2 and ckpt["optimizer"]["state"]  # Adam's moments are kept
    resumed = train(STYLE, photos, tmp_path / "b.safetensors", steps=4, resume=True, **TINY)
    assert first.step == 2 and resumed.step == 4
    a, b = _weights(straight.net), _weights(resumed.net)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), "a resumed run must equal an uninterrupted one"
    with log_path(tmp_path / "b.safetensors").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4]
    with pytest.raises(Exception, match="settings differ"):
        train(STYLE, photos, tmp_path / "b.safetensors", steps=6, resume=True, **{**TINY, "crop": 36})


def _cli(args: list[str]):
    return runner.invoke(app, ["-q", *args])


def test_cli_end_to_end(tmp_path: Path, photos: Path) -> None:
    model = tmp_path / "m.safetensors"
    r = _cli(["train", str(STYLE), "--data", str(photos), "-o", str(model), "--steps", "2", "--crop", "32",
              "--batch-size", "2", "--width", "0.25", "--blocks", "1", "--style-size", "64", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert model.exists() and checkpoint_path(model).exists() and log_path(model).exists()
    r = _cli(["train", str(STYLE), "--data", str(photos), "-o", str(model), "--steps", "2"])
    assert r.exit_code == 3 and "--resume" in r.output  # never overwritten silently

    one = tmp_path / "one.png"
    r = _cli(["fast", str(model), str(photos / "a.png"), "-o", str(one)])
    assert r.exit_code == 0, r.output
    assert Image.open(one).size == (48, 40)
    r = _cli(["fast", str(model), str(photos / "a.png"), "-o", str(one)])
    assert r.exit_code == 3 and "--overwrite" in r.output
    outdir = tmp_path / "outdir"
    r = _cli(["fast", str(model), str(photos), "-o", str(outdir), "--preserve-colors", "--backend", "onnx"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in outdir.iterdir()) == ["a.png", "b.jpg"]

    onnx_file = tmp_path / "m.onnx"
    r = _cli(["export", str(model), "--onnx", "-o", str(onnx_file)])
    assert r.exit_code == 0, r.output
    r = _cli(["fast", str(onnx_file), str(photos / "b.jpg"), "-o", str(tmp_path / "o.webp")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o.webp").size == (48, 40)


def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path, photos: Path, model_file: Path) -> None:
    png = photos / "a.png"
    # an image as MODEL is a painting for the any-painting network, which must exist
    r = _cli(["fast", str(png), str(png), "-o", str(tmp_path / "x.png"), "--style-model", str(tmp_path / "no.safetensors")])
    assert r.exit_code == 6 and "no model file" in r.output
    assert not (tmp_path / "x.png").exists()
    future = save_model(TransformerNet(0.25, 1), ModelInfo(width=0.25, blocks=1, style="t", format_version=2),
                        tmp_path / "v2.safetensors")
    r = _cli(["fast", str(future), str(png), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 6 and "format version 2" in r.output and r.output.count("\n") == 1
    r = _cli(["fast", "no_such_style", str(png), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 6 and "brushwork" not in r.output.split("error:")[0]
    r = _cli(["fast", str(model_file), str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2
    r = _cli(["train", str(STYLE), "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "t.safetensors")])
    assert r.exit_code == 2
    r = _cli(["train", str(STYLE), "--data", str(photos), "-o", str(tmp_path / "t.safetensors"), "--crop", "30"])
    assert r.exit_code == 4
    r = _cli(["export", str(model_file)])
    assert r.exit_code == 4 and "--onnx" in r.output


def test_shipped_styles_load_and_list() -> None:
    styles = shipped_styles()
    assert len(styles) >= 3
    r = runner.invoke(app, ["styles"])
    assert r.exit_code == 0
    for name, path in styles.items():
        assert name in r.output
        assert path.stat().st_size < 5_000_000
        assert path.with_suffix(".md").exists(), f"model card of {name}"
        img = fast_stylize(name, Image.new("RGB", (20, 12), (120, 160, 200)))
        assert img.size == (20, 12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_SCRIPT = """
import os, sys
from safetensors.torch import save_file
from brushwork.fastnet.train import train
style, data, out, tmp = sys.argv[1:5]
r = train(style, data, out, steps=3, crop=32, batch_size=1, width=0.25, blocks=1, style_size=64,
          log_every=1, checkpoint_every=2, device="cpu")
save_file({k: v.contiguous() for k, v in r.net.state_dict().items()}, os.path.join(tmp, f"rank{os.environ['RANK']}.safetensors"))
"""


def test_ddp_two_processes_keep_identical_replicas(tmp_path: Path, photos: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(script), str(STYLE), str(photos), str(out), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0), "DDP replicas diverged"
    torch.manual_seed(0)
    init = TransformerNet(0.25, 1).state_dict()
    assert any(not torch.equal(init[k], r0[k]) for k in r0), "the replicas did not train"
    # only rank 0 wrote: one model, one log with each step once
    assert load_model(out).info.extra["batch_size"] == 2
    with log_path(out).open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3]
    assert json.loads(json.dumps(load_model(out).info.extra))["steps"] == 3
