"""The benchmark's synthetic targets (see ``bench``'s docstring): a graph's prior sample
rendered at :data:`TARGET_RES`, fitted from a distant start, judged at :data:`EVAL`'s budget."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import torch

from ..descriptor import get_descriptor
from ..device import pick_device
from ..render import render
from .control import Reporter
from .fit import Fit
from .graph_run import optimise_graph
from .options import PRESETS, Options, Preset
from .result import best_restart
from .workers import restart_generators

TARGET_RES = 256
# the judge of every method, whatever the presets say: 256 px renders of maps made at 256 px,
# losses at 256/128/64 (the paper's budget; what ``full`` fitted at until session 20)
EVAL = dataclasses.replace(PRESETS["balanced"], name="eval", res=TARGET_RES, scales=(256, 128, 64),
                           search_res=128, supersample=1)
START_CANDIDATES = 8


def _param_errors(fit: Fit, u: torch.Tensor, u_target: torch.Tensor) -> dict[str, float | None]:
    spec = fit.spec
    got = spec.round(spec.denormalize(u.cpu()))
    want = spec.round(spec.denormalize(u_target.cpu()))
    disc = [p.name for p in spec if p.role == "generator" and p.discrete]
    cont = [i for i, p in enumerate(spec) if p.role == "generator" and not p.discrete]
    acc = (sum(float(got[n][0] == want[n][0]) for n in disc) / len(disc)) if disc else None
    mae = float((u.cpu()[0, cont] - u_target.cpu()[0, cont]).abs().mean()) if cont else None
    return {"discrete_accuracy": acc, "continuous_mae": mae}


def judge(graph, image: torch.Tensor, u: torch.Tensor, descriptor, device,
          maps_px: int | None = None) -> dict[str, float]:
    """Feature and style loss of normalised parameters ``u`` (1, P) of ``graph`` against
    ``image`` at :data:`EVAL`'s resolution and scales; with ``maps_px``, of the render of the
    maps made at that size (the exported material's look, seen at 256 px)."""
    return Fit(graph, image, EVAL, descriptor, device).evaluate(u.to(device), maps_px)


def synthetic_target(graph, gen: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(u_target (1, P), image (1, 3, TARGET_RES, TARGET_RES), u_start (1, P))``."""
    spec = graph.spec
    u_t = spec.normalize(spec.sample(1, generator=gen, prior=True)).to(device)
    with torch.no_grad():
        img = render(graph.maps(spec.round(spec.denormalize(u_t)), TARGET_RES)).clamp(0, 1)
    starts = spec.normalize(spec.sample(START_CANDIDATES, generator=gen, prior=True)).to(device)
    gidx = [i for i, p in enumerate(spec) if p.role == "generator"] or list(range(len(spec)))
    d = (starts[:, gidx] - u_t[:, gidx]).pow(2).sum(1)
    k = int(torch.argmax(d))
    return u_t, img, starts[k:k + 1]


def indexed_target(i: int, seed: int, device, names: Sequence[str] | None = None):
    """Synthetic target ``i`` of a benchmark seeded ``seed``: ``(graph, u_target, image,
    u_start)`` (:func:`synthetic_target`), its graph the ``i % len(names)``-th of ``names``
    (default every registered graph), its stream seeded from ``seed`` and ``i`` alone, so target
    ``i`` is the same whatever runs before it."""
    from ..graphs import GRAPHS, get_graph

    names = list(names) if names else list(GRAPHS)
    graph = get_graph(names[i % len(names)])
    return (graph, *synthetic_target(graph, torch.Generator().manual_seed(seed * 100003 + i), device))


def fit_preset(preset: Preset) -> Preset:
    """The budget a synthetic target is fitted with: ``preset`` with its supersampling capped at
    the factor by which the target (rendered at :data:`TARGET_RES`, not supersampled) is
    downsized to the fit's resolution, so that the target's own parameters score 0 in the fit
    as in the judge (exactly where 256 px is a whole multiple of the fit's side: ``balanced``'s
    and ``full``'s 128; ``fast``'s 96 px only come close). Every preset keeps its 2x today; the
    cap bites on a preset fitting at the target's own 256 px, as ``full`` did until session 20,
    where 2x supersampling rendered a smoother image than the target: its own parameters scored
    a style loss of 0.052, 0.076, 0.032 and 0.0065 (targets 0, 15, 16, 13) and both methods were
    pulled away from them (session 18).
    Photos hold detail finer than any pixel, so they are fitted with the preset as it is."""
    s = max(1, min(preset.supersample, TARGET_RES // preset.res))
    return preset if s == preset.supersample else dataclasses.replace(preset, supersample=s)


def run_synthetic(n: int, seed: int, methods: Sequence[str], preset: str, graphs: Sequence[str] | None,
                  device: str = "auto", descriptor: str = "auto",
                  log: Callable[[str], None] = print, first: int = 0,
                  proxy_weights: str | None = None) -> list[dict[str, Any]]:
    """Synthetic rows (one per target and method) for targets ``first .. first + n - 1``; see the
    module docstring (target ``i`` is the same whatever ``first``: runs can be split).
    ``proxy_weights``: as :class:`Options`."""
    from .bench import BENCH_METHODS, _row_line

    dev = pick_device(device)
    desc = get_descriptor(descriptor, dev)
    rows: list[dict[str, Any]] = []
    for i in range(first, first + n):
        graph, u_t, img, u_s = indexed_target(i, seed, dev, graphs)
        diff_seconds = None
        for m in sorted(methods, key=lambda m: m != "diffproxy"):  # diffproxy first: it sets the time
            o = Options(graph=graph.name, preset=preset, device=device, seed=seed + i,
                        descriptor=descriptor, proxy_weights=proxy_weights, **BENCH_METHODS[m])
            fit = Fit(graph, img, fit_preset(o.preset), desc, dev)
            u0 = u_s.clone()
            if m == "match-oracle":
                u0[:, fit.gen_idx] = u_t[:, fit.gen_idx]
            elif m == "match-estimator":  # the guess's generator parameters, the start's seeds
                from ..estimator import estimate
                guess = estimate(img, graph, dev)
                params = list(graph.spec)
                keep = [i for i in fit.gen_idx if not params[i].seed]
                u0[:, keep] = guess[:, keep].to(u0.device)
            # the pipeline's restarts of one graph (diffproxy), each on a fresh fit: they run apart
            restarts = o.preset.restarts_for(1) if o.method == "diffproxy" else 1
            gens = restart_generators(torch.Generator().manual_seed(seed * 7919 + i), seed * 7919 + i, restarts)
            run = best_restart([optimise_graph(fit if r == 0 else Fit(graph, img, fit.preset, desc, dev),
                                               u0.clone(), o, Reporter(), g,
                                               search_seconds=diff_seconds if m == "search" else None)
                                for r, g in enumerate(gens)])
            if m == "diffproxy":
                diff_seconds = run.seconds
            final = judge(graph, img, run.u, desc, dev)
            row = {"target": f"synthetic{i}", "kind": "synthetic", "graph": graph.name, "method": m,
                   "feature": final["feature"], "style": final["style"],
                   "fit_feature": run.final["feature"], "fit_style": run.final["style"],
                   "start_feature": run.stages["start"]["feature"], "start_style": run.stages["start"]["style"],
                   "seconds": round(run.seconds, 2), **_param_errors(fit, run.u, u_t)}
            if "stage2" in run.stages:
                row["proxies"] = run.stages["stage2"].get("mode")
            rows.append(row)
            log(_row_line(row))
    return rows
