"""Which material graph is this photo? A small CNN trained on the graphs' own renders.

The graph ranking (``optimize.choose``) scores cheap prior samples of every graph against the
photo in descriptor space; with the offline random-weight descriptor that ranking did not carry
over from renders to real photos (right for 1-3 of 11 labelled photos, docs/BENCHMARKS.md). This
classifier is trained on renders of every graph's artist prior under photo-like variations
(``augment``: zoom, orientation, colour, tone curve, uneven light, highlights, blur, noise) to
tell the graphs apart by their *pattern*; the ranking orders the graphs by its probability when
it knows them all. Train it with ``diffproxy classifier-train`` (``train``); the shipped weights
are ``engine/weights/graph_classifier.safetensors`` (fp16 safetensors, like the proxies'; header
metadata: ``format``, ``config`` (the network's construction arguments, graph names included)
and ``training`` (the run's record, validation accuracies included)).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..netfile import load_net, save_net
from .network import GraphClassifierNet, probabilities, views

FORMAT = "diffproxy-graph-classifier/1"
WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "weights" / "graph_classifier.safetensors"
TRAIN_HINT = "retrain it with `diffproxy classifier-train`"


class ClassifierUnavailable(RuntimeError):
    """No usable graph classifier (the message says why and what to do)."""


def save_classifier(path: str | os.PathLike, net: GraphClassifierNet, training: dict[str, Any]) -> Path:
    """Write ``net`` (fp16) with its config and training record, atomically."""
    return save_net(path, net, FORMAT, config=net.config, training=training)


def load_classifier(path: str | os.PathLike | None = None,
                    device: Any = "cpu") -> tuple[GraphClassifierNet, dict[str, Any]]:
    """The classifier at ``path`` (default: the shipped one) in eval mode on ``device``, and its
    header metadata (``config`` and ``training`` decoded). Raises :class:`ClassifierUnavailable`."""
    return load_net(Path(path or WEIGHTS_PATH), FORMAT, lambda meta: GraphClassifierNet(**meta["config"]),
                    ClassifierUnavailable, "graph classifier", TRAIN_HINT, device)


_CACHE: dict[tuple[str, str], tuple[GraphClassifierNet, dict[str, Any]]] = {}


def _cached(path: str | os.PathLike | None, device: Any) -> tuple[GraphClassifierNet, dict[str, Any]]:
    """:func:`load_classifier`, once per file and device."""
    key = (str(Path(path or WEIGHTS_PATH)), str(torch.device(device)))
    if key not in _CACHE:
        _CACHE[key] = load_classifier(path, device)
    return _CACHE[key]


def describe(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Which classifier this is, for a result's record: file name, the first 16 hex digits of
    its SHA-256, its graphs and validation accuracy (the metadata of the copy already loaded)."""
    path = Path(path or WEIGHTS_PATH)
    loaded = [m for (p, _), (_, m) in _CACHE.items() if p == str(path)]
    meta = loaded[0] if loaded else _cached(path, "cpu")[1]
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
            "graphs": meta["config"]["graphs"], "val_accuracy": meta["training"].get("val_accuracy")}


def graph_probabilities(photo: torch.Tensor, graph_names: list[str], device: Any = "cpu",
                        path: str | os.PathLike | None = None) -> dict[str, float]:
    """``{graph: probability}`` for the ``(1, 3, H, W)`` sRGB photo, renormalised over
    ``graph_names`` (a subset of the classifier's graphs). Raises :class:`ClassifierUnavailable`
    when the classifier is missing or does not know one of the graphs (a graph added since it
    was trained)."""
    net = _cached(path, device)[0]
    unknown = [g for g in graph_names if g not in net.graphs]
    if unknown:
        raise ClassifierUnavailable(f"the graph classifier was trained without graph(s) {', '.join(unknown)}; "
                                    f"{TRAIN_HINT}")
    p = probabilities(net, photo)
    total = sum(p[g] for g in graph_names) or 1.0
    return {g: p[g] / total for g in graph_names}


__all__ = ["ClassifierUnavailable", "GraphClassifierNet", "describe", "graph_probabilities", "load_classifier",
           "probabilities", "save_classifier", "views", "FORMAT", "WEIGHTS_PATH"]
