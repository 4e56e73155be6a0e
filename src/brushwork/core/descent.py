"""The two step rules the optimisation loop (:mod:`.optim`) uses: L-BFGS with a strong-Wolfe line
search, and Adam.

They are written here instead of taken from ``torch.optim`` for two reasons.  Constructing any
``torch.optim.Optimizer`` imports ``torch._dynamo`` (the compiler), which took 2.4 s of a 37 s
stylization on the project's 2-core CPU, paid again by every ``brushwork stylize`` process.  And
an image is not a generic parameter: L-BFGS's first step is aimed at a fixed change of the
brightest-changing pixel (``first_change``), where torch's rule (a step of 1/|g|₁) is so small
for images that the line search spends several VGG passes growing it.

Both work on one tensor in place, through ``evaluate()``: a closure that computes the loss at
the tensor's current value, leaves the gradient in its ``.grad`` and returns the loss (see
:class:`brushwork.core.optim.Evaluator`, which also keeps the best image seen).

L-BFGS follows Nocedal & Wright, *Numerical Optimization* (2nd ed.): the two-loop recursion
(Algorithm 7.4) with the initial scaling sᵀy / yᵀy, and the line search of Algorithms 3.5 and 3.6
(bracket, then zoom with safeguarded cubic interpolation) with c₁ = 1e-4, c₂ = 0.9.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Evaluate = Callable[[], torch.Tensor]


def _cubic_min(a: float, fa: float, ga: float, b: float, fb: float, gb: float) -> float | None:
    """Minimiser of the cubic through (a, fa) and (b, fb) with slopes ga and gb; None when the
    cubic has no minimum there (the caller bisects instead)."""
    if a == b:
        return None
    d1 = ga + gb - 3 * (fa - fb) / (a - b)
    disc = d1 * d1 - ga * gb
    if disc < 0:
        return None
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = gb - ga + 2 * d2
    if denom == 0:
        return None
    t = b - (b - a) * (gb + d2 - d1) / denom
    return t if math.isfinite(t) else None


class LBFGS:
    """Limited-memory BFGS on ``param``, one iteration per :meth:`step`.

    ``history`` curvature pairs are kept.  A step that is not a descent direction (stale pairs)
    falls back to the gradient with the history cleared; :meth:`reset` does the same on request.
    ``max_evals`` bounds the loss evaluations of one line search.
    """

    def __init__(self, param: torch.Tensor, evaluate: Evaluate, history: int = 50, first_change: float = 0.05,
                 max_evals: int = 25, c1: float = 1e-4, c2: float = 0.9) -> None:
        self.param, self.evaluate = param, evaluate
        self.history, self.first_change, self.max_evals = history, first_change, max_evals
        self.c1, self.c2 = c1, c2
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / yᵀs)
        self.x: torch.Tensor | None = None  # the current point, flat; its loss and gradient:
        self.loss = math.inf
        self.grad: torch.Tensor | None = None
        #: Whether the last :meth:`step` moved: False at a stationary point or when the line
        #: search found no lower point.
        self.moved = True
        #: Loss evaluations of the last line search.
        self.search_evals = 0

    @property
    def struggled(self) -> bool:
        """The last step found no lower point, or needed over half the line search's budget.

        Both mean the local model no longer predicts the loss, as happens once the loss has
        come down to its own rounding noise (bfloat16 VGG passes): at 512 px such searches took
        15–22 passes for a relative gain of 1e-5 or less, where every search before had taken one.
        """
        return not self.moved or self.search_evals > self.max_evals // 2

    def reset(self) -> None:
        """Forget the curvature pairs: the next step follows the gradient, sized by ``first_change``."""
        self.pairs.clear()

    def _value(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            self.param.copy_(x.view_as(self.param))
        loss = float(self.evaluate().detach())
        assert self.param.grad is not None
        return loss, self.param.grad.detach().reshape(-1).clone()

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        q = -g
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s.dot(q))
            q.add_(y, alpha=-a)
            alphas.append(a)
        s, y, _ = self.pairs[-1]
        q.mul_(float(s.dot(y)) / float(y.dot(y)))
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * float(y.dot(q))
            q.add_(s, alpha=a - b)
        return q

    def step(self) -> float:
        """One iteration; returns the loss where ``param`` now is."""
        if self.x is None or self.grad is None:
            self.x = self.param.detach().reshape(-1).clone()
            self.loss, self.grad = self._value(self.x)
        g = self.grad
        self.moved = False
        d = self._direction(g) if self.pairs else -g
        slope = float(g.dot(d))
        if not slope < 0:  # stale curvature: start again from the gradient
            self.pairs.clear()
            d, slope = -g, -float(g.dot(g))
            if slope == 0:
                return self.loss  # a stationary point
        if self.pairs:
            t = 1.0
        else:  # the largest-gradient pixel moves by first_change
            dmax = float(d.abs().max())
            t = self.first_change / dmax if dmax > 0 else 1.0
        t, loss, new_g = self._line_search(self.x, self.loss, slope, d, t)
        if t == 0.0:  # no lower point found: stay, and let the caller decide (it restarts)
            with torch.no_grad():
                self.param.copy_(self.x.view_as(self.param))
            return self.loss
        s = d.mul(t)
        y = new_g - g
        ys = float(y.dot(s))
        if ys > 1e-10:
            self.pairs.append((s, y, 1.0 / ys))
            if len(self.pairs) > self.history:
                self.pairs.pop(0)
        self.x = torch.add(self.x, d, alpha=t)
        with torch.no_grad():
            self.param.copy_(self.x.view_as(self.param))
        self.loss, self.grad, self.moved = loss, new_g, True
        return loss

    def _line_search(self, x0: torch.Tensor, f0: float, slope0: float, d: torch.Tensor,
                     t: float) -> tuple[float, float, torch.Tensor]:
        """A step length along ``d`` meeting the strong Wolfe conditions, with its loss and
        gradient; the lowest point seen when the evaluation budget runs out; (0, f0, ·) when no
        point was lower than the start."""
        c1, c2 = self.c1, self.c2
        dmax = float(d.abs().max())
        best: tuple[float, float, torch.Tensor] = (0.0, f0, torch.empty(0))

        self.search_evals = 0

        def probe(step: float) -> tuple[float, torch.Tensor, float]:
            nonlocal best
            self.search_evals += 1
            f, g = self._value(torch.add(x0, d, alpha=step))
            if f < best[1]:
                best = (step, f, g)
            return f, g, float(g.dot(d))

        evals = 0
        prev = (0.0, f0, slope0)
        lo = hi = None
        while evals < self.max_evals:
            f, g, slope = probe(t)
            evals += 1
            if f > f0 + c1 * t * slope0 or (evals > 1 and f >= prev[1]):
                lo, hi = prev, (t, f, slope)
                break
            if abs(slope) <= -c2 * slope0:
                return t, f, g
            if slope >= 0:
                lo, hi = (t, f, slope), prev
                break
            guess = _cubic_min(prev[0], prev[1], prev[2], t, f, slope)
            low, high = t + 0.01 * (t - prev[0]), 10 * t
            prev = (t, f, slope)
            t = high if guess is None else min(max(guess, low), high)
        if lo is None or hi is None:
            return best
        # zoom: lo is the lowest point meeting sufficient decrease, hi the other end of the bracket
        while evals < self.max_evals and abs(hi[0] - lo[0]) * dmax > 1e-9:
            left, right = min(lo[0], hi[0]), max(lo[0], hi[0])
            width = right - left
            guess = _cubic_min(*lo, *hi)
            if guess is None or not left + 0.1 * width <= guess <= right - 0.1 * width:
                guess = 0.5 * (left + right)
            f, g, slope = probe(guess)
            evals += 1
            if f > f0 + c1 * guess * slope0 or f >= lo[1]:
                hi = (guess, f, slope)
                continue
            if abs(slope) <= -c2 * slope0:
                return guess, f, g
            if slope * (hi[0] - lo[0]) >= 0:
                hi = lo
            lo = (guess, f, slope)
        return best


class Adam:
    """Adam (Kingma & Ba 2015) on ``param``: one loss evaluation and one update per :meth:`step`.

    ``lr`` may be changed between steps (the loop's per-iteration decay does).
    """

    def __init__(self, param: torch.Tensor, evaluate: Evaluate, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.evaluate, self.lr = param, evaluate, lr
        self.beta1, self.beta2, self.eps = *betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def step(self) -> None:
        """Evaluate at the current point and move ``param``; the caller evaluates the new point."""
        self.evaluate()
        assert self.param.grad is not None
        g = self.param.grad.detach()
        self.t += 1
        self.m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        denom = (self.v / (1 - self.beta2 ** self.t)).sqrt_().add_(self.eps)
        with torch.no_grad():
            self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - self.beta1 ** self.t))
