"""One photo painted in every shipped style, as one sheet: the quickest way to choose a style.

The sheet is a grid of equal cells, the photo first, each labelled with the style's name (and
the painting, read from the model's header).  Styles run one after another at ``size`` px on the
long side, so a sheet of a dozen styles takes seconds on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw

from ..core.image import fit_size, resize
from ..core.progress import Progress, ProgressCallback, silent
from .infer import FastSettings, FastStylizer
from .modelfile import shipped_styles

#: Height of the label strip under each cell.
LABEL = 18


def style_sheet(photo: Image.Image, styles: Mapping[str, Path] | None = None, size: int = 384,
                columns: int | None = None, progress: ProgressCallback = silent) -> Image.Image:
    """The photo and its version in each style of ``styles`` (default: every shipped style), in a grid."""
    styles = shipped_styles() if styles is None else styles
    photo = resize(photo.convert("RGB"), fit_size(photo.size, size))
    cells = [("photo", photo)]
    for i, (name, path) in enumerate(styles.items(), start=1):
        cells.append((name, FastStylizer(path, FastSettings(device="cpu"))(photo)))
        progress(Progress(job="styles", stage=f"sheet {name}", step=i, steps=len(styles), done=i, total=len(styles)))
    cols = columns or math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    w, h = photo.size
    sheet = Image.new("RGB", (cols * w, rows * (h + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (name, img) in enumerate(cells):
        x, y = (k % cols) * w, (k // cols) * (h + LABEL)
        sheet.paste(img, (x, y))
        draw.text((x + 4, y + h + 3), name, fill="black")
    return sheet
