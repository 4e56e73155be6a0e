"""Ship a trained gallery style: model, model card and the painting, into src/brushwork/fastnet/styles/.

    python benchmarks/ship_style.py NAME [--runs /work/train-runs/gallery] [--overwrite]
    python benchmarks/ship_style.py starry_night --painting-only      # a kept model: painting + card note only

NAME must be one of ``PAINTINGS`` below (the gallery of benchmarks/train_gallery.sh).  The model
is copied with its header's ``style_source`` and ``data`` rewritten to say which painting and
which photos it learnt from (the weights are unchanged); the card gives the painting, its source
(the shared-data file and, for corpus paintings, the manifest row), the training data with the
corpus's manifest counts, the recipe, the steps and time reached, and the validation losses; the
painting is bundled as NAME.jpg (≤ 512 px, JPEG quality 90): every one is public domain (painter
died before 1956, as the manifest marks, or one of the shared data's public-domain styles).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from PIL import Image

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "src"))

from brushwork.core.files import write_atomically  # noqa: E402
from brushwork.fastnet.model import TransformerNet  # noqa: E402
from brushwork.fastnet.modelfile import STYLES_DIR, ModelInfo, load_model, save_model  # noqa: E402
from brushwork.fastnet.train import write_card  # noqa: E402

SHARED = HERE.parent / "shared" / "data"
MANIFEST = SHARED / "training" / "manifest.csv"
NEURAL_STYLE = "example style image of jcjohnson/neural-style (MIT) as the project's shared data keeps it"
#: name → (file under shared/data, painting, kind of painting, where the picture comes from)
PAINTINGS: dict[str, tuple[str, str, str, str]] = {
    "the_scream": ("styles/the_scream.jpg", "Edvard Munch, *The Scream*, 1893 (Munch d. 1944)",
                   "expressionist: swirling bands of orange sky and blue fjord", NEURAL_STYLE),
    "starry_night": ("styles/starry_night.jpg", "Vincent van Gogh, *The Starry Night*, 1889 (van Gogh d. 1890)",
                     "post-impressionist: thick swirling brush strokes, blue and yellow", NEURAL_STYLE),
    "shipwreck": ("styles/shipwreck.jpg", "J. M. W. Turner, *The Shipwreck*, 1805 (Turner d. 1851)",
                  "romantic seascape: dark stormy oil, foaming light", NEURAL_STYLE),
    "woman_with_hat": ("styles/woman-with-hat-matisse.jpg", "Henri Matisse, *Woman with a Hat*, 1905 (Matisse d. 1954)",
                       "fauvist: broad patches of unnatural colour", NEURAL_STYLE),
    "composition_viii": ("training/paintings/rsart_105full.jpg",
                         "Wassily Kandinsky, *Composition VIII*, 1923 (Kandinsky d. 1944)",
                         "geometric abstraction: circles, lines and flat colour on a pale ground", "corpus"),
    "golden_adele": ("training/paintings/rsart_50full.jpg",
                     "Gustav Klimt, *Portrait of Adele Bloch-Bauer I*, 1907 (Klimt d. 1918)",
                     "Vienna Secession gold: gold leaf and mosaic-like ornament", "corpus"),
    "water_lily_pond": ("training/paintings/rsart_216full.jpg",
                        "Claude Monet, *The Water Lily Pond*, 1899 (Monet d. 1926)",
                        "impressionist: dabs of green, blue and pink", "corpus"),
    "roerich_mountains": ("training/paintings/rsart_234full.jpg",
                          "Nicholas Roerich, *Mountain Abode*, 1933 (Roerich d. 1947)",
                          "tempera: flat bands of blue and violet mountains", "corpus"),
    "demon_seated": ("training/paintings/rsart_163full.jpg",
                     "Mikhail Vrubel, *The Demon Seated*, 1890 (Vrubel d. 1910)",
                     "symbolist: broken, mosaic-like facets of red, blue and grey", "corpus"),
}
PAINTING_SIDE = 512


def manifest_rows() -> list[dict[str, str]]:
    with MANIFEST.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def data_line(rows: list[dict[str, str]]) -> str:
    n = Counter((r["kind"], r["split"]) for r in rows)
    return (f"the {n['photo', 'train']:,} train-split photos of the shared training corpus "
            f"(`../shared/data/training/manifest.csv`: {n['photo', 'train'] + n['photo', 'val']:,} photos, of which "
            f"{n['photo', 'val']} are val and never trained on; {n['painting', 'train'] + n['painting', 'val']:,} paintings, "
            "not used); random 128 px crops")


def val_summary(path: Path) -> str:
    if not path.exists():
        return "no validation log"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return "no validation rows"
    first, last = rows[0], rows[-1]
    return (f"total {float(first['val_loss']):.4g} at step {first['step']} → {float(last['val_loss']):.4g} at step "
            f"{last['step']} (content {float(last['val_content']):.4g}, style {float(last['val_style']):.4g}); "
            "8 fixed val-split photos, 128 px centre crops, the training losses")


def newest_state(runs: Path, name: str) -> tuple[TransformerNet, ModelInfo]:
    """The run's model, or its checkpoint when that is further on (a run stopped in the middle of a pass)."""
    path, ckpt_path = runs / f"{name}.safetensors", runs / f"{name}.ckpt"
    model = load_model(path) if path.exists() else None
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if ckpt_path.exists() else None
    if model is not None and (ckpt is None or int(ckpt["step"]) <= int(model.info.extra.get("steps", 0))):
        return model.net, model.info
    if ckpt is None:
        raise SystemExit(f"no model or checkpoint of {name} in {runs}")
    settings = json.loads(ckpt["settings"])
    net = TransformerNet(settings["width"], settings["blocks"])
    net.load_state_dict(ckpt["model"])
    net.eval()
    info = ModelInfo(width=settings["width"], blocks=settings["blocks"], style=ckpt["style"], extra={
        "steps": int(ckpt["step"]), "resolution": settings["crop"], "batch_size": settings["batch_size"],
        "training_seconds": round(float(ckpt["seconds"]), 1), "machine": f"CPU ({platform.machine()}, 2 cores, 1 threads)",
        "settings": {k: v for k, v in settings.items() if k not in ("device", "workers", "weights")},
        "created": time.strftime("%Y-%m-%d", time.gmtime()), "from_checkpoint": True,
    })
    return net, info


def ship(name: str, runs: Path, overwrite: bool) -> None:
    rel, painting, kind, source = PAINTINGS[name]
    rows = manifest_rows()
    if source == "corpus":
        row = next(r for r in rows if r["file"] == rel.removeprefix("training/"))
        source = (f"shared training corpus, manifest row `{row['file']}` (source {row['source']} @ "
                  f"{row['commit_or_version'][:12]}, `{row['original_path']}`, sha1 {row['sha1']}; "
                  f"manifest: \"{row['artist_and_title']}\"; split {row['split']})")
    else:
        source = f"`../shared/data/{rel}`, the {source}"
    net, info = newest_state(runs, name)
    info.extra["style_source"] = painting + " (public domain)"
    info.extra["data"] = data_line(rows)
    dest = STYLES_DIR / f"{name}.safetensors"
    save_model(net, info, dest, overwrite=overwrite)
    card = dest.with_suffix(".md")
    write_card(info, card)
    img = Image.open(SHARED / rel).convert("RGB")
    img.thumbnail((PAINTING_SIDE, PAINTING_SIDE), Image.Resampling.LANCZOS)
    write_atomically(dest.with_suffix(".jpg"), lambda tmp: img.save(tmp, format="JPEG", quality=90), overwrite=True)
    e = info.extra
    card.write_text(card.read_text(encoding="utf-8") + "\n".join([
        f"| validation | {val_summary(runs / f'{name}.val.csv')} |",
        "",
        f"**Painting**: {painting}; {kind}. Public domain (the painter died before 1956; a faithful photo "
        f"of a two-dimensional public-domain painting is public domain too). Bundled as `{name}.jpg` "
        f"({img.width}×{img.height}); source: {source}.",
        "",
        f"**Recipe** (`benchmarks/train_gallery.sh cpu`): width {info.width:g}, 128 px crops, batch 4, style image at "
        f"384 px, Adam lr 1e-3, style weight {e.get('settings', {}).get('style_weight', '?')} (losses as in the table); "
        "trained in passes on one CPU thread "
        f"(OMP_NUM_THREADS=1, nice 10) of a 2-core machine shared with other jobs (load 3–30, so 1–9 s per step), "
        f"{e.get('steps')} steps in "
        f"{float(e.get('training_seconds', 0)) / 60:.0f} min. A short run by the standards of the paper (40,000 "
        "steps): the palette and strokes are the painting's, fine detail is simplified. Continue it with "
        "`benchmarks/train_gallery.sh` and a larger `STEPS` (resumable; on a GPU too).",
        "",
        "**Training photos**: licences as `../shared/data/training/README.md` states them; no training photo is bundled.",
        "",
    ]), encoding="utf-8")
    print(f"shipped {name}: {e.get('steps')} steps → {dest}")


def bundle_painting(name: str, painting_of: str | None = None) -> None:
    """For a model kept from before the corpus (no retraining): bundle its painting and name it in the card.

    ``painting_of`` is the gallery style whose painting a model shares (a distilled copy →
    its teacher's style): then the card points at that style's picture instead of a second copy.
    """
    key = painting_of or name
    rel, painting, kind, source = PAINTINGS[key]
    card = STYLES_DIR / f"{name}.md"
    text = card.read_text(encoding="utf-8")
    if "**Painting**" in text:
        return
    if painting_of is None:
        img = Image.open(SHARED / rel).convert("RGB")
        img.thumbnail((PAINTING_SIDE, PAINTING_SIDE), Image.Resampling.LANCZOS)
        write_atomically(STYLES_DIR / f"{name}.jpg", lambda tmp: img.save(tmp, format="JPEG", quality=90), overwrite=True)
        where = f"Bundled as `{name}.jpg` ({img.width}×{img.height})"
    else:
        where = f"The same picture as `{key}`'s, bundled as `{key}.jpg`"
    card.write_text(text.rstrip("\n") + "\n\n" + (
        f"**Painting**: {painting}; {kind}. Public domain (the painter died before 1956; a faithful photo of a "
        f"two-dimensional public-domain painting is public domain too). {where}; source: `../shared/data/{rel}`, "
        f"the {source}. Not retrained on the corpus: see the styles' README.\n"), encoding="utf-8")
    print(f"bundled the painting of {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="+", choices=sorted(PAINTINGS))
    ap.add_argument("--runs", type=Path, default=Path("/work/train-runs/gallery"))
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--painting-only", action="store_true",
                    help="keep the shipped model (not retrained): only bundle its painting and name it in its card")
    ap.add_argument("--painting-of", help="with --painting-only: the style whose bundled painting this model shares")
    args = ap.parse_args()
    for name in args.names:
        if args.painting_only:
            bundle_painting(name, args.painting_of)
        else:
            ship(name, args.runs, args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
