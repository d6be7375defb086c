"""The paper's three stages (:mod:`diffproxy.optimize.paper`, Stage III's parts in ``steps``), MATch, and Stage "detail", each lowering its loss on a small synthetic target.

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffproxy.optimize import Options
from diffproxy.optimize.control import Reporter
from diffproxy.optimize.steps import Polish, Stage3a, Stage3b
from optimize_common import TINY, tiny, _setup, _untrained_proxy  # noqa: F401 (tiny: a fixture)


def test_stage1_lowers_style_loss():
    from diffproxy.optimize.paper import stage1

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
    from diffproxy.optimize.paper import stage1

    fit, u_t, _, _ = _setup("bricks")
    r = stage1(fit, u_t, Reporter(), steps=3, lr=0.0)  # lr 0: nothing can improve
    assert r.info["skipped"] and torch.equal(r.u, u_t)


def test_stage2_lowers_joint_loss_or_reports_missing_proxies():
    from diffproxy.optimize.paper import stage2

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
    from diffproxy.optimize.descent import adam
    from diffproxy.optimize.paper import stage2

    def untrained(name, device="cpu", weights_dir=None):
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


def test_anchored_proxy_forward_is_the_real_generator_gradient_is_the_proxys():
    from diffproxy.generators import get_generator
    from diffproxy.optimize.paper import AnchoredProxy

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
    from diffproxy.optimize.paper import stage2

    monkeypatch.setattr(proxies, "load_proxy", _untrained_proxy)
    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    r = stage2(fit, u_s, Reporter(), steps=8, lr=0.05, halve_every=4, mode=mode)
    assert r.info["proxy_mode"] == mode and r.info["mode"] == "joint"
    assert r.end <= r.start
    if mode == "anchored":  # the loss it tracked is the real one
        assert r.info["proxy_start"] == pytest.approx(r.info["real_start"], rel=1e-4)


def test_stage2_takes_its_proxies_from_a_weights_folder(tmp_path):
    """``Options.proxy_weights``: Stage II loads the proxies from that folder (a file copied
    there is used; a folder without one leaves its slot without a proxy, said so)."""
    import shutil

    from diffproxy.optimize.paper import stage2
    from diffproxy.proxies.checkpoint import weights_path

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    (slot, gen_name), = fit.graph.slots.items()
    shutil.copy(weights_path(gen_name), tmp_path / f"{gen_name}.safetensors")
    r = stage2(fit, u_s, Reporter(), steps=2, lr=0.05, halve_every=2, weights_dir=str(tmp_path))
    assert r.info["proxies"] == {slot: "ok"} and r.info["proxy_weights"] == str(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    events = []
    r = stage2(fit, u_s, Reporter(events.append), steps=2, lr=0.05, halve_every=2, weights_dir=str(empty))
    assert r.info["proxies"][slot].startswith("unavailable") and r.info["mode"] == "filters_only"
    with pytest.raises(ValueError, match="proxy_weights"):
        Options(proxy_weights=str(tmp_path / "nonesuch"))


def test_stage2_proxies_off_tunes_filters_only():
    from diffproxy.optimize.paper import stage2

    fit, u_t, u_s, _ = _setup("bricks", seed=2)
    events = []
    r = stage2(fit, u_s, Reporter(events.append), steps=5, lr=0.05, halve_every=5, mode="off")
    assert r.info["mode"] == "filters_only" and set(r.info["proxies"].values()) == {"off"}
    assert torch.equal(r.u[:, fit.gen_idx], u_s[:, fit.gen_idx])
    assert any("proxies off" in (e["message"] or "") for e in events)


def test_match_keeps_generators_at_the_start(tiny):
    from diffproxy.optimize.graph_run import optimise_graph

    fit, u_t, u_s, gen = _setup("bricks", seed=6)
    o = Options(graph="bricks", preset="tiny", method="match", device="cpu")
    run = optimise_graph(fit, u_s, o, Reporter(), gen)
    assert torch.equal(run.u[:, fit.gen_idx], u_s[:, fit.gen_idx])
    assert "search" not in run.stages  # MATch has no generator search
    # the issue's "Stage I only": Stage I's constant learning rate, all three stages' steps
    assert run.stages["match"]["lr"] == TINY.budget("stage1").lr and run.stages["match"]["halve_every"] is None
    assert run.stages["match"]["steps"] == 8 + 8 + 8
    assert dataclasses.replace(TINY, match_steps=5).match_budget == 5


def test_stage3_rounds_generators_and_lowers_style_loss():
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    u[:, fit.gen_idx] = (u[:, fit.gen_idx] + 0.013).clamp(0, 1)  # off-grid discrete values
    r = stage3(fit, u, Reporter(), Stage3a(10, 0.05))
    nat = fit.spec.denormalize(r.u)
    for p in fit.spec:
        if p.role == "generator" and p.discrete:
            assert float(nat[p.name]) == pytest.approx(round(float(nat[p.name])), abs=1e-4), p.name
    assert r.end < r.start


def test_stage3_also_keeps_the_better_structure():
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    # main: a wrong structure and filters; also: the target's own parameters
    wrong, right = u_s.clone(), u_t.clone()
    alone = stage3(fit, wrong, Reporter(), Stage3a(6, 0.05))
    r = stage3(fit, wrong, Reporter(), Stage3a(6, 0.05), also=right)
    assert r.info["kept"] == "also" and r.end < alone.end
    # the returned point is the kept one: the target's structure, rounded, and its loss is r.end
    assert torch.equal(r.u[:, fit.gen_idx], fit.normalize(fit.spec.round(fit.natural(right)))[:, fit.gen_idx])
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    # swapped: the same two descents, the better one still kept, now as "main"
    r2 = stage3(fit, right, Reporter(), Stage3a(6, 0.05), also=wrong)
    assert r2.info["kept"] == "main" and r2.end == pytest.approx(r.end, rel=1e-4)
    assert r.start == pytest.approx(alone.start) and r.info["also_start"] == pytest.approx(r2.start)


def test_stage3_with_polish_is_one_stage():
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    events = []
    r = stage3(fit, u, Reporter(events.append, interval=0.0), Stage3a(4, 0.05), Polish(2), Stage3b(4), also=u_s)
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
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    check = fit.sharper()
    with torch.no_grad():
        sharp_start = float(check.style(check.render(u)))
    # the second part sharp, all of it sharp, each with and without the polish between the parts
    for a, pol, b, want in ((Stage3a(5, 0.05), None, Stage3b(3, sharp=True), 3),
                            (Stage3a(8, 0.05, sharp=True), None, None, 8),
                            (Stage3a(4, 0.05), Polish(2), Stage3b(4, sharp=True), 4),
                            (Stage3a(4, 0.05, sharp=True), Polish(2), Stage3b(4, sharp=True), 8)):
        events = []
        r = stage3(fit, u, Reporter(events.append, interval=0.0), a, pol, b)
        assert r.info["sharp"]["steps"] == want and r.info["sharp"]["res"] == check.res == 64
        with torch.no_grad():  # the stage's own losses stay the fit's (comparable with the other stages')
            assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
            assert float(check.style(check.render(r.u))) == pytest.approx(r.info["sharp"]["end"], rel=1e-4)
        assert r.info["sharp"]["end"] < sharp_start
        assert r.moments.steps == 8  # the parts make one descent: Adam's state carried on
        steps = [e["step"] for e in events if e["stage"] == "stage3"]
        assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 8
        if pol is None:  # the structure stays: only filters are tuned
            assert torch.equal(r.u[:, fit.gen_idx], fit.normalize(fit.spec.round(fit.natural(u)))[:, fit.gen_idx])
    plain = stage3(fit, u, Reporter(), Stage3a(8, 0.05))
    assert "sharp" not in plain.info


def test_stage3_parts_with_nothing_between_them_are_one_descent():
    """No polish between IIIa and IIIb and the same resolution: the same bits as one part of
    all the steps (the plan joins them; a split would restart from IIIa's best point)."""
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    one = stage3(fit, u, Reporter(), Stage3a(8, 0.05), also=u_s)
    two = stage3(fit, u, Reporter(), Stage3a(5, 0.05), None, Stage3b(3), also=u_s)
    assert torch.equal(one.u, two.u) and one.end == two.end and one.curve == two.curve


def test_stage3_filter_search_never_hands_on_worse():
    from diffproxy.optimize.steps import stage3

    fit, u_t, u_s, _ = _setup("bricks", seed=3)
    u = u_t.clone()
    u[:, fit.filter_idx] = u_s[:, fit.filter_idx]
    r = stage3(fit, u, Reporter(), Stage3a(4, 0.05), search=6, generator=torch.Generator().manual_seed(0))
    assert r.info["filter_search_samples"] == 6 and r.end <= r.start
    with torch.no_grad():
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)


def test_detail_tunes_filters_to_the_look_of_large_maps():
    from diffproxy.descriptor import get_descriptor, resize
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.detail import detail
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
    # the result's render at the maps' own size comes with it: any view's look of it, not made again
    assert r.image is not None and r.image.shape == (1, 3, 192, 192)
    assert fit.look_of(r.image) == r.info["look"] == fit.evaluate(r.u, 192)
    assert fit.sharper().look_of(r.image) == fit.sharper().evaluate(r.u, 192)
    made = []
    real = Fit.render_full

    def counted(self, *a, **k):
        made.append(self)
        return real(self, *a, **k)

    try:  # one render of the large maps per point judged: the start and each refresh's end
        Fit.render_full = counted
        detail(fit, u, Reporter(), steps=12, lr=0.05, maps_px=192, refresh=4)
    finally:
        Fit.render_full = real
    assert len(made) == 4
    with pytest.raises(ValueError, match="refresh"):
        detail(fit, u, Reporter(), steps=2, lr=0.05, maps_px=192, refresh=0)


def test_every_graph_names_its_relief_parameters():
    """Step "relief" moves exactly these: continuous filter parameters, normal strength and height."""
    from diffproxy.graphs import GRAPHS

    for g in GRAPHS.values():
        names = g.relief_params
        assert "normal.intensity" in names, g.name
        for n in names:
            p = g.spec[n]
            assert p.role == "filter" and not p.discrete, (g.name, n)
            assert n == "normal.intensity" or n.startswith("height."), (g.name, n)
    assert set(GRAPHS["bricks"].relief_params) == {"normal.intensity", "height.grain", "height.mortar_grain"}
    for g in GRAPHS.values():  # and the edges' shape: continuous generator parameters
        for n in g.relief_shape_params:
            assert g.spec[n].role == "generator" and not g.spec[n].discrete, (g.name, n)
    assert GRAPHS["bricks"].relief_shape_params == ("brick.bevel",)


def _relief_setup(relief_values):
    """A bricks "photo" rendered with its relief parameters at ``relief_values`` (None: the
    prior means), everything else at the defaults; returns the fit and the flat point."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.relief import prior_means
    from diffproxy.render import render

    g = get_graph("bricks")
    params = g.spec.defaults()
    means = prior_means(g.spec, g.relief_params)
    for n in g.relief_params:
        params[n] = torch.tensor([means[n] if relief_values is None else relief_values])
    with torch.no_grad():
        photo = render(g.maps(params, 96))
    fit = Fit(g, photo, TINY, get_descriptor("random"), torch.device("cpu"))
    flat = g.spec.defaults()
    for n in g.relief_params:
        flat[n] = torch.tensor([0.0])
    return fit, fit.normalize(flat), means


def test_relief_takes_the_prior_where_the_photo_allows_it():
    """A photo with the prior's relief, a fit left flat: the relief goes the whole way to the
    prior means (the look improves), and nothing else moves."""
    from diffproxy.optimize.relief import relief

    fit, u, means = _relief_setup(None)
    events = []
    r = relief(fit, u, Reporter(events.append, interval=0.0), tolerance=0.0, maps_px=96, bisections=3)
    moved = (*fit.graph.relief_shape_params, *fit.graph.relief_params)  # the bevel: at its prior already
    assert r.info["t"] == {n: 1.0 for n in moved} and r.end < r.start
    assert len(r.curve) == 2  # the start, then all of them the whole way in one render
    got = fit.natural(r.u)
    for n, v in means.items():
        assert float(got[n][0]) == pytest.approx(v, rel=1e-4, abs=1e-5), n
    idx = [fit.spec.names.index(n) for n in moved]
    others = [i for i in range(len(fit.spec)) if i not in idx]
    assert torch.equal(r.u[0, others], u[0, others])
    assert r.info["look"]["style"] == pytest.approx(r.end) and r.info["maps_px"] == 96
    assert r.info["params"]["normal.intensity"] == [0.0, pytest.approx(means["normal.intensity"], rel=1e-4)]
    assert any(e.get("stage") == "relief" for e in events)


def test_relief_rounds_hard_edges_from_the_prior():
    """A bricks "photo" with the prior's relief and bevel, a fit flat with hard edges (bevel 0):
    the bevel goes to the prior's too, and the look recorded is that of the maps made from the
    moved bevel's patterns (not the start's, precomputed)."""
    from diffproxy.optimize.relief import prior_means, relief

    fit, u, means = _relief_setup(None)
    bevel = fit.graph.relief_shape_params[0]
    j = fit.spec.names.index(bevel)
    hard = u.clone()
    hard[0, j] = 0.0
    r = relief(fit, hard, Reporter(), tolerance=0.0, maps_px=96, bisections=3)
    assert r.info["t"][bevel] == 1.0
    assert r.info["params"][bevel] == [0.0, pytest.approx(prior_means(fit.spec, [bevel])[bevel], rel=1e-4)]
    assert r.end < r.start
    assert r.info["look"]["style"] == pytest.approx(fit.evaluate(r.u, 96)["style"], rel=1e-5)


def test_relief_moves_each_parameter_as_far_as_the_photo_allows_it():
    """A wood "photo" at the prior's relief but without fibres, a fit at twice the normal
    strength: the whole way together is refused (the fibres change the look), and from where
    they stopped together the normal strength still goes the whole way to the prior, the
    fibres only part of it."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.relief import prior_means, relief
    from diffproxy.render import render

    g = get_graph("wood")
    params = g.spec.defaults()
    means = prior_means(g.spec, g.relief_params)
    for n, m in means.items():
        params[n] = torch.tensor([m])
    params["height.fibres"] = torch.tensor([0.0])
    with torch.no_grad():
        photo = render(g.maps(params, 96))
    fit = Fit(g, photo, TINY, get_descriptor("random"), torch.device("cpu"))
    start = dict(params, **{"normal.intensity": torch.tensor([2 * means["normal.intensity"]])})
    r = relief(fit, fit.normalize(start), Reporter(), tolerance=0.0, maps_px=96, bisections=3)
    assert r.curve[1] > r.start  # all of them the whole way: refused
    t = r.info["t"]
    assert r.info["together"] < 1.0 and all(f >= r.info["together"] for f in t.values())
    assert t["normal.intensity"] == 1.0 and t["height.rings"] == 1.0  # rings: already at the prior
    assert t["height.fibres"] < 1.0 and r.end <= r.start
    got = fit.natural(r.u)
    assert float(got["normal.intensity"][0]) == pytest.approx(means["normal.intensity"], rel=1e-4)


def test_relief_stays_within_the_tolerance_where_the_photo_objects():
    """A flat photo, a flat fit: the prior's relief would change the look, so the step stops
    where the loss reaches (1 + tolerance) times the fit's, short of the prior."""
    from diffproxy.optimize.relief import relief

    fit, u, means = _relief_setup(0.0)
    r = relief(fit, u, Reporter(), tolerance=0.05, maps_px=96, bisections=4)
    assert r.end <= r.start * 1.05 + 1e-9
    t = r.info["t"]
    assert t["normal.intensity"] < 1.0  # the relief's strength: refused
    # the start; together: the whole way, 4 halvings; then on its own each of the 3 parameters:
    # the rest of its way, up to 4 halvings of that
    assert 1 + 5 + 3 <= len(r.curve) <= 1 + 5 + 3 * 5
    with torch.no_grad():
        assert fit.evaluate(r.u, 96)["style"] == pytest.approx(r.end, rel=1e-5)
    assert fit.look_of(r.image) == fit.evaluate(r.u, 96)  # the result's own render comes with it
    looser = relief(fit, u, Reporter(), tolerance=0.5, maps_px=96, bisections=4)
    assert sum(t.values()) <= sum(looser.info["t"].values()) and looser.end <= looser.start * 1.5 + 1e-9
    with pytest.raises(ValueError, match="tolerance"):
        relief(fit, u, Reporter(), tolerance=-0.1, maps_px=96, bisections=2)


def test_relief_refit_search_finds_the_furthest_allowed_fraction_in_its_tries():
    """The refit's search (half the way, then the whole or a quarter, then halvings between the
    furthest allowed and the nearest refused): with ``bisections`` tries it gets within
    ``2 ** -(tries - 1)`` of where the photo stops allowing (the whole way costs one try)."""
    from diffproxy.optimize.relief import half_first

    for edge in (0.0, 0.1, 0.3, 0.49, 0.6, 0.8, 0.99, 1.0):
        for tries in (1, 2, 4):
            seen = []

            def attempt(f):
                seen.append(f)
                return f if f <= edge else None

            got = half_first(attempt, tries)
            assert len(seen) <= tries and seen[0] == 0.5 and len(set(seen)) == len(seen)
            allowed = [f for f in seen if f <= edge]
            assert got == (max(allowed) if allowed else None)
            if edge == 1.0 and tries >= 2:
                assert seen == [0.5, 1.0]  # the whole way allowed ends it
            elif tries == 4:
                assert edge - (got or 0.0) < 2.0 ** -(tries - 1) + 1e-12, (edge, seen)
    assert half_first(lambda f: None, 0) is None


def test_relief_refit_lets_the_other_filters_answer_the_shading():
    """A flat photo, a flat fit whose bricks are too dark: the prior's relief alone is refused
    (it only adds shading the photo lacks), but held there while the other filters are tuned
    (the refit) the look ends within the limit: the relief is kept at the prior, the colours
    moved, the relief parameters themselves not. Without refit steps nothing is tried."""
    from diffproxy.optimize.relief import relief

    fit, u, means = _relief_setup(0.0)
    start = fit.natural(u)
    start["color.brick.value"] = start["color.brick.value"] - 0.15
    u = fit.normalize(start)
    plain = relief(fit, u, Reporter(), tolerance=0.0, maps_px=96, bisections=2)
    assert plain.info["t"]["normal.intensity"] < 1.0 and "refit" not in plain.info
    r = relief(fit, u, Reporter(), tolerance=0.0, maps_px=96, bisections=2, refit_steps=30, refit_lr=0.02)
    tried = [x["fraction"] for x in r.info["refit"]["tried"]]
    assert tried in ([0.5, 1.0], [0.5, 0.25])  # half the way, then the whole or a quarter
    kept = r.info["refit"].get("kept")
    assert kept is not None and (kept == tried[-1] or tried == [0.5, 1.0] and kept == 0.5)
    assert r.end <= r.start + 1e-9 and r.info["look"]["style"] == pytest.approx(r.end)
    assert fit.look_of(r.image) == r.info["look"] == fit.evaluate(r.u, 96)  # the refit's render
    got, idx = fit.natural(r.u), fit.spec.names.index("color.brick.value")
    for n in fit.graph.relief_params:  # the strength held where the refit put it, the rest as before
        t = plain.info["t"][n]
        frac = t + kept * (1 - t) if n == "normal.intensity" else t
        want = float(start[n][0]) + frac * (means[n] - float(start[n][0]))
        assert float(got[n][0]) == pytest.approx(want, rel=1e-4, abs=1e-5), n
    assert float(r.u[0, idx]) > float(u[0, idx])  # the bricks lightened towards the photo's
    before, after = r.info["refit"]["params"]["color.brick.value"]  # what the refit moved, said
    assert before == pytest.approx(float(start["color.brick.value"][0]), abs=1e-5)
    assert after == pytest.approx(float(got["color.brick.value"][0]), abs=1e-6)
    assert not set(r.info["refit"]["params"]) & set(fit.graph.relief_params)
