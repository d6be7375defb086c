"""Training the parameter estimator on renders of the graphs' artist priors.

Data (``netdata.render_samples``): ``samples`` prior draws per graph rendered at
``RENDER_RES`` px, kept as 8-bit; a second set drawn with other seeds is the validation set.
Every epoch shows each render once, circularly shifted by a random amount (the renders tile),
under a mild illumination slope and sensor noise (a photo's, which say nothing about the
parameters; colours are *not* varied: the colour parameters are read from them). The loss is
the mean absolute error in normalised parameter space over every parameter but the random
seeds (no image tells a seed's value; the pipeline's seed search finds those), a periodic one
(a hue) measured the short way round.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from ..netdata import render_samples
from .network import EstimatorNet, prepare

Progress = Callable[[str], None]
RENDER_RES = 256  # px of the training renders (the synthetic benchmark's targets' size)
# ``count_spread``: this quantile of |ln(guess / truth)| over the validation renders, per count
SPREAD_QUANTILE = 0.95


def param_weights(graph) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P,)`` loss weights (0 for a seed, 1 otherwise) and ``(P,)`` periodic flags."""
    params = list(graph.spec)
    return (torch.tensor([0.0 if p.seed else 1.0 for p in params]),
            torch.tensor([bool(p.periodic) for p in params]))


def count_params(graph) -> list[str]:
    """The generator parameters that count something (courses, tiles, threads, cells): integer,
    not a seed, at least 1. Their guesses' relative errors are recorded (``count_spread``)."""
    return [p.name for p in graph.spec
            if p.role == "generator" and p.kind == "int" and not p.seed and p.low >= 1]


def param_error(pred: torch.Tensor, u: torch.Tensor, periodic: torch.Tensor) -> torch.Tensor:
    """``(B, P)`` absolute errors in normalised space, periodic entries the short way round."""
    d = (pred - u).abs()
    return torch.where(periodic, torch.minimum(d, 1 - d), d)


def _jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random circular shift per image, illumination slope up to +-15 %, noise up to 0.02."""
    n, _, h, w = x.shape
    out = torch.empty_like(x)
    shifts = torch.randint(0, h, (n, 2), generator=g)
    for b in range(n):
        out[b] = torch.roll(x[b], (int(shifts[b, 0]), int(shifts[b, 1])), (1, 2))
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    sx, sy = ((torch.rand(n, generator=g) * 2 - 1) * 0.15 for _ in range(2))
    out = out * (1 + sx.view(-1, 1, 1, 1) * xx + sy.view(-1, 1, 1, 1) * yy)
    return out + torch.randn(out.shape, generator=g) * (0.02 * torch.rand(n, generator=g)).view(-1, 1, 1, 1)


def build_data(graph_names: Sequence[str], samples: int, seed: int,
               progress: Progress | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{graph: (inputs (n, 3, INPUT_RES, INPUT_RES) uint8, u (n, P))}`` rendered at
    RENDER_RES and area-resized to the network's input."""
    from ..graphs import get_graph

    data = {}
    for k, name in enumerate(graph_names):
        t = time.perf_counter()
        x, u = render_samples(get_graph(name), samples, seed * 1000 + k, RENDER_RES)
        # area-resized a chunk at a time: the float copy of 2000 renders at 256 px alone is 1.6 GB
        x = torch.cat([(prepare(x[i:i + 256].float() / 255) * 255).round().to(torch.uint8)
                       for i in range(0, len(x), 256)])
        data[name] = (x, u)
        if progress:
            progress(f"rendered {samples} samples of {name} in {time.perf_counter() - t:.1f}s")
    return data


@torch.no_grad()
def evaluate(net: EstimatorNet, data: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict]:
    """Per graph: mean absolute error of the non-seed parameters (normalised); for the
    discrete generator parameters, the fraction predicted exactly after rounding; for the
    counts (:func:`count_params`), ``count_spread``: the ``SPREAD_QUANTILE`` quantile of
    |ln(rounded guess / truth)| (0.1: 95 % of guesses within about 10 % of the true count;
    the pipeline's count window is built from it)."""
    from ..graphs import get_graph

    net.eval()
    out = {}
    for name, (x, u) in data.items():
        graph = get_graph(name)
        w, per = param_weights(graph)
        pred = torch.cat([net(x[i:i + 64].float() / 255, name) for i in range(0, len(x), 64)])
        err = param_error(pred, u, per)
        spec = graph.spec
        got, want = spec.round(spec.denormalize(pred)), spec.round(spec.denormalize(u))
        disc = [p.name for p in spec if p.role == "generator" and p.discrete and not p.seed]
        acc = {n: round(float((got[n] == want[n]).float().mean()), 3) for n in disc}
        spread = {n: round(float(torch.quantile((got[n] / want[n]).log().abs(), SPREAD_QUANTILE)), 4)
                  for n in count_params(graph)}
        out[name] = {"mae": round(float((err * w).sum(1).mean() / w.sum()), 4), "discrete_exact": acc,
                     "count_spread": spread}
    return out


def train_estimator(graph_names: Sequence[str], samples: int = 2000, val_samples: int = 100,
                    epochs: int = 10, batch: int = 64, lr: float = 2e-3, seed: int = 0,
                    progress: Progress | None = None,
                    data: dict | None = None, val_data: dict | None = None) -> tuple[EstimatorNet, dict]:
    """Train an :class:`EstimatorNet` for ``graph_names``; returns it (eval mode) and a JSON-able
    record of the run (settings, loss per epoch, validation errors per graph, seconds).
    ``data``/``val_data``: already rendered sets (:func:`build_data`) instead of rendering."""
    from ..graphs import get_graph

    if samples < 1 or epochs < 1 or val_samples < 1:
        raise ValueError("samples, val_samples and epochs must be at least 1")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    data = data or build_data(graph_names, samples, 2 * seed + 1, progress)
    val_data = val_data or build_data(graph_names, val_samples, 2 * seed + 2, progress)
    net = EstimatorNet({n: len(get_graph(n).spec) for n in graph_names})
    weights = {n: param_weights(get_graph(n)) for n in graph_names}
    # one list of (graph index, sample index) over all graphs, shuffled every epoch
    index = torch.cat([torch.stack([torch.full((len(data[n][0]),), k), torch.arange(len(data[n][0]))], 1)
                       for k, n in enumerate(graph_names)])
    per_epoch = max(1, len(index) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * per_epoch)
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        net.train()
        order = index[torch.randperm(len(index), generator=g)]
        total = 0.0
        for s in range(per_epoch):
            rows = order[s * batch:(s + 1) * batch]
            xs = torch.cat([data[graph_names[int(k)]][0][int(i)][None] for k, i in rows])
            e = net.embed(_jitter(xs.float() / 255, g))
            loss = 0.0
            for k in rows[:, 0].unique().tolist():
                sel = rows[:, 0] == k
                name = graph_names[k]
                u = data[name][1][rows[sel, 1]]
                w, per = weights[name]
                loss = loss + (param_error(net.head(name, e[sel]), u, per) * w).sum() / w.sum()
            loss = loss / len(rows)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        val = evaluate(net, val_data)
        mean_mae = sum(v["mae"] for v in val.values()) / len(val)
        history.append({"epoch": epoch + 1, "loss": round(total / per_epoch, 4), "val_mae": round(mean_mae, 4)})
        if progress:
            progress(f"epoch {epoch + 1}/{epochs}: loss {total / per_epoch:.4f}, validation error "
                     f"{mean_mae:.4f} ({time.perf_counter() - t0:.0f}s)")
    # the final figures are the shipped file's: its weights are half precision
    net.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    val = evaluate(net, val_data)
    info = {"samples": samples, "val_samples": val_samples, "epochs": epochs, "batch": batch, "lr": lr,
            "seed": seed, "history": history, "val_mae": history[-1]["val_mae"], "val_per_graph": val,
            "seconds": round(time.perf_counter() - t0, 1), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    return net.eval(), info
