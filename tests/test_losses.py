import torch

from brushwork.losses import ContentLoss, Objective, StyleLoss, TVLoss, gram, style_grams


def test_gram_hand_computed():
    # two channels, 1×2 map: F = [[1, 2], [3, 4]] → F Fᵀ = [[5, 11], [11, 25]], / (C·H·W = 4)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(gram(f)[0], expected)


def test_content_loss_is_weighted_mse():
    target = torch.zeros(1, 2, 2, 2)
    x = torch.full((1, 2, 2, 2), 3.0)
    loss = ContentLoss("relu4_2", target, weight=2.0)({"relu4_2": x})
    assert loss.item() == 2.0 * 9.0


def test_style_loss_zero_at_target_and_hand_computed():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    loss = StyleLoss("relu1_1", gram(f)[0], weight=10.0)
    assert loss({"relu1_1": f}).item() == 0.0
    # against a zero target: mean of squared gram entries
    zero = StyleLoss("relu1_1", torch.zeros(2, 2), weight=1.0)
    g = torch.tensor([5.0, 11.0, 11.0, 25.0]) / 4
    assert torch.isclose(zero({"relu1_1": f}), (g**2).mean())


def test_tv_loss_hand_computed():
    img = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # horizontal steps of 1, no vertical change
    assert TVLoss(1.0)(img).item() == 1.0
    assert TVLoss(1.0)(torch.ones(1, 3, 4, 4)).item() == 0.0


def test_blended_targets_equal_weighted_average():
    def extract(x, layers):
        return {"a": x}

    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    out = style_grams(extract, [a, b], ["a"], [3.0, 1.0])
    assert torch.allclose(out["a"], 0.75 * gram(a)[0] + 0.25 * gram(b)[0])


def test_objective_sums_terms_and_reports_parts(vgg):
    x = torch.rand(1, 3, 32, 32)
    feats = vgg(x, ["relu1_1", "relu2_1"])
    content = ContentLoss("relu2_1", feats["relu2_1"] * 0, weight=1.0)
    style = StyleLoss("relu1_1", gram(feats["relu1_1"])[0] * 0, weight=1.0)
    obj = Objective(vgg, [content], [style], TVLoss(1.0))
    total, parts = obj(x)
    assert set(parts) == {"content", "style", "tv"}
    assert abs(total.item() - sum(parts.values())) < 1e-3 * total.item()
    assert parts["content"] > 0 and parts["style"] > 0 and parts["tv"] > 0


def test_temporal_loss_masked_mse_and_resizes():
    from brushwork.losses import TemporalLoss

    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 2.0  # only the left half counts, twice
    x = torch.ones(1, 3, 4, 4)
    loss = TemporalLoss(target, mask, weight=3.0)
    assert loss(x).item() == 3.0 * (2.0 * 24 / 48)
    x[..., :2] = 0  # differences where the mask is 0 cost nothing
    assert loss(x).item() == 0.0
    assert TemporalLoss(target, torch.ones(1, 1, 4, 4))(torch.ones(1, 3, 2, 2)).item() == 1.0  # a coarser scale
