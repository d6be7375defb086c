"""Counts read from the photo (diffproxy.layout): renders the engine makes, whose counts are known
from their parameters (:meth:`MaterialGraph.layout_counts`), a frame that does not tile, and
images without any period."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffproxy.graphs import get_graph
from diffproxy.judge import COUNT_TOLERANCE
from diffproxy.layout import Layout, measure_layout
from diffproxy.render import render


def renders(name, n=6, seed=3):
    g = get_graph(name)
    ps = g.spec.round(g.spec.sample(n, generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        imgs = render(g.maps(ps, 256))
    truth = [g.layout_counts(g.spec.to_json({k: v[i:i + 1] for k, v in ps.items()})) for i in range(n)]
    return imgs, truth


def within(measured, want, tol=COUNT_TOLERANCE):
    return measured is not None and abs(math.log(measured / want)) <= math.log(tol)


@pytest.fixture(scope="module")
def brick_renders():
    return renders("bricks")


# measured on these seeds: bricks 6/6 rows, 6/6 per_row; tiles 6/6 rows, 4/6 per_row (one of them
# has one tile per course: no vertical joint in the frame, so no period to read)
@pytest.mark.parametrize("name, rows_min, per_row_min", [("bricks", 5, 5), ("ceramic_tiles", 5, 3)])
def test_counts_of_renders_with_known_layout(name, rows_min, per_row_min, brick_renders):
    imgs, truth = brick_renders if name == "bricks" else renders(name)
    got = [measure_layout(imgs[i:i + 1]) for i in range(len(truth))]
    rows = sum(within(m.rows, t["rows"]) for m, t in zip(got, truth))
    per_row = sum(within(m.per_row, t["per_row"]) for m, t in zip(got, truth))
    report = [(t["rows"], t["per_row"], m.rows, m.per_row) for m, t in zip(got, truth)]
    assert rows >= rows_min and per_row >= per_row_min, report


def test_running_bond_per_row_is_the_brick_length_not_half_of_it(brick_renders):
    # a running bond's column profile has half the brick length as period: the count read must
    # be the units along one course, not twice that
    imgs, truth = brick_renders
    for i in range(len(truth)):
        m = measure_layout(imgs[i:i + 1])
        assert m.per_row is None or m.per_row < 1.5 * truth[i]["per_row"], (m, truth[i])


def test_a_frame_that_does_not_tile_reads_fractional_counts(brick_renders):
    imgs, truth = brick_renders
    img, want = imgs[0:1], truth[0]  # 4 courses of 3 bricks
    crop = F.interpolate(img[..., :179, :179], size=(256, 256), mode="bilinear", antialias=True)
    m = measure_layout(crop)
    frac = 179 / 256  # 2.8 courses, 2.1 bricks per course remain in the frame
    assert within(m.rows, frac * want["rows"], 1.1), m
    assert within(m.per_row, frac * want["per_row"], 1.1), m


def test_rotated_noisy_photo_keeps_its_courses(brick_renders):
    imgs, truth = brick_renders
    ang = math.radians(2.0)
    theta = torch.tensor([[math.cos(ang), -math.sin(ang), 0.0],
                          [math.sin(ang), math.cos(ang), 0.0]])[None] * 0.9
    grid = F.affine_grid(theta, (1, 3, 256, 256), align_corners=False)
    img = F.grid_sample(imgs[1:2], grid, align_corners=False)
    img = (img + 0.03 * torch.randn(img.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    m = measure_layout(img)
    assert within(m.rows, 0.9 * truth[1]["rows"]), m


@pytest.mark.parametrize("kind", ["noise", "flat", "blotches"])
def test_no_period_no_count(kind):
    g = torch.Generator().manual_seed(1)
    if kind == "noise":
        img = torch.rand(1, 3, 256, 256, generator=g)
    elif kind == "flat":
        img = torch.full((1, 3, 256, 256), 0.5)
    else:  # soft blotches (stone, plaster): structure at every scale, but no period
        img = torch.rand(1, 3, 256, 256, generator=g)
        for _ in range(3):  # box^3: about a Gaussian, no lattice imprinted (an upsampled grid has one)
            img = F.avg_pool2d(img, 15, 1, 7, count_include_pad=False)
        img = ((img - img.mean()) / img.std() * 0.15 + 0.5).clamp(0, 1)
    m = measure_layout(img)
    assert isinstance(m, Layout)
    assert m.rows is None and m.per_row is None, m
    assert m.offset is None and m.offset_confidence == 0.0, m  # no counts, no bond


@pytest.mark.parametrize("bad, match", [
    (torch.rand(3, 64, 64), r"\(1, 3, H, W\)"),
    (torch.rand(1, 1, 64, 64), r"\(1, 3, H, W\)"),
    ([[0.5]], r"\(1, 3, H, W\)"),
    (torch.rand(1, 3, 8, 64), "at least 16"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
])
def test_input_checks(bad, match):
    with pytest.raises(ValueError, match=match):
        measure_layout(bad)


# --- the fit's count windows (layout_windows, searches.layout_start) -------------------------------
def _layout(rows, per_row, confidence=0.6):
    return Layout(rows=rows, per_row=per_row, rows_confidence=confidence, per_row_confidence=confidence,
                  polarity=1)


def test_layout_params_name_integer_counts_that_set_the_layout():
    from diffproxy.graphs import GRAPHS

    named = 0
    for name in GRAPHS:
        g = get_graph(name)
        base = {k: float(v.reshape(-1)[0]) for k, v in g.spec.defaults().items()}
        for count, pname in g.layout_params.items():
            named += 1
            p = g.spec.by_name[pname]
            assert p.kind == "int" and p.role == "generator", (name, pname)
            values = [g.layout_counts({**base, pname: p.low + k})[count] for k in p.allowed_levels]
            # the count grows with the parameter: a window of values is a window of counts
            assert all(b >= a for a, b in zip(values, values[1:])) and values[-1] > values[0], (name, pname)
    assert named >= 4  # bricks and ceramic tiles, both counts each


def test_windows_hold_the_values_within_the_judges_tolerance():
    from diffproxy.layout import layout_windows

    w = layout_windows(get_graph("bricks"), _layout(5.3, 1.8, confidence=0.25))  # too weak to bound the jitter
    assert w == {"brick.rows": (6, 6, 6), "brick.bricks": (2, 2, 2)}  # 4 courses is 1/1.33 of 5.3
    w = layout_windows(get_graph("ceramic_tiles"), _layout(4.16, 4.13))
    assert w == {"tiles.tiles_y": (4, 5, 4), "tiles.tiles_x": (4, 5, 4)}
    # a weak period is trusted as much (the losses' own choice is worse: octave errors)
    w = layout_windows(get_graph("ceramic_tiles"), _layout(4.0, None, confidence=0.2))
    assert w == {"tiles.tiles_y": (4, 5, 4)}
    # nothing measured, or a graph without layout parameters: no window
    assert layout_windows(get_graph("bricks"), _layout(None, None)) == {}
    assert layout_windows(get_graph("wood"), _layout(4.0, 3.0)) == {}
    # a measurement no value reaches: the nearest value alone
    assert layout_windows(get_graph("bricks"), _layout(80.0, None))["brick.rows"] == (40, 40, 40)


def test_layout_start_sets_the_counts_and_bounds_the_searches():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.optimize import PRESETS
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.searches import layout_start, random_search

    g = get_graph("bricks")
    truth = g.spec.defaults()
    truth["brick.rows"], truth["brick.bricks"] = torch.tensor([6.0]), torch.tensor([3.0])
    with torch.no_grad():
        photo = render(g.maps(truth, 256))
    fit = Fit(g, photo, PRESETS["fast"], get_descriptor("random"), torch.device("cpu"))
    start = fit.defaults()
    i_rows = [p.name for p in g.spec].index("brick.rows")
    start[0, i_rows] = (20 - 2) / 38  # 20 courses, far off
    messages = []
    r = layout_start(fit, start, Reporter(lambda e: messages.append(e)))
    got = fit.natural(r.u)
    assert int(got["brick.rows"]) == 6 and int(got["brick.bricks"]) == 3, r.info
    assert abs(r.info["bond"] - 0.5) <= 0.05, r.info  # a half bond: the offset is kept near it
    lo, hi = fit.windows["brick.offset"]
    assert lo <= 0.5 <= hi and lo >= 0.3 and hi <= 0.7, fit.windows
    assert fit.windows["brick.rows"][0] <= 6 <= fit.windows["brick.rows"][1]
    assert any("measured on the photo" in str(m.get("message")) for m in messages)
    # the random search draws inside the windows
    s = random_search(fit, r.u, 16, Reporter(None), torch.Generator().manual_seed(0), keep=16)
    drawn = fit.natural(s.alternatives)
    for name, (a, b) in fit.windows.items():
        assert bool(((drawn[name] >= a) & (drawn[name] <= b)).all()), name


def test_bricks_lighter_in_the_middle_than_at_their_rims_keep_their_courses():
    # the project's own photo: 8 courses of 5 bricks, dark rims, light mortar; the half period
    # (mortar and brick middles both light) scored near the best before the first-tooth test
    from pathlib import Path

    from diffproxy.photo import load_photo

    photo = Path(__file__).resolve().parents[1] / "engine" / "assets" / "default_photo.png"
    m = measure_layout(load_photo(photo).image)
    assert within(m.rows, 8.0, 1.1) and within(m.per_row, 5.0, 1.1), m


def _two_by_two_floor(offset=0.5, seed=0):
    """Four large tiles: one thin dark joint across the frame each way at ``offset``, a grainy
    and blotchy face, and a flash's bright centre: too few periods for the autocorrelation."""
    g = torch.Generator().manual_seed(seed)
    n = 256
    img = 0.55 + 0.04 * F.avg_pool2d(torch.randn(1, 1, n, n, generator=g), 5, 1, 2, count_include_pad=False)
    blotches = torch.randn(1, 1, n, n, generator=g)
    for _ in range(2):
        blotches = F.avg_pool2d(blotches, 15, 1, 7, count_include_pad=False)
    img = img + 0.08 * blotches / blotches.std()
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    r2 = ((yy - n / 2) ** 2 + (xx - n / 2) ** 2) / (n / 2) ** 2
    img = img * (1.3 - 0.5 * r2)[None, None]
    j = int(offset * n)
    img[..., j - 1:j + 1, :] *= 0.6
    img[..., :, j - 1:j + 1] *= 0.6
    return img.clamp(0, 1).expand(1, 3, n, n).contiguous()


@pytest.mark.parametrize("offset, want", [(0.5, 2.0), (0.3, 1 / 0.7)])
def test_joints_across_the_frame_give_the_count_when_no_period_does(offset, want):
    """A 2 x 2 floor (one joint each way) reads two units each way, one off-centre joint the
    frame over its larger piece; both marked as read from joints, with their windows."""
    from diffproxy.layout import MIN_CONFIDENCE, layout_windows

    m = measure_layout(_two_by_two_floor(offset))
    assert m.rows_confidence < MIN_CONFIDENCE and m.per_row_confidence < MIN_CONFIDENCE, m
    assert m.lines == (1, 1), m
    assert m.rows == pytest.approx(want, rel=0.03) and m.per_row == pytest.approx(want, rel=0.03), m
    w = layout_windows(get_graph("ceramic_tiles"), m)
    top = 2 if offset == 0.5 else 1  # the most units the joint allows (count read x 1.3)
    assert w["tiles.tiles_y"] == (top, top, top) and w["tiles.tiles_x"] == (top, top, top), w


def test_one_joint_keeps_the_most_probable_count_alone():
    """One joint across the frame bounds the count from above only; each value under the bound
    weighs its prior weight times its count (a random phase puts a joint where it is seen ``c``
    times as often with ``c`` units), and the window is the heaviest value. Two or more joints
    keep the window down to ``joints - 1`` units."""
    import dataclasses

    from diffproxy.layout import layout_windows
    from diffproxy.params import int_param

    one = Layout(rows=2.0, per_row=2.0, rows_confidence=0.1, per_row_confidence=0.1, polarity=-1,
                 lines=(1, 1))
    g = get_graph("ceramic_tiles")
    assert layout_windows(g, one)["tiles.tiles_x"] == (2, 2, 2)  # a person's count: two pieces

    class OneUnitPrior:  # the same graph whose prior puts 3 x the weight of 2 units on 1
        layout_params = g.layout_params
        layout_counts = g.layout_counts

        class spec:
            params = {n: g.spec.by_name[n] for n in g.layout_params.values()}
            by_name = {n: dataclasses.replace(p, weights=(1.0, 0.3) + (0.0,) * (p.n_values - 2))
                       if p.n_values > 2 else p for n, p in params.items()}

            @staticmethod
            def defaults():
                return g.spec.defaults()

    assert OneUnitPrior.spec.by_name["tiles.tiles_x"].weights[:2] == (1.0, 0.3)
    assert layout_windows(OneUnitPrior, one)["tiles.tiles_x"] == (1, 1, 1)  # 1 x 1.0 > 2 x 0.3
    three = dataclasses.replace(one, rows=3.3, per_row=3.3, lines=(3, 3))
    lo, hi, _ = layout_windows(g, three)["tiles.tiles_x"]
    assert lo == 2 and hi == 4  # joints - 1 up to the count read x 1.3
    assert int_param("n", 2, 1, 4).prior_weights().tolist() == [1.0, 1.0, 1.0, 1.0]


def test_head_joints_of_a_running_bond_are_not_joints_across_the_frame(brick_renders):
    from diffproxy.layout import _full_lines

    imgs, truth = brick_renders
    lum = imgs[0:1].mean(dim=1)[0]
    assert _full_lines(lum, -1, 1) == []  # vertical: head joints break at every course
    assert len(_full_lines(lum, -1, 0)) >= truth[0]["rows"] - 1  # horizontal: bed joints run through


# --- the bond: how far every other course is shifted (step 8 of layout's docstring) ---------------
@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 0.7])
def test_bond_of_renders_with_known_offset(offset):
    """Stack bond, quarter bond, half bond and a bond of 0.7 (the mirror image of 0.3) read
    within half the fit's bond window (:data:`~diffproxy.layout.BOND_WINDOW`, sized by the
    reading's error); the reading is folded into [0, 0.5]."""
    from diffproxy.layout import BOND_WINDOW

    g = get_graph("ceramic_tiles")
    ps = g.spec.defaults()
    ps["tiles.tiles_y"], ps["tiles.tiles_x"] = torch.tensor([6.0]), torch.tensor([4.0])
    ps["tiles.offset"] = torch.tensor([offset])
    with torch.no_grad():
        img = render(g.maps(ps, 320))[..., 20:276, 40:296]  # a crop: the frame does not tile
    m = measure_layout(img)
    want = min(offset, 1 - offset)
    assert m.offset is not None and abs(m.offset - want) <= BOND_WINDOW / 2, (offset, m)


def test_two_by_two_floor_reads_a_stack_bond():
    # one joint each way, crossing the whole frame: head joints continue from course to course
    m = measure_layout(_two_by_two_floor(0.5))
    assert m.offset is not None and m.offset <= 0.05, m


def test_bond_window_bounds_the_graph_s_offset_and_the_fit_keeps_it():
    import dataclasses

    from diffproxy.descriptor import get_descriptor
    from diffproxy.layout import BOND_WINDOW, layout_windows
    from diffproxy.optimize import PRESETS
    from diffproxy.optimize.fit import Fit

    stack = dataclasses.replace(_layout(2.0, 2.0), offset=0.0, offset_confidence=0.7)
    g = get_graph("ceramic_tiles")
    w = layout_windows(g, stack)
    assert w["tiles.offset"] == (0.0, BOND_WINDOW, 0.0), w
    assert "tiles.offset" not in layout_windows(g, _layout(2.0, 2.0))  # no bond read: no window
    assert layout_windows(get_graph("wood"), stack) == {}  # no bond parameter
    # a bond the graph's prior does not make holds it too (session 46): the photo's bond is what
    # a person sees, and a graph left free ends where the style loss sends it
    assert layout_windows(get_graph("bricks"), stack)["brick.offset"] == (0.0, BOND_WINDOW, 0.0)  # 0.5 +- 0.1
    assert layout_windows(get_graph("wood_planks"), stack)["planks.offset"] == (0.0, BOND_WINDOW, 0.0)
    # a half bond read: one span holding both mirror images (0.48 and 0.52), for bricks (whose
    # prior is a half bond) and tiles (whose prior is a stack: white subway tiles) alike
    half = dataclasses.replace(stack, offset=0.48)
    for graph, name in ((get_graph("bricks"), "brick.offset"), (g, "tiles.offset")):
        assert layout_windows(graph, half)[name] == pytest.approx((0.48 - BOND_WINDOW, 0.52 + BOND_WINDOW, 0.48))
    # a third bond: the reading's image on the side of the start's offset (0.3 and 0.7 are
    # mirror images, which the reading cannot tell apart)
    third = dataclasses.replace(stack, offset=0.3)
    bricks = get_graph("bricks")
    assert layout_windows(bricks, third, {"brick.offset": 0.75})["brick.offset"] == pytest.approx(
        (0.7 - BOND_WINDOW, 0.7 + BOND_WINDOW, 0.7))
    assert layout_windows(bricks, third, {"brick.offset": 0.35})["brick.offset"] == pytest.approx(
        (0.3 - BOND_WINDOW, 0.3 + BOND_WINDOW, 0.3))
    assert layout_windows(g, dataclasses.replace(stack, offset=0.05))["tiles.offset"] == pytest.approx(
        (0.0, 0.05 + BOND_WINDOW, 0.05))
    # the fit: a continuous window, no half-value slack; steps clamp into it, draws fall in it
    photo = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    fit = Fit(g, photo, PRESETS["fast"], get_descriptor("random"), torch.device("cpu"))
    fit.set_windows({k: v[:2] for k, v in w.items()})
    i = [p.name for p in g.spec].index("tiles.offset")
    u = torch.rand(64, len(g.spec), generator=torch.Generator().manual_seed(1))
    drawn = fit.into_window(u, torch.Generator().manual_seed(2))
    assert bool((drawn[:, i] <= BOND_WINDOW + 1e-6).all()) and float(drawn[:, i].std()) > 0.01
    moved = fit.into_window(u)
    assert bool((moved[:, i] <= BOND_WINDOW + 1e-6).all())
    assert float(fit.keep_in_range(torch.full((1, len(g.spec)), 0.9))[0, i]) == pytest.approx(BOND_WINDOW)
    assert fit.in_window(i, 0.05) and not fit.in_window(i, 0.2)


def test_layout_start_keeps_stacked_tiles_stacked():
    from diffproxy.descriptor import get_descriptor
    from diffproxy.layout import BOND_WINDOW
    from diffproxy.optimize import PRESETS
    from diffproxy.optimize.control import Reporter
    from diffproxy.optimize.fit import Fit
    from diffproxy.optimize.searches import layout_start

    g = get_graph("ceramic_tiles")
    truth = g.spec.defaults()
    truth["tiles.tiles_y"], truth["tiles.tiles_x"] = torch.tensor([5.0]), torch.tensor([4.0])
    truth["tiles.offset"] = torch.tensor([0.0])
    with torch.no_grad():
        photo = render(g.maps(truth, 256))
    fit = Fit(g, photo, PRESETS["fast"], get_descriptor("random"), torch.device("cpu"))
    start = fit.defaults()
    i = [p.name for p in g.spec].index("tiles.offset")
    start[0, i] = 0.3  # drifted towards a running bond
    r = layout_start(fit, start, Reporter(None))
    assert r.info["bond"] <= 0.05 and float(fit.natural(r.u)["tiles.offset"]) <= 0.05, r.info
    assert fit.windows["tiles.offset"][1] <= BOND_WINDOW + 0.05
    assert not fit.in_window(i, 0.3)


def test_unit_shape_share_is_the_prior_weight_of_the_photos_shape():
    """``shape_share``: the prior weight of the count pairs whose shape (courses over units per
    course) lies within x/÷ SHAPE_TOLERANCE of the photo's, computed exactly from the count
    parameters' prior weights (the same as drawing from the prior); square units are tiles'
    shape, not planks', bricks three times as long as high are not mosaic tesserae."""
    import numpy as np

    from diffproxy.layout import SHAPE_TOLERANCE, shape_share
    from diffproxy.optimize.result import SHAPE_SHARE

    assert SHAPE_TOLERANCE == pytest.approx(COUNT_TOLERANCE ** 2)
    tiles, planks, bricks = (get_graph(n) for n in ("ceramic_tiles", "wood_planks", "bricks"))
    assert shape_share(tiles, 2.0, 2.0) > 0.3 and shape_share(planks, 2.0, 2.0) < SHAPE_SHARE
    assert shape_share(planks, 8.0, 1.3) > 0.3  # long boards: the planks' own shape
    assert shape_share(bricks, 5.4, 1.8) > 0.5 and shape_share(get_graph("mosaic"), 5.4, 1.8) < SHAPE_SHARE
    assert shape_share(bricks, 2.0, 2.0) > SHAPE_SHARE  # square-ish bricks exist: not ruled out
    assert shape_share(get_graph("wood"), 2.0, 2.0) is None  # no units in rows
    # the share only depends on the shape, not on how many units the frame holds
    assert shape_share(tiles, 3.0, 3.0) == shape_share(tiles, 7.0, 7.0)
    # exactly what the prior draws: 20000 draws agree within their sampling error
    for g, (r, c) in ((planks, (2.0, 2.0)), (bricks, (4.0, 2.0)), (tiles, (6.0, 1.5))):
        rn, cn = g.layout_params["rows"], g.layout_params["per_row"]
        s = g.spec.sample(20000, generator=torch.Generator().manual_seed(1), prior=True)
        s = g.spec.round(s)
        counts = [g.layout_counts({rn: float(a), cn: float(b)}) for a, b in zip(s[rn].tolist(), s[cn].tolist())]
        ratio = np.array([k["rows"] / k["per_row"] for k in counts])
        drawn = float(np.mean(np.abs(np.log(ratio / (r / c))) <= math.log(SHAPE_TOLERANCE) + 1e-9))
        assert shape_share(g, r, c) == pytest.approx(drawn, abs=4 * math.sqrt(drawn * (1 - drawn) / 20000) + 1e-3)
    with pytest.raises(ValueError, match="positive"):
        shape_share(tiles, 0.0, 2.0)


def test_jitter_regularity_is_what_the_graphs_renders_read():
    """The table the jitter window reads (MaterialGraph.jitter_regularity) is measured, not
    guessed: the same call on fewer draws reads the same curve within 0.12, and it falls as the
    jitter rises (more jitter, less regular courses)."""
    from diffproxy.graphs import GRAPHS
    from diffproxy.layout import regularity_curve

    with_jitter = [get_graph(n) for n in GRAPHS if get_graph(n).jitter_param]
    assert [g.name for g in with_jitter] == ["bricks"]
    for g in with_jitter:
        table = dict(g.jitter_regularity)
        values = list(table)
        reads = [c for _, c in g.jitter_regularity]
        assert values == sorted(values) and all(a > b for a, b in zip(reads, reads[1:]))
        probe = (values[0], values[len(values) // 2], values[-1])
        for v, c in regularity_curve(g, probe, draws=8, seed=5):
            assert abs(c - table[v]) < 0.12, (g.name, v, c, table[v])


def test_jitter_window_keeps_a_regular_photo_s_units_regular():
    import dataclasses

    from diffproxy.judge import REGULARITY_TOLERANCE
    from diffproxy.layout import jitter_ceiling, layout_windows

    bricks = get_graph("bricks")
    curve = bricks.jitter_regularity
    # the ceiling's renders read at least half the photo's comb score (the judge's tolerance)
    for conf in (0.4, 0.6, 0.78, 1.0):
        top = jitter_ceiling(curve, conf)
        assert top is not None
        xs, ys = [v for v, _ in curve], [c for _, c in curve]
        assert float(np.interp(top, xs, ys)) == pytest.approx(conf / REGULARITY_TOLERANCE, abs=1e-6)
    assert jitter_ceiling(curve, 0.2) is None  # an irregular wall: any jitter reads as plainly
    assert jitter_ceiling(curve, 2.0) == 0.0  # more regular than any render: none
    regular = _layout(8.0, 4.0, confidence=0.78)
    lo, hi, start = layout_windows(bricks, regular, {"brick.size_jitter": 0.6})["brick.size_jitter"]
    assert lo == 0.0 and 0.15 < hi < 0.25 and start == hi
    assert layout_windows(bricks, regular, {"brick.size_jitter": 0.05})["brick.size_jitter"][2] == pytest.approx(0.05)
    assert "brick.size_jitter" not in layout_windows(bricks, _layout(8.0, 4.0, confidence=0.18))
    # units counted from joints across the frame, not from a period: nothing said about regularity
    joints = dataclasses.replace(regular, per_row_confidence=0.1, lines=(0, 2))
    assert "brick.size_jitter" not in layout_windows(bricks, joints)
    assert "tiles.scale_random" not in layout_windows(get_graph("ceramic_tiles"), regular)


def test_regular_bricks_read_a_window_jittered_ones_do_not():
    """End to end: the layout a render of regular bricks reads bounds the jitter well under the
    jitter that makes a wall read as irregular; a wall jittered by 0.6 reads no bound."""
    from diffproxy.layout import layout_windows

    g = get_graph("bricks")
    out = []
    for jitter in (0.0, 0.6):
        p = g.spec.defaults()
        p["brick.size_jitter"] = torch.tensor([jitter])
        with torch.no_grad():
            out.append(layout_windows(g, measure_layout(render(g.maps(p, 256)))))
    assert out[0]["brick.size_jitter"][1] < 0.3, out[0]
    assert "brick.size_jitter" not in out[1], out[1]
