"""Which parameters of a graph would make this photo? A small CNN's first guess.

The optimisation's start point is otherwise the best of a few dozen prior samples (the graph
ranking), and its Stage II random search the best of 48-500 more: the counts that set a
pattern's scale (brick courses, tiles, threads) are then right only by luck. The estimator is
trained on renders of every graph's artist prior (``train``) to read all of a graph's
parameters off an image: the pattern's counts and sizes from the standardised image, the filter
parameters from its colours too. The pipeline tries its guess as the start point and as one
more candidate of Stage II's random search (``optimize.searches.estimate_start``); the losses decide
whether it is kept. Its counts (courses, tiles, threads, cells) also bound the structure
searches (:func:`count_windows`): on real photos the losses alone picked the wrong scale where
the guess had it right (docs/BENCHMARKS.md, session 11). Train it with ``diffproxy estimator-train``; the shipped weights are
``engine/weights/param_estimator.safetensors`` (fp16 safetensors; header metadata ``format``,
``config`` (the network's construction arguments, each graph's parameter count included),
``params`` (each graph's parameter names, in output order) and ``training`` (the run's record)).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import torch

from ..netfile import load_net, save_net
from .network import INPUT_RES, EstimatorNet, prepare

FORMAT = "diffproxy-param-estimator/1"
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "param_estimator.safetensors"
TRAIN_HINT = "retrain it with `diffproxy estimator-train`"


class EstimatorUnavailable(RuntimeError):
    """No usable parameter estimator for this graph (the message says why and what to do)."""


def save_estimator(path: str | os.PathLike, net: EstimatorNet, training: dict[str, Any]) -> Path:
    """Write ``net`` (fp16) with its config, the graphs' parameter names and the training
    record, atomically."""
    from ..graphs import get_graph

    names = {g: get_graph(g).spec.names for g in net.graphs}
    return save_net(path, net, FORMAT, config=net.config, params=names, training=training)


def load_estimator(path: str | os.PathLike | None = None,
                   device: Any = "cpu") -> tuple[EstimatorNet, dict[str, Any]]:
    """The estimator at ``path`` (default: the shipped one) in eval mode on ``device``, and its
    header metadata (``config``, ``params`` and ``training`` decoded). Raises
    :class:`EstimatorUnavailable`."""
    return load_net(Path(path or WEIGHTS_PATH), FORMAT, lambda meta: EstimatorNet(**meta["config"]),
                    EstimatorUnavailable, "parameter estimator", TRAIN_HINT, device)


_CACHE: dict[tuple[str, str], tuple[EstimatorNet, dict[str, Any]]] = {}


def _cached(path: str | os.PathLike | None, device: Any) -> tuple[EstimatorNet, dict[str, Any]]:
    key = (str(Path(path or WEIGHTS_PATH)), str(torch.device(device)))
    if key not in _CACHE:
        _CACHE[key] = load_estimator(path, device)
    return _CACHE[key]


def _metadata(path: str | os.PathLike | None) -> dict[str, Any]:
    """The header metadata of the estimator at ``path``: of the copy already loaded, on
    whichever device, else of a CPU copy."""
    path = Path(path or WEIGHTS_PATH)
    loaded = [m for (p, _), (_, m) in _CACHE.items() if p == str(path)]
    return loaded[0] if loaded else _cached(path, "cpu")[1]


def describe(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Which estimator this is, for a result's record: file name, the first 16 hex digits of its
    SHA-256, its graphs and validation error (the metadata of the copy already loaded, on
    whichever device)."""
    path = Path(path or WEIGHTS_PATH)
    meta = _metadata(path)
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
            "graphs": list(meta["config"]["graphs"]), "val_mae": meta["training"].get("val_mae")}


@torch.no_grad()
def estimate(photo: torch.Tensor, graph, device: Any = "cpu",
             path: str | os.PathLike | None = None) -> torch.Tensor:
    """``(1, P)`` normalised parameters of ``graph`` (a ``MaterialGraph``) guessed from the
    ``(1, 3, H, W)`` sRGB photo. Raises :class:`EstimatorUnavailable` when the estimator is
    missing or was trained without this graph or with other parameters (the graph changed
    since)."""
    net, meta = _cached(path, device)
    if graph.name not in net.graphs:
        raise EstimatorUnavailable(f"the parameter estimator was trained without graph {graph.name}; {TRAIN_HINT}")
    if meta["params"].get(graph.name) != graph.spec.names:
        raise EstimatorUnavailable(f"graph {graph.name}'s parameters changed since the parameter estimator "
                                   f"was trained; {TRAIN_HINT}")
    return net(prepare(photo.to(device, torch.float32)), graph.name)


# a photo is not a render: whatever the validation spread, a count may be off by this factor
MIN_SPREAD_FACTOR = 1.25


def count_windows(graph, guess: torch.Tensor, path: str | os.PathLike | None = None) -> dict[str, tuple[int, int]]:
    """``{count parameter: (lowest, highest)}`` (natural units, inclusive) that the structure
    searches keep to, around the counts of ``guess`` (1, P) (normalised, from :func:`estimate`):
    the guess times or divided by the larger of ``MIN_SPREAD_FACTOR`` and the estimator's own
    validation spread for that count (``exp(count_spread)``: 95 % of its guesses on fresh renders
    were that close), snapped to the values the parameter's prior can draw (brick courses go 2 at
    a time); always holds the guess. Empty when the weights file records no spread (trained
    before it was measured)."""
    meta = _metadata(path)
    spread = meta["training"].get("val_per_graph", {}).get(graph.name, {}).get("count_spread") or {}
    nat = graph.spec.round(graph.spec.denormalize(guess[:1].detach().cpu().float()))
    out = {}
    for name, s in spread.items():
        p = graph.spec.by_name.get(name)
        if p is None or p.kind != "int":
            continue
        g = float(nat[name][0])
        f = max(math.exp(float(s)), MIN_SPREAD_FACTOR)
        levels = [p.low + k for k in p.allowed_levels]
        inside = [v for v in levels if g / f - 1e-6 <= v <= g * f + 1e-6] or [min(levels, key=lambda v: abs(v - g))]
        out[name] = (int(min(inside)), int(max(inside)))
    return out


__all__ = ["EstimatorNet", "EstimatorUnavailable", "count_windows", "describe", "estimate", "load_estimator",
           "prepare", "save_estimator", "FORMAT", "INPUT_RES", "MIN_SPREAD_FACTOR", "WEIGHTS_PATH"]
