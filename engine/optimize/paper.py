"""The paper's three stages (Hu et al. 2022, Sec. 3.3), on a :class:`~.fit.Fit`.

* :func:`stage1`: filter parameters only, multi-scale style loss, Adam with the real generators'
  patterns computed once; reverted ("skipped") if it ends no better than it started. Before the
  descent, :func:`filter_search` (not in the paper) picks the best of the current filter
  parameters and ``n`` samples of them: colour parameters such as an HSV hue have a local
  minimum gradient descent cannot leave (a wrong hue drives saturation to 0, after which the hue
  has no gradient), and the graph authors' defaults are as likely to sit in it as a sample.
* :func:`stage2`: every parameter jointly through the proxies, feature + 0.05 x style, Adam with
  a rate halved every ``halve_every`` steps, from the random search's picks
  (``searches.random_search``). A slot without a proxy keeps its generator parameters and its
  real pattern. ``mode="paper"`` renders the proxies' own patterns (the paper);
  ``mode="anchored"`` (the default, not in the paper) renders the real generators' patterns
  and takes only the gradient from the proxies (:class:`AnchoredProxy`): a proxy that is only
  roughly right still points downhill, while the loss and the filters tuned alongside see the
  pattern the material will have. The stage ends by judging its start, its end and its end's
  filters on its start's structure with the real generators, and keeps the best.
* Stage III: real generators back, discrete parameters rounded (:func:`snap`), filter
  fine-tuning with the style loss: :func:`stage1`'s descent on the new structure, optionally
  in two parts (IIIa, then :func:`stage3b` going on with IIIa's Adam moments); the plan in
  ``steps`` says how the parts, the polish between them and their resolutions are laid out.

Every stage returns a :class:`~.descent.StageResult`; every step polls the reporter
(cancellation, progress). All parameters move in normalised [0, 1] space and are clamped after
each step (a periodic one, a hue, wraps around instead: ``Fit.keep_in_range``).
"""

from __future__ import annotations

import time

import torch

from ..device import render_batch
from .control import Reporter
from .descent import Moments, StageResult, adam
from .fit import Fit, PatternFn


@torch.no_grad()
def filter_search(fit: Fit, u: torch.Tensor, n: int, reporter: Reporter, generator: torch.Generator,
                  batch: int | None = None, stage: str = "stage1") -> StageResult:
    """Best of the current filter parameters (all of them, discrete ones included) and ``n``
    samples, by colour style loss at the search resolution; generator parameters fixed. Half the
    samples come from the artist prior, half uniformly from the ranges: a photo's colours need
    not be among those a graph's author had in mind (blue denim under a stone graph). A pick is
    kept only if it also beats the current parameters at the fit's own resolution: at the small
    one it can beat the true parameters (16 synthetic targets started *at* their own parameters,
    ``fast``: the 64 px search replaced them on several, judged style loss up to 0.28).
    ``info["small_res_pick"]`` records a pick that was tried."""
    batch = batch or render_batch(fit.device)
    t0 = time.perf_counter()
    res = fit.preset.search_res
    cands = u.detach().repeat(n + 1, 1)
    fidx = fit.all_filter_idx
    if n > 0 and fidx:
        fspec = fit.graph.filter_spec
        k = n - n // 2
        samples = torch.cat([fspec.normalize(fspec.sample(k, generator=generator, prior=True)),
                             fspec.normalize(fspec.sample(n - k, generator=generator, prior=False))]).to(u.device)
        cands[1:] = cands[1:].index_copy(1, torch.tensor(fidx, device=u.device), samples)
    pats = fit.patterns(u, res=res)
    losses = torch.empty(n + 1)
    for i in range(0, n + 1, batch):
        reporter.step(stage, i, n + 1, float(losses[:i].min()) if i else None)
        losses[i:i + batch] = fit.small_style(fit.render(cands[i:i + batch], res=res, patterns=pats)).cpu()
    best = int(torch.argmin(losses))
    info = {"samples": n, "picked": best}
    if best > 0:
        # the pick must also beat the current parameters at the stage's own resolution
        full = fit.style(fit.render(cands[[0, best]], patterns=fit.patterns(u))).cpu()
        info["small_res_pick"] = best
        if not full[1] < full[0]:
            best = 0
            info["picked"] = 0
    return StageResult(cands[best:best + 1].clone(), float(losses[0]), float(losses[best]),
                       torch.cummin(losses, 0).values.tolist(), info, time.perf_counter() - t0)


def stage1(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float,
           stage: str = "stage1", search: int = 0, generator: torch.Generator | None = None,
           also: torch.Tensor | None = None) -> StageResult:
    """Filters only, style loss, real generators (patterns cached); reverted if no better.
    With ``search > 0`` the descent starts from :func:`filter_search`'s pick when that is better
    at full resolution. ``also`` (1, P): a second point descended side by side (one batch of
    two, :func:`adam`), the better end kept (``info["kept"]``: ``"main"`` or ``"also"``); see
    Stage III (``steps``)."""
    t0 = time.perf_counter()
    info: dict = {}
    if search > 0:
        fs = filter_search(fit, u, search, reporter, generator or torch.Generator().manual_seed(0),
                           stage=stage)
        info = {"filter_search_samples": search, "filter_search_picked": fs.info["picked"]}
        u_start = fs.u
    else:
        u_start = u
    handed, rows = u, u_start
    if also is not None:
        handed, rows = torch.cat([u, also[:1]]), torch.cat([u_start, also[:1]])
    with torch.no_grad():
        pats = fit.patterns(rows)
        before = fit.style(fit.render(handed, patterns=pats)).cpu()
    r = adam(fit, rows, fit.filter_idx, fit.style, steps=steps, lr=lr, halve_every=None,
             reporter=reporter, stage=stage, patterns=pats)
    k = int(r.info.pop("best_start", 0))
    r.info.pop("starts", None)
    r.info.update(info)
    r.start = float(before[0])  # the stage's start is what it was handed, not the search's pick
    r.info["skipped"] = not r.end < float(before.min())
    if r.info["skipped"]:
        k = int(torch.argmin(before))
        r.u = handed[k:k + 1].detach().clone()
        r.end = float(before[k])
        r.moments = None  # they belong to a descent that was not kept
        reporter.message(stage, "did not improve on the start; skipped (parameters reverted)")
    if also is not None:
        r.info.update({"kept": ("main", "also")[k], "also_start": float(before[1])})
        if k == 1:
            reporter.message(stage, "the point fine-tuned alongside ended lower; keeping it")
    r.seconds = time.perf_counter() - t0
    return r


class AnchoredProxy:
    """A slot's pattern function for Stage II's ``anchored`` mode: the forward value is the real
    generator's pattern at the rounded parameters, the gradient the proxy's
    (``real + proxy - proxy.detach()``)."""

    def __init__(self, proxy, generator):
        self.proxy, self.generator = proxy, generator

    def __call__(self, params, res: int) -> torch.Tensor:
        approx = self.proxy(params, res)
        with torch.no_grad():
            real = self.generator(self.generator.spec.round(params), res)
        return real + (approx - approx.detach())


def load_proxies(fit: Fit, reporter: Reporter, stage: str = "stage2", mode: str = "anchored",
                 weights_dir: str | None = None) -> tuple[dict[str, PatternFn], dict[str, str]]:
    """``{slot: pattern function}`` for the slots whose generator has a usable proxy (wrapped in
    :class:`AnchoredProxy` in ``anchored`` mode), and ``{slot: "ok" | reason}`` for every slot
    (reasons are reported as progress messages). ``mode="off"``: none. ``weights_dir``: load
    the proxies from there instead of the shipped folder (``Options.proxy_weights``)."""
    from ..generators import get_generator
    from ..proxies import ProxyUnavailable, load_proxy

    proxies: dict[str, PatternFn] = {}
    status: dict[str, str] = {}
    for slot, gen_name in fit.graph.slots.items():
        if mode == "off":
            status[slot] = "off"
            continue
        try:
            proxy = load_proxy(gen_name, fit.device, weights_dir)
        except ProxyUnavailable as e:
            status[slot] = f"unavailable: {e}"
            reporter.message(stage, f"no proxy for slot {slot!r} ({gen_name}): {e}; its generator "
                                    f"parameters stay at the random search's pick")
            continue
        proxies[slot] = AnchoredProxy(proxy, get_generator(gen_name)) if mode == "anchored" else proxy
        # the same file's proxy computes the same function: restarts may share one batch (descent.Descent)
        proxies[slot].batch_key = (mode, gen_name, str(weights_dir or ""))  # type: ignore[union-attr]
        status[slot] = "ok"
    return proxies, status


def stage2(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float, halve_every: int,
           stage: str = "stage2", mode: str = "anchored", weights_dir: str | None = None) -> StageResult:
    """Joint optimisation through the proxies (see the module docstring), judged afterwards
    with the real generators against the starting point. ``u`` may hold several starts
    ``(K, P)`` (the random search's best first), optimised side by side; the best end point
    over all of them is kept, and judged against row 0."""
    t0 = time.perf_counter()
    proxies, status = load_proxies(fit, reporter, stage, mode, weights_dir)
    slots = list(fit.graph.slots)
    missing = [s for s in slots if s not in proxies]
    with torch.no_grad():
        real = fit.patterns(u) if missing else {}
    # a slot without a proxy keeps its real pattern (fixed generator parameters)
    gens: dict[str, PatternFn] = dict(proxies)
    for s in missing:
        gens[s] = (lambda pat: (lambda params, res: pat.expand(next(iter(params.values())).shape[0], -1, -1, -1)))(real[s])
    gen_names = set()
    for s in proxies:
        gen_names.update(i for i, p in enumerate(fit.spec) if p.name.startswith(s + "."))
    idx = sorted(set(fit.filter_idx) | (gen_names & set(fit.gen_idx)))
    if not proxies:
        why = "proxies off" if mode == "off" else "no proxy available for any slot"
        reporter.message(stage, f"{why}: optimising filter parameters only "
                                "(generators fixed at the random search's pick)")
    r = adam(fit, u, idx, fit.joint, steps=steps, lr=lr, halve_every=halve_every, reporter=reporter,
             stage=stage, generators=gens)
    r.info.update({"proxies": status, "mode": "joint" if proxies else "filters_only",
                   "proxy_mode": mode, **({"proxy_weights": weights_dir} if weights_dir else {})})
    # the proxies are approximations: judge with the real generators the search's pick, the
    # joint result, and the joint result's filters on the pick's generator parameters (the
    # filters tuned alongside may be what improved, while the proxies moved the generator
    # parameters the wrong way); keep the best
    u = u[:1]  # the search's pick: what the joint result must beat
    filters_only = r.u.clone()
    if gen_names:
        keep = torch.tensor(sorted(gen_names & set(fit.gen_idx)), device=u.device)
        filters_only[:, keep] = u[:, keep]
    with torch.no_grad():
        real = fit.joint(fit.render(torch.cat([u, r.u, filters_only]))).cpu().tolist()
    real_start, real_end, real_filters = real
    r.info.update({"real_start": real_start, "real_end": real_end, "proxy_start": r.start,
                   "proxy_end": r.end})
    if gen_names:
        r.info["real_filters_only"] = real_filters
    best = min(range(3 if gen_names else 2), key=lambda k: (real[k], k))
    r.info["kept"] = ("search", "joint", "filters")[best]
    if best == 0:
        reporter.message(stage, "with the real generators the joint result was not better than the "
                                "search's pick; keeping the pick")
        r.u = u.detach().clone()
    elif best == 2:
        reporter.message(stage, "with the real generators the proxies' moves of the generator "
                                "parameters did not help; keeping only the tuned filters")
        r.u = filters_only
    r.start, r.end = real_start, real[best]
    r.seconds = time.perf_counter() - t0
    return r


def snap(fit: Fit, u: torch.Tensor) -> torch.Tensor:
    """``u`` with its discrete parameters rounded to whole values, for good (Stage III's start)."""
    return fit.normalize(fit.spec.round(fit.natural(u)))


def stage3b(fit: Fit, u: torch.Tensor, reporter: Reporter, steps: int, lr: float, moments: Moments | None,
            stage: str = "stage3") -> StageResult:
    """Stage III's second part: the filters' descent going on from ``u`` (1, P) with the Adam
    ``moments`` the first part ended with, as one descent would, on ``fit`` (the fit itself or
    :meth:`Fit.sharper`). The structure is fixed here, so its patterns are made once."""
    with torch.no_grad():
        pats = fit.patterns(u)
    return adam(fit, u, fit.filter_idx, fit.style, steps=steps, lr=lr, halve_every=None,
                reporter=reporter, stage=stage, patterns=pats, moments=moments)
