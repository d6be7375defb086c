"""The searches on the real generators (:mod:`diffproxy.optimize.searches`).

Everything runs the real graphs, generators, renderer and descriptor at tiny resolutions
(``optimize_common.TINY``).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffproxy.optimize.control import Reporter
from optimize_common import TINY, _setup  # noqa: F401 (tiny: a fixture)


def test_random_search_picks_the_best_candidate():
    from diffproxy.optimize.searches import random_search

    fit, u_t, u_s, gen = _setup("bricks", seed=1)
    r = random_search(fit, u_s, 16, Reporter(), gen)
    assert r.end <= r.start and len(r.curve) == 17
    with torch.no_grad():
        again = float(fit.gray(fit.render(r.u, res=TINY.search_res)))
    assert again == pytest.approx(r.end, rel=1e-4)
    assert r.end < r.start  # 16 prior samples beat a random start on this target


def test_random_search_in_a_gpus_batches_picks_the_same():
    """A GPU renders the searches' candidates 32 at a time (``device.render_batch``), a CPU 8:
    the same candidates, the same pick (a row's loss does not depend on its batch)."""
    from diffproxy.device import render_batch
    from diffproxy.optimize.searches import random_search

    assert render_batch(torch.device("cpu")) == 8 and render_batch(torch.device("cuda")) == 32
    fit, _, u_s, gen = _setup("bricks", seed=2)
    state = gen.get_state()
    r8 = random_search(fit, u_s, 20, Reporter(), gen)
    gen.set_state(state)
    r32 = random_search(fit, u_s, 20, Reporter(), gen, batch=32)
    assert torch.equal(r8.u, r32.u) and r8.end == pytest.approx(r32.end, rel=1e-5)


def test_seed_search_finds_the_targets_seeds():
    from diffproxy.optimize.searches import seed_search

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
    from diffproxy.optimize.searches import _scan_levels

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
    from diffproxy.optimize.searches import coordinate_scan

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
    from diffproxy.optimize.searches import polish

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
    from diffproxy.optimize.searches import polish
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


def test_local_search_neighbours_follow_the_prior():
    from diffproxy.optimize.searches import _neighbours

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
    from diffproxy.optimize.searches import local_search

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


def _light_mortar_wall():
    """A bricks photo with light mortar (value 0.85 against the bricks' 0.35): the graph, its
    parameters, the photo and a fit to it."""
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.optimize.fit import Fit
    from diffproxy.render import render

    g = get_graph("bricks")
    p = g.spec.defaults()
    p["brick.rows"], p["brick.bricks"] = torch.tensor([6.0]), torch.tensor([3.0])
    p["color.mortar.value"], p["color.brick.value"] = torch.tensor([0.85]), torch.tensor([0.35])
    with torch.no_grad():
        photo = render(g.maps(p, 128))
    return g, p, photo, Fit(g, photo, TINY, get_descriptor("random"), torch.device("cpu"))


def test_exchange_swaps_joint_and_unit_colours_when_the_fit_has_them_reversed():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import GRAPHS, get_graph
    from diffproxy.judge import joint_polarity
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.exchange import exchange, swapped
    from diffproxy.optimize.fit import Fit

    for name in GRAPHS:  # every graph that names its joint colours names real colour parameters
        pair = get_graph(name).joint_colors
        names = {p.name for p in get_graph(name).spec}
        assert pair is None or all(f"{k}.{c}" in names for k in pair for c in ("hue", "saturation", "value"))
    g, p, photo, fit = _light_mortar_wall()
    u = fit.normalize(p)
    assert joint_polarity(photo) > 0.25  # light mortar
    reversed_ = swapped(fit, u)
    assert torch.equal(swapped(fit, reversed_), u)
    r = exchange(fit, reversed_, Reporter(None), steps=10, lr=0.01)
    assert r.info["ran"] and r.info["kept"] == "also", r.info
    got = fit.natural(r.u)
    assert float(got["color.mortar.value"]) > float(got["color.brick.value"])
    # the right way round already: nothing runs, nothing changes
    r = exchange(fit, u, Reporter(None), steps=10, lr=0.01)
    assert not r.info["ran"] and torch.equal(r.u, u)
    # a graph without joints: nothing runs
    w = get_graph("wood")
    fit_w = Fit(w, photo, TINY, get_descriptor("random"), torch.device("cpu"))
    assert not exchange(fit_w, fit_w.defaults(), Reporter(None), steps=10, lr=0.01).info["ran"]


def test_exchange_reopens_joints_the_fit_closed_where_the_photo_shows_them():
    from diffproxy.graphs import GRAPHS, get_graph
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.exchange import CLOSED_SD, OPEN_SD, closed_joint, exchange, joint_ratio, reopened

    for name in GRAPHS:  # a joint width is a prior-drawn parameter of a graph with joint colours
        g = get_graph(name)
        assert g.joint_width is None or (g.joint_colors is not None and g.spec[g.joint_width].prior is not None)
    g, p, photo, fit = _light_mortar_wall()
    mean, sd = g.spec["brick.mortar"].prior
    assert closed_joint(fit, fit.normalize(p)) is None  # the photo's own mortar is open
    shut = {k: v.clone() for k, v in p.items()}
    shut["brick.mortar"] = torch.tensor([0.0])
    u = fit.normalize(shut)
    name, width, wide = closed_joint(fit, u)
    assert (name, width) == ("brick.mortar", 0.0) and wide == pytest.approx(mean - OPEN_SD * sd)
    assert wide > mean - CLOSED_SD * sd
    # the photo's joints are its light mortar: 0.85 against the bricks' 0.35 in value
    ratio = joint_ratio(photo, want=1)
    assert bool((ratio > 1.5).all()), ratio
    assert bool((joint_ratio(photo, want=-1) <= 1.0).all())
    out = reopened(fit, u, wide, want=1)
    got = fit.natural(out)
    assert float(got["brick.mortar"]) == pytest.approx(wide, abs=1e-5)
    assert float(got["color.mortar.value"]) > 0.6  # lighter than the bricks again (0.35)
    keep = [i for i, n in enumerate(fit.spec.names) if not n.startswith("color.mortar.") and n != "brick.mortar"]
    assert torch.equal(out[:, keep], u[:, keep])  # the bricks' colour and the rest as they were
    # the step: the render shows no joints, the photo light ones; the reopened joints are kept
    r = exchange(fit, u, Reporter(None), steps=10, lr=0.01)
    assert r.info["ran"] and r.info["reopened"]["param"] == "brick.mortar", r.info
    assert r.info["kept"] == "also", r.info
    assert float(fit.natural(r.u)["brick.mortar"]) == pytest.approx(wide, abs=1e-5)
    assert r.end < r.start  # the style loss (no places compared) prefers the joints open


def test_exchange_reopens_closed_joints_even_where_other_shading_reads_as_the_photos_polarity():
    # the road pavers at fast seed 1: gap 0, the render's polarity on the photo's side from the
    # tiles' bevels in shade, and the step did not run because of it
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.judge import joint_polarity, polarity_sign
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.exchange import closed_joint, exchange
    from diffproxy.optimize.fit import Fit
    from diffproxy.render import render

    g = get_graph("ceramic_tiles")
    p = g.spec.defaults()
    p["tiles.tiles_x"], p["tiles.tiles_y"] = torch.tensor([4.0]), torch.tensor([4.0])
    p["color.grout.value"], p["color.tile.value"] = torch.tensor([0.1]), torch.tensor([0.75])
    with torch.no_grad():
        photo = render(g.maps(p, 128))
    fit = Fit(g, photo, dataclasses.replace(TINY, res=128, scales=(128, 64)), get_descriptor("random"),
              torch.device("cpu"))
    shut = {k: v.clone() for k, v in p.items()}
    shut["tiles.gap"], shut["tiles.bevel"], shut["normal.intensity"] = (
        torch.tensor([0.0]), torch.tensor([0.05]), torch.tensor([10.0]))
    u = fit.normalize(shut)
    assert polarity_sign(joint_polarity(photo)) == -1  # dark grout
    with torch.no_grad():
        assert polarity_sign(joint_polarity(fit.render(u))) == -1  # the bevels' shade, no joints
    assert closed_joint(fit, u) is not None
    r = exchange(fit, u, Reporter(None), steps=10, lr=0.01)
    assert r.info["ran"] and r.info["reopened"]["param"] == "tiles.gap", r.info
    assert r.info["kept"] == "also" and float(fit.natural(r.u)["tiles.gap"]) > 0.0, r.info


def test_recolour_turns_a_grey_colour_to_the_photos_hue_and_leaves_a_coloured_fit_alone():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.graphs import get_graph
    from diffproxy.graphs._common import rgb
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.recolour import GREY, colour_keys, colour_missed, grey_colours, hsv, hue_distance, photo_colour, recolour
    from diffproxy.render import render

    # hsv inverts the graphs' colour function (hue in turns, periodic)
    h = torch.tensor([0.03, 0.5, 0.9, 0.33])
    p = {"c.hue": h, "c.saturation": torch.tensor([0.8, 0.4, 0.6, 0.2]), "c.value": torch.tensor([0.7, 0.5, 0.9, 0.3])}
    back = hsv(rgb(p, "c").reshape(4, 3))
    assert torch.allclose(back, torch.stack([p["c.hue"], p["c.saturation"], p["c.value"]], dim=1), atol=1e-5)

    g = get_graph("leather")
    assert colour_keys(Fit(g, torch.zeros(1, 3, 8, 8), TINY, get_descriptor("random"), torch.device("cpu"))) \
        == ["color.leather"]
    target = g.spec.defaults()
    target["color.leather.hue"], target["color.leather.saturation"] = torch.tensor([0.6]), torch.tensor([0.5])
    with torch.no_grad():
        photo = render(g.maps(target, 64))
    fit = Fit(g, photo, TINY, get_descriptor("random"), torch.device("cpu"))
    assert abs(photo_colour(photo)[0] - 0.6) < 0.05  # the photo reads blue
    grey_photo = photo.mean(dim=1, keepdim=True).expand(1, 3, 64, 64)
    assert colour_missed(photo, grey_photo) and not colour_missed(photo, photo.flip(-1))
    assert not colour_missed(grey_photo, grey_photo)  # a grey photo rendered grey: nothing to miss
    # the trap: brown hue, saturation driven to 0 (no gradient reaches the hue there)
    trapped = dict(target, **{"color.leather.hue": torch.tensor([0.08]), "color.leather.saturation": torch.tensor([0.0])})
    u = fit.normalize(trapped)
    assert grey_colours(fit, u) == ["color.leather"] and grey_colours(fit, u, 0.6) == ["color.leather"]
    assert grey_colours(fit, u, 0.1) == []  # the photo's hue already: the descent weighed it and went grey
    assert hue_distance(0.95, 0.05) == pytest.approx(0.1) and hue_distance(0.2, 0.7) == pytest.approx(0.5)
    r = recolour(fit, u, Reporter(None), steps=10, lr=0.02)
    assert r.info["kept"] == "color.leather" and r.end < r.start, r.info
    got = fit.natural(r.u)
    assert abs(float(got["color.leather.hue"]) - 0.6) < 0.08 and float(got["color.leather.saturation"]) > GREY
    with torch.no_grad():  # the reported loss is the returned point's
        assert float(fit.style(fit.render(r.u))) == pytest.approx(r.end, rel=1e-4)
    # in the plan: after every structure search, before Stage III (docs/BENCHMARKS.md, session
    # 39: after Stage I it turned colours Stage II would have turned, moving those fits' paths)
    from diffproxy.optimize.steps import STEP_NAMES
    assert STEP_NAMES.index("exchange") < STEP_NAMES.index("recolour") == STEP_NAMES.index("stage3a") - 1
    # a fit with colour: nothing runs, the point is handed on as it is
    u_ok = fit.normalize(target)
    r = recolour(fit, u_ok, Reporter(None), steps=10, lr=0.02)
    assert r.info == {"grey": [], "kept": None} and torch.equal(r.u, u_ok)
