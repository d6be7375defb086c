"""Step "relief" (not in the paper): the relief a flash photo cannot see, taken from the graph's
artist prior; see :func:`relief`.

Why: under a flash at the camera, a surface tilted by an angle ``a`` is shaded by about
``cos a = 1 - a^2 / 2``: a few degrees of tilt change the photo by a fraction of a percent, so
the fit has no evidence for small relief and settles wherever the other parameters leave it,
often flat (a brick wall fitted at ``normal.intensity`` 0.1 where the prior's mean is 3.0:
wallpaper under a grazing light in Blender). Measured on the 13 shared photos' balanced fits
(docs/BENCHMARKS.md, "Session 25"): moving the relief parameters a fifth of the way to the prior
mean took the two brick walls from 2.4 and 0.0 degrees of tilt to 6.6 and 3.6 for 1.1 % and 0.8 %
more style loss, while another noise seed for the grain costs 2-13 % on them. A difference of
that size is not evidence either way, and a person expects the relief the graph's family has.

So, after the fit: the relief parameters (:meth:`MaterialGraph.relief_params`) are moved from
the fitted values towards the prior's means, as far as the look stays within ``tolerance`` of
the fit's (relative style loss of the ``maps_px`` maps' render). First all together, along the
straight line to the means: all the way when the photo does not object (one render), else a
bisection of the way (moved together, parameters can make up for each other: less mortar grain
where the bricks' normal strength grows). Then, where that stopped short, each parameter on its
own goes on as far as the look still allows, the tolerance shared by all of them
(``normal.intensity``, how much relief, first; the ``height.*`` mix, its shape, which the photo
sees more of, after it): the photo may object to one and not to another. A dark wood fitted with
its fibres almost flat and its normal strength at 2.6 (prior means 0.4 and 0.8) objects to the
fibres' relief (+250 % style loss the whole way) but not to the normal strength going a quarter
of the way (2.6 -> 2.2, +0.3 %); together, the fibres held the normal strength where the fit
left it, a smooth wood with 4.5 degrees of tilt (docs/BENCHMARKS.md, "Session 29"). Both
directions: a fitted relief stronger than the prior's also moves towards it where the photo
allows.

Generator parameters are untouched but those a graph names in
:attr:`~diffproxy.graphs.MaterialGraph.relief_shape_params`: the units' edge profile in the
height (a brick's bevel), which the colour hardly shows. They move with the others, and on
their own right after the strength (first, they spent the tolerance on a photo whose strength
then could not rise: the shared dark brick wall at ``balanced``, 7.4 -> 3.7 degrees). The
edge's shape sets how a strength shows. A hard edge is a step one texel wide,
whose tilt the flash draws as a dark line the photo objects to and which the export's 2048 px
maps lose; a rounded one spreads the same relief over the arris. The Blender-made red brick
wall fitted flat at ``fast`` (bevel 0; its own look 0.1086 at 1024 px maps): strength 3.0 on the
hard edge, the prior's, 0.1199 and 4.3 degrees of tilt; at the prior's bevel (0.15) strength 1.0
gives 0.1082 and 7.5 degrees (docs/BENCHMARKS.md, "Session 48").

Last, where the photo still refused part of the way (``refit_steps`` > 0): the relief the photo
objects to may be shading that the albedo can take back. A flash photo cannot tell a darker
patch of colour from a patch tilted away from the light, and the fit put every shade in the
colours while the relief was flat; moving the relief alone adds its shading on top. So where
the normal strength (how much relief; the ``height.*`` mix is its shape, which the photo sees)
stopped short, it is held further on (half the rest of the way, then the whole of it if that
was allowed, else a quarter, then halvings between the furthest allowed and the nearest
refused: ``bisections`` tries in all, the first already a halving) while the other float
filters are tuned for ``refit_steps`` Adam steps (Stage "detail"'s descent, aimed at the same
``maps_px`` look), the furthest that ends within the same limit kept. A smooth concrete
fitted flat at ``fast`` (normal strength 0; the prior's 5.0 alone: style x 6.9, even 0.6 of
strength +4 %; with the colours re-tuned: 5.0 +47 %, 2.5 +7 %, 1.25 +1.1 %) keeps 1.25 this
way (docs/BENCHMARKS.md, "Session 32").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch

from ..params import ParamSpec
from .control import Reporter
from .descent import StageResult
from .detail import detail
from .fit import Fit
from .paper import snap


T = TypeVar("T")
# a look (feature and style) and the full-size render it was measured on (None: not at hand)
Look = tuple[dict[str, float], torch.Tensor | None]


def prior_means(spec: ParamSpec, names: Iterable[str]) -> dict[str, float]:
    """The artist prior's mean of each named parameter of ``spec`` (its default where it has no
    prior): where step "relief" takes them."""
    out = {}
    for n in names:
        p = spec[n]
        prior = p.prior
        v = float(prior[0]) if prior is not None else p.default_value
        out[n] = min(max(v, p.low), p.high)
    return out


def half_first(attempt: Callable[[float], T | None], tries: int) -> T | None:
    """The furthest fraction of a way (0 to 1) that ``attempt`` allows (returns not None), found
    in at most ``tries`` attempts: half the way; then the whole of it if that was allowed, else a
    quarter; then halvings between the furthest allowed and the nearest refused. Returns the
    furthest allowed attempt's result (None: none was)."""
    lo, hi, f, kept = 0.0, 1.0, 0.5, None
    for k in range(tries):
        got = attempt(f)
        if got is not None:
            lo, kept = f, got
        else:
            hi = f
        if lo == 1.0:
            break
        f = 1.0 if k == 0 and got is not None else 0.5 * (lo + hi)
    return kept


def relief(fit: Fit, u: torch.Tensor, reporter: Reporter, tolerance: float, maps_px: int,
           bisections: int, stage: str = "relief", look: dict[str, float] | None = None,
           refit_steps: int = 0, refit_lr: float = 0.01, image: torch.Tensor | None = None) -> StageResult:
    """``u`` (1, P) with its relief parameters moved towards the prior means as far as the style
    loss of the ``maps_px`` maps' render stays within ``(1 + tolerance)`` times ``u``'s: together
    the whole way or ``bisections`` halvings of it, then, where that stopped short, each on its
    own (``normal.intensity`` first, then the graph's ``relief_shape_params``, then the
    ``height.*``) the rest of the way or ``bisections`` halvings of the rest.

    ``start``/``end``: that style loss at ``u`` and at the result; ``info``: ``t``, the fraction
    of the way each parameter took, ``together`` (the fraction they took together), the
    parameters moved with their values before and after, ``look`` (feature and style of the
    result, as Stage "detail" reports it) and ``maps_px``; ``refit`` (where it ran): the
    fractions of the rest of the way tried with ``refit_steps`` steps of the other filters
    (``refit_lr``), their looks, the one ``kept`` and the filters it moved (``params``, before
    and after). ``look``: ``u``'s look at ``maps_px`` where the caller has it (Stage
    "detail"'s), not computed again; ``image``: its full-size render with it, where the caller
    has that too. The result's ``image`` is its full-size render (None: ``u``'s look was given
    without one and nothing moved).
    """
    t0 = time.perf_counter()
    if tolerance < 0 or bisections < 0 or maps_px < 8:
        raise ValueError(f"tolerance and bisections must be >= 0 and maps_px >= 8, got {tolerance}, "
                         f"{bisections}, {maps_px}")
    shape = list(fit.graph.relief_shape_params)
    for n in shape:
        if n not in fit.spec.names or fit.spec[n].role != "generator" or fit.spec[n].discrete:
            raise ValueError(f"graph {fit.graph.name}: relief shape parameter {n!r} is not a continuous "
                             "generator parameter")
    # the strength first, then the edges' shape, then the height's mix (sorted: stable)
    names = sorted(fit.graph.relief_params, key=lambda n: n != "normal.intensity")
    names = names[:1] + shape + names[1:]
    u = snap(fit, u[:1])
    with torch.no_grad():
        pats = fit.graph.patterns(fit.natural(u), maps_px)
        if look is None:
            image = fit.render_full(u, maps_px, pats)
            start_look = fit.look_of(image)
        else:
            start_look = dict(look)
    start = start_look["style"]
    info: dict = {"maps_px": maps_px, "tolerance": tolerance, "t": {}, "together": 0.0}
    if not names:
        info["look"] = start_look
        return StageResult(u, start, start, [start], info, time.perf_counter() - t0, image=image)
    col = {n: fit.spec.names.index(n) for n in names}
    means = prior_means(fit.spec, names)
    target = fit.normalize({**fit.natural(u), **{n: torch.tensor([v], device=u.device) for n, v in means.items()}})
    target = target.clamp(0.0, 1.0)
    step = {n: float(target[0, col[n]] - u[0, col[n]]) for n in names}
    moving = [n for n in names if step[n] != 0.0]
    t = {n: 0.0 if n in moving else 1.0 for n in names}  # 1.0: already at the prior
    limit = start * (1.0 + tolerance)
    curve = [start]
    total = (1 + bisections) * (1 + len(moving))  # at most this many renders

    def moved(ts: dict[str, float]) -> torch.Tensor:
        v = u.clone()
        for n, f in ts.items():
            v[0, col[n]] = u[0, col[n]] + f * step[n]
        return v

    def patterns_at(ts: dict[str, float]) -> dict[str, torch.Tensor]:
        """The patterns at ``ts``: ``u``'s unless a shape parameter moved."""
        if not any(ts.get(n, 0.0) * step[n] != 0.0 for n in shape):
            return pats
        with torch.no_grad():
            return fit.graph.patterns(fit.natural(moved(ts)), maps_px)

    def within(ts: dict[str, float]) -> Look | None:
        """The look at ``ts`` (fractions of the way per parameter) and its render, if within the
        limit."""
        with torch.no_grad():
            full = fit.render_full(moved(ts), maps_px, patterns_at(ts))
            got = fit.look_of(full)
        curve.append(got["style"])
        reporter.step(stage, len(curve) - 1, total, min(curve))
        return (got, full) if got["style"] <= limit else None

    def furthest(free: list[str], lo: float, at: Look) -> tuple[float, Look]:
        """``free`` moved together from fraction ``lo`` (where the look is ``at``) to 1, else
        as far as the halvings find the look within the limit: (fraction, its look)."""
        got = within({**t, **{n: 1.0 for n in free}})
        if got is not None:
            return 1.0, got
        hi = 1.0
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            got = within({**t, **{n: mid for n in free}})
            if got is not None:
                lo, at = mid, got
            else:
                hi = mid
        return lo, at

    reporter.message(stage, "taking the relief the photo does not show from the graph's prior")
    cur: Look = (start_look, image)
    if moving:
        f, cur = furthest(moving, 0.0, cur)
        t.update({n: f for n in moving})
        info["together"] = f
        if f < 1.0 and len(moving) > 1:
            for n in moving:
                t[n], cur = furthest([n], t[n], cur)
    out = moved(t)
    strength = "normal.intensity"
    others: list[int] = []
    if refit_steps > 0 and strength in moving and t[strength] < 1.0:
        # the shading the photo objects to may be the albedo's to undo: hold the strength further
        # on and let the other filters answer (Stage "detail"'s descent on them), judged as before
        others = [i for i in fit.filter_idx if fit.spec.names[i] not in col]
        info["refit"] = {"steps": refit_steps, "tried": []}
        held = patterns_at(t)  # the shape the steps above left

        def refit(f: float) -> tuple | None:
            """The strength ``f`` of the rest of its way on, the others tuned: kept if within."""
            ts = {**t, strength: t[strength] + f * (1.0 - t[strength])}
            r = detail(fit, moved(ts), reporter, refit_steps, refit_lr, maps_px, refresh=refit_steps,
                       stage=stage, idx=others, large_patterns=held)
            got = r.info["look"]
            curve.append(got["style"])
            info["refit"]["tried"].append({"fraction": f, "style": got["style"]})
            if got["style"] > limit:
                return None
            info["refit"]["kept"] = f
            return ts, r.u, (got, r.image)

        kept = half_first(refit, bisections)  # its first try is already a halving
        if kept:
            t, out, cur = kept
    before, after = fit.natural(u), fit.natural(out)
    if "kept" in info.get("refit", {}):
        changed = [fit.spec.names[i] for i in others if float(out[0, i]) != float(u[0, i])]
        info["refit"]["params"] = {n: [float(before[n][0]), float(after[n][0])] for n in changed}
    info.update({"t": t, "params": {n: [float(before[n][0]), float(after[n][0])] for n in names},
                 "look": cur[0]})
    return StageResult(out, start, cur[0]["style"], curve, info, time.perf_counter() - t0, image=cur[1])


__all__ = ["relief", "prior_means", "half_first"]
