"""The one optimisation loop: convergence, and every way a run ends early, typed."""

from __future__ import annotations

import math

import pytest
import torch

from brushwork.core.errors import Diverged, Interrupted
from brushwork.core.optim import Method, Outcome, Stop, optimise


def _towards(target: torch.Tensor):
    def loss(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        value = ((x - target) ** 2).sum()
        return value, {"mse": float(value.detach())}

    return loss


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_converges_and_keeps_the_image_in_range(name):
    target = torch.rand(1, 3, 8, 8)
    start = torch.zeros_like(target)
    run = optimise(_towards(target), start, 40, Method(name, learning_rate=0.05))
    assert run.stopped is None and run.evaluations >= 2
    # Adam runs every iteration; L-BFGS solves this quadratic in a few and then ends, as no
    # step can lower a loss that is already at its minimum.
    assert run.iterations == 40 if name == "adam" else 2 <= run.iterations < 40
    assert float(((run.image - target) ** 2).mean()) < 0.1 * float(((start - target) ** 2).mean())
    assert run.image.min() >= 0 and run.image.max() <= 1


def test_ctrl_c_in_a_progress_callback_returns_the_best_image_so_far():
    target = torch.rand(1, 3, 8, 8)

    def on_step(step):
        if step.iteration == 3:
            raise KeyboardInterrupt

    run = optimise(_towards(target), torch.zeros_like(target), 50, on_step=on_step, counted_before=10)
    assert run.stopped == Outcome(Stop.INTERRUPTED, 13)
    assert run.iterations == 3 and float(run.image.sum()) > 0  # moved towards the target
    assert isinstance(run.stopped.error("out.png", ""), Interrupted)


def test_a_non_finite_loss_is_a_typed_divergence_with_exit_code_7():
    def loss(x: torch.Tensor):  # pulls the image towards white, and breaks down halfway there
        value = ((x - 1) ** 2).sum()
        return value * (math.nan if float(x.mean()) > 0.5 else 1.0), {}

    run = optimise(loss, torch.zeros(1, 3, 4, 4), 20, where=" in tile (0, 0, 4, 4)")
    assert run.stopped is not None and run.stopped.stop is Stop.DIVERGED and math.isnan(run.stopped.loss)
    assert "in tile (0, 0, 4, 4)" in str(run.stopped) and float(run.image.mean()) <= 0.5
    error = run.stopped.error("out.png", "Lower --style-weight.")
    assert isinstance(error, Diverged) and error.exit_code == 7 and "out.png" in str(error)


def test_grad_mask_keeps_pixels_outside_fixed():
    target = torch.ones(1, 3, 6, 6)
    start = torch.zeros_like(target)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 2:4, 2:4] = 1
    run = optimise(_towards(target), start, 10, Method(restart=False), grad_mask=mask > 0)
    assert torch.equal(run.image[..., :2, :], start[..., :2, :])
    assert float(run.image[..., 2:4, 2:4].mean()) > 0.9


def test_a_stall_ends_the_run_early():
    target = torch.rand(1, 3, 4, 4)

    def floored(x: torch.Tensor):  # converges to a loss of 1, then stalls there
        return ((x - target) ** 2).sum() + 1.0, {}

    run = optimise(floored, torch.zeros_like(target), 100, Method(stall_tolerance=1e-3))
    assert run.stopped is None and run.iterations < 100


@pytest.mark.parametrize("restart", [True, False])
def test_lbfgs_ends_when_no_step_can_lower_the_loss_instead_of_repeating_it(restart):
    # The value never changes but the gradient does not vanish: what a loss looks like at the
    # limit of its precision.  Every line search fails; repeating it would only burn evaluations.
    def flat(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return x.sum() - x.sum().detach() + 1.0, {}

    run = optimise(flat, torch.full((1, 3, 4, 4), 0.5), 100, Method("lbfgs", restart=restart))
    assert run.stopped is None  # a normal end, not a failure
    assert run.iterations == (1 if restart else 0)
    assert run.evaluations <= 1 + (2 if restart else 1) * 25


@pytest.mark.parametrize("restart", [True, False])
def test_lbfgs_ends_once_the_loss_is_down_to_its_own_noise(restart):
    # A quadratic plus a tiny value-only jitter, as rounding adds to a bfloat16 loss: once the
    # quadratic is solved, line searches chase the jitter at many evaluations each.
    torch.manual_seed(0)
    target = torch.rand(1, 3, 16, 16)

    def noisy(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return ((x - target) ** 2).sum() + (1e-4 * torch.sin(1e5 * x.sum())).detach(), {}

    start = torch.zeros_like(target)
    run = optimise(noisy, start, 300, Method("lbfgs", restart=restart))
    assert run.stopped is None and run.iterations < 20 and run.evaluations < 100
    assert float(((run.image - target) ** 2).sum()) < 1e-4 * float(((start - target) ** 2).sum())
