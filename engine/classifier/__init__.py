"""Which material graph is this photo? A small CNN trained on the graphs' own renders.

The graph ranking (``optimize.choose``) scores cheap prior samples of every graph against the
photo in descriptor space; with the offline random-weight descriptor that ranking did not carry
over from renders to real photos (right for 1-3 of 11 labelled photos, docs/BENCHMARKS.md). This
classifier is trained on renders of every graph's artist prior under photo-like variations
(``augment``: zoom, orientation, colour, tone curve, uneven light, highlights, blur, noise) to
tell the graphs apart by their *pattern*; the ranking orders the graphs by its probability when
it knows them all. Train it with ``diffproxy classifier-train`` (``train``).

The shipped classifier is a committee (:func:`shipped_paths`): ``engine/weights/
graph_classifier.safetensors`` (trained with ``--seed 0``) and every ``graph_classifier_seed<N>
.safetensors`` beside it (``--seed N``: other renders, another initialisation and order), their
probabilities averaged. Why: two networks trained on different draws make different mistakes on
what neither saw; their mean is right more often than either, on held-out renders and on photos
(docs/BENCHMARKS.md, "Session 30"). Each file is fp16 safetensors, like the proxies'; header
metadata: ``format``, ``config`` (the network's construction arguments, graph names included)
and ``training`` (the run's record, validation accuracies included).
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
MEMBER_PREFIX = "graph_classifier_seed"  # + N: the committee member trained with --seed N > 0


def member_path(seed: int) -> Path:
    """Where ``classifier-train --seed N`` writes by default: the shipped committee's member for
    that seed (:data:`WEIGHTS_PATH` for seed 0)."""
    return WEIGHTS_PATH if seed == 0 else WEIGHTS_PATH.with_name(f"{MEMBER_PREFIX}{seed}{WEIGHTS_PATH.suffix}")


def _member_seed(path: Path) -> int | None:
    """The ``--seed`` of a committee member's file name (0 for :data:`WEIGHTS_PATH`), else None."""
    if path == WEIGHTS_PATH:
        return 0
    tail = path.stem[len(MEMBER_PREFIX):] if path.stem.startswith(MEMBER_PREFIX) else ""
    if not tail.isdigit() or int(tail) == 0 or path != member_path(int(tail)):
        return None
    return int(tail)


def shipped_paths() -> list[Path]:
    """The shipped committee: :data:`WEIGHTS_PATH` (listed even when missing, so that its absence
    is reported) and every ``graph_classifier_seed<N>.safetensors`` beside it, by seed."""
    others = [q for q in WEIGHTS_PATH.parent.glob(f"{MEMBER_PREFIX}*{WEIGHTS_PATH.suffix}") if _member_seed(q)]
    return [WEIGHTS_PATH, *sorted(others, key=_member_seed)]


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


def _paths(path: str | os.PathLike | None) -> list[Path]:
    return [Path(path)] if path else shipped_paths()


def describe(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Which classifier this is, for a result's record: ``files`` (names), the first 16 hex digits
    of each one's SHA-256, their graphs and validation accuracies (the metadata of the copies
    already loaded). ``path``: one file; default the shipped committee."""
    files, sha, accuracy, graphs = [], [], [], []
    for p in _paths(path):
        loaded = [m for (q, _), (_, m) in _CACHE.items() if q == str(p)]
        meta = loaded[0] if loaded else _cached(p, "cpu")[1]
        files.append(p.name)
        sha.append(hashlib.sha256(p.read_bytes()).hexdigest()[:16])
        accuracy.append(meta["training"].get("val_accuracy"))
        graphs += [g for g in meta["config"]["graphs"] if g not in graphs]
    return {"files": files, "sha256": sha, "graphs": graphs, "val_accuracy": accuracy}


def graph_probabilities(photo: torch.Tensor, graph_names: list[str], device: Any = "cpu",
                        path: str | os.PathLike | None = None) -> dict[str, float]:
    """``{graph: probability}`` for the ``(1, 3, H, W)`` sRGB photo, renormalised over
    ``graph_names`` (a subset of the classifier's graphs): the mean of the committee's
    (:func:`shipped_paths`; ``path``: that one file alone). Raises :class:`ClassifierUnavailable`
    when a file is missing or does not know one of the graphs (a graph added since it was
    trained)."""
    total = dict.fromkeys(graph_names, 0.0)
    paths = _paths(path)
    for p in paths:
        net = _cached(p, device)[0]
        unknown = [g for g in graph_names if g not in net.graphs]
        if unknown:
            seed = _member_seed(p)
            hint = TRAIN_HINT if seed is None else f"retrain it with `diffproxy classifier-train --seed {seed} --force`"
            raise ClassifierUnavailable(f"the graph classifier {p.name} was trained without graph(s) "
                                        f"{', '.join(unknown)}; {hint}")
        q = probabilities(net, photo)
        for g in graph_names:
            total[g] += q[g] / len(paths)
    norm = sum(total.values()) or 1.0
    return {g: v / norm for g, v in total.items()}


__all__ = ["ClassifierUnavailable", "GraphClassifierNet", "describe", "graph_probabilities", "load_classifier",
           "member_path", "probabilities", "save_classifier", "shipped_paths", "views", "FORMAT", "WEIGHTS_PATH"]
