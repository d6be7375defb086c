"""Stage "detail" (not in the paper): the chosen graph's filters tuned towards the look of the
maps at the export's size, after every method; see :func:`detail`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ..descriptor import resize
from .control import Reporter, Span
from .descent import StageResult, adam
from .fit import Fit


def detail(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float, maps_px: int,
           refresh: int, stage: str = "detail", idx: Sequence[int] | None = None,
           large_patterns: dict[str, torch.Tensor] | None = None) -> StageResult:
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
    each refresh. ``info["look"]``: feature and style loss of the result's ``maps_px`` render,
    ``image`` that render at full size (made once: the best point's, kept from the loop).
    ``idx``: the parameters tuned (default: every float filter parameter, ``fit.filter_idx``);
    ``large_patterns``: ``u``'s patterns at ``maps_px`` where the caller has them.
    """
    t0 = time.perf_counter()
    if refresh < 1 or maps_px < 8:
        raise ValueError(f"refresh must be >= 1 and maps_px >= 8, got {refresh}, {maps_px}")
    u = fit.normalize(fit.spec.round(fit.natural(u[:1])))
    with torch.no_grad():
        small_pats = fit.patterns(u)
        large_pats = fit.graph.patterns(fit.natural(u), maps_px) if large_patterns is None else large_patterns

    def look(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``v``'s render of the ``maps_px`` maps at their size, and as the fit sees it."""
        full = fit.render_full(v, maps_px, patterns=large_pats)
        return full, resize(full, fit.res)

    with torch.no_grad():
        full, large = look(u)
        start = float(fit.style(large))
    best_u, best, best_full, curve, done, nonfinite = u.clone(), start, full, [start], 0, 0
    tuned = fit.filter_idx if idx is None else list(idx)
    while done < steps:
        n = min(refresh, steps - done)
        with torch.no_grad():
            delta = large - fit.render(u, patterns=small_pats)
        r = adam(fit, u, tuned, fit.style, offset=delta, steps=n, lr=lr,
                 halve_every=None, reporter=Span(reporter, done, steps),  # type: ignore[arg-type]
                 stage=stage, patterns=small_pats)
        nonfinite += r.info.get("nonfinite_gradient_steps", 0)
        done += n
        u = r.u
        with torch.no_grad():
            full, large = look(u)
            loss = float(fit.style(large))
        curve.append(loss)
        reporter.step(stage, done, steps, min(best, loss))
        if loss < best:
            best_u, best, best_full = u.clone(), loss, full
    info = {"maps_px": maps_px, "steps": steps, "refresh": refresh, "lr": lr,
            "look": fit.look_of(best_full)}
    if nonfinite:
        info["nonfinite_gradient_steps"] = nonfinite
    return StageResult(best_u, start, best, curve, info, time.perf_counter() - t0, image=best_full)
