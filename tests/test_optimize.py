"""Photo -> procedural material: options, progress/cancel, each stage lowering its loss on a
small synthetic target, graph choice, the end-to-end API and export, the CLI commands.

Everything runs the real graphs, generators, renderer, descriptor (and proxies where shipped)
at tiny resolutions with a test-sized preset registered for the duration of a test.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from diffproxy.optimize import PRESETS, Cancelled, Options, Preset, proceduralize
from diffproxy.optimize.control import Reporter

TINY = Preset("tiny", res=48, scales=(48, 24), rank_samples=3, rank_res=32, top_k=1, filter_samples=4,
              stage1_steps=8, stage1_lr=0.05, search_samples=8, search_res=32,
              stage2_steps=8, stage2_lr=0.05, stage2_halve_every=4,
              stage3_steps=8, stage3_lr=0.05, search_seconds=2.0, local_sweeps=2)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(PRESETS, "tiny", TINY)
    return TINY


# --- options, reporter (no graphs needed) -----------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    ({"preset": "slow"}, "preset"), ({"method": "adam"}, "method"), ({"device": "tpu"}, "device"),
    ({"res_out": 10}, "res_out"), ({"seed": -1}, "seed"), ({"descriptor": "x"}, "descriptor"),
    ({"proxy_mode": "always"}, "proxy_mode"), ({"local_search": 1}, "local_search"), ({"seed_search": "no"}, "seed_search"),
    ({"scan": 0}, "scan"), ({"classifier": "on"}, "classifier"),
    ({"detail": "yes"}, "detail"),
    ({"time_limit": 0}, "time_limit"), ({"top_k": 0}, "top_k"), ({"graph": ""}, "graph"),
])
def test_options_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        Options(**kw)


def test_options_defaults_match_the_server_contract():
    o = Options()
    assert (o.graph, o.preset, o.method, o.device, o.res_out, o.seed) == ("auto", "balanced", "diffproxy", "auto", 2048, 0)
    assert Options(**{"graph": "auto", "preset": "fast", "method": "match", "device": "cpu",
                      "res_out": 512, "seed": 3}).budget.name == "fast"


def test_reporter_throttles_and_cancels():
    events = []
    flag = {"stop": False}
    rep = Reporter(events.append, lambda: flag["stop"], interval=10.0)
    for i in range(50):
        rep.step("s", i, 49, float(i))
    # first and last step always, everything in between throttled away (interval 10 s)
    assert [e["step"] for e in events] == [0, 49]
    assert set(events[0]) == {"stage", "step", "total", "loss", "message"}
    flag["stop"] = True
    with pytest.raises(Cancelled):
        rep.step("s", 1, 2)


# --- stages on a small synthetic target -------------------------------------------------------

def _setup(graph_name: str, seed: int = 0):
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.render import render

    g = get_graph(graph_name)
    gen = torch.Generator().manual_seed(seed)
    spec = g.spec
    u_target = spec.normalize(spec.sample(1, generator=gen))
    with torch.no_grad():
        target = render(g.maps(spec.round(spec.denormalize(u_target)), 64))
    fit = Fit(g, target, TINY, get_descriptor("random"), torch.device("cpu"))
    u_start = spec.normalize(spec.sample(1, generator=gen))
    return fit, u_target, u_start, gen


def test_stage1_lowers_style_loss():
    from diffproxy.optimize.stages import stage1

    fit, u_t, u_s, _ = _setup("bricks")
    # same pattern as the target, other filter parameters: only Stage I's variables differ
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    r = stage1(fit, u, Reporter(), steps=10, lr=0.05)
    assert not r.info["skipped"]
    assert r.end < 0.9 * r.start, (r.start, r.end)
    # only filter entries moved
    moved = (r.u - u).abs()[0] > 0
    assert set(torch.nonzero(moved).flatten().tolist()) <= set(fit.filter_idx)
    # the returned point really has the reported loss
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)


def test_stage1_reverts_when_it_cannot_improve():
    from diffproxy.optimize.stages import stage1

    fit, u_t, _, _ = _setup("bricks")
    r = stage1(fit, u_t, Reporter(), steps=3, lr=0.0)  # lr 0: nothing can improve
    assert r.info["skipped"] and torch.equal(r.u, u_t)


def test_random_search_picks_the_best_candidate():
    from diffproxy.optimize.stages import random_search

    fit, u_t, u_s, gen = _setup("bricks", seed=1)
    r = random_search(fit, u_s, 16, Reporter(), gen)
    assert r.end <= r.start and len(r.curve) == 17
    with torch.no_grad():
        again = float(fit.gray(fit.render(r.u, res=TINY.search_res)))
    assert again == pytest.approx(r.end, rel=1e-4)
    assert r.end < r.start  # 16 prior samples beat a random start on this target


def test_stage2_lowers_joint_loss_or_reports_missing_proxies():
    from diffproxy.optimize.stages import stage2

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    events = []
    r = stage2(fit, u_s, Reporter(events.append), steps=10, lr=0.05, halve_every=5)
    assert set(r.info["proxies"]) == set(fit.graph.slots)
    # judged with the real generators; never worse than its start
    assert r.end <= r.start
    with torch.no_grad():
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    if r.info["mode"] == "filters_only":
        assert any("no proxy" in (e["message"] or "") for e in events)
    if r.info["kept"] in ("joint", "filters"):
        assert r.end < r.start
    if r.info["kept"] == "filters":  # the tuned filters on the search's generator parameters
        assert torch.equal(r.u[:, fit.gen_idx], u_s[:, fit.gen_idx])


def test_stage2_joint_path_moves_generator_params_through_a_proxy(monkeypatch):
    """Wiring of the joint path with a real ProxyNetwork that is *untrained* (the shipped
    weights may not exist yet): gradients must reach theta_g through it, its own loss must fall,
    and the real-generator judgement must decide what is kept."""
    import diffproxy.proxies as proxies
    from diffproxy.optimize.stages import adam, stage2

    def untrained(name, device="cpu"):
        gen = proxies.resolve_generator(name)
        torch.manual_seed(0)
        net = proxies.ProxyNetwork(proxies.param_levels(gen.spec), resolution=32, channel_max=32,
                                   w_dim=32, mapping_layers=2)
        return proxies.Proxy(gen, net.requires_grad_(False).eval(), info={"untrained": True}).to(device)

    monkeypatch.setattr(proxies, "load_proxy", untrained)
    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    r = stage2(fit, u_s, Reporter(), steps=8, lr=0.05, halve_every=4)
    assert r.info["mode"] == "joint" and set(r.info["proxies"].values()) == {"ok"}
    assert r.info["proxy_end"] < r.info["proxy_start"]
    assert r.info["kept"] in ("joint", "search", "filters") and r.end <= r.start
    # the three candidates were judged with the real generators, the kept one is the best
    judged = [r.info["real_start"], r.info["real_end"], r.info["real_filters_only"]]
    assert r.end == min(judged)
    if r.info["kept"] == "filters":
        assert torch.equal(r.u[:, fit.gen_idx], u_s[:, fit.gen_idx])
    gens = {"brick": untrained("brick")}
    only_g = adam(fit, u_s, fit.gen_idx, fit.joint, steps=3, lr=0.05, halve_every=None,
                  reporter=Reporter(), stage="t", generators=gens)
    assert (only_g.u[0, fit.gen_idx] - u_s[0, fit.gen_idx]).abs().max() > 0


def _untrained_proxy(name, device="cpu"):
    import diffproxy.proxies as proxies

    gen = proxies.resolve_generator(name)
    torch.manual_seed(0)
    net = proxies.ProxyNetwork(proxies.param_levels(gen.spec), resolution=32, channel_max=32,
                               w_dim=32, mapping_layers=2)
    return proxies.Proxy(gen, net.freeze(), info={"untrained": True}).to(device)


def test_anchored_proxy_forward_is_the_real_generator_gradient_is_the_proxys():
    from diffproxy.generators import get_generator
    from diffproxy.optimize.stages import AnchoredProxy

    gen, proxy = get_generator("brick"), _untrained_proxy("brick")
    params = gen.spec.sample(2, generator=torch.Generator().manual_seed(4))
    params = {k: (v + 0.3 if gen.spec.by_name[k].discrete else v) for k, v in params.items()}  # off-grid

    def leaf():
        return {k: v.clone().requires_grad_(True) for k, v in params.items()}

    p1, p2 = leaf(), leaf()
    out = AnchoredProxy(proxy, gen)(p1, 48)
    with torch.no_grad():
        real = gen(gen.spec.round(params), 48)
    assert torch.allclose(out, real, atol=1e-6)  # the pattern the material will really have
    weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(5))
    (out * weights).sum().backward()
    (proxy(p2, 48) * weights).sum().backward()
    for k in params:
        assert torch.allclose(p1[k].grad, p2[k].grad), k
    assert any(float(p1[k].grad.abs().sum()) > 0 for k in params if gen.spec.by_name[k].discrete)


@pytest.mark.parametrize("mode", ["anchored", "paper"])
def test_stage2_modes_move_generator_params(monkeypatch, mode):
    import diffproxy.proxies as proxies
    from diffproxy.optimize.stages import stage2

    monkeypatch.setattr(proxies, "load_proxy", _untrained_proxy)
    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    r = stage2(fit, u_s, Reporter(), steps=8, lr=0.05, halve_every=4, mode=mode)
    assert r.info["proxy_mode"] == mode and r.info["mode"] == "joint"
    assert r.end <= r.start
    if mode == "anchored":  # the loss it tracked is the real one
        assert r.info["proxy_start"] == pytest.approx(r.info["real_start"], rel=1e-4)


def test_adam_with_several_starts_keeps_the_best_row():
    from diffproxy.optimize.stages import adam

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    starts = torch.cat([u_s, u_t])  # row 1 is the target itself: nothing can beat it by much
    r = adam(fit, starts, fit.filter_idx, fit.joint, steps=3, lr=0.01, halve_every=None,
             reporter=Reporter(), stage="t")
    with torch.no_grad():
        row_losses = fit.joint(fit.render(starts))
    assert r.info["starts"] == 2 and r.u.shape == (1, starts.shape[1])
    assert r.start == pytest.approx(float(row_losses[0]), rel=1e-4)  # row 0's start
    assert r.end <= float(row_losses.min()) + 1e-6
    with torch.no_grad():
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)



def test_adam_survives_a_nan_gradient():
    from diffproxy.optimize.stages import adam

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    calls = {"n": 0}

    def loss_with_a_nan_gradient_on_step_2(img):
        calls["n"] += 1
        loss = fit.style(img)
        if calls["n"] == 2:  # sqrt at 0 has an infinite derivative: 0 * inf = NaN
            loss = loss + 0.0 * torch.sqrt((img - img.detach()).abs().sum())
        return loss

    r = adam(fit, u_s, fit.filter_idx, loss_with_a_nan_gradient_on_step_2, steps=4, lr=0.05,
             halve_every=None, reporter=Reporter(), stage="t")
    assert torch.isfinite(r.u).all()
    assert r.info["nonfinite_gradient_steps"] == 1
    assert r.end < r.start  # the other steps still descended

def test_adam_wraps_a_hue_around_instead_of_stopping_at_the_end_of_its_range():
    from diffproxy.optimize.stages import adam

    fit, u_t, _, _ = _setup("bricks", seed=2)
    names = fit.spec.names
    hue = names.index("color.brick.hue")
    assert fit.spec["color.brick.hue"].periodic and not fit.spec["color.brick.saturation"].periodic
    target = u_t.clone()
    target[0, hue] = 0.02  # a red just past 0 ...
    fit2 = type(fit)(fit.graph, fit.render(target).detach(), fit.preset, fit.loss.descriptor, fit.device)
    start = target.clone()
    start[0, hue] = 0.97  # ... approached from the magenta side of 1
    r = adam(fit2, start, [hue], fit2.style, steps=8, lr=0.03, halve_every=None,
             reporter=Reporter(), stage="t")
    end = float(r.u[0, hue])
    assert end < 0.5, f"the hue stopped at {end:.3f} instead of wrapping past 1 to the target's 0.02"
    assert abs(end - 0.02) < 0.02 and r.end < r.start
    # other parameters are still clamped
    v = fit.keep_in_range(torch.tensor([[1.2, 1.2, -0.1]]), [hue, hue + 1, hue + 1])
    assert torch.allclose(v, torch.tensor([[0.2, 1.0, 0.0]]))


def test_stage2_proxies_off_tunes_filters_only():
    from diffproxy.optimize.stages import stage2

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    events = []
    r = stage2(fit, u_s, Reporter(events.append), steps=5, lr=0.05, halve_every=5, mode="off")
    assert r.info["mode"] == "filters_only" and set(r.info["proxies"].values()) == {"off"}
    assert torch.equal(r.u[:, fit.gen_idx], u_s[:, fit.gen_idx])
    assert any("proxies off" in (e["message"] or "") for e in events)


def test_match_keeps_generators_at_the_start(tiny):
    from diffproxy.optimize.pipeline import optimise_graph

    fit, u_t, u_s, gen = _setup("bricks", seed=6)
    o = Options(graph="bricks", preset="tiny", method="match", device="cpu")
    run = optimise_graph(fit, u_s, o, Reporter(), gen)
    assert torch.equal(run.u[:, fit.gen_idx], u_s[:, fit.gen_idx])
    assert "search" not in run.stages  # MATch has no generator search
    # the issue's "Stage I only": Stage I's constant learning rate, all three stages' steps
    assert run.stages["match"]["lr"] == TINY.stage1_lr and run.stages["match"]["halve_every"] is None
    assert run.stages["match"]["steps"] == TINY.stage1_steps + TINY.stage2_steps + TINY.stage3_steps
    assert dataclasses.replace(TINY, match_steps=5).match_budget == 5


def test_stage3_rounds_generators_and_lowers_style_loss():
    from diffproxy.optimize.stages import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    u[:, fit.gen_idx] = (u[:, fit.gen_idx] + 0.013).clamp(0, 1)  # off-grid discrete values
    r = stage3(fit, u, Reporter(), steps=10, lr=0.05)
    nat = fit.spec.denormalize(r.u)
    for p in fit.spec:
        if p.role == "generator" and p.discrete:
            assert float(nat[p.name]) == pytest.approx(round(float(nat[p.name])), abs=1e-4), p.name
    assert r.end < r.start


def test_stage3_also_keeps_the_better_structure():
    from diffproxy.optimize.stages import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    # main: a wrong structure and filters; also: the target's own parameters
    wrong, right = u_s.clone(), u_t.clone()
    alone = stage3(fit, wrong, Reporter(), steps=6, lr=0.05)
    r = stage3(fit, wrong, Reporter(), steps=6, lr=0.05, also=right)
    assert r.info["kept"] == "also" and r.end < alone.end
    # the returned point is the kept one: the target's structure, rounded, and its loss is r.end
    assert torch.equal(r.u[:, fit.gen_idx], fit.normalize(fit.spec.round(fit.natural(right)))[:, fit.gen_idx])
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    # swapped: the same two descents, the better one still kept, now as "main"
    r2 = stage3(fit, right, Reporter(), steps=6, lr=0.05, also=wrong)
    assert r2.info["kept"] == "main" and r2.end == pytest.approx(r.end, rel=1e-4)
    assert r.start == pytest.approx(alone.start) and r.info["also_start"] == pytest.approx(r2.start)


def test_seed_search_finds_the_targets_seeds():
    from diffproxy.optimize.stages import seed_search

    fit, u_t, _, _ = _setup("metal", seed=1)
    seeds = [p.name for p in fit.spec if p.seed]
    assert seeds == ["scratches.seed", "noise.seed"]  # the generator's and the graph's
    nat = fit.spec.round(fit.natural(u_t))
    truth = {n: float(nat[n]) for n in seeds}
    for n in seeds:  # every seed wrong, everything else right
        nat[n] = torch.tensor([(truth[n] + 7) % (fit.spec[n].high + 1)])
    u = fit.normalize(nat)
    r = seed_search(fit, u, Reporter())
    assert r.info["seeds"] == {n: int(v) for n, v in truth.items()}
    assert r.end < r.start and r.info["evaluations"] == 1 + sum(fit.spec[n].n_values for n in seeds)
    others = [i for i, p in enumerate(fit.spec) if not p.seed]
    assert torch.equal(r.u[:, others], u[:, others])  # nothing but the seeds moved
    with torch.no_grad():
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)


def test_scan_levels_coarse_then_fine():
    from diffproxy.optimize.stages import _scan_levels

    spec = _setup("bricks")[0].spec
    coarse, fine = _scan_levels(spec["brick.offset"], grid=5, max_levels=16)
    assert coarse == [0.0, 0.25, 0.5, 0.75, 1.0] and fine == []
    coarse, fine = _scan_levels(spec["brick.bricks"], grid=5, max_levels=16)  # 16 values: all at once
    assert len(coarse) == 16 and fine == []
    rows = spec["brick.rows"]  # 2..40, only even counts drawn by the prior: 20 values
    coarse, fine = _scan_levels(rows, grid=5, max_levels=8)
    span = rows.high - rows.low
    assert len(coarse) == 8 and len(fine) == 20 and set(coarse) <= set(fine)
    assert all(round(v * span) % 2 == 0 for v in fine)  # levels the prior can draw, nothing else
    assert coarse[0] == 0.0 and coarse[-1] == pytest.approx(38 / span)


def test_coordinate_scan_finds_far_off_counts():
    from diffproxy.optimize.stages import coordinate_scan

    fit, u_t, _, _ = _setup("bricks", seed=3)
    nat = fit.spec.round(fit.natural(u_t))
    truth = {n: float(nat[n]) for n in ("brick.rows", "brick.bricks")}
    rows = truth["brick.rows"]
    nat["brick.rows"] = torch.tensor([rows + 14 if rows <= 20 else rows - 14])
    nat["brick.bricks"] = torch.tensor([(truth["brick.bricks"] + 6) % 16 + 1])
    u = fit.normalize(nat)
    r = coordinate_scan(fit, u, Reporter(), sweeps=2, max_levels=8)
    got = fit.spec.round(fit.natural(r.u))
    assert {n: float(got[n]) for n in truth} == truth, (truth, r.info)
    assert r.end < r.start and r.info["moves"] >= 2 and r.info["sweeps"] >= 1
    seeds_and_filters = [i for i, p in enumerate(fit.spec) if p.seed or p.role != "generator"]
    assert torch.equal(r.u[:, seeds_and_filters], u[:, seeds_and_filters])  # only generator parameters move
    with torch.no_grad():
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    assert coordinate_scan(fit, u, Reporter(), sweeps=0).u.equal(u)
    events = []
    coordinate_scan(fit, u, Reporter(events.append, interval=0.0), sweeps=1, max_levels=8)
    n_params = sum(1 for p in fit.spec if p.role == "generator" and not p.seed)
    assert [e["step"] for e in events if e["stage"] == "scan"] == list(range(n_params + 1))  # one per parameter


def test_polish_searches_the_structure_by_the_style_loss():
    import dataclasses

    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.stages import polish

    fit, u_t, _, _ = _setup("bricks", seed=3)
    fit = Fit(fit.graph, fit.photo, dataclasses.replace(TINY, res=64, scales=(64, 32)), fit.descriptor, fit.device)
    nat = fit.spec.round(fit.natural(u_t))
    rows = float(nat["brick.rows"])
    nat["brick.rows"] = torch.tensor([rows + 10 if rows <= 20 else rows - 10])  # the filters are right
    u = fit.normalize(nat)
    events = []
    r = polish(fit, u, Reporter(events.append, interval=0.0), sweeps=4, seeds=False)
    assert float(fit.spec.round(fit.natural(r.u))["brick.rows"]) == rows, r.info
    assert r.end < r.start and r.info["moves"] >= 1 and r.info["kept"] and "seeds" not in r.info
    assert r.info["check"]["after"] < r.info["check"]["before"] and r.info["check"]["res"] == 64
    assert all(b <= a for a, b in zip(r.curve, r.curve[1:]))
    assert torch.equal(r.u[:, fit.filter_idx], u[:, fit.filter_idx])  # the filters stay (a noise seed may move)
    with torch.no_grad():
        assert float(fit.style(fit.render(u))) == pytest.approx(r.start, rel=1e-4)
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    assert events and {e["stage"] for e in events} == {"polish"}


def test_polish_keeps_the_structure_the_sharper_look_prefers(monkeypatch):
    """A searched structure that loses at twice the fit's resolution is not kept."""
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.stages import polish
    from diffproxy.render import render

    fit, u_t, _, _ = _setup("bricks", seed=3)
    nat = fit.spec.round(fit.natural(u_t))
    rows = float(nat["brick.rows"])
    nat["brick.rows"] = torch.tensor([rows + 10 if rows <= 20 else rows - 10])
    u = fit.normalize(nat)
    with torch.no_grad():  # a second opinion that has the displaced structure as its photo
        other = fit.graph.maps(fit.natural(u), 64)
        judge = Fit(fit.graph, render(other), fit.preset, fit.descriptor, fit.device)
    monkeypatch.setattr(Fit, "sharper", lambda self: judge)
    events = []
    r = polish(fit, u, Reporter(events.append, interval=0.0), sweeps=4, seeds=False)
    assert not r.info["kept"] and torch.equal(r.u, u) and r.end == r.start
    assert r.info["check"]["before"] < r.info["check"]["after"]
    assert any("did not hold up" in e["message"] for e in events)


def test_fit_sharper_doubles_the_resolution():
    fit, _, _, _ = _setup("bricks", seed=3)  # fit at 48 px on a 64 px photo
    s = fit.sharper()
    assert s.res == 64 and s.supersample == 1 and s.preset.scales == (64, 32, 16) and fit.res == 48


def test_stage3_with_polish_is_one_stage():
    from diffproxy.optimize.stages import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    events = []
    r = stage3(fit, u, Reporter(events.append, interval=0.0), steps=8, lr=0.05, also=u_s, polish_sweeps=2)
    assert r.info["steps"] == 8 and r.info["kept"] in ("main", "also")
    pol = r.info["polish"]
    assert pol["end"] <= pol["start"] and r.end <= pol["end"] and r.end < r.start
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    # one progress bar: Stage III's steps go 0 .. 8 once, the polish reports under its own name
    # (messages, e.g. which branch was kept, are events with total 0, not steps of the bar)
    bar = [e for e in events if e["stage"] == "stage3" and not (e["total"] == 0 and e["message"])]
    steps = [e["step"] for e in bar]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 8
    assert {e["total"] for e in bar} == {8}
    assert any(e["stage"] == "polish" for e in events)
    assert len(r.curve) == 8 + 2  # each half's steps and its end


def test_stage3_sharp_steps_tune_the_filters_at_twice_the_resolution():
    from diffproxy.optimize.stages import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    check = fit.sharper()
    with torch.no_grad():
        sharp_start = float(check.style(check.render(u)))
    # with the polish: up to the steps after it, or all of them
    for polish_sweeps, sharp, want in ((0, 3, 3), (0, 100, 8), (2, 3, 3), (2, 5, 8)):
        events = []
        r = stage3(fit, u, Reporter(events.append, interval=0.0), steps=8, lr=0.05,
                   polish_sweeps=polish_sweeps, sharp_steps=sharp)
        assert r.info["sharp"]["steps"] == want and r.info["sharp"]["res"] == check.res == 64
        with torch.no_grad():  # the stage's own losses stay the fit's (comparable with the other stages')
            assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
            assert float(check.style(check.render(r.u))) == pytest.approx(r.info["sharp"]["end"], rel=1e-4)
        assert r.info["sharp"]["end"] < sharp_start
        assert r.moments.steps == 8  # the parts make one descent: Adam's state carried on
        steps = [e["step"] for e in events if e["stage"] == "stage3"]
        assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 8
        if not polish_sweeps:  # the structure stays: only filters are tuned
            assert torch.equal(r.u[:, fit.gen_idx], fit.normalize(fit.spec.round(fit.natural(u)))[:, fit.gen_idx])
    plain = stage3(fit, u, Reporter(), steps=8, lr=0.05)
    assert "sharp" not in plain.info


def test_seed_flag_only_on_ints():
    from diffproxy.params import Param

    with pytest.raises(ValueError, match="seed"):
        Param("x", "float", 0.0, 0.0, 1.0, seed=True)


def test_local_search_neighbours_follow_the_prior():
    from diffproxy.optimize.stages import _neighbours

    fit, u_t, _, _ = _setup("bricks")
    names = fit.spec.names
    nat = fit.spec.round(fit.natural(u_t))
    nat["brick.rows"] = torch.tensor([12.0])
    nat["brick.bricks"] = torch.tensor([1.0])  # the lowest value: only one neighbour
    nat["brick.offset"] = torch.tensor([0.97])  # near the top: the step up is clamped
    u = fit.normalize(nat)
    cands, moves = _neighbours(fit, u, 0.1)
    assert cands.shape == (len(moves), len(names))
    got: dict[str, list[float]] = {}
    for (i, v), c in zip(moves, cands):
        assert float(c[i]) == pytest.approx(v)
        others = [j for j in range(len(names)) if j != i]
        assert torch.equal(c[others], u[0, others])  # one parameter per candidate
        got.setdefault(names[i], []).append(float(fit.spec.denormalize(c[None])[names[i]]))
    assert set(got) == {fit.spec.names[i] for i in fit.gen_idx}  # generator parameters only
    assert sorted(got["brick.rows"]) == pytest.approx([10.0, 14.0])  # odd counts are never drawn
    assert got["brick.bricks"] == pytest.approx([2.0])
    assert sorted(got["brick.offset"]) == pytest.approx([0.87, 1.0])


def test_local_search_undoes_a_one_step_displacement():
    from diffproxy.optimize.stages import local_search

    fit, u_t, _, _ = _setup("bricks", seed=2)
    nat = fit.spec.round(fit.natural(u_t))
    rows, bricks = float(nat["brick.rows"]), float(nat["brick.bricks"])
    nat["brick.rows"] = nat["brick.rows"] + 2
    nat["brick.bricks"] = nat["brick.bricks"] + 1
    u = fit.normalize(nat)
    r = local_search(fit, u, Reporter(), sweeps=4)
    got = fit.spec.round(fit.natural(r.u))
    assert (float(got["brick.rows"]), float(got["brick.bricks"])) == (rows, bricks)
    assert r.end < r.start and r.info["moves"] >= 1
    with torch.no_grad():  # the reported loss is the returned point's
        assert float(fit.joint(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    # filters untouched
    assert torch.equal(r.u[:, fit.all_filter_idx], u[:, fit.all_filter_idx])


def test_stage3_filter_search_never_hands_on_worse():
    from diffproxy.optimize.stages import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    r = stage3(fit, u, Reporter(), steps=4, lr=0.05, search=6, generator=torch.Generator().manual_seed(0))
    assert r.info["filter_search_samples"] == 6 and r.end <= r.start
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)


@pytest.mark.parametrize("classify", [True, False], ids=["classifier", "descriptor"])
def test_auto_graph_choice_finds_the_generating_graph(classify):
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.choose import rank_graphs
    from diffproxy.render import render

    pair = [get_graph("bricks"), get_graph("wood")]
    desc = get_descriptor("random")
    for truth in pair:
        gen = torch.Generator().manual_seed(5)
        with torch.no_grad():
            target = render(truth.maps(truth.spec.round(truth.spec.sample(1, generator=gen)), 256))
        ranked = rank_graphs(pair, target, desc, 6, 48, gen, Reporter(), torch.device("cpu"), classify=classify)
        assert ranked[0].name == truth.name, [c.label() for c in ranked]
        assert (ranked[0].probability is not None) == classify


def test_detail_tunes_filters_to_the_look_of_large_maps():
    from diffproxy.descriptor import get_descriptor, resize
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.stages import detail
    from diffproxy.render import render

    g = get_graph("metal")  # scratches: thin lines read differently in small and large maps
    gen = torch.Generator().manual_seed(3)
    u_t = g.spec.normalize(g.spec.sample(1, generator=gen))
    with torch.no_grad():  # the "photo": the material's look from 192 px maps
        photo = resize(render(g.maps(g.spec.round(g.spec.denormalize(u_t)), 192)), 48)
    fit = Fit(g, photo, TINY, get_descriptor("random"), torch.device("cpu"))
    u = u_t.clone()
    u[:, fit.filter_idx] = g.spec.normalize(g.spec.sample(1, generator=gen))[:, fit.filter_idx]
    events = []
    r = detail(fit, u, Reporter(events.append, interval=0.0), steps=12, lr=0.05, maps_px=192, refresh=4)
    assert r.end < 0.9 * r.start, (r.start, r.end)
    steps = [e["step"] for e in events]  # one progress bar over the whole stage
    assert steps == sorted(steps) and steps[-1] == 12 and {e["total"] for e in events} == {12}
    assert len(r.curve) == 4  # the start and one point per refresh
    moved = torch.nonzero((r.u - u).abs()[0] > 1e-6).flatten().tolist()
    assert moved and set(moved) <= set(fit.filter_idx)
    with torch.no_grad():  # the reported loss is that of the 192 px maps' render
        assert float(fit.style(fit.render_from(r.u, 192))) == pytest.approx(r.end, rel=1e-4)
    assert r.info["look"]["style"] == pytest.approx(r.end, rel=1e-4) and r.info["maps_px"] == 192
    with pytest.raises(ValueError, match="refresh"):
        detail(fit, u, Reporter(), steps=2, lr=0.05, maps_px=192, refresh=0)


def test_proceduralize_runs_detail_for_large_exports_only(tiny, monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, detail_res=128, detail_steps=4,
                                                              detail_refresh=2))
    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    kw = dict(graph="bricks", preset="tiny", method="match", device="cpu", seed=1)
    r = proceduralize(photo, Options(res_out=256, **kw))
    assert r.losses["detail"]["maps_px"] == 128  # min(res_out, the preset's detail_res)
    assert r.losses["final"]["from_stage"] == "detail" and "detail" in r.timings
    assert r.losses["final"]["maps_px"] == 128
    assert r.losses["detail"]["objective_end"] <= r.losses["detail"]["objective_start"]
    assert r.losses["final"]["style"] == pytest.approx(r.losses["detail"]["objective_end"], rel=1e-4)
    off = proceduralize(photo, Options(res_out=256, detail=False, **kw))
    # maps no larger than those the fit renders (48 px here): nothing to gain
    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, detail_res=48, detail_steps=4))
    small = proceduralize(photo, Options(res_out=256, **kw))
    assert "detail" not in off.losses and "detail" not in small.losses
    assert off.losses["final"]["maps_px"] == 48  # the fit's own maps (tiny: 48 px, no supersampling)


# --- end to end -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["diffproxy", "match", "search"])
def test_proceduralize_end_to_end(tiny, tmp_path, method):
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    events = []
    o = Options(graph="bricks", preset="tiny", method=method, device="cpu", res_out=64, seed=1,
                time_limit=1.5)
    r = proceduralize(photo, o, progress=events.append)
    assert r.graph == "bricks" and set(r.params) == set(g.spec.names)
    g.spec.from_json(r.params)  # valid parameters
    assert r.descriptor["name"] == "random_cnn" and r.descriptor["weights_hash"]
    assert r.device == "cpu" and r.ranking[0]["graph"] == "bricks"
    assert "final" in r.losses and r.timings["total"] > 0
    if method == "diffproxy":  # never worse (style) than after Stage I
        assert r.losses["final"]["style"] <= r.losses["stage1"]["style"]
        assert r.losses["final"]["from_stage"] in ("stage1", "stage3")
    assert events and all(set(e) == {"stage", "step", "total", "loss", "message"} for e in events)
    paths = r.write(tmp_path / "out")
    for name in ("basecolor", "normal", "roughness", "metallic", "height", "render", "params",
                 "comparison", "loss_curve"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0, name
    data = json.loads(paths["params"].read_text())
    assert data["graph"] == "bricks" and data["descriptor"]["weights_hash"] == r.descriptor["weights_hash"]
    assert data["params"] == r.params and data["device"] == "cpu"
    assert "final" in data["losses"] and "total" in data["timings"]
    with pytest.raises(FileExistsError, match="overwrite"):
        r.write(tmp_path / "out")
    r.write(tmp_path / "out", overwrite=True)


@pytest.mark.parametrize("how", ["same name", "hard link", "symlink"])
def test_write_never_overwrites_the_input_photo(tiny, tmp_path, how):
    """A photo that is (or links to) an output file of --out is refused even with overwrite."""
    from diffproxy.graphs import get_graph
    from diffproxy.io import InputWouldBeOverwritten, save_png
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        img = render(g.maps(g.spec.defaults(), 64))
    out = tmp_path / "out"
    if how == "same name":
        photo = save_png(img[0], out / "basecolor.png")
    else:
        photo = save_png(img[0], tmp_path / "photo.png")
        out.mkdir()
        (os.link if how == "hard link" else os.symlink)(photo, out / "height.png")
    before = photo.read_bytes()
    r = proceduralize(str(photo), Options(graph="bricks", preset="tiny", method="search", device="cpu",
                                          res_out=64, time_limit=0.5))
    with pytest.raises(InputWouldBeOverwritten, match="choose another output folder"):
        r.write(out, overwrite=True)
    assert photo.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == (["basecolor.png"] if how == "same name" else ["height.png"])


def test_pipeline_runs_the_scan_the_seed_search_and_the_second_stage3_branch(monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, seed_search=True, stage3_also_start=True,
                                                             scan_sweeps=1))
    g = get_graph("metal")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    events = []
    r = proceduralize(photo, Options(graph="metal", preset="tiny", device="cpu", res_out=64, seed=2,
                                     detail=False), progress=events.append)
    seeds = r.losses["seeds"]
    assert set(seeds["seeds"]) == {"scratches.seed", "noise.seed"}
    if r.losses["final"]["from_stage"] == "stage3" and r.losses["stage3"]["kept"] == "main":
        assert all(r.params[n] == v for n, v in seeds["seeds"].items())  # the searched seeds are kept
    assert seeds["objective_end"] <= seeds["objective_start"]
    assert r.losses["stage3"]["kept"] in ("main", "also") and "also_start" in r.losses["stage3"]
    assert any(e["stage"] == "seeds" for e in events) and any(e["stage"] == "scan" for e in events)
    scan = r.losses["scan"]
    assert scan["objective_end"] <= scan["objective_start"] and scan["evaluations"] > 1
    assert r.losses["final"]["style"] <= r.losses["stage1"]["style"]
    off = proceduralize(photo, Options(graph="metal", preset="tiny", device="cpu", res_out=64, seed=2,
                                       detail=False, seed_search=False, scan=False))
    assert "seeds" not in off.losses and "scan" not in off.losses and "stage3" in off.losses


def test_pipeline_with_sharp_steps_settles_by_the_sharper_look(tiny, monkeypatch):
    import dataclasses

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    o = Options(graph="bricks", preset="tiny", device="cpu", res_out=64, seed=2, detail=False)
    assert "settled" not in proceduralize(photo, o).losses  # the fit's own losses decide
    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, stage3_sharp_steps=TINY.stage3_steps))
    r = proceduralize(photo, o)
    st = r.losses["settled"]
    assert set(st["style"]) == {"stage1", "stage3"} and st["res"] == 64 and st["scales"] == [64, 32, 16]
    assert st["kept"] == r.losses["final"]["from_stage"] and st["style"][st["kept"]] == min(st["style"].values())
    assert r.losses["stage3"]["sharp"] == {**r.losses["stage3"]["sharp"], "steps": TINY.stage3_steps, "res": 64}


def test_cancel_stops_at_the_next_step(tiny):
    """Cancellation is polled at every step: once asked, not one more step runs or reports.
    (How long a step takes is a benchmark's business: docs/BENCHMARKS.md.)"""
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    stop = threading.Event()
    after = []

    def progress(ev):
        if stop.is_set():
            after.append(ev)
        elif ev["stage"] == "stage1" and ev["step"] >= 2:
            stop.set()

    with pytest.raises(Cancelled):
        proceduralize(photo, Options(graph="bricks", preset="tiny", device="cpu"),
                      progress=progress, should_cancel=stop.is_set)
    assert stop.is_set() and after == []


def _auto_two_graphs(**kw):
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    return photo, Options(graph="auto", preset="tiny", top_k=2, device="cpu", res_out=64, seed=3,
                          threads=1, detail=False, **kw)


def test_graphs_side_by_side_give_the_one_after_another_result(tiny):
    photo, serial = _auto_two_graphs(workers=1)
    a = proceduralize(photo, serial)
    events = []
    b = proceduralize(photo, _auto_two_graphs(workers=2)[1], progress=events.append)
    assert len(a.others) == len(b.others) == 1
    assert (b.graph, b.params, b.losses) == (a.graph, a.params, a.losses)
    assert b.others[0]["graph"] == a.others[0]["graph"]
    assert b.others[0]["final"] == a.others[0]["final"]
    # the workers' progress reaches the caller, each event tagged with its graph
    graphs = {a.graph, a.others[0]["graph"]}
    assert {g for g in graphs for e in events if e["message"].startswith(f"[{g}] ")} == graphs
    # steps of one graph at a time: a progress bar never goes back to a graph it left
    steps = [e["message"] for e in events if e["message"] in {f"[{g}]" for g in graphs}]
    runs = [m for i, m in enumerate(steps) if i == 0 or m != steps[i - 1]]
    assert steps and len(runs) == len(set(runs)), runs
    assert any("2 processes side by side" in e["message"] for e in events)
    # the caller's tensors are the caller's: sending them to the workers did not move their memory
    # (torch's queue pickling moved it to shared memory in place, from a background thread, while
    # the next run read the cached descriptor's weights: a segfault in CI)
    from diffproxy import descriptor

    assert not photo.is_shared()
    assert descriptor._CACHE and not any(p.is_shared() for d in descriptor._CACHE.values()
                                         for p in list(d.parameters()) + list(d.buffers()))


def test_every_graph_gets_detail_and_the_best_look_wins(tiny, monkeypatch):
    import dataclasses

    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, detail_res=96, detail_steps=2,
                                                              detail_refresh=1))
    photo, o = _auto_two_graphs(workers=1)
    r = proceduralize(photo, dataclasses.replace(o, detail=True, res_out=256))
    assert r.losses["final"]["from_stage"] == "detail" and r.losses["final"]["maps_px"] == 96
    other = r.others[0]["final"]
    assert other["maps_px"] == 96  # judged by the same look as the kept graph
    assert r.losses["final"]["style"] <= other["style"]


def test_best_restart_keeps_the_lowest_look_and_says_so():
    from diffproxy.optimize.result import GraphRun, best_restart

    def run(style, seconds, settled=None, final_from="stage3"):
        r = GraphRun("bricks", final={"style": style, "feature": 1.0}, seconds=seconds, final_from=final_from)
        r.settled = settled
        return r

    # the look: Stage "detail"'s when it ran, else the settle's judge's, else the fit's own
    assert run(0.5, 1, {"style": {"stage1": 0.2, "stage3": 0.3}}).look == 0.3
    assert run(0.5, 1, {"style": {"stage1": 0.2, "stage3": 0.3}}, "detail").look == 0.5
    assert run(0.5, 1).look == 0.5
    one = run(0.4, 2.0)
    assert best_restart([one]) is one and one.restarts is None and one.seconds == 2.0
    runs = [run(0.4, 2.0), run(0.5, 1.0, {"style": {"stage3": 0.1}}), run(0.1, 3.0), run(0.1, 4.0)]
    best = best_restart(runs)
    assert best is runs[1]  # judged by its settled look (0.1), the first of the ties
    assert best.restarts == {"style": [0.4, 0.1, 0.1, 0.1], "kept": 1}
    assert best.seconds == 10.0


def test_restart_generators_keep_the_first_stream_and_part_the_others():
    from diffproxy.optimize.workers import restart_generators

    g = torch.Generator().manual_seed(5)
    gens = restart_generators(g, 11, 3)
    assert gens[0] is g and len(gens) == 3
    draws = [float(torch.rand(1, generator=x)) for x in gens[1:]]
    again = [float(torch.rand(1, generator=x)) for x in restart_generators(g, 11, 3)[1:]]
    assert draws == again and draws[0] != draws[1]
    assert restart_generators(g, 11, 1) == [g]


@pytest.mark.parametrize("workers", [1, 2])
def test_restarts_keep_each_graphs_best_run(tiny, monkeypatch, workers):
    """With the preset's ``restarts``, each graph is optimised that many times from its own
    streams: the first is the one-restart run exactly; the kept one has the lowest look, and the
    result says which, with every restart's look; side by side or one after another alike."""
    import dataclasses

    photo, o = _auto_two_graphs(workers=1)
    o = dataclasses.replace(o, graph="bricks", top_k=None)
    single = proceduralize(photo, o)
    monkeypatch.setitem(PRESETS, "tiny", dataclasses.replace(TINY, restarts=3))
    events = []
    r = proceduralize(photo, dataclasses.replace(o, workers=workers), progress=events.append)
    rs = r.losses["restarts"]
    assert len(rs["style"]) == 3 and r.others == []
    assert rs["style"][0] == single.losses["final"]["style"]  # restart 1 is the run it always was
    assert len(set(rs["style"])) > 1  # the other streams searched elsewhere
    assert rs["kept"] == rs["style"].index(min(rs["style"])) and r.losses["final"]["style"] == min(rs["style"])
    assert rs["kept"] != 0 or r.params == single.params
    assert {e["message"].split("]")[0] + "]" for e in events if e["message"].startswith("[bricks")} == \
        {"[bricks]", "[bricks #2]", "[bricks #3]"}
    if workers == 2:
        serial = proceduralize(photo, dataclasses.replace(o, workers=1))
        assert (serial.params, serial.losses) == (r.params, r.losses)


@pytest.mark.parametrize("when", ["start", "stage1"])
def test_graphs_side_by_side_cancel(tiny, when):
    """A cancel reaches side-by-side graphs too, also while their workers are still starting:
    the parent raises at once (not one more event reaches the caller) and the workers, told to
    stop, exit. No wall-time bound: a garbage-collection pause of a long test process once took
    1.6 s here, which says nothing about the cancel."""
    import multiprocessing

    photo, o = _auto_two_graphs(workers=2)
    stop = threading.Event()
    after = []

    def progress(ev):
        if stop.is_set():
            after.append(ev)
        elif ("side by side" in ev["message"]) if when == "start" else (ev["stage"] == "stage1" and ev["step"] >= 2):
            stop.set()

    with pytest.raises(Cancelled):
        proceduralize(photo, o, progress=progress, should_cancel=stop.is_set)
    assert stop.is_set() and after == []
    deadline = time.monotonic() + 60
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


_CANCEL_SCRIPT = """
import threading, torch
from diffproxy.graphs import get_graph
from diffproxy.optimize import Cancelled, Options, proceduralize
from diffproxy.render import render

g = get_graph("bricks")
with torch.no_grad():
    photo = render(g.maps(g.spec.defaults(), 64))
stop = threading.Event()
for _ in range(2):
    stop.clear()
    try:
        proceduralize(photo, Options(graph="auto", preset="fast", top_k=2, workers=2, res_out=64, threads=1),
                      progress=lambda ev: "side by side" in ev["message"] and stop.set(),
                      should_cancel=stop.is_set)
    except Cancelled:
        print("cancelled", flush=True)
"""


def test_cancel_while_workers_start_prints_nothing(tmp_path):
    """Workers still starting when the run is cancelled must not print tracebacks (they did: the
    parent dropped the queue they were about to open) into Blender's console or a TD's log."""
    import subprocess

    script = tmp_path / "cancel_early.py"
    script.write_text(_CANCEL_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cancelled", "cancelled"]
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


_ORPHAN_SCRIPT = """
import multiprocessing, sys, torch
from diffproxy.graphs import get_graph
from diffproxy.optimize import Options, proceduralize
from diffproxy.render import render

g = get_graph("bricks")
with torch.no_grad():
    photo = render(g.maps(g.spec.defaults(), 64))
told = []

def progress(ev):
    if ev["stage"] == "stage1" and not told:
        told.append(1)
        print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)

if sys.argv[1] == "starting":  # the parent dies as soon as both workers are spawned
    import os, signal
    from diffproxy.optimize import workers

    class Pool(workers.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            if len(multiprocessing.active_children()) == 2:
                progress({"stage": "stage1"})
                os.kill(os.getpid(), signal.SIGKILL)
            return future

    workers.ProcessPoolExecutor = Pool

proceduralize(photo, Options(graph="auto", preset="fast", top_k=2, workers=2, res_out=64, threads=1),
              progress=progress)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("when", ["stage1", "starting"])
def test_workers_stop_when_their_parent_dies(tmp_path, when):
    """Blender quitting (or killing) the engine mid-run must not leave workers optimising, also
    when it happens while they are still starting (CI, session 18: such a worker went on alone);
    and a script without a main guard can start them."""
    import os
    import signal
    import subprocess

    script = tmp_path / "unguarded.py"  # no `if __name__ == "__main__"`: workers must start anyway
    script.write_text(_ORPHAN_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), when], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the workers' pids, once a graph has started Stage I (or spawned)
        pids = [int(x) for x in line.split()]
        assert len(pids) == 2, line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    deadline = time.monotonic() + 20
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    assert not alive, f"workers {alive} still running after their parent was killed"


def test_worker_started_after_its_parent_died_exits():
    """A worker that finishes starting after its parent was killed (CI, session 18: it took
    init for its parent and optimised a whole graph alone) exits at once."""
    import subprocess

    code = ("import os, time\n"
            "from diffproxy.optimize.workers import _init\n"
            "_init(None, None, os.getppid() + 1)  # not our parent: as if it had died\n"
            "time.sleep(60)\n")
    t = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert time.monotonic() - t < 50  # well before the sleep's end (no tighter: imports vary)


def test_worker_plan():
    from diffproxy.optimize.workers import plan

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert plan(Options(), 1, cpu, 1) == 1 and plan(Options(), 3, gpu, 1) == 1
    assert plan(Options(workers=4), 3, cpu, 1) == 3 and plan(Options(workers=1), 3, cpu, 1) == 1
    assert 1 <= plan(Options(), 2, cpu, 1) <= 2
    with pytest.raises(ValueError, match="workers"):
        Options(workers=-1)


# --- CLI --------------------------------------------------------------------------------------

def test_cli_unusable_photo_exits_2(tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main

    (tmp_path / "empty.png").write_bytes(b"")
    assert main([str(tmp_path / "empty.png"), "--out", str(tmp_path / "o")]) == 2
    assert "empty file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.png"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "text.png").write_text("hello")
    assert main([str(tmp_path / "text.png"), "--out", str(tmp_path / "o")]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main([str(tmp_path / "text.png"), "--out", str(tmp_path / "o"), "--graph", "nope"]) == 2
    assert "unknown graph" in capsys.readouterr().err


def test_cli_bad_counts_exit_2(tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main

    photo = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (64, 64), (120, 80, 60)).save(photo)
    assert main([str(photo), "--out", str(tmp_path / "o"), "--top-k", "0"]) == 2
    assert "top_k must be a positive integer" in capsys.readouterr().err
    assert main([str(photo), "--out", str(tmp_path / "o"), "--workers", "-1"]) == 2
    assert "workers must be an integer >= 0" in capsys.readouterr().err


def test_cli_end_to_end_and_no_overwrite(tiny, tmp_path, capsys):
    from diffproxy.commands.proceduralize_cmd import main
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.render import render

    g = get_graph("bricks")
    with torch.no_grad():
        photo = render(g.maps(g.spec.defaults(), 64))
    save_png(photo[0], tmp_path / "p.png")
    args = [str(tmp_path / "p.png"), "--out", str(tmp_path / "o"), "--graph", "bricks",
            "--preset", "tiny", "--res-out", "64", "--json", "--device", "cpu"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["graph"] == "bricks" and (tmp_path / "o" / "params.json").is_file()
    assert main(args) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_bench_synthetic_rows_and_summary(tiny, monkeypatch):
    import diffproxy.proxies as proxies
    from diffproxy.optimize.bench import check_methods, run_synthetic, summarise

    monkeypatch.setattr(proxies, "load_proxy", _untrained_proxy)
    methods = check_methods("diffproxy,diffproxy-paper,diffproxy-noproxy,match,search".split(","))
    rows = run_synthetic(1, 0, methods, "tiny", ["bricks"], device="cpu", descriptor="random",
                         log=lambda s: None)
    assert [r["method"] for r in rows] == methods  # diffproxy first: it sets search's time
    by = {r["method"]: r for r in rows}
    assert by["diffproxy"]["proxies"] == "joint" and by["diffproxy-noproxy"]["proxies"] == "filters_only"
    for r in rows:
        assert r["feature"] > 0 and r["style"] > 0 and 0 <= r["discrete_accuracy"] <= 1
        assert r["fit_feature"] > 0 and r["fit_style"] > 0
    s = summarise(rows, methods)
    assert set(s["per_method"]) == set(methods)
    assert {f"diffproxy_vs_{m}" for m in methods[1:]} <= set(s)
    with pytest.raises(ValueError, match="diffproxy-noproxy"):
        check_methods(["diffproxy", "matsh"])


@pytest.mark.parametrize("preset, res", [("balanced", None), ("full", None), ("balanced", 256)])
def test_bench_target_own_parameters_score_zero_in_the_fit(preset, res):
    """A synthetic target's own parameters are the fit's optimum, as in the judge, where the
    target's 256 px are a whole multiple of the fit's side (``fast``'s 96 px are not: there the
    supersampled render only comes close): fitted at the target's own 256 px (``full`` until
    session 20), 2x supersampling rendered them smoother than the target (style loss 0.05 on a
    bricks target) and pulled both methods away from them."""
    import dataclasses

    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import TARGET_RES, fit_preset, synthetic_target
    from diffproxy.optimize.fit import Fit

    base = PRESETS[preset] if res is None else dataclasses.replace(PRESETS[preset], res=res, scales=(256, 128, 64))
    p = fit_preset(base)
    assert p.supersample == (1 if base.res * 2 > TARGET_RES else base.supersample)
    assert p.supersample == (1 if res == 256 else 2)
    graph = get_graph("bricks")
    u_t, img, u_s = synthetic_target(graph, torch.Generator().manual_seed(0), "cpu")
    fit = Fit(graph, img, p, get_descriptor("random", "cpu"), torch.device("cpu"))
    with torch.no_grad():
        assert fit.evaluate(u_t)["style"] < 1e-6 < fit.evaluate(u_s)["style"]


def test_bench_ablations_switch_what_they_name():
    from diffproxy.optimize.bench import BENCH_METHODS

    for label, fields in BENCH_METHODS.items():
        o = Options(**fields)  # every label is a valid run
        assert o.method == label.split("-")[0]
    off = {label: [k for k, v in f.items() if v is False] for label, f in BENCH_METHODS.items()}
    assert off["diffproxy-noscan"] == ["scan"] and off["diffproxy-noseeds"] == ["seed_search"]
    assert off["diffproxy-nolocal"] == ["local_search"] and off["diffproxy-nodetail"] == ["detail"]
    assert off["diffproxy-noclassifier"] == ["classifier"] and off["diffproxy-nowindow"] == ["count_window"]
    assert off["diffproxy-nopolish"] == ["polish"]


def test_cli_switches_reach_the_options(monkeypatch, tmp_path):
    """Every ``--no-...`` switch of ``proceduralize`` turns off the Options field it names."""
    import argparse
    import dataclasses

    from diffproxy.commands import proceduralize_cmd as cmd

    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    switches = [a for a in p._actions if isinstance(a, argparse._StoreFalseAction)]
    assert {a.dest for a in switches} >= {"classifier", "estimator", "count_window", "local_search", "scan",
                                          "seed_search", "polish", "detail"}
    seen = []
    monkeypatch.setattr("diffproxy.optimize.proceduralize",
                        lambda photo, options, progress=None: seen.append(options) or (_ for _ in ()).throw(KeyboardInterrupt))
    for a in switches:
        args = p.parse_args(["photo.png", "--out", str(tmp_path / a.dest), a.option_strings[0]])
        assert cmd.run(args) == 130  # stopped at the pipeline's door
        o = seen[-1]
        assert getattr(o, a.dest) is False
        assert all(getattr(o, f.name) is True for f in dataclasses.fields(o) if f.default is True and f.name != a.dest)


def test_bench_synthetic_runs_can_be_split(tiny):
    from diffproxy.optimize.bench import run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # on more than one thread too (diffproxy sets MKL_CBWR: __init__)
    try:
        whole = run_synthetic(2, 0, ["match"], "tiny", ["bricks"], **kw)
        second = run_synthetic(1, 0, ["match"], "tiny", ["bricks"], first=1, **kw)
    finally:
        torch.set_num_threads(threads)
    assert [r["target"] for r in whole] == ["synthetic0", "synthetic1"]
    assert second[0]["target"] == "synthetic1"
    assert second[0]["style"] == whole[1]["style"] and second[0]["feature"] == whole[1]["feature"]
    assert second[0]["style"] != pytest.approx(whole[0]["style"], rel=1e-3)


def test_same_run_same_bits_on_two_threads():
    """Same seed, same inputs, same device and threads: the same result to the last bit. On two
    threads MKL's matrix products varied with their inputs' memory alignment (from the 2nd of
    repeated runs in one process, ~1e-7 relative, which the searches amplified) until
    ``diffproxy`` set ``MKL_CBWR``."""
    import os

    from diffproxy.optimize.baselines import match
    from diffproxy.optimize.stages import filter_search

    assert os.environ.get("MKL_CBWR")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fit, _, u_s, _ = _setup("bricks", seed=0)
        curves = []
        for _ in range(4):
            fs = filter_search(fit, u_s, 4, Reporter(), torch.Generator().manual_seed(0), stage="match")
            curves.append(match(fit, fs.u, Reporter(), 30, 0.01).curve)
    finally:
        torch.set_num_threads(threads)
    assert all(c == curves[0] for c in curves[1:])


def test_bench_summary_by_graph():
    from diffproxy.optimize.bench import summarise, table

    def row(target, graph, method, style, kind="synthetic"):
        return {"target": target, "kind": kind, "graph": graph, "method": method, "style": style,
                "feature": 1.0, "seconds": 1.0, "discrete_accuracy": None if kind == "photo" else 0.5}

    rows = [row("s0", "bricks", "match", 0.2), row("s0", "bricks", "diffproxy", 0.1),
            row("s1", "bricks", "match", 0.4), row("s1", "bricks", "diffproxy", 0.1),
            row("s2", "metal", "match", 0.1), row("s2", "metal", "diffproxy", 0.1),
            row("p.png", "wood", "match", 0.3, "photo"), row("p.png", "wood", "diffproxy", 0.1, "photo")]
    s = summarise(rows, ["diffproxy", "match"])
    assert set(s["per_graph"]) == {"bricks", "metal"}  # photos have no generating graph
    assert s["per_graph"]["bricks"]["n"] == 2
    assert s["per_graph"]["bricks"]["diffproxy"]["mean_ratio_style_vs_match"] == pytest.approx((0.5 + 0.25) / 2)
    assert s["per_graph"]["metal"]["diffproxy"]["mean_ratio_style_vs_match"] == pytest.approx(1.0)
    assert s["per_graph"]["bricks"]["match"]["mean_style"] == pytest.approx(0.3)
    text = table(rows, s)
    assert "by graph" in text and "0.375" in text
    # the overall comparison, read three ways: the mean of the per-target ratios (the goal's),
    # the median ratio, and the ratio of the mean losses
    vs = s["diffproxy_vs_match"]
    assert vs["n"] == 4
    assert vs["mean_ratio_style"] == pytest.approx((0.5 + 0.25 + 1.0 + 1 / 3) / 4)
    assert vs["median_ratio_style"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert vs["ratio_of_means_style"] == pytest.approx(0.4 / 1.0)
    assert vs["ratio_of_means_feature"] == pytest.approx(1.0)
    assert "ratio of the mean losses: style 0.400 feature 1.000" in text


def test_bench_merge_joins_split_runs(tiny, tmp_path, capsys):
    from diffproxy.commands.bench_cmd import main
    from diffproxy.io import save_json
    from diffproxy.optimize.bench import run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    for first in (0, 1):
        rows = run_synthetic(1, 0, ["match"], "tiny", ["bricks"], first=first, **kw)
        save_json(tmp_path / f"part{first}.json", {"meta": {}, "rows": rows})
    out = tmp_path / "all.json"
    assert main(["--merge", str(tmp_path / "part0.json"), str(tmp_path / "part1.json"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "synthetic0" in text and "synthetic1" in text and "match      n=2" in text
    merged = json.loads(out.read_text())
    assert sorted(r["target"] for r in merged["rows"]) == ["synthetic0", "synthetic1"]
    assert merged["summary"]["per_method"]["match"]["n"] == 2
    (tmp_path / "bad.json").write_text("{}")
    assert main(["--merge", str(tmp_path / "bad.json")]) == 2
    assert "not a bench --json file" in capsys.readouterr().err


def test_bench_labels_flag_refuses_what_it_cannot_use(tmp_path, capsys):
    from diffproxy.commands.bench_cmd import main

    (tmp_path / "photos").mkdir()
    assert main(["--synthetic", "1", "--labels", str(tmp_path / "none.json"), "--methods", "match"]) == 2
    assert "--labels goes with --photos" in capsys.readouterr().err
    assert main(["--synthetic", "0", "--photos", str(tmp_path / "photos"), "--labels",
                 str(tmp_path / "none.json"), "--methods", "match"]) == 2
    assert "labels: cannot read" in capsys.readouterr().err
    (tmp_path / "l.json").write_text("[1, 2]")
    assert main(["--synthetic", "0", "--photos", str(tmp_path / "photos"), "--labels",
                 str(tmp_path / "l.json"), "--methods", "match"]) == 2
    assert "JSON object" in capsys.readouterr().err


def test_bench_match_oracle_starts_at_the_targets_structure(tiny, tmp_path):
    from diffproxy.optimize.bench import check_methods, run_photos, run_synthetic

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    row, = run_synthetic(1, 0, check_methods(["match-oracle"]), "tiny", ["bricks"], **kw)
    assert row["discrete_accuracy"] == 1.0 and row["continuous_mae"] == pytest.approx(0.0, abs=1e-6)
    assert run_photos(tmp_path, 0, ["match-oracle"], "tiny", **kw) == []  # no ground truth


def test_bench_match_estimator_starts_at_the_guess(tiny):
    """MATch from the estimator's guess: it keeps the guess's generator parameters (seeds the
    start's), so its discrete accuracy is exactly the guess's."""
    from diffproxy.estimator import estimate
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import check_methods, run_synthetic, synthetic_target

    kw = dict(device="cpu", descriptor="random", log=lambda s: None)
    row, = run_synthetic(1, 0, check_methods(["match-estimator"]), "tiny", ["wood"], **kw)
    g = get_graph("wood")
    u_t, img, u_s = synthetic_target(g, torch.Generator().manual_seed(0), torch.device("cpu"))
    params = list(g.spec)
    want, start = g.spec.round(g.spec.denormalize(u_t)), g.spec.round(g.spec.denormalize(u_s))
    guess = g.spec.round(g.spec.denormalize(estimate(img, g)))
    disc = [p.name for p in params if p.role == "generator" and p.discrete]
    got = {n: (start if next(p for p in params if p.name == n).seed else guess)[n] for n in disc}
    expected = sum(float(got[n][0] == want[n][0]) for n in disc) / len(disc)
    assert row["method"] == "match-estimator" and row["discrete_accuracy"] == pytest.approx(expected)


def test_bench_judge_scores_the_targets_own_parameters_zero():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.bench import judge, synthetic_target

    g, dev = get_graph("bricks"), torch.device("cpu")
    u_t, img, u_s = synthetic_target(g, torch.Generator().manual_seed(3), dev)
    desc = get_descriptor("random", dev)
    assert judge(g, img, u_t, desc, dev) == pytest.approx({"feature": 0.0, "style": 0.0}, abs=1e-4)
    far = judge(g, img, u_s, desc, dev)
    assert far["feature"] > 0.01 and far["style"] > 0.01


def test_bench_photos_rows(tiny, tmp_path, monkeypatch):
    import diffproxy.optimize.bench as bench
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import run_photos, summarise
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 128)  # the export-size judge, small for a test

    g = get_graph("bricks")
    with torch.no_grad():
        save_png(render(g.maps(g.spec.defaults(), 64))[0], tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not a photo")  # ignored: not an image extension
    rows = run_photos(tmp_path, 0, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None)
    assert len(rows) == 1 and rows[0]["target"] == "a.png" and rows[0]["method"] == "match"
    assert rows[0]["feature"] > 0 and rows[0]["fit_style"] > 0 and rows[0]["discrete_accuracy"] is None
    assert rows[0]["export_style"] > 0 and rows[0]["export_style"] != rows[0]["style"]
    assert summarise(rows, ["match"])["per_method"]["match"]["mean_export_style"] == rows[0]["export_style"]


def test_bench_photos_judged_by_labels(tiny, tmp_path, monkeypatch):
    """A labelled photo gets the judge's checks in its row, the summary counts them per method,
    and the table shows them; an unlabelled photo gets none."""
    import diffproxy.optimize.bench as bench
    from diffproxy.graphs import get_graph
    from diffproxy.io import save_png
    from diffproxy.optimize.bench import load_labels, run_photos, summarise, table
    from diffproxy.render import render

    monkeypatch.setattr(bench, "EXPORT_PX", 64)
    g = get_graph("bricks")
    p = g.spec.defaults()
    with torch.no_grad():
        img = render(g.maps(p, 128))[0]
    save_png(img, tmp_path / "wall.png")
    save_png(img, tmp_path / "other.png")
    counts = g.layout_counts(g.spec.to_json(p))
    labels_file = tmp_path / "labels.json"
    labels_file.write_text("\ufeff" + json.dumps({"_about": "comment", "wall": {
        "accept": ["bricks"], "rows": counts["rows"], "per_row": counts["per_row"], "relief": True}}), "utf-8")
    labels = load_labels(labels_file)
    assert list(labels) == ["wall"]
    rows = run_photos(tmp_path, 0, ["match"], "tiny", device="cpu", descriptor="random", log=lambda s: None,
                      labels=labels)
    by = {r["target"]: r for r in rows}
    assert "checks" not in by["other.png"]
    c = by["wall.png"]["checks"]
    assert set(c) == {"family", "counts", "polarity", "spread", "relief"}
    summary = summarise(rows, ["match"])["per_method"]["match"]["checks"]
    assert summary["family"] == [int(c["family"]["ok"]), 1] and summary["relief_present"][1] == 1
    assert summary["relief_absent"] == [0, 0]
    assert "judged by the labels" in table(rows, summarise(rows, ["match"]))
    (tmp_path / "bad.json").write_text('{"x": {"rows": 3}}')
    with pytest.raises(ValueError, match="accept"):
        load_labels(tmp_path / "bad.json")


def test_preset_top_k_leaves_out_graphs_the_classifier_finds_unlikely(monkeypatch):
    """With the preset's top_k (not one asked for) the pipeline optimises only the graphs at
    least half as likely as the classifier's first choice; without the classifier, all k."""
    from dataclasses import replace

    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    monkeypatch.setitem(PRESETS, "tiny3", replace(TINY, name="tiny3", top_k=3))
    g = get_graph("bricks")
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():  # a clear brick wall, as the classifier's renders show one
        photo = render(g.maps(g.spec.round(g.spec.sample(1, generator=gen)), 256))
    o = dict(graph="auto", preset="tiny3", device="cpu", res_out=64, threads=1, workers=1, detail=False)
    events = []
    r = proceduralize(photo, Options(**o), progress=events.append)
    assert r.ranking[0]["graph"] == "bricks" and r.ranking[0]["probability"] > 0.5
    assert r.graph == "bricks" and len(r.others) + 1 < 3
    assert any("only: the classifier" in e["message"] for e in events)
    from diffproxy.classifier import WEIGHTS_PATH
    used = r.summary()["graph_classifier"]  # params.json records which classifier ordered the ranking
    assert used["file"] == WEIGHTS_PATH.name and len(used["sha256"]) == 16 and "bricks" in used["graphs"]
    r = proceduralize(photo, Options(**o, classifier=False))
    assert len(r.others) + 1 == 3 and all(x["probability"] is None for x in r.ranking)
    assert r.summary()["graph_classifier"] is None


def test_the_estimators_guess_is_a_stage_and_is_recorded(tiny):
    """With the estimator (default) the run has an ``estimate`` stage and params.json names the
    estimator; ``estimator=False`` runs without either."""
    from diffproxy.estimator import WEIGHTS_PATH
    from diffproxy.graphs import get_graph
    from diffproxy.render import render

    g = get_graph("ceramic_tiles")
    with torch.no_grad():
        photo = render(g.maps(g.spec.round(g.spec.sample(1, generator=torch.Generator().manual_seed(4))), 128))
    o = dict(graph="ceramic_tiles", preset="tiny", device="cpu", res_out=64, threads=1, workers=1, detail=False)
    events = []
    r = proceduralize(photo, Options(**o), progress=events.append)
    est = r.losses["estimate"]
    assert est["used"] and est["kept"] in ("estimate", "start") and est["objective_end"] <= est["objective_start"]
    assert any("parameter estimator's guess" in e["message"] for e in events)
    used = r.summary()["param_estimator"]
    assert used["file"] == WEIGHTS_PATH.name and len(used["sha256"]) == 16 and "ceramic_tiles" in used["graphs"]
    windows = est["windows"]
    assert set(windows) == {"tiles.tiles_x", "tiles.tiles_y"}
    final = r.summary()["params"]
    assert all(a <= final[k] <= b for k, (a, b) in windows.items())
    r = proceduralize(photo, Options(**o, count_window=False))
    assert "windows" not in r.losses["estimate"]
    r = proceduralize(photo, Options(**o, estimator=False))
    assert "estimate" not in r.losses and r.summary()["param_estimator"] is None
    with pytest.raises(ValueError, match="estimator must be true or false"):
        Options(estimator="yes")
    with pytest.raises(ValueError, match="count_window must be true or false"):
        Options(count_window=1)


@pytest.mark.parametrize("halve_every", [None, 3])
def test_descent_adam_matches_torch_adam(halve_every):
    from diffproxy.optimize.descent import Adam
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 5, generator=gen)
    start = torch.rand(2, 5, generator=gen)
    a = start.clone().requires_grad_(True)
    b = start.clone().requires_grad_(True)
    ours = Adam(a, 0.05, halve_every)
    theirs = torch.optim.Adam([b], lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=halve_every, gamma=0.5) if halve_every else None
    for _ in range(10):
        for x, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            ((x - target) ** 2 * torch.arange(1.0, 6.0)).sum().backward()
            opt.step()
        if sched is not None:
            sched.step()
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a, start)


def test_adam_state_carried_into_a_new_adam_goes_on_as_one_descent():
    from diffproxy.optimize.descent import Adam
    gen = torch.Generator().manual_seed(1)
    target, start = torch.rand(2, 5, generator=gen), torch.rand(2, 5, generator=gen)

    def run(x, opt, n, rows=slice(None)):
        for _ in range(n):
            opt.zero_grad()
            ((x - target[rows]) ** 2 * torch.arange(1.0, 6.0)).sum().backward()
            opt.step()

    whole = start.clone().requires_grad_(True)
    run(whole, Adam(whole, 0.05, halve_every=4), 10)
    first = start.clone().requires_grad_(True)
    a = Adam(first, 0.05, halve_every=4)
    run(first, a, 6)
    for row in (0, 1):  # one row of a batch goes on alone
        rest = first.detach()[row:row + 1].clone().requires_grad_(True)
        b = Adam(rest, 0.05, halve_every=4)
        b.load(a.state(row))
        assert b.current_lr() == a.current_lr() == 0.025  # the schedule counts the carried steps
        run(rest, b, 4, slice(row, row + 1))
        assert torch.allclose(rest, whole.detach()[row:row + 1], atol=1e-6)
    fresh = first.detach()[:1].clone().requires_grad_(True)  # what the carrying avoids
    run(fresh, Adam(fresh, 0.025), 4, slice(0, 1))
    assert not torch.allclose(fresh, whole.detach()[:1], atol=1e-4)
    with pytest.raises(ValueError, match="moments for 5 parameters"):
        Adam(torch.zeros(1, 3, requires_grad=True), 0.1).load(a.state(0))


def test_a_fit_does_not_import_the_compiler(tmp_path):
    """torch.optim's first optimiser imports torch._dynamo (1.5 s); the stages must not."""
    code = ("import sys, torch\n"
            "from diffproxy.optimize import Options, proceduralize\n"
            "img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))\n"
            "proceduralize(img, Options(graph='bricks', preset='fast', res_out=256)).write(sys.argv[1])\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
