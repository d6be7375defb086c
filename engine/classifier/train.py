"""Training the graph classifier on renders of the graphs' own artist priors.

Data: ``samples`` prior draws per graph (all parameters, rounded as the graph uses them),
rendered once at ``SOURCE_RES`` px through the flash renderer and kept as 8-bit; every epoch
shows each render once through a fresh :func:`augment` draw. A second set drawn with another
seed is the validation set, judged both as single augmented views (``val_view_accuracy``) and
as the pipeline judges a photo: the averaged :func:`views` of the plain render
(``val_accuracy``). Everything random comes from seeded ``torch.Generator``s.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..netdata import render_samples
from .augment import augment
from .network import SOURCE_RES, GraphClassifierNet, probabilities

Progress = Callable[[str], None]


def render_dataset(graph_names: Sequence[str], samples: int, seed: int, res: int = SOURCE_RES,
                   batch: int = 8, progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` prior draws of every graph rendered at ``res`` px: ``(N, 3, res, res)`` uint8
    and ``(N,)`` labels (the index in ``graph_names``)."""
    from ..graphs import get_graph

    images, labels = [], []
    for k, name in enumerate(graph_names):
        t = time.perf_counter()
        images.append(render_samples(get_graph(name), samples, seed * 1000 + k, res, batch)[0])
        labels += [k] * samples
        if progress:
            progress(f"rendered {samples} samples of {name} in {time.perf_counter() - t:.1f}s")
    return torch.cat(images), torch.tensor(labels)


def train_classifier(graph_names: Sequence[str], samples: int = 800, val_samples: int = 80,
                     epochs: int = 30, batch: int = 64, lr: float = 2e-3, seed: int = 0,
                     progress: Progress | None = None) -> tuple[GraphClassifierNet, dict]:
    """Train a :class:`GraphClassifierNet` for ``graph_names``; returns it (eval mode) and a
    JSON-able record of the run (settings, losses per epoch, validation accuracies, seconds)."""
    if samples < 1 or epochs < 1 or val_samples < 1:
        raise ValueError("samples, val_samples and epochs must be at least 1")
    t0 = time.perf_counter()
    torch.manual_seed(seed)  # weight initialisation and dropout
    x, y = render_dataset(graph_names, samples, seed=2 * seed + 1, progress=progress)
    vx, vy = render_dataset(graph_names, val_samples, seed=2 * seed + 2, progress=progress)
    net = GraphClassifierNet(graph_names)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    per_epoch = max(1, len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * per_epoch)
    g = torch.Generator().manual_seed(seed)
    val_views = augment(vx.float() / 255, torch.Generator().manual_seed(seed + 12345))
    history = []
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=g)
        total = 0.0
        for k in range(per_epoch):
            idx = order[k * batch:(k + 1) * batch]
            loss = F.cross_entropy(net(augment(x[idx].float() / 255, g)), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        net.eval()
        with torch.no_grad():
            acc = float((net(val_views).argmax(1) == vy).float().mean())
        history.append({"epoch": epoch + 1, "loss": round(total / per_epoch, 4), "val_view_accuracy": round(acc, 4)})
        if progress:
            progress(f"epoch {epoch + 1}/{epochs}: loss {total / per_epoch:.3f}, validation accuracy "
                     f"{acc:.3f} ({time.perf_counter() - t0:.0f}s)")
    right = torch.zeros(len(graph_names))
    for i in range(len(vx)):
        p = probabilities(net, vx[i:i + 1].float() / 255)
        right[int(vy[i])] += max(p, key=p.get) == graph_names[int(vy[i])]
    info = {"samples": samples, "val_samples": val_samples, "epochs": epochs, "batch": batch, "lr": lr,
            "seed": seed, "history": history, "val_view_accuracy": history[-1]["val_view_accuracy"],
            "val_accuracy": round(float(right.sum()) / len(vx), 4),
            "val_accuracy_per_graph": {n: round(float(right[k]) / val_samples, 4) for k, n in enumerate(graph_names)},
            "seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    return net, info
