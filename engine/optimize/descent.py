"""Descent for the fitting stages: :func:`adam` (K starts side by side, the best point kept) on
:class:`Adam` (one parameter tensor, a learning rate halved every ``halve_every`` steps, or
constant), and :class:`StageResult`, what every stage hands on.

The same update as ``torch.optim.Adam`` with its defaults (betas 0.9 / 0.999, eps 1e-8, no
weight decay; ``tests/test_optimize`` checks the two agree). Why not ``torch.optim``: creating
its first optimiser in a process imports ``torch._dynamo`` (``Optimizer.__init__`` is wrapped to
keep the compiler out), 1.5 s on the dev CPU, paid by every ``proceduralize`` command, every
worker process and the add-on's engine server; a fast fit takes ~20 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import torch

if TYPE_CHECKING:
    from .control import Reporter
    from .fit import Fit, PatternFn

LossFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Moments:
    """One row of an :class:`Adam`'s state: first and second moments (1, N) and the steps
    taken (for the bias correction), to carry a descent on in a new one (:meth:`Adam.load`)."""

    m: torch.Tensor
    v: torch.Tensor
    steps: int


class Adam:
    """``step()`` moves ``param`` (a leaf tensor with ``.grad`` set) by one Adam update."""

    def __init__(self, param: torch.Tensor, lr: float, halve_every: int | None = None,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not lr >= 0:  # 0 is allowed, as by torch: the parameters then stay put
            raise ValueError(f"lr must be >= 0, got {lr!r}")
        self.param, self.lr, self.halve_every = param, float(lr), halve_every
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.steps = 0

    def current_lr(self) -> float:
        """The rate of the next step (halved every ``halve_every`` steps taken)."""
        return self.lr * 0.5 ** (self.steps // self.halve_every) if self.halve_every else self.lr

    @torch.no_grad()
    def step(self) -> None:
        g = self.param.grad
        if g is None:
            return
        lr = self.current_lr()
        self.steps += 1
        self.m.lerp_(g, 1.0 - self.beta1)
        self.v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
        step_size = lr / (1.0 - self.beta1 ** self.steps)
        denom = (self.v.sqrt() / math.sqrt(1.0 - self.beta2 ** self.steps)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-step_size)

    def state(self, row: int = 0) -> Moments:
        """Row ``row``'s moments (a copy) and the steps taken."""
        return Moments(self.m[row:row + 1].clone(), self.v[row:row + 1].clone(), self.steps)

    def load(self, moments: Moments) -> None:
        """Go on from ``moments`` (every row starts from the same state): the next step is
        the one that would have followed them; a ``halve_every`` schedule counts them too."""
        if moments.m.shape[-1] != self.param.shape[-1]:
            raise ValueError(f"moments for {moments.m.shape[-1]} parameters, this Adam has {self.param.shape[-1]}")
        self.m = moments.m.to(self.param).expand_as(self.param).clone()
        self.v = moments.v.to(self.param).expand_as(self.param).clone()
        self.steps = int(moments.steps)

    def zero_grad(self) -> None:
        self.param.grad = None


@dataclass
class StageResult:
    """What one stage did: ``u`` (1, P) normalised parameters it hands on; ``start``/``end``:
    its own objective before/after; ``curve``: objective per step; ``info``: notes (skipped,
    proxies used...); ``seconds``: wall time."""

    u: torch.Tensor
    start: float
    end: float
    curve: list[float] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    seconds: float = 0.0
    alternatives: torch.Tensor | None = None  # (K, P): the random search's K best, best first
    moments: Moments | None = None  # Adam's state at the end (:func:`adam`), to continue from


def adam(fit: Fit, u0: torch.Tensor, idx: Sequence[int], loss_fn: LossFn, *, steps: int, lr: float,
         halve_every: int | None, reporter: Reporter, stage: str,
         generators: Mapping[str, PatternFn] | None = None,
         patterns: Mapping[str, torch.Tensor] | None = None,
         moments: Moments | None = None) -> StageResult:
    """Adam on the entries ``idx`` of ``u0`` (K, P): K independent starts optimised side by
    side in one batch. Returns the best point seen over all rows and steps (the starts
    included), so an optimisation never hands on something worse than it got; ``start`` is
    row 0's starting loss, ``curve`` the best row's loss per step; ``moments``: the kept row's
    Adam state after the last step.

    ``moments`` (from an earlier result over the same ``idx``): continue that descent's Adam
    state instead of starting afresh. Why: a fresh Adam's first steps move every parameter by
    about ``lr`` at once (the update is ``m / sqrt(v)``, +-1 when both hold one gradient); near a
    converged point that throws the loss up (Stage III's switch to the sharper fit: 0.022 ->
    0.072, and ~45 of its 125 steps spent climbing back; docs/BENCHMARKS.md, session 16)."""
    t0 = time.perf_counter()
    u0 = u0.detach().clone()
    idx_t = torch.tensor(list(idx), dtype=torch.long, device=u0.device)

    def objective(v: torch.Tensor) -> torch.Tensor:  # (K,) losses
        u = u0.index_copy(1, idx_t, v) if len(idx) else u0
        return loss_fn(fit.render(u, generators=generators, patterns=patterns)).reshape(-1)

    if len(idx) == 0 or steps <= 0:
        with torch.no_grad():
            losses = objective(u0[:, idx_t])
        k = int(torch.argmin(losses))
        start, best = float(losses[0]), float(losses[k])
        return StageResult(u0[k:k + 1].clone(), start, best, [best], {"steps": 0}, time.perf_counter() - t0)
    v = u0[:, idx_t].clone().requires_grad_(True)
    opt = Adam(v, lr, halve_every)
    if moments is not None:
        opt.load(moments)
    best_v = v.detach().clone()
    best = torch.full((v.shape[0],), float("inf"))
    curve: list[float] = []
    start = None
    nonfinite = 0
    for step in range(steps):
        reporter.step(stage, step, steps, curve[-1] if curve else None)
        opt.zero_grad()
        losses = objective(v)
        values = losses.detach().cpu()
        start = float(values[0]) if start is None else start
        curve.append(float(values.min()))
        better = values < best  # the loss of the parameters *before* this update
        best = torch.where(better, values, best)
        best_v[better.to(v.device)] = v.detach()[better.to(v.device)]
        losses.sum().backward()  # rows are independent: each gets its own gradient
        if not bool(torch.isfinite(v.grad).all()):
            # a NaN/inf gradient (a degenerate point of some node) must not poison the
            # parameters or Adam's moments: those entries get no update this step
            v.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
            nonfinite += 1
        opt.step()
        with torch.no_grad():
            v.copy_(fit.keep_in_range(v, idx))
    with torch.no_grad():
        values = objective(v).cpu()
    curve.append(float(values.min()))
    better = values < best
    best = torch.where(better, values, best)
    best_v[better.to(v.device)] = v.detach()[better.to(v.device)]
    k = int(torch.argmin(best))
    reporter.step(stage, steps, steps, float(best[k]))
    u = u0[k:k + 1].index_copy(1, idx_t, best_v[k:k + 1])
    info = {"steps": steps, "lr": lr, "halve_every": halve_every}
    if nonfinite:
        info["nonfinite_gradient_steps"] = nonfinite
    if v.shape[0] > 1:
        info.update({"starts": v.shape[0], "best_start": k})
    return StageResult(u, float(start), float(best[k]), curve, info, time.perf_counter() - t0,
                       moments=opt.state(k))
