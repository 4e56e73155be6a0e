"""The default's two ingredients on tiny images: per-layer normalised Gram weights and the
palette-matched start (``init="matched"``).  Quality and speed are measured in
benchmarks/quality.py, not here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brushwork.core.image import to_tensor
from brushwork.core.losses import style_grams
from brushwork.gatys import regions
from brushwork.gatys.presets import GUOHUA, settings_from
from brushwork.gatys.settings import NORMALIZED_SCALE
from brushwork.gatys.stylizer import Stylizer, _initial


def test_normalised_layers_weigh_each_layer_by_its_target(vgg, content_img, style_img):
    """With style_normalize each layer's weight is divided by its target Gram's mean square, so a
    layer's loss is its squared relative Gram distance (relu1_1 no longer ~1000× below relu4_1)."""
    c, s = to_tensor(content_img), to_tensor(style_img)
    plain = Stylizer(settings_from(size=64, style_normalize=False, style_weight=10.0), vgg=vgg)
    normed = Stylizer(settings_from(size=64, style_normalize=True, style_weight=10.0), vgg=vgg)
    targets = style_grams(vgg, [s], plain.settings.style_layers)
    p_terms = {t.layer: t.weight for t in plain.objective(c, [s], 1.0).style}
    n_terms = {t.layer: t.weight for t in normed.objective(c, [s], 1.0).style}
    for layer, g in targets.items():
        assert n_terms[layer] == pytest.approx(p_terms[layer] * NORMALIZED_SCALE / float(g.pow(2).mean()), rel=1e-5)
    # The normalised loss of the photo is a sum of squared relative distances, of order 1 per layer.
    with torch.no_grad():
        _, parts = normed.objective(c, [s], 1.0)(c)
    assert 0.1 < parts["style"] / (10.0 * NORMALIZED_SCALE) < 10


def test_matched_start_has_the_paintings_palette(content_img, style_img):
    c, s = to_tensor(content_img), to_tensor(style_img)
    start = _initial(settings_from(init="matched"), c, torch.Generator(), regions.recolor(content_img, [style_img], None))
    assert start.shape == c.shape
    for ch in range(3):  # each channel's quartiles move to the painting's
        q_start, q_style, q_photo = (np.quantile(t[0, ch].numpy(), [0.25, 0.5, 0.75]) for t in (start, s, c))
        assert np.abs(q_start - q_style).max() < 0.05 < np.abs(q_photo - q_style).max()


def test_guohua_keeps_its_plain_gram_tuning():
    assert GUOHUA.style_normalize is False and GUOHUA.init == "content"
    assert settings_from("guohua").style_weight == 1000.0
