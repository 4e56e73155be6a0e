"""The step rules: L-BFGS's line search meets the strong Wolfe conditions and the method converges
on a badly conditioned problem; its first step has the documented size; Adam follows its update
rule; and a run never imports torch's compiler (the cost they were written to avoid)."""

from __future__ import annotations

import subprocess
import sys

import torch

from brushwork.core.descent import LBFGS, Adam


def _closure(param: torch.Tensor, fn):
    calls = []

    def evaluate() -> torch.Tensor:
        param.grad = None
        loss = fn(param)
        loss.backward()
        calls.append(float(loss.detach()))
        return loss

    return evaluate, calls


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0::2], p[1::2]
    return ((1 - x) ** 2 + 100 * (y - x * x) ** 2).sum()


def test_lbfgs_solves_the_rosenbrock_valley():
    p = torch.tensor([-1.2, 1.0] * 4, dtype=torch.float64, requires_grad=True)
    evaluate, calls = _closure(p, _rosenbrock)
    opt = LBFGS(p, evaluate, first_change=0.1)
    losses = [opt.step() for _ in range(60)]
    assert losses[-1] < 1e-8
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # every accepted step goes down
    assert len(calls) < 3 * 60  # the line search mostly accepts its first guess
    assert torch.allclose(p.detach(), torch.ones(8, dtype=torch.float64), atol=1e-3)


def test_each_step_meets_the_strong_wolfe_conditions():
    torch.manual_seed(0)
    a = torch.randn(20, 20, dtype=torch.float64)
    hess = a @ a.T + 0.1 * torch.eye(20, dtype=torch.float64)

    def quad(p: torch.Tensor) -> torch.Tensor:
        return 0.5 * p @ hess @ p + p.pow(4).sum()

    p = torch.randn(20, dtype=torch.float64, requires_grad=True)
    evaluate, _ = _closure(p, quad)
    opt = LBFGS(p, evaluate)
    for _ in range(15):
        x0 = p.detach().clone()
        f0 = float(quad(x0))
        g0 = torch.func.grad(quad)(x0)
        opt.step()
        x1 = p.detach().clone()
        step = x1 - x0
        g1 = torch.func.grad(quad)(x1)
        slope0 = float(g0 @ step)
        assert slope0 < 0
        assert float(quad(x1)) <= f0 + 1e-4 * slope0 + 1e-12  # sufficient decrease
        assert abs(float(g1 @ step)) <= 0.9 * abs(slope0) + 1e-12  # curvature


def test_the_first_trial_moves_the_largest_gradient_pixel_by_first_change():
    target = torch.rand(1, 3, 8, 8)
    p = torch.zeros_like(target, requires_grad=True)
    points = []

    def loss(x: torch.Tensor) -> torch.Tensor:
        points.append(x.detach().clone())
        return ((x - target) ** 2).sum() * 1e3

    evaluate, _ = _closure(p, loss)
    LBFGS(p, evaluate, first_change=0.05).step()
    g = 2e3 * (0 - target)
    assert torch.allclose(points[1], -0.05 * g / g.abs().max(), atol=1e-6)
    assert float(loss(p.detach())) < float(loss(points[1]))  # and the line search went on from there


def test_adam_follows_its_update_rule():
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    evaluate, _ = _closure(p, lambda x: (x ** 2).sum())
    opt = Adam(p, evaluate, lr=0.1)
    opt.step()
    # after one step Adam moves every coordinate by lr against the sign of its gradient
    assert torch.allclose(p.detach(), torch.tensor([0.9, -1.9]), atol=1e-6)
    opt.step()
    g1, g2 = torch.tensor([2.0, -4.0]), 2 * torch.tensor([0.9, -1.9])
    m = 0.1 * (0.9 * g1) + 0.1 * g2  # β1 = 0.9
    v = 0.999 * 0.001 * g1 ** 2 + 0.001 * g2 ** 2
    expected = torch.tensor([0.9, -1.9]) - 0.1 * (m / (1 - 0.81)) / ((v / (1 - 0.999 ** 2)).sqrt() + 1e-8)
    assert torch.allclose(p.detach(), expected, atol=1e-6)


def test_a_run_does_not_import_torchs_compiler():
    code = (
        "import sys, torch\n"
        "from brushwork.core.optim import Method, optimise\n"
        "t = torch.rand(1, 3, 8, 8)\n"
        "for name in ('lbfgs', 'adam'):\n"
        "    optimise(lambda x: (((x - t) ** 2).sum(), {}), torch.zeros_like(t), 3, Method(name))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
