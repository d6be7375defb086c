"""One graph's optimisation, by any method, and its Stage "detail": what ``pipeline`` runs in
its own process and ``workers`` in theirs (both import this module; it imports neither)."""

from __future__ import annotations

import dataclasses
import time

import torch

from .baselines import es_search, match
from .control import Reporter
from .descent import StageResult
from .detail import detail
from .fit import Fit
from .options import Options
from .paper import filter_search
from .relief import relief
from .result import GraphRun
from .steps import run_diffproxy


def _run_match(fit: Fit, u: torch.Tensor, o: Options, rep: Reporter, gen: torch.Generator,
               run: GraphRun) -> GraphRun:
    p = o.preset
    run.add("start", StageResult(u, 0.0, 0.0), fit)
    r = filter_search(fit, u, p.filter_samples, rep, gen, stage="match")
    run.add("filter_search", r, fit)
    r = match(fit, r.u, rep, p.match_budget, p.budget("stage1").lr)
    run.add("match", r, fit)
    return run


def _run_search(fit: Fit, u: torch.Tensor, rep: Reporter, gen: torch.Generator, seconds: float,
                run: GraphRun) -> GraphRun:
    run.add("start", StageResult(u, 0.0, 0.0), fit)
    run.add("search_es", es_search(fit, u, rep, seconds, gen), fit)
    return run


def optimise_graph(fit: Fit, u: torch.Tensor, o: Options, rep: Reporter, gen: torch.Generator,
                   search_seconds: float | None = None) -> GraphRun:
    """Run ``o.method`` on one graph from the start point ``u`` (1, P) normalised."""
    t = time.perf_counter()
    run = GraphRun(fit.graph.name)
    if o.method == "diffproxy":
        run_diffproxy(fit, u, o, rep, gen, run)
    elif o.method == "match":
        _run_match(fit, u, o, rep, gen, run)
    else:
        _run_search(fit, u, rep, gen, search_seconds or o.time_limit or o.preset.search_seconds, run)
    run.seconds = time.perf_counter() - t
    run.fit = fit
    return run


def _as_the_fit_sees(run: GraphRun, r: StageResult, view: Fit, px: int) -> StageResult:
    """``r`` of a step judged on ``view``, its ``info["look"]`` made the look graphs and restarts
    are compared by: the fit's own of the ``px`` maps (unchanged when ``view`` is the fit), from
    the step's own render of them where it kept one (``r.image``)."""
    if view is not run.fit:
        r = dataclasses.replace(r, info={**r.info, "look": run.fit.look_of(r.image) if r.image is not None
                                         else run.fit.evaluate(r.u, px)})
    return r


def finish_graph(run: GraphRun, o: Options, rep: Reporter) -> GraphRun:
    """The steps after the optimisation, on one optimised graph: Stage "detail" (the plan's
    ``detail`` step; only when the export's maps, ``min(res_out, res)`` px, are larger than the
    fit's), then step "relief" (:func:`~.relief.relief`, judged on the same maps' look).
    ``proceduralize`` runs it on every graph it optimises, so the graphs are compared by the
    look of the maps the user gets (the fit's small maps can misjudge a graph's fine detail by
    several times its loss); the synthetic benchmark calls :func:`optimise_graph` alone.
    With a budget's ``sharp`` (``fast``, whose Stage III stays at the fit's resolution) the
    step's descent and the points it keeps are judged on :meth:`Fit.sharper`, twice the fit's
    resolution with the maps' own pixels, where the export's finer detail and the shading of
    small relief show; the look recorded, by which graphs and restarts are compared, stays the
    fit's own (docs/BENCHMARKS.md, "Session 42"). Detail and relief should agree: the relief's
    tolerance is measured from the point detail left, which is a minimum of detail's view."""
    assert run.fit is not None and run.u is not None
    detail_done: tuple[Fit, StageResult] | None = None  # detail's view and its result there
    b = o.budget("detail")
    if b is not None:
        px = min(o.res_out, b.res)
        if b.steps > 0 and px > run.fit.render_res():
            rep.message("detail", f"tuning the filters to the look of {px} px maps")
            t = time.perf_counter()
            view = run.fit.sharper() if b.sharp else run.fit
            r_d = detail(view, run.u, rep, b.steps, b.lr, px, b.refresh)
            detail_done = view, r_d
            run.add("detail", _as_the_fit_sees(run, r_d, view, px), run.fit)
            run.seconds += time.perf_counter() - t
    r = o.budget("relief")
    if r is not None and run.fit.graph.relief_params:
        px = max(min(o.res_out, r.res), run.fit.render_res())
        view = run.fit.sharper() if r.sharp else run.fit  # made once per fit: the same object
        # the start's look on the relief's view, where detail just measured it
        known = detail_done[1] if (detail_done is not None and detail_done[0] is view
                                   and run.final_from == "detail" and run.maps_px() == px) else None
        t = time.perf_counter()
        r_r = relief(view, run.u, rep, r.tolerance, px, r.bisections,
                     look=known.info["look"] if known else None, image=known.image if known else None,
                     refit_steps=r.refit, refit_lr=r.refit_lr)
        run.add("relief", _as_the_fit_sees(run, r_r, view, px), run.fit)
        run.seconds += time.perf_counter() - t
    return run
