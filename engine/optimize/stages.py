"""The three stages of DiffProxy (Hu et al. 2022, Sec. 3.3), on a :class:`~.fit.Fit`.

* :func:`stage1`: filter parameters only, multi-scale style loss, Adam (paper lr 0.002) with the
  real generators' patterns computed once; reverted ("skipped") if it ends no better than it
  started. Before the descent, :func:`filter_search` picks the best of the current filter
  parameters and ``n`` prior samples of them (colour style loss, small renders). This is not in
  the paper: colour parameters such as an HSV hue have a local minimum gradient descent cannot
  leave (a wrong hue drives saturation to 0, after which the hue has no gradient), and
  graph authors' defaults (the paper's start) are as likely to sit in it as a prior sample.
* :func:`random_search` + :func:`stage2`: the best of ``n`` generator parameter sets from the
  artist prior by grayscale feature distance, then every parameter jointly through the proxies
  with feature + 0.05 x style, Adam lr 0.02 halved every ``halve_every`` steps. Without a proxy
  for a slot, that slot's generator parameters stay at the search's pick and its real pattern
  is used (filters-only when no slot has one), and this is recorded.
  ``mode="paper"`` renders the proxies' own patterns (the paper); ``mode="anchored"`` (the
  default, not in the paper) renders the *real* generators' patterns at the rounded parameters
  and takes only the gradient from the proxies (:class:`AnchoredProxy`, a straight-through
  estimator): a proxy that is only roughly right (see docs/BENCHMARKS.md) then still points the
  generator parameters downhill, while the loss, the best-point bookkeeping and the filter
  parameters tuned alongside all see the pattern the material will really have. Measured with
  the session-2 proxies (docs/BENCHMARKS.md): neither mode beats ``mode="off"`` yet.
  Stage II ends by judging three points with the real generators (the search's pick, the joint
  result, the joint result's filters on the pick's generator parameters) and keeps the best.
* :func:`local_search` (not in the paper): a compass search over the generator parameters on
  the real generators, Stage II's objective, filters fixed; see its docstring.
* :func:`stage3`: real generators back, discrete parameters rounded, filter fine-tuning with the
  style loss (paper lr 0.002), again never ending worse than it started; in ``balanced`` and
  ``full`` Stage I's result (the start's structure) is fine-tuned alongside and the better
  end kept (not in the paper; see its docstring).
* :func:`detail` (not in the paper; run once on the chosen graph): the filters tuned towards the
  look of the maps at the export's size rather than the fit's small maps; see its docstring.

Every stage returns a :class:`StageResult`; every step polls the reporter (cancellation,
progress). All parameters move in normalised [0, 1] space and are clamped after each step (a
periodic one, a hue, wraps around instead: ``Fit.keep_in_range``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch

from .control import Reporter
from .descent import Adam, Moments
from .fit import Fit, PatternFn

LossFn = Callable[[torch.Tensor], torch.Tensor]


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


@torch.no_grad()
def filter_search(fit: Fit, u: torch.Tensor, n: int, reporter: Reporter, generator: torch.Generator,
                  batch: int = 8, stage: str = "stage1") -> StageResult:
    """Best of the current filter parameters (all of them, discrete ones included) and ``n``
    samples, by colour style loss at the search resolution; generator parameters fixed. Half the
    samples come from the artist prior, half uniformly from the ranges: a photo's colours need
    not be among those a graph's author had in mind (blue denim under a stone graph). A pick is
    kept only if it also beats the current parameters at the fit's own resolution: at the small
    one it can beat the true parameters (16 synthetic targets started *at* their own parameters,
    ``fast``: the 64 px search replaced them on several, judged style loss up to 0.28).
    ``info["small_res_pick"]`` records a pick that was tried."""
    t0 = time.perf_counter()
    res = fit.preset.search_res
    cands = u.detach().repeat(n + 1, 1)
    fidx = fit.all_filter_idx
    if n > 0 and fidx:
        fspec = fit.graph.filter_spec
        k = n - n // 2
        samples = torch.cat([fspec.normalize(fspec.sample(k, generator=generator, prior=True)),
                             fspec.normalize(fspec.sample(n - k, generator=generator, prior=False))]).to(u.device)
        cands[1:] = cands[1:].index_copy(1, torch.tensor(fidx, device=u.device), samples)
    pats = fit.patterns(u, res=res)
    losses = torch.empty(n + 1)
    for i in range(0, n + 1, batch):
        reporter.step(stage, i, n + 1, float(losses[:i].min()) if i else None)
        losses[i:i + batch] = fit.small_style(fit.render(cands[i:i + batch], res=res, patterns=pats)).cpu()
    best = int(torch.argmin(losses))
    info = {"samples": n, "picked": best}
    if best > 0:
        # the pick must also beat the current parameters at the stage's own resolution
        full = fit.style(fit.render(cands[[0, best]], patterns=fit.patterns(u))).cpu()
        info["small_res_pick"] = best
        if not full[1] < full[0]:
            best = 0
            info["picked"] = 0
    return StageResult(cands[best:best + 1].clone(), float(losses[0]), float(losses[best]),
                       torch.cummin(losses, 0).values.tolist(), info, time.perf_counter() - t0)


def stage1(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
           stage: str = "stage1", search: int = 0, generator: torch.Generator | None = None,
           also: torch.Tensor | None = None) -> StageResult:
    """Filters only, style loss, real generators (patterns cached); reverted if no better.
    With ``search > 0`` the descent starts from :func:`filter_search`'s pick when that is better
    at full resolution. ``also`` (1, P): a second point descended side by side (one batch of
    two, :func:`adam`), the better end kept (``info["kept"]``: ``"main"`` or ``"also"``); see
    :func:`stage3`."""
    t0 = time.perf_counter()
    info: dict = {}
    if search > 0:
        fs = filter_search(fit, u, search, reporter, generator or torch.Generator().manual_seed(0),
                           stage=stage)
        info = {"filter_search_samples": search, "filter_search_picked": fs.info["picked"]}
        u_start = fs.u
    else:
        u_start = u
    handed, rows = u, u_start
    if also is not None:
        handed, rows = torch.cat([u, also[:1]]), torch.cat([u_start, also[:1]])
    with torch.no_grad():
        pats = fit.patterns(rows)
        before = fit.style(fit.render(handed, patterns=pats)).cpu()
    r = adam(fit, rows, fit.filter_idx, fit.style, steps=steps, lr=lr, halve_every=None,
             reporter=reporter, stage=stage, patterns=pats)
    k = int(r.info.pop("best_start", 0))
    r.info.pop("starts", None)
    r.info.update(info)
    r.start = float(before[0])  # the stage's start is what it was handed, not the search's pick
    r.info["skipped"] = not r.end < float(before.min())
    if r.info["skipped"]:
        k = int(torch.argmin(before))
        r.u = handed[k:k + 1].detach().clone()
        r.end = float(before[k])
        r.moments = None  # they belong to a descent that was not kept
        reporter.message(stage, "did not improve on the start; skipped (parameters reverted)")
    if also is not None:
        r.info.update({"kept": ("main", "also")[k], "also_start": float(before[1])})
        if k == 1:
            reporter.message(stage, "the start's structure, fine-tuned alongside, ended lower; keeping it")
    r.seconds = time.perf_counter() - t0
    return r


@torch.no_grad()
def estimate_start(fit: Fit, u: torch.Tensor, reporter: Reporter, stage: str = "estimate",
                   window: bool = True) -> StageResult:
    """The parameter estimator's guess (``diffproxy.estimator``; not in the paper) against the
    start point ``u`` (1, P), by the colour style loss on the real generators; the lower one is
    handed on, and the guess is also returned in ``alternatives`` (one more candidate of the
    random search, which judges structure by grayscale features under Stage I's filters). The
    guess's random seeds are the start's: no image tells a seed (the seed search finds them).
    With ``window``, the guess's counts also bound the structure searches from here on
    (``estimator.count_windows``, ``Fit.set_windows``; ``info["windows"]``), and a start
    outside them is moved to their nearest end before the comparison. Why: on real photos the
    losses preferred a wrong scale that the guess had right (the red brick wall: 2 courses
    for the photo's 4; docs/BENCHMARKS.md, session 11). Without a usable estimator (missing,
    or trained without this graph) ``u`` is handed on and the reason reported."""
    from ..estimator import EstimatorUnavailable, count_windows, estimate

    t0 = time.perf_counter()
    start = float(fit.style(fit.render(u[:1])))
    try:
        guess = estimate(fit.photo, fit.graph, fit.device).to(u.device)
    except EstimatorUnavailable as e:
        reporter.message(stage, f"{e}; starting from the graph ranking's sample")
        return StageResult(u[:1].clone(), start, start, [start], {"used": False, "reason": str(e)},
                           time.perf_counter() - t0)
    seeds = [i for i, p in enumerate(fit.spec) if p.seed]
    guess[:, seeds] = u[:1, seeds]
    guess = fit.normalize(fit.spec.round(fit.natural(guess)))
    info: dict = {"used": True}
    u = u[:1].clone()
    if window:
        fit.set_windows(count_windows(fit.graph, guess))
        info["windows"] = {k: list(v) for k, v in fit.windows.items()}
        moved = fit.into_window(u)
        if not torch.equal(moved, u):
            u = moved
            start = float(fit.style(fit.render(u)))
            info["start_moved_into_windows"] = True
        if fit.windows:
            reporter.message(stage, "counts kept near the guess: " + ", ".join(
                f"{k.split('.')[-1]} {a}" + (f"-{b}" if b != a else "") for k, (a, b) in fit.windows.items()))
    loss = float(fit.style(fit.render(guess)))
    kept = "estimate" if loss < start else "start"
    reporter.message(stage, f"the parameter estimator's guess: style {loss:.4f} against the start's {start:.4f}; "
                            f"starting from the {'guess' if kept == 'estimate' else 'ranking sample'}")
    info.update({"kept": kept, "guess_style": loss})
    return StageResult(guess if kept == "estimate" else u, start, min(loss, start), [start, min(loss, start)],
                       info, time.perf_counter() - t0, alternatives=guess)


@torch.no_grad()
def random_search(fit: Fit, u: torch.Tensor, n: int, reporter: Reporter, generator: torch.Generator,
                  batch: int = 8, stage: str = "search", keep: int = 1,
                  extra: torch.Tensor | None = None) -> StageResult:
    """Best of the current generator parameters, ``n`` prior samples and the generator
    parameters of the rows of ``extra`` (K, P) (the parameter estimator's guess), by grayscale
    feature + 0.05 x style distance at the search resolution (filter parameters unchanged);
    the ``keep`` best go to ``alternatives`` (Stage II's starts)."""
    t0 = time.perf_counter()
    gspec = fit.graph.generator_spec
    m = 0 if extra is None else len(extra)
    cands = u.detach().repeat(n + m + 1, 1)
    idx = torch.tensor(fit.gen_idx, device=u.device, dtype=torch.long)
    if n > 0 and len(fit.gen_idx):
        samples = gspec.sample(n, generator=generator, prior=True)
        cands[1:n + 1] = fit.into_window(cands[1:n + 1].index_copy(1, idx, gspec.normalize(samples).to(u.device)),
                                         generator)
    if m:
        cands[n + 1:] = cands[n + 1:].index_copy(1, idx, extra[:, idx].to(u.device))
    n += m
    losses = torch.empty(n + 1)
    res = fit.preset.search_res
    for i in range(0, n + 1, batch):
        reporter.step(stage, i, n + 1, float(losses[:i].min()) if i else None)
        losses[i:i + batch] = fit.gray(fit.render(cands[i:i + batch], res=res)).cpu()
    best = int(torch.argmin(losses))
    reporter.step(stage, n + 1, n + 1, float(losses[best]))
    curve = torch.cummin(losses, 0).values.tolist()
    order = torch.argsort(losses)[:max(1, keep)].to(cands.device)
    return StageResult(cands[best:best + 1].clone(), float(losses[0]), float(losses[best]), curve,
                       {"samples": n - m, "picked": best, "picked_prior_sample": 0 < best <= n - m,
                        **({"picked_estimate": best > n - m} if m else {})},
                       time.perf_counter() - t0, alternatives=cands[order].clone())


class AnchoredProxy:
    """A slot's pattern function for Stage II's ``anchored`` mode: the forward value is the real
    generator's pattern at the rounded parameters, the gradient the proxy's
    (``real + proxy - proxy.detach()``)."""

    def __init__(self, proxy, generator):
        self.proxy, self.generator = proxy, generator

    def __call__(self, params, res: int) -> torch.Tensor:
        approx = self.proxy(params, res)
        with torch.no_grad():
            real = self.generator(self.generator.spec.round(params), res)
        return real + (approx - approx.detach())


def load_proxies(fit: Fit, reporter: Reporter, stage: str = "stage2",
                 mode: str = "anchored") -> tuple[dict[str, PatternFn], dict[str, str]]:
    """``{slot: pattern function}`` for the slots whose generator has a usable proxy (wrapped in
    :class:`AnchoredProxy` in ``anchored`` mode), and ``{slot: "ok" | reason}`` for every slot
    (reasons are reported as progress messages). ``mode="off"``: none."""
    from ..generators import get_generator
    from ..proxies import ProxyUnavailable, load_proxy

    proxies: dict[str, PatternFn] = {}
    status: dict[str, str] = {}
    for slot, gen_name in fit.graph.slots.items():
        if mode == "off":
            status[slot] = "off"
            continue
        try:
            proxy = load_proxy(gen_name, fit.device)
        except ProxyUnavailable as e:
            status[slot] = f"unavailable: {e}"
            reporter.message(stage, f"no proxy for slot {slot!r} ({gen_name}): {e}; its generator "
                                    f"parameters stay at the random search's pick")
            continue
        proxies[slot] = AnchoredProxy(proxy, get_generator(gen_name)) if mode == "anchored" else proxy
        status[slot] = "ok"
    return proxies, status


def stage2(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float, halve_every: int,
           stage: str = "stage2", mode: str = "anchored") -> StageResult:
    """Joint optimisation through the proxies (see the module docstring), judged afterwards
    with the real generators against the starting point. ``u`` may hold several starts
    ``(K, P)`` (the random search's best first), optimised side by side; the best end point
    over all of them is kept, and judged against row 0."""
    t0 = time.perf_counter()
    proxies, status = load_proxies(fit, reporter, stage, mode)
    slots = list(fit.graph.slots)
    missing = [s for s in slots if s not in proxies]
    with torch.no_grad():
        real = fit.patterns(u) if missing else {}
    # a slot without a proxy keeps its real pattern (fixed generator parameters)
    gens: dict[str, PatternFn] = dict(proxies)
    for s in missing:
        gens[s] = (lambda pat: (lambda params, res: pat.expand(next(iter(params.values())).shape[0], -1, -1, -1)))(real[s])
    gen_names = set()
    for s in proxies:
        gen_names.update(i for i, p in enumerate(fit.spec) if p.name.startswith(s + "."))
    idx = sorted(set(fit.filter_idx) | (gen_names & set(fit.gen_idx)))
    if not proxies:
        why = "proxies off" if mode == "off" else "no proxy available for any slot"
        reporter.message(stage, f"{why}: optimising filter parameters only "
                                "(generators fixed at the random search's pick)")
    r = adam(fit, u, idx, fit.joint, steps=steps, lr=lr, halve_every=halve_every, reporter=reporter,
             stage=stage, generators=gens)
    r.info.update({"proxies": status, "mode": "joint" if proxies else "filters_only",
                   "proxy_mode": mode})
    # the proxies are approximations: judge with the real generators the search's pick, the
    # joint result, and the joint result's filters on the pick's generator parameters (the
    # filters tuned alongside may be what improved, while the proxies moved the generator
    # parameters the wrong way); keep the best
    u = u[:1]  # the search's pick: what the joint result must beat
    filters_only = r.u.clone()
    if gen_names:
        keep = torch.tensor(sorted(gen_names & set(fit.gen_idx)), device=u.device)
        filters_only[:, keep] = u[:, keep]
    with torch.no_grad():
        real = fit.joint(fit.render(torch.cat([u, r.u, filters_only]))).cpu().tolist()
    real_start, real_end, real_filters = real
    r.info.update({"real_start": real_start, "real_end": real_end, "proxy_start": r.start,
                   "proxy_end": r.end})
    if gen_names:
        r.info["real_filters_only"] = real_filters
    best = min(range(3 if gen_names else 2), key=lambda k: (real[k], k))
    r.info["kept"] = ("search", "joint", "filters")[best]
    if best == 0:
        reporter.message(stage, "with the real generators the joint result was not better than the "
                                "search's pick; keeping the pick")
        r.u = u.detach().clone()
    elif best == 2:
        reporter.message(stage, "with the real generators the proxies' moves of the generator "
                                "parameters did not help; keeping only the tuned filters")
        r.u = filters_only
    r.start, r.end = real_start, real[best]
    r.seconds = time.perf_counter() - t0
    return r


@torch.no_grad()
def _batch_losses(fit: Fit, cands: torch.Tensor, batch: int, loss: LossFn) -> torch.Tensor:
    """``loss`` (e.g. Stage II's objective, ``fit.joint``) of every row of ``cands`` (N, P), real
    generators, ``batch`` renders at a time; (N,) on the CPU."""
    return torch.cat([loss(fit.render(cands[i:i + batch])).cpu() for i in range(0, len(cands), batch)])


@torch.no_grad()
def _try_values(fit: Fit, u: torch.Tensor, best: float, i: int, values: torch.Tensor,
                batch: int, loss: LossFn) -> tuple[torch.Tensor, float, bool]:
    """``u`` (1, P) with parameter ``i`` set to each of ``values`` (normalised), scored by
    :func:`_batch_losses`; the best of them if it beats ``best``. Returns ``(u, best, moved)``."""
    cands = u.repeat(len(values), 1)
    cands[:, i] = values
    losses = _batch_losses(fit, cands, batch, loss)
    k = int(torch.argmin(losses))
    if float(losses[k]) < best:
        return cands[k:k + 1].clone(), float(losses[k]), True
    return u, best, False


def _neighbours(fit: Fit, u: torch.Tensor, step: float) -> tuple[torch.Tensor, list[tuple[int, float]]]:
    """One compass step away from ``u`` (1, P) along every generator parameter: a continuous one
    moved by ``step`` (normalised) either way, an integer one to the next value either way that
    its prior can draw (brick ``rows`` go 2 at a time), a bool or choice to each other value.
    Returns the candidates (N, P) and ``(parameter index, new normalised value)`` per row."""
    params = list(fit.spec)
    cands: list[torch.Tensor] = []
    moves: list[tuple[int, float]] = []
    for i in fit.gen_idx:
        p, x = params[i], float(u[0, i])
        if not p.discrete:
            values = [min(1.0, x + step), max(0.0, x - step)]
        else:
            span = max(p.high - p.low, 1e-12)
            level = int(round(x * span))
            allowed = p.allowed_levels
            if p.kind == "int":
                up = [k for k in allowed if k > level]
                down = [k for k in allowed if k < level]
                levels = ([min(up)] if up else []) + ([max(down)] if down else [])
            else:
                levels = [k for k in allowed if k != level]
            values = [k / span for k in levels]
        for v in values:
            if abs(v - x) < 1e-9 or not fit.in_window(i, v):
                continue
            c = u.clone()
            c[0, i] = v
            cands.append(c)
            moves.append((i, v))
    return (torch.cat(cands) if cands else u[:0]), moves


@torch.no_grad()
def local_search(fit: Fit, u: torch.Tensor, reporter: Reporter, sweeps: int, step: float = 0.1,
                 min_step: float = 0.0125, batch: int = 8, stage: str = "local",
                 loss: LossFn | None = None) -> StageResult:
    """Compass search over the generator parameters on the *real* generators, Stage II's
    objective (feature + 0.05 x style), filters fixed. Not in the paper. Each sweep tries one
    step either way along every generator parameter (:func:`_neighbours`), then all the
    improving steps together, and moves to the best of these if it beats the current point;
    a sweep that finds nothing halves the continuous step, and the search ends at
    ``min_step`` or after ``sweeps`` sweeps.

    Why: the real generators' one-value steps of the counts that set a pattern's scale go the
    right way 89-100 % of the time, the shipped proxies' gradients 9-69 %, and in Stage II's
    anchored form not even an exact Jacobian would get them right (``proxy-eval``'s descent
    agreement and its ``ideal_anchored`` figure, docs/BENCHMARKS.md); a sweep costs only one
    no-gradient render per neighbour (8-16 generator parameters, ~20-50 ms each at the fast
    and balanced presets' resolutions on a 2-core CPU). The style loss alone as the objective
    (Stage III's) was measured too (``bench --synthetic 30 --preset fast``, mean style /
    feature 0.0949 / 0.367 against 0.0981 / 0.348 with Stage II's objective, discrete accuracy
    0.27 vs 0.36) and not kept. ``loss``: another objective (e.g. ``fit.style``: :func:`polish`).
    """
    t0 = time.perf_counter()
    loss_fn = loss or fit.joint
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    best = float(loss_fn(fit.render(u)))
    start, curve, evals, moved = best, [best], 1, 0
    for sweep in range(max(0, sweeps)):
        reporter.step(stage, sweep, sweeps, best)
        cands, moves = _neighbours(fit, u, step)
        if not moves:
            break
        losses = _batch_losses(fit, cands, batch, loss_fn)
        evals += len(moves)
        # every improving step together (the best one per parameter)
        per_param: dict[int, int] = {}
        for k, (i, _) in enumerate(moves):
            if losses[k] < best and (i not in per_param or losses[k] < losses[per_param[i]]):
                per_param[i] = k
        k = int(torch.argmin(losses))
        cand, loss = cands[k:k + 1], float(losses[k])
        if len(per_param) > 1:
            together = u.clone()
            for i, kk in per_param.items():
                together[0, i] = moves[kk][1]
            together_loss = float(loss_fn(fit.render(together)))
            evals += 1
            if together_loss < loss:
                cand, loss = together, together_loss
        if loss < best:
            u, best = cand, loss
            moved += 1
        elif step / 2 >= min_step:
            step /= 2
        else:
            curve.append(best)
            break
        curve.append(best)
    reporter.step(stage, sweeps, sweeps, best)
    info = {"sweeps": len(curve) - 1, "moves": moved, "evaluations": evals, "final_step": step}
    return StageResult(u, start, best, curve, info, time.perf_counter() - t0)


@torch.no_grad()
def seed_search(fit: Fit, u: torch.Tensor, reporter: Reporter, batch: int = 8,
                stage: str = "seeds", loss: LossFn | None = None) -> StageResult:
    """Every value of every random seed (``Param.seed``: the generators' and the graph's noise
    seed), one seed at a time in spec order, on the real generators, Stage II's objective
    (feature + 0.05 x style), everything else fixed; the best value of each is kept before the
    next is tried. Not in the paper. Why: a seed has no gradient and no order (seed 5 is no
    closer to seed 6 than to seed 12), so neither the proxies nor the compass search's one-value
    steps can find it, yet with the wrong seed a stochastic pattern (scratches, cells, threads,
    grain) cannot line up with the target, whatever its other parameters: on six fast synthetic
    targets, the true seeds in the fitted parameters lowered the feature loss by up to 0.17
    (docs/BENCHMARKS.md, session 8). ``info["seeds"]``: {name: value kept}. ``loss``: another
    objective (e.g. ``fit.style``: :func:`polish`)."""
    t0 = time.perf_counter()
    loss_fn = loss or fit.joint
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    best = float(loss_fn(fit.render(u)))
    start, curve, evals, picked = best, [best], 1, {}
    params = list(fit.spec)
    seeds = [i for i, p in enumerate(params) if p.seed]
    total = sum(params[i].n_values for i in seeds)
    done = 0
    for i in seeds:
        p = params[i]
        reporter.step(stage, done, total, best)
        values = torch.arange(p.n_values, dtype=u.dtype, device=u.device) / max(p.high - p.low, 1e-12)
        u, best, _ = _try_values(fit, u, best, i, values, batch, loss_fn)
        evals += p.n_values
        done += p.n_values
        picked[p.name] = int(round(float(fit.spec.denormalize(u)[p.name][0])))
        curve.append(best)
    reporter.step(stage, total, total, best)
    info = {"seeds": picked, "evaluations": evals}
    return StageResult(u, start, best, curve, info, time.perf_counter() - t0)


def _scan_levels(p, grid: int, max_levels: int) -> tuple[list[float], list[float]]:
    """Normalised values a coordinate scan tries for parameter ``p``: ``(coarse, fine)``. A
    continuous one: a ``grid``-point lattice of [0, 1], no fine round. A discrete one: every
    value its prior can draw; past ``max_levels`` of them, ``max_levels`` evenly spaced ones
    first (coarse) and all of them as the fine round's pool."""
    if not p.discrete:
        return [k / (grid - 1) for k in range(grid)], []
    span = max(p.high - p.low, 1e-12)
    allowed = p.allowed_levels
    if len(allowed) <= max_levels:
        return [k / span for k in allowed], []
    pick = sorted({allowed[round(j * (len(allowed) - 1) / (max_levels - 1))] for j in range(max_levels)})
    return [k / span for k in pick], [k / span for k in allowed]


@torch.no_grad()
def coordinate_scan(fit: Fit, u: torch.Tensor, reporter: Reporter, sweeps: int, grid: int = 9,
                    max_levels: int = 16, batch: int = 8, stage: str = "scan",
                    loss: LossFn | None = None) -> StageResult:
    """Coordinate search over the generator parameters (seeds excepted: :func:`seed_search`) on
    the real generators, Stage II's objective (feature + 0.05 x style), filters fixed: one
    parameter at a time in spec order, every value it can take (:func:`_scan_levels`; past
    ``max_levels`` values, the coarse ones and then every value between the best coarse one's
    neighbours), the best kept before the next parameter; up to ``sweeps`` sweeps, ending early
    when a sweep moves nothing. Not in the paper. Why: the local search only takes one-value
    steps and Stage II's random search draws whole parameter sets, so a count or a direction
    that is far off (a weave's thread count 28 for 50, its direction flipped) stays off unless
    the proxies' gradient brings it (docs/BENCHMARKS.md, session 9). ``loss``: another objective
    (e.g. ``fit.style``: :func:`polish`)."""
    t0 = time.perf_counter()
    loss_fn = loss or fit.joint
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    best = float(loss_fn(fit.render(u)))
    start, curve, evals, moved = best, [best], 1, 0
    params = list(fit.spec)
    idx = [i for i in fit.gen_idx if not params[i].seed]

    def attempt(i: int, values: list[float]) -> None:
        nonlocal u, best, evals, moved
        values = [v for v in values if abs(v - float(u[0, i])) > 1e-9 and fit.in_window(i, v)]
        if not values:
            return
        u, best, better = _try_values(fit, u, best, i, torch.tensor(values, dtype=u.dtype, device=u.device),
                                      batch, loss_fn)
        evals += len(values)
        moved += better

    total = max(0, sweeps) * len(idx)
    for sweep in range(max(0, sweeps)):
        before = best
        for j, i in enumerate(idx):
            reporter.step(stage, sweep * len(idx) + j, total, best)  # per parameter: cancel stays prompt
            coarse, fine = _scan_levels(params[i], grid, max_levels)
            attempt(i, coarse)
            if fine:
                x = float(u[0, i])
                k = min(range(len(coarse)), key=lambda j: abs(coarse[j] - x))
                lo, hi = coarse[max(0, k - 1)], coarse[min(len(coarse) - 1, k + 1)]
                attempt(i, [v for v in fine if lo < v < hi])
        curve.append(best)
        if best >= before:
            break
    reporter.step(stage, total, total, best)
    info = {"sweeps": len(curve) - 1, "moves": moved, "evaluations": evals}
    return StageResult(u, start, best, curve, info, time.perf_counter() - t0)


@torch.no_grad()
def polish(fit: Fit, u: torch.Tensor, reporter: Reporter, sweeps: int, seeds: bool = True,
           stage: str = "polish") -> StageResult:
    """The structure searched again under fine-tuned filters, by the style loss (Stage III's,
    the final criterion): a coordinate scan (one sweep), the seeds (with ``seeds``) and a
    compass search of up to ``sweeps`` sweeps, on the real generators, filters fixed; the
    searched structure is kept only if it also has the lower style loss at twice the fit's
    resolution (:meth:`Fit.sharper`; ``info["kept"]``). Not in the paper.

    Why: the searches before Stage III judge by Stage II's objective under filters that Stage
    II tuned for the feature loss; once Stage III has tuned the filters for the style loss, a
    structure those searches passed over can score better (a bricks target: brick height
    variation 0.05 kept for the true 0.66, and one course too few). The second opinion: at the
    fit's 128 px some moves (a stone's cell count, a tile's bevel) lowered the fit's loss and
    raised the loss of the 256 px look (docs/BENCHMARKS.md, session 14)."""
    t0 = time.perf_counter()
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    parts = [coordinate_scan(fit, u, reporter, 1, stage=stage, loss=fit.style)]
    if seeds:
        parts.append(seed_search(fit, parts[-1].u, reporter, stage=stage, loss=fit.style))
    parts.append(local_search(fit, parts[-1].u, reporter, sweeps, stage=stage, loss=fit.style))
    info: dict = {"moves": sum(int(r.info.get("moves", 0)) for r in parts),
                  "evaluations": sum(int(r.info["evaluations"]) for r in parts)}
    if seeds:
        info["seeds"] = parts[1].info["seeds"]
    curve = [c for r in parts for c in r.curve]
    out, start, end = parts[-1].u, parts[0].start, parts[-1].end
    if not torch.equal(out, u):
        check = fit.sharper()
        before, after = check.style(check.render(torch.cat([u, out]))).tolist()
        info["check"] = {"res": check.res, "before": before, "after": after}
        if not after < before:
            out, end = u, start
            curve.append(start)
            reporter.message(stage, f"the searched structure did not hold up at {check.res} px; kept the one before")
    info["kept"] = not torch.equal(out, u)
    return StageResult(out, start, end, curve, info, time.perf_counter() - t0)

class _Span:
    """Reporter for one chunk of a longer stage: step ``k`` of the chunk is reported as step
    ``offset + k`` of the stage's ``total`` (one progress bar, not one per chunk)."""

    def __init__(self, reporter: Reporter, offset: int, total: int):
        self.reporter, self.offset, self.total = reporter, offset, total

    def step(self, stage: str, step: int, total: int, loss: float | None = None, message: str = "",
             force: bool = False) -> None:
        self.reporter.step(stage, self.offset + step, self.total, loss, message, force)

    def message(self, stage: str, message: str) -> None:
        self.reporter.message(stage, message)


def detail(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float, maps_px: int,
           refresh: int, stage: str = "detail") -> StageResult:
    """Filter fine-tuning aimed at the look of the maps at ``maps_px`` (the export), not at the
    fit's own small maps. Not in the paper.

    Why: the graphs' fine detail (thin rims and scratches, grain in the normals under the flash)
    reads differently in 192-256 px maps than in 2048 px ones, and the earlier stages tune the
    filters to the small maps' look; the exported material can then miss the photo by several
    times the fit's loss (docs/BENCHMARKS.md, "What you fit is not quite what you get").
    Rendering ``maps_px`` maps every step is too slow on a CPU, so the objective is
    ``style(small(u) + delta)`` with ``delta = large(u_k) - small(u_k)`` held fixed for
    ``refresh`` steps and recomputed at the point ``u_k`` reached (a first-order correction of
    the cheap model by the expensive one; exact at every ``u_k``). Generator parameters stay
    fixed, so the patterns at both sizes are computed once. ``start``/``end`` and the points
    compared are the style loss of the ``maps_px`` render itself; the best is handed on, so
    the stage never ends worse than it started (by that measure). Adam's moments restart at
    each refresh. ``info["look"]``: feature and style loss of the result's ``maps_px`` render.
    """
    t0 = time.perf_counter()
    if refresh < 1 or maps_px < 8:
        raise ValueError(f"refresh must be >= 1 and maps_px >= 8, got {refresh}, {maps_px}")
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    with torch.no_grad():
        small_pats = fit.patterns(u)
        large_pats = fit.graph.patterns(fit.natural(u), maps_px)

    def look(v: torch.Tensor) -> torch.Tensor:
        return fit.render_from(v, maps_px, patterns=large_pats)

    with torch.no_grad():
        large = look(u)
        start = float(fit.style(large))
    best_u, best, curve, done, nonfinite = u.clone(), start, [start], 0, 0
    while done < steps:
        n = min(refresh, steps - done)
        with torch.no_grad():
            delta = large - fit.render(u, patterns=small_pats)
        r = adam(fit, u, fit.filter_idx, lambda img, d=delta: fit.style(img + d), steps=n, lr=lr,
                 halve_every=None, reporter=_Span(reporter, done, steps),  # type: ignore[arg-type]
                 stage=stage, patterns=small_pats)
        nonfinite += r.info.get("nonfinite_gradient_steps", 0)
        done += n
        u = r.u
        with torch.no_grad():
            large = look(u)
            loss = float(fit.style(large))
        curve.append(loss)
        reporter.step(stage, done, steps, min(best, loss))
        if loss < best:
            best_u, best = u.clone(), loss
    info = {"maps_px": maps_px, "steps": steps, "refresh": refresh, "lr": lr,
            "look": fit.evaluate(best_u, maps_px, large_pats)}
    if nonfinite:
        info["nonfinite_gradient_steps"] = nonfinite
    return StageResult(best_u, start, best, curve, info, time.perf_counter() - t0)


def stage3(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
           stage: str = "stage3", search: int = 0, generator: torch.Generator | None = None,
           also: torch.Tensor | None = None, polish_sweeps: int = 0, sharp_steps: int = 0) -> StageResult:
    """Real generators with rounded discrete parameters; filter fine-tuning with the style loss.
    With ``search > 0`` it starts, like Stage I, with a filter search (the structure may have
    changed since Stage I; a pick is kept only if it wins at full resolution): on the 30 fast
    bench targets it changed one result (a paving target, judged style 0.268 -> 0.167) and
    none for the worse, for ~0.8 s.

    ``also`` (1, P), e.g. Stage I's result: a second point fine-tuned side by side with the
    first (one batch of two, :func:`adam`), the better end kept (``info["kept"]``: ``"main"`` or
    ``"also"``). Not in the paper. Why: when the structure search does not pay (the stochastic
    graphs, whose style loss barely sees the structure), the result used to be Stage I's short
    descent or a worse structure's fine-tuning, and MATch, which spends all its steps on the
    start's filters, ended a little lower (docs/BENCHMARKS.md, session 8).

    ``polish_sweeps > 0``: half the steps, then :func:`polish` (the structure searched again by
    the style loss under the filters tuned so far), then the other half on the polished point
    (one progress bar; ``info["polish"]``: its start, end, moves and evaluations). Not in the
    paper; see :func:`polish`.

    ``sharp_steps > 0``: the last that many steps on the fit at twice the resolution
    (:meth:`Fit.sharper`: losses at three scales, no supersampling; ``info["sharp"]``: their
    count, resolution and end loss there); with the polish, more than the steps after it means
    all of Stage III's steps (the polish itself stays at the fit's resolution). The stage's
    ``start``/``end`` stay the fit's own losses, its ``curve`` switches resolution where the
    sharp steps begin. Not in the paper. Why: the fit's 128 px objective and the 256 px look
    part ways (docs/BENCHMARKS.md, session 15).

    With either, each part of the descent goes on with the Adam moments the part before ended
    with (across the polish and the switch of resolution), as one descent would."""
    u = u_in = fit.normalize(fit.spec.round(fit.natural(u)))  # snap theta_g to whole values for good
    if also is not None:
        also = fit.normalize(fit.spec.round(fit.natural(also[:1])))
    sharp_steps = max(0, min(sharp_steps, steps))
    if polish_sweeps <= 0 and sharp_steps == 0:
        return stage1(fit, u, reporter, steps, lr, stage=stage, search=search, generator=generator,
                      also=also)
    t0 = time.perf_counter()
    half = steps // 2 if polish_sweeps > 0 else steps
    if polish_sweeps > 0 and sharp_steps > steps - half:  # more than the steps after the polish: all
        sharp_steps = steps
    sharper = fit.sharper() if sharp_steps else fit
    first = half if sharp_steps in (0, steps) else min(half, steps - sharp_steps)
    a = stage1(sharper if sharp_steps == steps else fit, u, _Span(reporter, 0, steps),  # type: ignore[arg-type]
               first, lr, stage=stage, search=search, generator=generator, also=also)
    info = {**a.info, "steps": steps}
    parts, u, start, end = [a], a.u, a.start, a.end
    if polish_sweeps > 0:
        pol = polish(fit, u, reporter, polish_sweeps)
        info["polish"] = {"start": pol.start, "end": pol.end, **pol.info}
        u = pol.u
    done = first
    for f, n in ((fit, steps - first - sharp_steps), (sharper, min(sharp_steps, steps - first))):
        if n <= 0:
            continue
        with torch.no_grad():  # the structure is fixed from here: its patterns made once
            pats = f.patterns(u)
        r = adam(f, u, fit.filter_idx, f.style, steps=n, lr=lr, halve_every=None,
                 reporter=_Span(reporter, done, steps), stage=stage, patterns=pats,  # type: ignore[arg-type]
                 moments=parts[-1].moments)
        parts.append(r)
        u, end, done = r.u, r.end, done + n
    if sharp_steps:
        info["sharp"] = {"steps": sharp_steps, "res": sharper.res, "end": end}
        with torch.no_grad():  # the stage's losses stay the fit's, comparable with the other stages'
            end = float(fit.style(fit.render(u))[0])
            if sharp_steps == steps:
                start = float(fit.style(fit.render(u_in))[0])
    return StageResult(u, start, end, [c for r in parts for c in r.curve], info, time.perf_counter() - t0,
                       moments=parts[-1].moments)
