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
* ``descent``: whether the proxy's gradient points the way an optimiser must go, which is what
  Stage II needs (a small L1 does not guarantee it). Per parameter set ``theta*`` and parameter
  ``i`` (the seed excepted), the parameter is moved off by ``DESCENT_OFFSET`` (normalised, away
  from the nearer end of its range) to ``u``; the loss compares pattern(u) with G(theta*).
  ``proxy``: fraction of cases where ``d loss / d u_i`` has the sign of the offset (a descent
  step moves back towards ``theta*``) with the loss taken at the proxy's own pattern (Stage
  II's ``paper`` mode); ``anchored``: the loss taken at the real pattern G(u), differentiated
  through the proxy's Jacobian (Stage II's default mode); ``generator``: the same question
  asked of the real generator by a finite step back (one whole value for a discrete
  parameter, 0.02 otherwise): the fraction of cases where that step lowers the loss (steps
  that render the same pattern, e.g. an odd brick ``rows`` rounded up to even, are left out).
  0.5 is a coin flip; the generator's figure says whether the loss itself leads back to
  ``theta*`` from that far. ``ideal_anchored``: the anchored form with the best Jacobian any
  proxy could have, the real generator's own one-step difference ``G(back) - G(u)``: the
  fraction of cases where that first-order prediction says the step back lowers the loss. It
  involves no proxy and bounds what training can achieve in the anchored form. ``stretch``
  (counts that set a period only, ``Param.period``): the paper form with the pattern a proxy
  trained at fractional counts should learn, the real pattern of the next drawable count ``n``
  zoomed so that ``c`` periods span it (``train.fractional_batch``), differentiated in ``c``:
  what such a proxy can reach in the paper form. Two losses:
  pixel L1, and a shift-invariant style distance (Gram matrices of the offline descriptor). Reported per parameter and as means over the discrete
  and the continuous ones.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ..descriptor import get_descriptor, resize
from ..losses import gram
from . import Proxy, load_proxy, resolve_generator
from .checkpoint import weights_path
from .train import next_levels, sample_grid, zoom_corner

GRAD_SAMPLES = 200  # parameter sets used for the gradient-norm estimate
GRAD_PROBES = 4
FLOOR_SAMPLES = 100  # parameter sets used for the seed floor (x every seed value)
DESCENT_SAMPLES = 100  # parameter sets used for the descent-direction figures
DESCENT_OFFSET = 0.15  # normalised distance of the displaced parameter from theta*
CONTINUOUS_STEP = 0.02  # the generator's finite step back for a continuous parameter


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


def _style_distance(descriptor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample L1 between the Gram matrices of two pattern batches ``(B, 1, R, R)``, row i
    against row i (``losses.DescriptorLoss`` compares a batch with one target): the offline
    descriptor's style layers at R and R/2 (at least 64 and 32 px, which its pooling needs),
    each Gram normalised by the target's magnitude."""
    out = a.new_zeros(a.shape[0])
    res = a.shape[-1]
    for s in (max(res, 64), max(res // 2, 32)):
        fa = descriptor(resize(a.expand(-1, 3, -1, -1), s), descriptor.style_layers)
        fb = descriptor(resize(b.expand(-1, 3, -1, -1), s), descriptor.style_layers)
        for n in descriptor.style_layers:
            ga, gb = gram(fa[n]), gram(fb[n])
            out = out + (ga - gb).abs().mean((1, 2)) / gb.abs().mean((1, 2)).clamp_min(1e-6)
    return out / (2 * len(descriptor.style_layers))


def descent_agreement(proxy: Proxy, generator, params: dict[str, torch.Tensor],
                      offset: float = DESCENT_OFFSET) -> dict[str, Any]:
    """The ``descent`` figures of the module docstring, for two losses: ``l1`` (pixels) and
    ``style`` (Gram matrices of the offline descriptor: shift-invariant, the kind of loss that
    can see a count is too high without the pattern's phase lining up)."""
    spec = generator.spec
    res = proxy.resolution
    dev = proxy.network.synthesis.const.device
    desc = get_descriptor("random", dev)
    losses = {"l1": lambda x, t: (x - t).abs().flatten(1).mean(1),
              "style": lambda x, t: _style_distance(desc, x, t)}
    u_star = spec.normalize(params).detach().to(dev)
    real = lambda u: generator(spec.round(spec.denormalize(u)), res)  # noqa: E731
    with torch.no_grad():
        target = real(u_star)
    per: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(spec):
        if p.name == "seed":
            continue
        sign = torch.where(u_star[:, i] < 0.5, 1.0, -1.0)
        u = u_star.clone()
        u[:, i] = (u_star[:, i] + sign * offset).clamp(0.0, 1.0)
        back = u.clone()
        back[:, i] = (u[:, i] - sign * (1.0 / (p.high - p.low) if p.discrete else CONTINUOUS_STEP)).clamp(0.0, 1.0)
        moved = spec.round(spec.denormalize(u))[p.name] != spec.round(spec.denormalize(u_star))[p.name]
        if int(moved.sum()) == 0:
            continue
        with torch.no_grad():
            here, there = real(u), real(back)
        row: dict[str, Any] = {"cases": int(moved.sum()), "discrete": p.discrete}
        for name, loss in losses.items():
            u_ = u.clone().requires_grad_(True)
            out = proxy.network(u_)
            g, = torch.autograd.grad(loss(out, target).sum(), u_, retain_graph=True)
            # anchored (Stage II's default): the loss at the real pattern, the proxy's Jacobian
            ga, = torch.autograd.grad(loss(here + out - out.detach(), target).sum(), u_)
            # the same form with the generator's own step as the Jacobian (no proxy involved)
            h = here.clone().requires_grad_(True)
            gp, = torch.autograd.grad(loss(h, target).sum(), h)
            ideal = (gp * (here - there)).flatten(1).sum(1) > 0
            with torch.no_grad():
                l_there, l_here = loss(there, target), loss(here, target)
            changed = moved & (l_there != l_here)  # a step that renders the same pattern says nothing
            stretch = None
            if p.period:  # the paper form's ceiling for a count: its pattern zoomed, not blended
                c = spec.denormalize(u)[p.name].clone().requires_grad_(True)
                n = next_levels(p, c)
                with torch.no_grad():
                    base = generator({**spec.round(spec.denormalize(u)), p.name: n}, res)
                s = c / n
                one = torch.ones_like(s)
                zoomed = zoom_corner(base, s if "x" in p.period else one, s if "y" in p.period else one)
                gs, = torch.autograd.grad(loss(zoomed, target).sum(), c)
                stretch = round(float((gs * sign > 0)[moved].float().mean()), 3)
            row[name] = {"proxy": round(float((g[:, i] * sign > 0)[moved].float().mean()), 3),
                         "stretch": stretch,
                         "anchored": round(float((ga[:, i] * sign > 0)[moved].float().mean()), 3),
                         "ideal_anchored": round(float(ideal[moved].float().mean()), 3),
                         "generator": round(float((l_there < l_here)[changed].float().mean()), 3)
                         if bool(changed.any()) else None}
        per[p.name] = row

    def mean_of(discrete: bool, loss: str, who: str) -> float | None:
        v = [r[loss][who] for r in per.values() if r["discrete"] == discrete and r[loss][who] is not None]
        return round(sum(v) / len(v), 3) if v else None

    summary = {loss: {kind: {who: mean_of(kind == "discrete", loss, who) for who in ("proxy", "stretch", "anchored", "ideal_anchored", "generator")}
                      for kind in ("discrete", "continuous")} for loss in losses}
    # the counts that set a period (issue 30's figure: the paper form, its weakest count, the
    # stretch ceiling)
    counts = [p.name for p in spec if p.period and p.name in per]
    for loss in losses:
        v = [per[n][loss]["proxy"] for n in counts]
        summary[loss]["counts"] = {
            "names": counts, "proxy": round(sum(v) / len(v), 3) if v else None, "proxy_min": min(v) if v else None,
            "stretch": round(sum(per[n][loss]["stretch"] for n in counts) / len(counts), 3) if counts else None}
    return {"offset": offset, **summary, "per_param": per}


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
    descent = descent_agreement(proxy, gen, {k: v[:DESCENT_SAMPLES] for k, v in params.items()})
    cpu_proxy = proxy if torch.device(device).type == "cpu" else load_proxy(name, "cpu", weights_dir)
    ms, cpu_ms = time_fwd_bwd(cpu_proxy, gen)
    path = weights_path(name, weights_dir)
    training = proxy.info.get("training", {})
    result = {
        "generator": name, "samples": samples, "seed": seed, "resolution": proxy.resolution,
        "l1": round(l1, 5), "l1_p90": round(float(per_sample.quantile(0.9)), 5),
        "l1_seed_floor": None if floor is None else round(floor, 5),
        "seed_floor_samples": min(samples, FLOOR_SAMPLES),
        "descent": descent, "descent_samples": min(samples, DESCENT_SAMPLES),
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
