"""``proceduralize``: photo in, procedural material (graph + parameters) out.

Flow (``method="diffproxy"``)::

    load photo -> descriptor -> rank graphs (or the one asked for) -> for each of the best k:
        start (best prior sample, or the parameter estimator's guess if it scores lower;
        the guess's counts bound the searches after it; not in the paper) -> Stage I -> random search -> Stage II
        -> coordinate scan (balanced/full; real generators, not in the paper)
        -> local search (real generators, not in the paper)
        -> seed search (every value of every random seed; not in the paper)
        -> Stage III (balanced/full: Stage I's result fine-tuned alongside, the better kept;
           halfway, the structure polished by the style loss; the second half at twice the
           fit's resolution, Stage I's and III's results compared there)
        -> Stage "detail" (filters tuned to the look of export-size maps, not in the paper)
       (full: each graph this way from 4 random streams, the best look kept: ``restarts``;
        the preset's fits are shared among the graphs kept: balanced fits one sure graph twice,
        ``Preset.restarts_for``; on a CPU the graphs and restarts run side by side in worker
        processes, see ``workers``)
    -> keep the shape- and joint-consistent graph with the lowest final style loss (of the
       export-size maps' look; a look within 15 % of it, the fit's own noise, is a tie, kept by
       the ranking's order: ``result.best_graph``) -> Result

``method="match"`` replaces the stages by MATch's filters-only optimisation (generators fixed
at the start point: the best prior sample of the graph ranking, or a benchmark's start),
``method="search"`` by a gradient-free search for a fixed wall time (see ``baselines``).
Everything random is drawn from ``torch.Generator``s seeded with ``options.seed`` (one per
optimised graph, ``workers.graph_generators``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import torch

from ..descriptor import get_descriptor
from ..device import auto_threads, pick_device
from ..photo import load_photo
from ..straighten import kept_share, straighten
from .choose import KEEP_FRACTION, UNSURE, keep_likely, most_kept, rank_graphs
from .batching import run_together
from .control import Cancelled, Reporter
from .fit import Fit
from .graph_run import finish_graph, optimise_graph
from .options import Options
from .result import SHAPE_SHARE, GraphRun, Result, best_graph, best_restart, look_tie
from .workers import Job, graph_generators, plan, prefix, restart_generators, run_parallel, run_seed


def proceduralize(image: str | os.PathLike | torch.Tensor, options: Options | None = None,
                  progress: Callable[[dict[str, Any]], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> Result:
    """Fit a procedural material to a photo.

    Args:
        image: a file path (anything :func:`diffproxy.photo.load_photo` accepts) or a
            ``(1, 3, H, W)`` tensor, sRGB in [0, 1].
        options: :class:`Options` (defaults: auto graph, balanced preset, diffproxy method).
        progress: called with ``{"stage", "step", "total", "loss", "message"}`` dicts, at least
            every ~0.5 s while work runs.
        should_cancel: polled every step; when it returns true the run raises
            :class:`Cancelled` (within one step, < 1 s).

    Returns:
        :class:`Result` (``.graph``, ``.params``, ``.losses``, ``.timings``, ``.descriptor``,
        ``.device``, ``.ranking``; ``.write(out_dir)`` exports maps and reports).

    Raises:
        PhotoError: the image is unusable; ValueError: bad options; KeyError: unknown graph;
        Cancelled.
    """
    o = options if options is not None else Options()
    if not isinstance(o, Options):
        raise ValueError(f"options must be an Options, got {type(o).__name__}")
    rep = Reporter(progress, should_cancel)
    old_threads = torch.get_num_threads()
    threads = o.threads or auto_threads(pick_device(o.device))
    if threads:
        torch.set_num_threads(threads)
    try:
        return _proceduralize(image, o, rep, torch.get_num_threads())
    finally:
        if threads:
            torch.set_num_threads(old_threads)


def _proceduralize(image, o: Options, rep: Reporter, threads: int) -> Result:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    rep.message("load", "loading photo")
    photo = load_photo(image, exif_orientation=o.exif_orientation)
    photo_turn = None
    if o.straighten:
        photo, tilt = straighten(photo)
        photo_turn = {"degrees": tilt.degrees, "peak": round(tilt.peak, 3), "turned": tilt.acts,
                      "kept": kept_share(tilt.degrees) if tilt.acts else 1.0}
        if tilt.acts:
            rep.message("load", photo.notes[-1])
    device = pick_device(o.device)
    descriptor = get_descriptor(o.descriptor, device, path=o.vgg19_path, allow_download=o.allow_download)
    timings["load"] = time.perf_counter() - t_start
    rep.message("load", f"photo {photo.size}px ({photo.source}); device {device}; descriptor "
                        f"{descriptor.name} [{descriptor.weights_hash}]")
    gen = torch.Generator().manual_seed(o.seed)
    p = o.preset

    from ..graphs import GRAPHS, get_graph  # after the photo: its errors come first

    t = time.perf_counter()
    graphs = list(GRAPHS.values()) if o.graph == "auto" else [get_graph(o.graph)]
    # only the graphs that can be optimised are scored (the ranking's random draws all made)
    candidates = rank_graphs(graphs, photo.image, descriptor, p.rank_samples, p.rank_res, gen, rep, device,
                             supersample=p.supersample, classify=o.classifier,
                             score_only=o.top_k or most_kept(p.top_k))
    timings["rank"] = time.perf_counter() - t
    ranking = [c.as_dict(i + 1) for i, c in enumerate(candidates)]
    if o.graph == "auto":
        rep.message("rank", "ranking: " + ", ".join(c.label() for c in candidates))
    if o.graph != "auto":
        chosen = candidates[:1]
    elif o.top_k:  # asked for: exactly that many
        chosen = candidates[:o.top_k]
    else:  # the preset's: up to that many, the unlikely ones left out (choose.keep_likely)
        chosen = keep_likely(candidates, p.top_k)
        if len(chosen) < min(p.top_k, len(candidates)):
            rep.message("rank", f"optimising {', '.join(c.name for c in chosen)} only: the classifier finds "
                                f"the next graph under {KEEP_FRACTION:g} x as likely")
        elif len(chosen) > p.top_k:
            rep.message("rank", f"the classifier is unsure (first choice {chosen[0].name} at "
                                f"{chosen[0].probability:.2f} < {UNSURE:g}): also optimising {chosen[-1].name}")
    k = len(chosen)
    # each graph from the preset's restarts, its fits shared among the graphs kept (diffproxy;
    # the baselines run once): jobs graph-major
    n = p.restarts_for(k, o.top_k) if o.method == "diffproxy" else 1
    tasks = [(c, g, r) for i, (c, g0) in enumerate(zip(chosen, graph_generators(gen, o.seed, k)))
             for r, g in enumerate(restart_generators(g0, run_seed(o.seed, i), n))]
    together = len(tasks) > 1 and (o.batch == "on" or (o.batch == "auto" and device.type != "cpu"))
    workers = 1 if together else plan(o, len(tasks), device, threads)
    # search: the same wall time in all, however many graphs run at once
    search_seconds = (o.time_limit or p.search_seconds) / -(-k // workers)

    done: list[GraphRun] = []
    batches = None
    if workers > 1:
        what = f"graphs {', '.join(c.name for c in chosen)}" if k > 1 else f"graph {chosen[0].name}"
        rep.message("fit", f"optimising {what}{f' from {n} starts each' if n > 1 else ''} with {o.method}, "
                           f"{workers} processes side by side")
        jobs = [Job(c.name, photo.image, c.u, o, descriptor, g.get_state(), search_seconds, threads, restart=r)
                for c, g, r in tasks]
        done = run_parallel(jobs, workers, rep)
        for run in done:
            run.fit = Fit(get_graph(run.graph), photo.image, p, descriptor, device)
    elif together:
        rep.message("fit", f"optimising {', '.join(c.name for c in chosen)}{f' from {n} starts each' if n > 1 else ''} "
                           f"with {o.method}, side by side in this process (restarts in one batch)")

        # one copy of the photo on the device for every job's fit: the fits of a graph's restarts
        # are told apart by it (Fit.batch_key), so separate copies would never share a batch
        image = photo.image.to(device, torch.float32)

        def job(cand, g, sub: Reporter):
            fit = Fit(get_graph(cand.name), image, p, descriptor, device)
            return finish_graph(optimise_graph(fit, cand.u.to(device), o, sub, g, search_seconds), o, sub)

        done, met = run_together([(lambda c=c, g=g, r=r: job(c, g, rep.child(prefix(c.name, r))))
                                  for c, g, r in tasks])
        batches = met.batches
        rep.message("fit", f"{sum(batches)} descents in {len(batches)} batches")
    else:
        for i, (cand, g, r) in enumerate(tasks):
            rep.prefix = prefix(cand.name, r) if len(tasks) > 1 else ""
            rep.message("fit", f"optimising graph {cand.name} ({i + 1}/{len(tasks)}) with {o.method}")
            fit = Fit(get_graph(cand.name), photo.image, p, descriptor, device)
            done.append(finish_graph(optimise_graph(fit, cand.u.to(device), o, rep, g, search_seconds), o, rep))
        rep.prefix = ""
    # one run per graph, its best restart; compared by their final look: after Stage "detail"
    # (finish_graph), that of the export's maps; a tie goes to the graph ranked first (best_graph)
    runs = [best_restart(done[i * n:(i + 1) * n]) for i in range(k)]
    best = best_graph(runs)
    low = min(runs, key=lambda r: r.look)
    if best is not low and low.shape and low.shape["share"] < SHAPE_SHARE:
        rep.message("done", f"kept {best.graph}: the photo's units are {low.shape['aspect']:.2f} times as wide as "
                            f"high, a shape only {low.shape['share']:.1%} of the {low.graph} prior has; not "
                            f"{low.graph} ({low.look:.4f} against {best.look:.4f})")
    elif best is not low and low.joints and not low.joints["agree"] and best.joints and best.joints["agree"]:
        side = "darker" if low.joints["photo"] < 0 else "lighter"
        rep.message("done", f"kept {best.graph}: the photo's joints are {side} than its units, and so are its "
                            f"render's; not {low.graph}'s ({low.look:.4f} against {best.look:.4f})")
    elif best is not low:
        rep.message("done", f"kept {best.graph}, ranked first: its look is within {look_tie(runs):.0%} of the lowest "
                            f"({best.look:.4f} against {low.look:.4f})")
    timings.update({f"graph:{r.graph}": r.seconds for r in runs})
    for name, sec in best.timings.items():
        timings[name] = sec
    timings["total"] = time.perf_counter() - t_start
    rep.message("done", f"best graph {best.graph}: style {best.final['style']:.4f}, "
                        f"feature {best.final['feature']:.4f} in {timings['total']:.1f}s")
    used = None
    if candidates[0].probability is not None:  # the classifier ordered the ranking: say which one
        from ..classifier import describe
        used = describe()
    guessed = None
    if best.stages.get("estimate", {}).get("used"):  # the parameter estimator proposed a start: which one
        from ..estimator import describe as describe_estimator
        guessed = describe_estimator()
    return Result.from_run(best, runs, o, photo, descriptor, device, ranking, timings, graph_classifier=used,
                           param_estimator=guessed, batches=batches, photo_turn=photo_turn)


__all__ = ["proceduralize", "Options", "Cancelled", "Result"]
