"""The one optimisation loop every pixel-optimising job uses (Gatys, tiles, harmonization).

:func:`optimise` runs L-BFGS (strong-Wolfe line search) or Adam on an image against a loss and
is the single place that decides how a run ends:

* all iterations done, the loss stalled (``stall_tolerance``), or L-BFGS's line search
  struggled twice in a row, the second time from the plain gradient (the loss is down to its
  own rounding noise; :attr:`~brushwork.core.descent.LBFGS.struggled`): a normal end;
* Ctrl-C (or SIGTERM, which the CLI turns into the same ``KeyboardInterrupt``) during a step or
  a progress callback: :data:`Stop.INTERRUPTED`, with the best image so far;
* a NaN or infinite loss: :data:`Stop.DIVERGED`, with the best finite image so far;
* out of memory: a :class:`~brushwork.core.errors.ResourceError` that says what to make smaller.

The loss is always computed on the image clamped to [0, 1], so the image returned is exactly the
one that was scored, and the best image seen is kept (a line search may try worse points).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .descent import LBFGS, Adam
from .device import memory_guard
from .outcome import Outcome, Stop
from .schedule import Method

__all__ = ["Evaluator", "LossFn", "Method", "Outcome", "Run", "Step", "Stop", "optimise"]

#: A loss function as the loop sees it: image in [0, 1] → (scalar loss, named parts for display).
LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


class _NonFinite(Exception):
    """Raised from inside a step, whose line search cannot cope with a non-finite value."""

    def __init__(self, loss: float) -> None:
        super().__init__(f"the loss became {loss}")
        self.loss = loss


class Evaluator:
    """Loss-and-gradient closure with a one-entry cache, which keeps the best image seen.

    torch's L-BFGS re-evaluates the loss at the start of every ``step`` call; when the point is
    the one the line search just evaluated, the cache answers instead of a second VGG pass.
    """

    def __init__(self, loss_fn: LossFn, param: torch.Tensor) -> None:
        self.loss_fn, self.param = loss_fn, param
        self.evaluations = 0
        self._x: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._grad: torch.Tensor | None = None
        self.parts: dict[str, float] = {}
        self.best: tuple[float, torch.Tensor] | None = None

    def __call__(self) -> torch.Tensor:
        p = self.param
        if self._x is not None and torch.equal(self._x, p.detach()):
            p.grad = self._grad.clone()
            return self._loss
        if p.grad is not None:
            p.grad = None
        clamped = p.clamp(0, 1)  # the loss sees exactly the image that will be saved
        loss, parts = self.loss_fn(clamped)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _NonFinite(value)
        loss.backward()
        self.evaluations += 1
        if self.best is None or value < self.best[0]:
            self.best = (value, clamped.detach().clone())
        self._x, self._loss, self._grad = p.detach().clone(), loss.detach(), p.grad.detach().clone()
        self.parts = parts
        return loss

    def best_image(self) -> torch.Tensor:
        """The best image evaluated so far (the current parameter, clamped, before any)."""
        return self.best[1] if self.best else self.param.detach().clamp(0, 1)


@dataclass
class Step:
    """What a progress callback learns after each iteration."""

    iteration: int
    """Iterations done in this run (1 after the first)."""
    loss: float
    parts: dict[str, float]
    best: Callable[[], torch.Tensor]
    """The best image so far (1×C×H×W in [0, 1]); computing nothing until called."""


@dataclass
class Run:
    """What :func:`optimise` did."""

    image: torch.Tensor
    """The best image seen, clamped to [0, 1] (the start image if nothing was evaluated)."""
    stopped: Outcome | None = None
    iterations: int = 0
    evaluations: int = 0
    losses: list[float] = field(default_factory=list)


def optimise(loss_fn: LossFn, start: torch.Tensor, iterations: int, method: Method = Method(), *,
             grad_mask: torch.Tensor | None = None, on_step: Callable[[Step], None] | None = None,
             what: str = "optimising", counted_before: int = 0, where: str = "") -> Run:
    """Optimise the pixels of ``start`` (1×C×H×W in [0, 1]) for ``iterations`` iterations.

    ``grad_mask`` (broadcastable to ``start``) restricts the change to where it is non-zero: the
    gradient is masked, so L-BFGS's directions, combinations of gradients, never move a pixel
    outside.  ``on_step`` is called after every iteration.  ``counted_before`` (iterations done
    by earlier runs of the same job) and ``where`` ("in tile …") only shape the outcome's message.
    """
    if iterations <= 0:
        return Run(image=start.detach().clamp(0, 1))
    param = start.detach().clone().requires_grad_(True)
    if grad_mask is not None:
        mask = grad_mask.to(param.dtype)
        param.register_hook(lambda g: g * mask)
    evaluator = Evaluator(loss_fn, param)
    run = Run(image=start.detach().clamp(0, 1))
    try:
        with memory_guard(what):
            optimizer = _make(method, param, evaluator)
            struggled = 0  # L-BFGS steps in a row whose line search struggled
            for _ in range(iterations):
                if isinstance(optimizer, LBFGS):
                    loss = optimizer.step()
                    struggled = struggled + 1 if optimizer.struggled else 0
                    # Such steps cost up to 25 VGG passes each for nothing (the tail of a
                    # 1000-iteration run at 512 px: 10 s an iteration, no visible gain): restart
                    # from the plain gradient once, and stop if that struggles too.  A step that
                    # did not move would be repeated exactly when there is no restart.
                    if struggled > 1 or (not optimizer.moved and not method.restart):
                        break
                    if method.restart and (struggled or (run.losses and loss >= run.losses[-1])):
                        optimizer.reset()
                else:
                    optimizer.step()
                    with torch.no_grad():
                        param.clamp_(0, 1)  # loss-neutral (the loss sees the clamped image)
                    optimizer.lr *= method.lr_decay
                    loss = float(evaluator().detach())  # the next step starts here (cached)
                run.iterations += 1
                run.losses.append(loss)
                if on_step is not None:
                    on_step(Step(run.iterations, loss, dict(evaluator.parts), evaluator.best_image))
                h = run.losses
                if method.stall_tolerance and len(h) > 10 and h[-11] - h[-1] < method.stall_tolerance * abs(h[-11]):
                    break
    except KeyboardInterrupt:  # in a step or in the progress callback
        run.stopped = Outcome(Stop.INTERRUPTED, counted_before + run.iterations)
    except _NonFinite as exc:
        run.stopped = Outcome(Stop.DIVERGED, counted_before + run.iterations + 1, exc.loss, where)
    run.image = evaluator.best_image()
    run.evaluations = evaluator.evaluations
    return run


def _make(method: Method, param: torch.Tensor, evaluator: Evaluator) -> LBFGS | Adam:
    if method.name == "adam":
        return Adam(param, evaluator, method.learning_rate)
    return LBFGS(param, evaluator)
