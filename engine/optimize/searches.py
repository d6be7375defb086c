"""The searches on the real generators around the paper's stages (none of them in the paper).

* :func:`layout_start`: the counts measured on the photo bound the structure searches.
* :func:`estimate_start`: the parameter estimator's guess against the ranking's start point.
* :func:`random_search`: the best of ``n`` prior samples of the generator parameters (and the
  estimator's guess) by grayscale feature distance: Stage II's starts.
* :func:`coordinate_scan`, :func:`local_search`, :func:`seed_search`: the structure searched
  on the real generators after Stage II, Stage II's objective (feature + 0.05 x style), filters
  fixed: every value of one parameter at a time, one-value compass steps, every seed.
* :func:`polish`: the same searches by the style loss under Stage III's filters.

Each returns a :class:`~.descent.StageResult`; why each exists is in its docstring.
"""

from __future__ import annotations

import time

import torch

from ..device import render_batch
from .control import Reporter
from .descent import LossFn, StageResult
from .fit import Fit


def _windows_text(windows) -> str:
    """``tiles_x 2-3, offset 0.00-0.12`` from ``{parameter: (lowest, highest, ...)}``."""
    def v(x):
        return f"{x:.2f}" if isinstance(x, float) else str(x)
    return ", ".join(f"{k.split('.')[-1]} {v(w[0])}" + (f"-{v(w[1])}" if w[1] != w[0] else "")
                     for k, w in windows.items())


@torch.no_grad()
def layout_start(fit: Fit, u: torch.Tensor, reporter: Reporter, stage: str = "layout") -> StageResult:
    """The counts a person counts on the photo (:func:`diffproxy.layout.measure_layout`, not in
    the paper) bound the structure searches from here on (``layout.layout_windows``,
    ``Fit.set_windows``), and the start's counts are set to the values nearest the measurement.
    Why: the losses do not see scale well (a Gram matrix has no period), and on real photos
    the fits' courses were off by x1.6-x2.5 where a periodic layout is plain to see (and to
    measure: docs/BENCHMARKS.md, "Real photos judged by what a person sees"). Counts the photo
    shows no clear period for, and graphs without layout parameters, are left as they were.
    The bond read on the photo (stack, half bond...) bounds the graph's bond offset the same
    way: a Gram matrix does not see it either (the 2 x 2 stack-bond floor tiles were fitted
    with an offset of 0.25). ``info``: the measurement, its confidences and the windows."""
    from ..layout import layout_windows, measure_layout

    t0 = time.perf_counter()
    start = float(fit.style(fit.render(u[:1])))
    layout = measure_layout(fit.photo)
    current = {k: float(v[0]) for k, v in fit.natural(u[:1]).items()}
    windows = layout_windows(fit.graph, layout, current)
    info: dict = {"rows": layout.rows, "per_row": layout.per_row, "rows_confidence": layout.rows_confidence,
                  "per_row_confidence": layout.per_row_confidence, "polarity": layout.polarity,
                  "joints_across": list(layout.lines), "bond": layout.offset,
                  "bond_confidence": layout.offset_confidence,
                  "windows": {k: [a, b] for k, (a, b, _) in windows.items()}}
    u = u[:1].clone()
    if not windows:
        return StageResult(u, start, start, [start], info, time.perf_counter() - t0)
    fit.set_windows({k: (a, b) for k, (a, b, _) in windows.items()})
    index = {p.name: i for i, p in enumerate(fit.spec)}
    for name, (_, _, nearest) in windows.items():
        p = fit.spec.by_name[name]
        u[0, index[name]] = (nearest - p.low) / (p.high - p.low)
    end = float(fit.style(fit.render(u)))
    reporter.message(stage, "counts measured on the photo: " + ", ".join(
        f"{k} {v:.{d}f}" for k, v, d in (("courses", layout.rows, 1), ("units per course", layout.per_row, 1),
                                         ("bond offset", layout.offset, 2)) if v is not None)
        + "; kept near: " + _windows_text(windows))
    return StageResult(u, start, end, [start, end], info, time.perf_counter() - t0)


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
        # counts measured on the photo (layout_start) keep their windows
        fit.set_windows({**count_windows(fit.graph, guess), **fit.windows})
        guess = fit.into_window(guess)
        info["windows"] = {k: list(v) for k, v in fit.windows.items()}
        moved = fit.into_window(u)
        if not torch.equal(moved, u):
            u = moved
            start = float(fit.style(fit.render(u)))
            info["start_moved_into_windows"] = True
        if fit.windows:
            reporter.message(stage, "counts kept near the guess: " + _windows_text(fit.windows))
    loss = float(fit.style(fit.render(guess)))
    kept = "estimate" if loss < start else "start"
    reporter.message(stage, f"the parameter estimator's guess: style {loss:.4f} against the start's {start:.4f}; "
                            f"starting from the {'guess' if kept == 'estimate' else 'ranking sample'}")
    info.update({"kept": kept, "guess_style": loss})
    return StageResult(guess if kept == "estimate" else u, start, min(loss, start), [start, min(loss, start)],
                       info, time.perf_counter() - t0, alternatives=guess)


@torch.no_grad()
def random_search(fit: Fit, u: torch.Tensor, n: int, reporter: Reporter, generator: torch.Generator,
                  batch: int | None = None, stage: str = "search", keep: int = 1,
                  extra: torch.Tensor | None = None) -> StageResult:
    """Best of the current generator parameters, ``n`` prior samples and the generator
    parameters of the rows of ``extra`` (K, P) (the parameter estimator's guess), by grayscale
    feature + 0.05 x style distance at the search resolution (filter parameters unchanged);
    the ``keep`` best go to ``alternatives`` (Stage II's starts)."""
    batch = batch or render_batch(fit.device)
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
                 min_step: float = 0.0125, batch: int | None = None, stage: str = "local",
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
    batch = batch or render_batch(fit.device)
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
def seed_search(fit: Fit, u: torch.Tensor, reporter: Reporter, batch: int | None = None,
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
    batch = batch or render_batch(fit.device)
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
                    max_levels: int = 16, batch: int | None = None, stage: str = "scan",
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
    batch = batch or render_batch(fit.device)
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
