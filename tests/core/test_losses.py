import pytest
import torch

from brushwork.core.losses import (
    ContentLoss,
    MeanCovStyleLoss,
    Objective,
    StyleLoss,
    TVLoss,
    feature_moments,
    gram,
    style_grams,
    style_moments,
)


def test_gram_hand_computed():
    # two channels, 1×2 map: F = [[1, 2], [3, 4]] → F Fᵀ = [[5, 11], [11, 25]], / (C·H·W = 4)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(gram(f)[0], expected)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_and_its_gradient_match_the_plain_product_in_either_layout(layout):
    # the Gram has its own backward pass; it must agree with autograd's through a bare bmm
    torch.manual_seed(0)
    base = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    weight = torch.randn(2, 5, 5, dtype=torch.float64)
    x = base.clone().contiguous(memory_format=layout).requires_grad_(True)
    (gram(x) * weight).sum().backward()
    y = base.clone().requires_grad_(True)
    f = y.reshape(2, 5, 12)
    expected = torch.bmm(f, f.transpose(1, 2)) / 60
    (expected * weight).sum().backward()
    assert torch.allclose(gram(x.detach()), expected.detach())
    assert torch.allclose(x.grad, y.grad)
    assert torch.autograd.gradcheck(gram, (x.detach().clone().requires_grad_(True),))


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
    from brushwork.core.losses import TemporalLoss

    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 2.0  # only the left half counts, twice
    x = torch.ones(1, 3, 4, 4)
    loss = TemporalLoss(target, mask, weight=3.0)
    assert loss(x).item() == 3.0 * (2.0 * 24 / 48)
    x[..., :2] = 0  # differences where the mask is 0 cost nothing
    assert loss(x).item() == 0.0
    assert TemporalLoss(target, torch.ones(1, 1, 4, 4))(torch.ones(1, 3, 2, 2)).item() == 1.0  # a coarser scale


# --- mean + covariance (Wasserstein-2) style loss -------------------------------------------

def _features(means, sds):
    """1×C×2×2 features whose channels are exactly uncorrelated: orthogonal ±1 patterns."""
    patterns = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]])
    f = torch.stack([m + s * patterns[i] for i, (m, s) in enumerate(zip(means, sds))])
    return f.reshape(1, len(means), 2, 2)


def test_feature_moments_hand_computed_and_masked():
    f = _features([1.0, 2.0], [3.0, 0.5])
    mean, cov = feature_moments(f)
    assert torch.allclose(mean, torch.tensor([1.0, 2.0]))
    assert torch.allclose(cov, torch.diag(torch.tensor([9.0, 0.25])), atol=1e-6)
    # a mask selecting two positions gives the moments of those two samples only
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    m_mean, m_cov = feature_moments(f, mask)
    sub = f.reshape(2, 4)[:, :2]
    assert torch.allclose(m_mean, sub.mean(1))
    assert torch.allclose(m_cov, torch.cov(sub, correction=0), atol=1e-6)


def test_w2_zero_for_same_features_positive_otherwise():
    f = torch.randn(1, 4, 6, 5)
    mean, cov = feature_moments(f)
    loss = MeanCovStyleLoss("relu1_1", mean, cov)
    assert abs(loss({"relu1_1": f}).item()) < 1e-4
    assert loss({"relu1_1": f * 1.5}).item() > 0.1
    assert loss({"relu1_1": f + 0.3}).item() == pytest.approx(4 * 0.3**2 / 4, rel=1e-3)  # mean shift only


def test_w2_matches_closed_form_for_diagonal_covariances():
    # Gaussians with diagonal covariances: W2² = |μ − μs|² + Σ (σ − σs)²; the loss divides by C
    f = _features([0.5, -1.0, 2.0], [2.0, 0.3, 1.0])
    t_mean, t_sd = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([1.0, 0.8, 3.0])
    loss = MeanCovStyleLoss("relu2_1", t_mean, torch.diag(t_sd**2), weight=2.0)
    expected = ((torch.tensor([0.5, -1.0, 2.0]) - t_mean).pow(2).sum()
                + (torch.tensor([2.0, 0.3, 1.0]) - t_sd).pow(2).sum()) / 3 * 2.0
    assert loss({"relu2_1": f}).item() == pytest.approx(expected.item(), rel=1e-4)


def test_w2_decreases_under_optimisation_with_rank_deficient_features():
    torch.manual_seed(0)
    target = torch.relu(torch.randn(1, 16, 3, 3) * 2 + 1)  # 9 samples, 16 channels: singular covariance
    loss = MeanCovStyleLoss("relu3_1", *feature_moments(target))
    x = torch.relu(torch.randn(1, 16, 3, 3)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    values = []
    for _ in range(30):
        opt.zero_grad()
        value = loss({"relu3_1": x})
        value.backward()
        assert torch.isfinite(x.grad).all()
        opt.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]


def test_style_moments_blend_is_the_mixture():
    a, b = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4) * 2 + 1
    moments = style_moments(lambda img, layers: {"relu1_1": img}, [a, b], ["relu1_1"])
    both = torch.cat([a, b], dim=3)  # equal weights = the pooled samples of both images
    mean, cov = feature_moments(both)
    assert torch.allclose(moments["relu1_1"][0], mean, atol=1e-5)
    assert torch.allclose(moments["relu1_1"][1], cov, atol=1e-4)
