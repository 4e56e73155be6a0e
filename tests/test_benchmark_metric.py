"""The benchmark score (benchmarks/metric.py) measures the picture, not the resize filter.

VGG runs at 128 px here so the test takes seconds; the pictures are the photo, the
jcjohnson/neural-style reference (strongly stylised) and the two blended half and half (the
"pale photo with a texture overlay" a weak stylisation gives).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from brushwork.core.image import fit_size, load_image, to_tensor
from brushwork.core.losses import gram

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from metric import FILTERS, STYLE_LAYERS, Metric  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE = 128
PAIR = ("content/golden_gate.jpg", "styles/the_scream.jpg", "reference/golden_gate_scream.png")
needs_data = pytest.mark.skipif(not all((SHARED / p).exists() for p in PAIR), reason="../shared/data is missing")


@pytest.fixture(scope="module")
def pictures() -> dict[str, Image.Image]:
    photo, painting, reference = (load_image(SHARED / p) for p in PAIR)
    shape = fit_size(photo.size, SIZE)
    small_photo, small_ref = photo.resize(shape, Image.Resampling.LANCZOS), reference.resize(shape, Image.Resampling.LANCZOS)
    return {"photo": photo, "painting": painting, "reference": small_ref,
            "weak": Image.blend(small_photo, small_ref, 0.5)}


def _filter_spread(metric_for: dict[str, Metric], picture: Image.Image) -> float:
    values = [m(picture).style for m in metric_for.values()]
    return max(values) - min(values)


@needs_data
def test_ranks_photo_behind_stylised_picture(vgg, pictures):
    m = Metric(pictures["photo"], pictures["painting"], SIZE, torch.device("cpu"), vgg=vgg)
    photo, weak, ref = m(pictures["photo"]), m(pictures["weak"]), m(pictures["reference"])
    assert photo.content < 0.05 * ref.content  # the photo against (filtered copies of) itself
    assert photo.style > 2 * ref.style
    assert photo.style > weak.style > ref.style  # half-stylised lands in between
    assert set(ref.layers) == set(STYLE_LAYERS)
    assert ref.style == pytest.approx(sum(ref.layers.values()) / len(STYLE_LAYERS))
    # The palette layer is where the photo is furthest from the painting.
    assert photo.layers["relu1_1"] > 4 * ref.layers["relu1_1"]


@needs_data
def test_resize_filter_moves_score_much_less_than_picture_gap(vgg, pictures):
    """Scored with one filter's copies of the painting at a time, the spread over the filters is a
    small part of the gap between the half-stylised picture and the reference; the old Gram MSE
    (dominated by relu4_1) had a spread larger than that gap."""
    cpu = torch.device("cpu")
    one_filter = {name: Metric(pictures["photo"], pictures["painting"], SIZE, cpu, filters={name: f}, vgg=vgg)
                  for name, f in FILTERS.items()}
    averaged = Metric(pictures["photo"], pictures["painting"], SIZE, cpu, vgg=vgg)
    gap = averaged(pictures["weak"]).style - averaged(pictures["reference"]).style
    assert gap > 0
    for picture in ("weak", "reference"):
        assert _filter_spread(one_filter, pictures[picture]) < 0.5 * gap

    # The same painting shrunk first (as a user's copy might be) with a crude filter or a good one:
    # the averaged score of a picture barely moves.
    painting = pictures["painting"]
    half = (painting.width // 2, painting.height // 2)
    crude = Metric(pictures["photo"], painting.resize(half, Image.Resampling.NEAREST), SIZE, cpu, vgg=vgg)
    good = Metric(pictures["photo"], painting.resize(half, Image.Resampling.LANCZOS), SIZE, cpu, vgg=vgg)
    for picture in ("weak", "reference"):
        assert abs(crude(pictures[picture]).style - good(pictures[picture]).style) < 0.5 * gap

    # The old score: mean Gram MSE over the layers against a single resized copy of the painting.
    def old(picture: Image.Image, resample: Image.Resampling) -> float:
        shape = fit_size(painting.size, SIZE)
        with torch.no_grad():
            t = vgg(to_tensor(painting.resize(shape, resample)), STYLE_LAYERS)
            x = vgg(to_tensor(picture), STYLE_LAYERS)
        return sum(float(torch.mean((gram(x[k]) - gram(t[k])) ** 2)) for k in STYLE_LAYERS) / len(STYLE_LAYERS)

    olds = {name: (old(pictures["weak"], f), old(pictures["reference"], f)) for name, f in FILTERS.items()}
    old_gap = min(w - r for w, r in olds.values())
    old_spread = max(r for _, r in olds.values()) - min(r for _, r in olds.values())
    assert old_spread > 0.5 * abs(old_gap)
