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

So, after the fit: the relief parameters (:meth:`MaterialGraph.relief_params`) are moved along
the straight line from the fitted values to the prior's means, as far as the look stays within
``tolerance`` of the fit's (relative style loss of the ``maps_px`` maps' render): all the way
when the photo does not object, not at all when it does (a stucco's deep relief, a satin metal's
flat face), a bisection in between. Both directions: a fitted relief stronger than the prior's
also moves towards it where the photo allows. Generator parameters are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch

from ..params import ParamSpec
from .control import Reporter
from .descent import StageResult
from .fit import Fit
from .paper import snap


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


def relief(fit: Fit, u: torch.Tensor, reporter: Reporter, tolerance: float, maps_px: int,
           bisections: int, stage: str = "relief", look: dict[str, float] | None = None) -> StageResult:
    """``u`` (1, P) with its relief parameters moved towards the prior means as far as the style
    loss of the ``maps_px`` maps' render stays within ``(1 + tolerance)`` times ``u``'s.

    ``start``/``end``: that style loss at ``u`` and at the result; ``info``: the fraction of the
    way taken (``t``), the parameters moved with their values before and after, ``look``
    (feature and style of the result, as Stage "detail" reports it) and ``maps_px``. ``look``:
    ``u``'s look at ``maps_px`` where the caller has it (Stage "detail"'s), not computed again.
    """
    t0 = time.perf_counter()
    if tolerance < 0 or bisections < 0 or maps_px < 8:
        raise ValueError(f"tolerance and bisections must be >= 0 and maps_px >= 8, got {tolerance}, "
                         f"{bisections}, {maps_px}")
    names = list(fit.graph.relief_params)
    u = snap(fit, u[:1])
    with torch.no_grad():
        pats = fit.graph.patterns(fit.natural(u), maps_px)
        start_look = dict(look) if look is not None else fit.evaluate(u, maps_px, pats)
    start = start_look["style"]
    info: dict = {"maps_px": maps_px, "tolerance": tolerance, "t": 0.0}
    if not names:
        info["look"] = start_look
        return StageResult(u, start, start, [start], info, time.perf_counter() - t0)
    idx = [fit.spec.names.index(n) for n in names]
    means = prior_means(fit.spec, names)
    target = fit.normalize({**fit.natural(u), **{n: torch.tensor([v], device=u.device) for n, v in means.items()}})
    target = target.clamp(0.0, 1.0)
    step = target[0, idx] - u[0, idx]

    def point(t: float) -> torch.Tensor:
        v = u.clone()
        v[0, idx] = u[0, idx] + t * step
        return v

    limit = start * (1.0 + tolerance)
    curve = [start]
    looks = {0.0: start_look}

    def ok(t: float) -> bool:
        with torch.no_grad():
            looks[t] = fit.evaluate(point(t), maps_px, pats)
        curve.append(looks[t]["style"])
        reporter.step(stage, len(curve) - 1, bisections + 1, min(curve))
        return looks[t]["style"] <= limit

    reporter.message(stage, "taking the relief the photo does not show from the graph's prior")
    t = 1.0 if float(step.abs().max()) > 0 else 0.0  # nothing to move: already at the prior
    if t and not ok(1.0):
        lo, hi = 0.0, 1.0
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            if ok(mid):
                lo = mid
            else:
                hi = mid
        t = lo
    out = point(t)
    before, after = fit.natural(u), fit.natural(out)
    info.update({"t": t, "params": {n: [float(before[n][0]), float(after[n][0])] for n in names},
                 "look": looks[t]})
    return StageResult(out, start, looks[t]["style"], curve, info, time.perf_counter() - t0)


__all__ = ["relief", "prior_means"]
