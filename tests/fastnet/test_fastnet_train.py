"""Training on a corpus: manifest reading, resume identity checks, validation previews."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from brushwork.cli import app
from brushwork.core.errors import InputError
from brushwork.fastnet.data import list_photos
from brushwork.fastnet.train import train

runner = CliRunner()
STYLE = Path(__file__).resolve().parents[2] / "src" / "brushwork" / "assets" / "starry_night.jpg"
TINY = dict(crop=32, batch_size=2, width=0.25, blocks=1, style_size=64, log_every=1, device="cpu")


def _corpus(root: Path, content_img: Image.Image) -> Path:
    """A four-row manifest like the shared corpus's: two train photos, one val photo, one painting."""
    (root / "photos").mkdir(parents=True)
    (root / "paintings").mkdir()
    small = content_img.resize((48, 40))
    rows = [("photos/a.jpg", "photo", "train"), ("photos/b.jpg", "photo", "train"),
            ("photos/v.jpg", "photo", "val"), ("paintings/p.jpg", "painting", "train")]
    for i, (name, _, _) in enumerate(rows):
        small.rotate(90 * i).convert("RGB").save(root / name)
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "kind", "artist_and_title", "split"])
        w.writerows((f, k, "", s) for f, k, s in rows)
    return manifest


def test_manifest_gives_only_its_train_photos(tmp_path: Path, content_img: Image.Image) -> None:
    manifest = _corpus(tmp_path / "corpus", content_img)
    assert [p.name for p in list_photos(manifest)] == ["a.jpg", "b.jpg"]
    assert [p.name for p in list_photos(manifest, "val")] == ["v.jpg"]
    (tmp_path / "corpus" / "photos" / "b.jpg").unlink()
    with pytest.raises(InputError, match="does not exist"):
        list_photos(manifest)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind\nx.jpg,photo\n")
    with pytest.raises(InputError, match="'file' and 'split'"):
        list_photos(bad)


def test_resume_refuses_another_painting_or_photo_set(tmp_path: Path, content_img: Image.Image) -> None:
    manifest = _corpus(tmp_path / "corpus", content_img)
    style = tmp_path / "style.jpg"
    Image.open(STYLE).convert("RGB").resize((64, 48)).save(style)
    model = tmp_path / "m.safetensors"
    train(style, manifest, model, steps=1, preview_every=0, **TINY)

    def resume() -> object:
        return runner.invoke(app, ["-q", "train", str(style), "--data", str(manifest), "-o", str(model), "--resume",
                                   "--steps", "2", "--crop", "32", "--batch-size", "2", "--width", "0.25",
                                   "--blocks", "1", "--style-size", "64", "--log-every", "1", "--device", "cpu",
                                   "--preview-every", "0"])

    Image.open(STYLE).convert("RGB").resize((64, 48)).rotate(180).save(style)  # same name, other picture
    r = resume()
    assert r.exit_code == 4 and "style image" in r.output and "--overwrite" in r.output, r.output
    assert r.output.count("\n") == 1
    Image.open(STYLE).convert("RGB").resize((64, 48)).save(style)  # the original again
    with manifest.open("a", newline="") as fh:
        csv.writer(fh).writerow(["photos/v.jpg", "photo", "", "train"])  # one more train photo
    r = resume()
    assert r.exit_code == 4 and "training photos" in r.output and "3 listed" in r.output, r.output
    lines = manifest.read_text().splitlines()[:-1]
    manifest.write_text("\n".join(lines) + "\n")
    r = resume()
    assert r.exit_code == 0, r.output


def test_previews_and_validation_losses_follow_the_run(tmp_path: Path, content_img: Image.Image) -> None:
    manifest = _corpus(tmp_path / "corpus", content_img)
    model = tmp_path / "m.safetensors"
    train(STYLE, manifest, model, steps=3, checkpoint_every=2, **TINY)  # previews default to every checkpoint
    sheets = sorted(p.name for p in (tmp_path / "m.preview").iterdir())
    assert sheets == ["step_000002.jpg", "step_000003.jpg"]
    sheet = Image.open(tmp_path / "m.preview" / sheets[0])
    assert sheet.size == (2 * 256, 2 * 256 + 16)  # the painting, then the one val photo over its painted self
    with (tmp_path / "m.val.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["2", "3"] and all(float(r["val_loss"]) > 0 for r in rows)
    train(STYLE, manifest, model, steps=4, checkpoint_every=2, preview_every=1, resume=True, **TINY)
    with (tmp_path / "m.val.csv").open() as fh:
        assert [r["step"] for r in csv.DictReader(fh)] == ["2", "3", "4"]
    train(STYLE, manifest, model, steps=1, preview_every=0, overwrite=True, **TINY)
    assert not list((tmp_path / "m.preview").iterdir())  # a fresh run drops the old run's sheets


def test_styles_sheet_paints_the_photo_in_every_style(tmp_path: Path, content_img: Image.Image) -> None:
    from brushwork.fastnet.modelfile import shipped_styles

    photo = tmp_path / "photo.png"
    content_img.save(photo)
    sheet = tmp_path / "sheet.png"
    r = runner.invoke(app, ["-q", "styles", "--sheet", str(photo), "-o", str(sheet), "--size", "48"])
    assert r.exit_code == 0, r.output
    n = len(shipped_styles()) + 1  # the photo itself, then each style
    cols = math.ceil(math.sqrt(n))
    w, h = content_img.resize((48, round(48 * content_img.height / content_img.width))).size
    assert Image.open(sheet).size == (cols * w, math.ceil(n / cols) * (h + 18))
    r = runner.invoke(app, ["-q", "styles", "--sheet", str(photo), "-o", str(sheet)])
    assert r.exit_code == 3 and "--overwrite" in r.output  # never overwritten silently
    r = runner.invoke(app, ["-q", "styles", "--sheet", str(photo)])
    assert r.exit_code == 4 and "-o" in r.output
    r = runner.invoke(app, ["-q", "styles", "--sheet", str(tmp_path / "none.jpg"), "-o", str(tmp_path / "s.png")])
    assert r.exit_code == 2 and not (tmp_path / "s.png").exists()


def test_gallery_styles_bundle_their_public_domain_paintings() -> None:
    from brushwork.fastnet.modelfile import STYLES_DIR, shipped_styles

    styles = shipped_styles()
    assert len(styles) >= 8
    for name in styles:
        card = (STYLES_DIR / f"{name}.md").read_text(encoding="utf-8")
        assert "**Painting**" in card and "Public domain" in card, name
        bundled = STYLES_DIR / f"{name}.jpg"
        if f"`{name}.jpg`" in card:
            assert max(Image.open(bundled).size) <= 512, name
        else:
            assert "bundled as" in card, name  # it shares another style's picture, named in the card


def test_sigterm_stops_with_a_checkpoint(tmp_path: Path, content_img: Image.Image) -> None:
    """`kill` on a long run keeps its steps: the checkpoint is written, and --resume goes on from it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    manifest = _corpus(tmp_path / "corpus", content_img)
    model = tmp_path / "m.safetensors"
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "brushwork.cli", "-q", "train", str(STYLE), "--data", str(manifest), "-o", str(model),
           "--steps", "100000", "--checkpoint-every", "0", "--preview-every", "0", "--crop", "32", "--batch-size", "1",
           "--width", "0.25", "--blocks", "1", "--style-size", "64", "--log-every", "1", "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = model.with_suffix(".log.csv")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 4):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in out, out
    step = int(torch.load(model.with_suffix(".ckpt"), weights_only=True)["step"])
    assert step >= 3
    r = train(STYLE, manifest, model, steps=step + 1, preview_every=0, resume=True,
              **{**TINY, "batch_size": 1, "checkpoint_every": 0})
    assert r.step == step + 1
