"""Adam for the fitting stages: one parameter tensor, a learning rate halved every ``halve_every``
steps (or constant).

The same update as ``torch.optim.Adam`` with its defaults (betas 0.9 / 0.999, eps 1e-8, no
weight decay; ``tests/test_optimize`` checks the two agree). Why not ``torch.optim``: creating
its first optimiser in a process imports ``torch._dynamo`` (``Optimizer.__init__`` is wrapped to
keep the compiler out), 1.5 s on the dev CPU, paid by every ``proceduralize`` command, every
worker process and the add-on's engine server; a fast fit takes ~20 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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
