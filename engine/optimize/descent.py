"""Descent for the fitting stages: :func:`adam` (K starts side by side, the best point kept;
several calls as one batch: :func:`descend`) on
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
    # the flash render of ``u``'s maps at ``info["maps_px"]``, full size, where a step made it
    # (Stage "detail", step "relief"): its look from another view without rendering it again
    image: torch.Tensor | None = None


@dataclass
class Descent:
    """One call of :func:`adam`: everything a descent needs. :func:`descend` runs several at once
    (restarts of one graph, side by side in one batch: ``batching``) when their keys
    (:meth:`key`) are equal: the same fit (graph, photo, resolutions), parameters, schedule,
    loss and pattern functions, so that their rows differ only in the values they start from."""

    fit: Fit
    u0: torch.Tensor
    idx: Sequence[int]
    loss_fn: LossFn
    steps: int
    lr: float
    halve_every: int | None
    reporter: Reporter
    stage: str
    generators: Mapping[str, PatternFn] | None = None
    patterns: Mapping[str, torch.Tensor] | None = None
    moments: Moments | None = None
    offset: torch.Tensor | None = None  # added to every render before the loss (Stage "detail")

    def key(self) -> tuple | None:
        """Equal for descents :func:`descend` may run as one batch; ``None``: this one runs
        alone (a loss that is not a :class:`~.fit.Fit`'s own method, a pattern function that
        does not say what it computes)."""
        loss = self.loss_fn
        owner = getattr(loss, "__self__", None)
        if owner is None or getattr(owner, "batch_key", None) is None or owner.batch_key() != self.fit.batch_key():
            return None
        gens = None
        if self.generators is not None:
            gens = tuple(sorted((slot, getattr(fn, "batch_key", None)) for slot, fn in self.generators.items()))
            if any(k is None for _, k in gens):
                return None
        return (self.fit.batch_key(), tuple(int(i) for i in self.idx), int(self.steps), float(self.lr),
                self.halve_every, self.stage, loss.__func__, gens,
                None if self.patterns is None else tuple(sorted(self.patterns)),
                None if self.moments is None else int(self.moments.steps), self.offset is None)


def adam(fit: Fit, u0: torch.Tensor, idx: Sequence[int], loss_fn: LossFn, *, steps: int, lr: float,
         halve_every: int | None, reporter: Reporter, stage: str,
         generators: Mapping[str, PatternFn] | None = None,
         patterns: Mapping[str, torch.Tensor] | None = None,
         moments: Moments | None = None, offset: torch.Tensor | None = None) -> StageResult:
    """Adam on the entries ``idx`` of ``u0`` (K, P): K independent starts optimised side by
    side in one batch. Returns the best point seen over all rows and steps (the starts
    included), so an optimisation never hands on something worse than it got; ``start`` is
    row 0's starting loss, ``curve`` the best row's loss per step; ``moments``: the kept row's
    Adam state after the last step. ``offset``: added to the render before ``loss_fn``.

    ``moments`` (from an earlier result over the same ``idx``): continue that descent's Adam
    state instead of starting afresh. Why: a fresh Adam's first steps move every parameter by
    about ``lr`` at once (the update is ``m / sqrt(v)``, +-1 when both hold one gradient); near a
    converged point that throws the loss up (Stage III's switch to the sharper fit: 0.022 ->
    0.072, and ~45 of its 125 steps spent climbing back; docs/BENCHMARKS.md, session 16).

    Inside a thread of :func:`~.batching.run_together`, the call waits for the run's other
    threads and descends together with those that ask for the same descent (:meth:`Descent.key`);
    each gets what it would have got alone."""
    from .batching import current  # batching imports this module

    job = Descent(fit, u0, idx, loss_fn, steps, lr, halve_every, reporter, stage, generators, patterns,
                  moments, offset)
    together = current()
    return together.submit(job) if together is not None else descend([job])[0]


def _stack(jobs: Sequence[Descent], rows: Sequence[int], get) -> torch.Tensor | None:
    """One tensor per job (batch 1 or its own rows, or ``None``) stacked for all rows."""
    parts = [get(j) for j in jobs]
    if parts[0] is None:
        return None
    if len(jobs) == 1:
        return parts[0]
    return torch.cat([p.expand(n, *p.shape[1:]) if p.shape[0] == 1 else p for p, n in zip(parts, rows)])


def descend(jobs: Sequence[Descent]) -> list[StageResult]:
    """Run ``jobs`` (descents with equal :meth:`Descent.key`, or one alone) as one batch of all
    their rows; each job's result is what :func:`adam` gives it alone (the rows of one batch are
    independent: a row's render, loss and gradient do not depend on the others)."""
    t0 = time.perf_counter()
    j0 = jobs[0]
    fit, idx, steps = j0.fit, j0.idx, j0.steps
    rows = [int(j.u0.shape[0]) for j in jobs]
    ends = [sum(rows[:i + 1]) for i in range(len(rows))]
    segs = [slice(e - n, e) for e, n in zip(ends, rows)]
    u0 = torch.cat([j.u0.detach() for j in jobs]).clone()
    idx_t = torch.tensor(list(idx), dtype=torch.long, device=u0.device)
    patterns = None if j0.patterns is None else {
        k: _stack(jobs, rows, lambda j, k=k: j.patterns[k]) for k in j0.patterns}
    offset = _stack(jobs, rows, lambda j: j.offset)
    loss_fn, generators = j0.loss_fn, j0.generators

    def objective(v: torch.Tensor) -> torch.Tensor:  # (N,) losses
        u = u0.index_copy(1, idx_t, v) if len(idx) else u0
        img = fit.render(u, generators=generators, patterns=patterns)
        return loss_fn(img if offset is None else img + offset).reshape(-1)

    if len(idx) == 0 or steps <= 0:
        with torch.no_grad():
            losses = objective(u0[:, idx_t])
        out = []
        for j, s in zip(jobs, segs):
            k = int(torch.argmin(losses[s]))
            start, best = float(losses[s][0]), float(losses[s][k])
            out.append(StageResult(u0[s][k:k + 1].clone(), start, best, [best], {"steps": 0},
                                   time.perf_counter() - t0))
        return out
    v = u0[:, idx_t].clone().requires_grad_(True)
    opt = Adam(v, j0.lr, j0.halve_every)
    if j0.moments is not None:
        opt.load(j0.moments)
        if len(jobs) > 1:
            opt.m = _stack(jobs, rows, lambda j: j.moments.m.to(v)).clone()
            opt.v = _stack(jobs, rows, lambda j: j.moments.v.to(v)).clone()
    best_v = v.detach().clone()
    best = torch.full((v.shape[0],), float("inf"))
    curves: list[list[float]] = [[] for _ in jobs]
    starts: list[float | None] = [None for _ in jobs]
    nonfinite = [0 for _ in jobs]
    for step in range(steps):
        for j, c in zip(jobs, curves):
            j.reporter.step(j.stage, step, steps, c[-1] if c else None)
        opt.zero_grad()
        losses = objective(v)
        values = losses.detach().cpu()
        for i, s in enumerate(segs):
            starts[i] = float(values[s][0]) if starts[i] is None else starts[i]
            curves[i].append(float(values[s].min()))
        better = values < best  # the loss of the parameters *before* this update
        best = torch.where(better, values, best)
        best_v[better.to(v.device)] = v.detach()[better.to(v.device)]
        losses.sum().backward()  # rows are independent: each gets its own gradient
        finite = torch.isfinite(v.grad)
        if not bool(finite.all()):
            # a NaN/inf gradient (a degenerate point of some node) must not poison the
            # parameters or Adam's moments: those entries get no update this step
            v.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
            for i, s in enumerate(segs):
                nonfinite[i] += 0 if bool(finite[s].all()) else 1
        opt.step()
        with torch.no_grad():
            if len(jobs) == 1:
                v.copy_(fit.keep_in_range(v, idx))
            else:  # each job's own count windows
                for j, s in zip(jobs, segs):
                    v[s] = j.fit.keep_in_range(v[s], idx)
    with torch.no_grad():
        values = objective(v).cpu()
    better = values < best
    best = torch.where(better, values, best)
    best_v[better.to(v.device)] = v.detach()[better.to(v.device)]
    out = []
    seconds = time.perf_counter() - t0
    for i, (j, s) in enumerate(zip(jobs, segs)):
        curves[i].append(float(values[s].min()))
        k = int(torch.argmin(best[s]))
        j.reporter.step(j.stage, steps, steps, float(best[s][k]))
        u = u0[s][k:k + 1].index_copy(1, idx_t, best_v[s][k:k + 1])
        info = {"steps": steps, "lr": j.lr, "halve_every": j.halve_every}
        if nonfinite[i]:
            info["nonfinite_gradient_steps"] = nonfinite[i]
        if rows[i] > 1:
            info.update({"starts": rows[i], "best_start": k})
        if len(jobs) > 1:
            info["batched_with"] = len(jobs) - 1
        out.append(StageResult(u, float(starts[i]), float(best[s][k]), curves[i], info, seconds,
                               moments=opt.state(s.start + k)))
    return out
