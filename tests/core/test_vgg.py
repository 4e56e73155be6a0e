"""The VGG weights are the real ones, in the right layout, with the right preprocessing."""

import math

import pytest
import torch

from brushwork.core.errors import WeightsError
from brushwork.core.image import to_tensor
from brushwork.core.vgg import VGG, conv_names, layer_names, load_vgg, load_weights


def _neighbour_correlation(w: torch.Tensor) -> float:
    a, b = w[..., :, :-1].flatten(), w[..., :, 1:].flatten()
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


def test_layout_and_shapes():
    arch, weights = load_weights()
    assert arch == "vgg19"
    assert set(weights) == set(conv_names("vgg19"))
    assert weights["conv1_1"][0].shape == (64, 3, 3, 3)
    assert weights["conv3_1"][0].shape == (256, 128, 3, 3)
    assert weights["conv5_4"][0].shape == (512, 512, 3, 3)
    # dequantized floats, not the uint8 codes
    assert weights["conv1_1"][0].dtype == torch.float32
    assert weights["conv1_1"][0].abs().max() < 5


def test_trained_filters_are_spatially_smooth():
    """Trained 3×3 filters vary smoothly; kernels read in the wrong memory order do not."""
    _, weights = load_weights()
    assert _neighbour_correlation(weights["conv1_1"][0]) > 0.4
    w = weights["conv2_1"][0]  # many input channels: neighbours in memory are unrelated filters
    assert _neighbour_correlation(w) > 0.4
    scrambled = w.permute(0, 2, 3, 1).reshape(w.shape)  # HWI data read as IHW: the classic bug
    assert _neighbour_correlation(scrambled) < 0.2


def test_caffe_preprocessing_hand_computed(vgg):
    x = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)  # RGB
    out = vgg.preprocess(x).flatten()
    expected = torch.tensor([0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68])  # BGR, mean removed
    assert torch.allclose(out, expected, atol=1e-3)


def test_frozen_and_stops_at_deepest_layer(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: calls.append(n)) for n, m in vgg.convs.items()]
    try:
        out = vgg(torch.rand(1, 3, 32, 32), ["relu2_2", "relu1_1"])
    finally:
        for h in hooks:
            h.remove()
    assert set(out) == {"relu2_2", "relu1_1"}
    assert calls == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
    assert out["relu2_2"].shape == (1, 128, 16, 16)


def _reconstruct(model: VGG, target: torch.Tensor, steps: int = 40) -> float:
    torch.manual_seed(0)
    with torch.no_grad():
        t_feat = model(target, ["relu2_2"])["relu2_2"]
    # smooth noise: pixel-level noise lies largely in the null space of the trained filters and
    # would survive any number of steps, whatever the weights
    low = torch.rand(1, 3, 6, 8) - 0.5
    x = (0.5 + 0.1 * torch.nn.functional.interpolate(low, size=target.shape[-2:], mode="bilinear"))
    x.requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x.clamp(0, 1), ["relu2_2"])["relu2_2"], t_feat) / t_feat.pow(2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    mse = torch.mean((x.detach().clamp(0, 1) - target) ** 2).item()
    return 10 * math.log10(1.0 / mse)


def test_reconstruction_from_relu2_2_recovers_the_image(content_img):
    """Feature inversion recovers the image only if the weights are read right.

    The same procedure with the kernels read in the wrong order must do clearly worse, so this
    test can fail.
    """
    target = to_tensor(content_img.resize((64, 48)))
    good = load_vgg()
    psnr = _reconstruct(good, target)
    _, w = load_weights()
    broken = {k: (v.permute(0, 2, 3, 1).reshape(v.shape).contiguous(), b) for k, (v, b) in w.items()}
    psnr_broken = _reconstruct(VGG(broken), target)
    assert psnr > 25, psnr
    assert psnr > psnr_broken + 6, (psnr, psnr_broken)


def test_user_state_dict_torchvision_keys(tmp_path):
    _, w = load_weights()
    state, idx = {}, 0
    for name in layer_names("vgg19"):
        if name.startswith("conv"):
            state[f"features.{idx}.weight"], state[f"features.{idx}.bias"] = w[name]
        idx += 1
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    model = load_vgg(path)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(model(x, ["relu3_1"])["relu3_1"], load_vgg()(x, ["relu3_1"])["relu3_1"])


def test_vgg16_is_detected_from_its_layers(tmp_path):
    torch.manual_seed(0)
    state, in_ch = {}, 3
    for name in conv_names("vgg16"):
        out_ch = {"1": 64, "2": 128, "3": 256}.get(name[4], 512)
        state[f"{name}.weight"] = torch.randn(out_ch, in_ch, 3, 3) * 0.01
        state[f"{name}.bias"] = torch.zeros(out_ch)
        in_ch = out_ch
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model = load_vgg(path)
    assert model.arch == "vgg16"
    assert "relu5_4" not in model.names and "relu5_3" in model.names
    assert model(torch.rand(1, 3, 32, 32), ["relu5_1"])["relu5_1"].shape == (1, 512, 2, 2)


@pytest.mark.parametrize("content", [b"", b"not a weights file", None])
def test_bad_weights_files_are_refused(tmp_path, content):
    path = tmp_path / "w.pth"
    if content is None:
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)  # no bias, too few layers
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_vgg(path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_vgg(tmp_path / "nope.pth")


def test_features_in_bfloat16_come_back_in_float32_close_to_full_precision(vgg):
    from brushwork.core.vgg import InPrecision

    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    full = vgg(x, ["relu2_1", "relu4_2"])
    half = InPrecision(vgg, torch.bfloat16)(x, ["relu2_1", "relu4_2"])
    for name, f in full.items():
        assert half[name].dtype == torch.float32
        rel = float((half[name] - f).norm() / f.norm())
        assert 0 < rel < 0.05, (name, rel)  # computed in bfloat16 (not identical), yet the same features
    (g,) = torch.autograd.grad(half["relu4_2"].square().mean(), x)
    assert g.dtype == torch.float32 and float(g.abs().sum()) > 0
