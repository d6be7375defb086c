"""Measuring a proxy against its generator: ``diffproxy proxy-eval``.

Figures, per generator, on ``samples`` fresh artist-prior parameter sets (``torch.Generator``
seeded with ``seed``, so a figure can be reproduced):

* ``l1``: mean absolute difference between proxy and generator, both at the proxy's resolution.
* ``grad_norm``: per parameter, the mean over samples of ``||d output / d u_i||_2 / sqrt(pixels)``
  (u: the normalised parameter), i.e. the RMS change of a pixel per unit of normalised slider.
  Estimated with random probes: for ``r ~ N(0, I)``, ``E[(r . J_i)^2] = ||J_i||^2``, so a few
  backward passes give every column norm at once (discrete parameters included: the proxy is
  differentiable between their whole values). ``grad_norm_min`` is the smallest of them.
* ``fwd_bwd_ms``: median of 20 timed forward + backward passes (gradient to the parameters,
  frozen weights: what an optimiser step costs) at batch 1 on CPU, one thread, after 5 warm-up
  passes; ``fwd_bwd_cpu_ms`` the same in CPU time of the thread (robust to a busy machine).
* ``weight_bytes``: size of the weights file.
* ``l1_seed_floor``: the smallest mean L1 that *any* proxy ignoring the ``seed`` parameter could
  reach on these samples (estimated on the first :data:`FLOOR_SAMPLES`): per parameter set, the
  pattern is drawn with every seed value, and each one compared with their per-pixel median
  (the L1-optimal seed-agnostic prediction). What lies between it and 0 is the seeds' random
  draws (per-brick luminance, scratch positions...), which a proxy can only learn by heart.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from . import Proxy, load_proxy, resolve_generator
from .checkpoint import weights_path
from .train import sample_grid

GRAD_SAMPLES = 200  # parameter sets used for the gradient-norm estimate
GRAD_PROBES = 4
FLOOR_SAMPLES = 100  # parameter sets used for the seed floor (x every seed value)


@torch.no_grad()
def mean_l1(proxy: Proxy, generator, params: dict[str, torch.Tensor], chunk: int = 50) -> tuple[float, torch.Tensor]:
    """Mean |proxy - generator| at the proxy's resolution; also per-sample values ``(N,)``."""
    res = proxy.resolution
    n = next(iter(params.values())).shape[0]
    per = []
    for i in range(0, n, chunk):
        p = {k: v[i:i + chunk] for k, v in params.items()}
        per.append((proxy(p, res) - generator(p, res)).abs().flatten(1).mean(1))
    per_sample = torch.cat(per)
    return float(per_sample.mean()), per_sample


@torch.no_grad()
def seed_floor(generator, params: dict[str, torch.Tensor], res: int, chunk: int = 25) -> float | None:
    """Mean L1 of the best seed-agnostic prediction (see the module docstring); ``None`` when
    the generator has no integer ``seed`` parameter."""
    p = generator.spec.by_name.get("seed")
    if p is None or not p.discrete:
        return None
    seeds = range(int(p.low), int(p.high) + 1)
    n = next(iter(params.values())).shape[0]
    total = 0.0
    for i in range(0, n, chunk):
        part = {k: v[i:i + chunk] for k, v in params.items()}
        imgs = torch.stack([generator({**part, "seed": torch.full_like(part["seed"], s)}, res)
                            for s in seeds])  # (S, B, 1, res, res)
        total += float((imgs - imgs.median(0).values).abs().mean((0, 2, 3, 4)).sum())
    return total / n


def grad_norms(proxy: Proxy, params: dict[str, torch.Tensor], probes: int = GRAD_PROBES,
               seed: int = 0) -> torch.Tensor:
    """Per parameter: mean over samples of ``||d out / d u_i|| / sqrt(pixels)``, shape ``(P,)``."""
    u = proxy.spec.normalize(params).detach().to(proxy.network.synthesis.const.device)
    rng = torch.Generator(device="cpu").manual_seed(seed)
    sq = torch.zeros_like(u)
    for _ in range(probes):
        u_ = u.clone().requires_grad_(True)
        out = proxy.network(u_)
        r = torch.randn(out.shape, generator=rng).to(out)
        g, = torch.autograd.grad((out * r).sum(), u_)
        sq += g.square()
    npix = proxy.resolution ** 2
    return (sq / probes).sqrt().mean(0).cpu() / npix ** 0.5


def time_fwd_bwd(proxy: Proxy, generator, repeats: int = 20, warmup: int = 5) -> tuple[float, float]:
    """``(median wall ms, median thread-CPU ms)`` of forward + backward at batch 1 on CPU, one
    thread, gradients to the parameter tensors (weights frozen)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = generator.spec.sample(1, generator=torch.Generator().manual_seed(0))
        wall, cpu = [], []
        for i in range(warmup + repeats):
            p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            t0, c0 = time.perf_counter(), time.thread_time()
            out = proxy(p, proxy.resolution)
            out.mean().backward()
            if i >= warmup:
                wall.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.thread_time() - c0) * 1e3)
        return statistics.median(wall), statistics.median(cpu)
    finally:
        torch.set_num_threads(threads)


def training_totals(training: dict[str, Any]) -> dict[str, Any]:
    """Sum of the training runs behind a weights file: its own record plus, through each
    ``warm_start`` (``proxy-train --init-from``), the records of the runs it started from."""
    totals: dict[str, Any] = {"runs": 0, "minutes": 0.0, "cpu_minutes": 0.0, "steps": 0, "samples_seen": 0}
    devices = []
    rec: dict[str, Any] | None = training
    while rec:
        totals["runs"] += 1
        for k in ("minutes", "cpu_minutes", "steps", "samples_seen"):
            totals[k] += rec.get(k) or 0
        devices.append(rec.get("device"))
        rec = (rec.get("warm_start") or {}).get("training")
    totals["minutes"], totals["cpu_minutes"] = round(totals["minutes"], 2), round(totals["cpu_minutes"], 2)
    totals["devices"] = sorted({d for d in devices if d})
    return totals


def evaluate(name: str, samples: int = 1000, seed: int = 0, device: Any = "cpu",
             weights_dir: str | Path | None = None, sheet: str | Path | None = None,
             sheet_count: int = 8) -> dict[str, Any]:
    """All figures of the module docstring for generator ``name``; writes a comparison sheet
    (row 1 generator, row 2 proxy, ``sheet_count`` samples) when ``sheet`` is given."""
    gen = resolve_generator(name)
    proxy = load_proxy(name, device, weights_dir)
    params = gen.spec.sample(samples, generator=torch.Generator().manual_seed(seed), prior=True,
                             device=device)
    l1, per_sample = mean_l1(proxy, gen, params)
    n_grad = min(samples, GRAD_SAMPLES)
    norms = grad_norms(proxy, {k: v[:n_grad] for k, v in params.items()}, seed=seed)
    floor = seed_floor(gen, {k: v[:FLOOR_SAMPLES] for k, v in params.items()}, proxy.resolution)
    cpu_proxy = proxy if torch.device(device).type == "cpu" else load_proxy(name, "cpu", weights_dir)
    ms, cpu_ms = time_fwd_bwd(cpu_proxy, gen)
    path = weights_path(name, weights_dir)
    training = proxy.info.get("training", {})
    result = {
        "generator": name, "samples": samples, "seed": seed, "resolution": proxy.resolution,
        "l1": round(l1, 5), "l1_p90": round(float(per_sample.quantile(0.9)), 5),
        "l1_seed_floor": None if floor is None else round(floor, 5),
        "seed_floor_samples": min(samples, FLOOR_SAMPLES),
        "grad_norm": {n: round(float(v), 6) for n, v in zip(gen.spec.names, norms)},
        "grad_norm_min": round(float(norms.min()), 6), "fwd_bwd_ms": round(ms, 2),
        "fwd_bwd_cpu_ms": round(cpu_ms, 2), "weight_bytes": os.path.getsize(path),
        "weights": path.name, "trained": {k: training.get(k) for k in
                                          ("device", "device_name", "minutes", "cpu_minutes", "steps",
                                           "samples_seen", "val_l1", "date")},
        "trained_total": training_totals(training),
    }
    if sheet:
        k = min(sheet_count, samples)
        p = {kk: v[:k] for kk, v in params.items()}
        with torch.no_grad():
            sample_grid([gen(p, proxy.resolution), proxy(p, proxy.resolution)], sheet)
        result["sheet"] = str(sheet)
    return result
