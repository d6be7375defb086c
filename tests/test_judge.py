"""The photo judge (diffproxy.judge): each check on renders the engine makes, where the answer is
known by construction (light or dark mortar, uniform or varied bricks, flat or raised normals)."""

from __future__ import annotations

import math

import pytest
import torch

from diffproxy import judge
from diffproxy.graphs import get_graph
from diffproxy.render import render


def bricks(res=256, **over):
    g = get_graph("bricks")
    p = g.spec.defaults()
    for k, v in over.items():
        p[k] = torch.full_like(p[k], float(v))
    with torch.no_grad():
        m = g.maps(p, res)
    return g, g.spec.to_json(p), m, render(m)


@pytest.mark.parametrize("mortar, sign", [(0.95, 1), (0.08, -1)])
def test_polarity_reads_light_and_dark_joints_under_the_flash(mortar, sign):
    _, _, _, img = bricks(**{"color.mortar.value": mortar, "color.brick.value": 0.45})
    s = judge.joint_polarity(img)
    assert judge.polarity_sign(s) == sign, s


def test_polarity_is_near_zero_without_lines():
    torch.manual_seed(0)
    noise = torch.rand(1, 3, 256, 256) * 0.2 + 0.4
    assert judge.polarity_sign(judge.joint_polarity(noise)) == 0


def test_polarity_is_not_the_flash_highlight_on_a_glossy_surface():
    """Dark joints under a glossy surface's specular highlight (a compact bright blob, smaller
    than the flash falloff the judge divides out) still read as dark joints: a mean over each row
    counted the blob as a light line (Blender's floor boards, session 47)."""
    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    boards = torch.full((256, 256), 0.35)
    boards[(y % 43) < 2] = 0.28  # thin, faintly darker joints: 6 courses of boards two a course
    boards[((x + 64 * ((y // 43) % 2)) % 128) < 2] = 0.28
    # the highlight, saturating in its middle (the mean form read +0.38 here: light joints)
    blob = 2.0 * torch.exp(-((x - 128) ** 2 + (y - 128) ** 2) / (2 * 20.0 ** 2))
    img = (boards + blob).clamp(0, 1).expand(1, 3, 256, 256).contiguous()
    assert judge.polarity_sign(judge.joint_polarity(img)) == -1, judge.joint_polarity(img)
    flat = boards.expand(1, 3, 256, 256).contiguous()
    assert judge.polarity_sign(judge.joint_polarity(flat)) == -1


def test_unit_spread_sees_per_brick_colour_variation():
    _, p, _, uniform = bricks(**{"color.variation": 0.0, "color.dirt": 0.0})
    _, _, _, varied = bricks(**{"color.variation": 1.0, "color.dirt": 0.0})
    rows, per_row = p["brick.rows"], p["brick.bricks"]
    a, b = judge.unit_spread(uniform, rows, per_row), judge.unit_spread(varied, rows, per_row)
    assert b > 2 * a, (a, b)


def test_relief_flat_and_raised():
    _, _, flat, _ = bricks(**{"normal.intensity": 0.0})
    _, _, raised, _ = bricks(**{"normal.intensity": 3.0})
    assert judge.relief_degrees(flat["normal"]) < 0.5
    assert judge.relief_degrees(raised["normal"]) > judge.RELIEF_DEG


def test_relief_does_not_depend_on_map_resolution_much():
    _, _, m512, _ = bricks(512)
    _, _, m256, _ = bricks(256)
    a, b = judge.relief_degrees(m512["normal"]), judge.relief_degrees(m256["normal"])
    assert abs(a - b) < 0.25 * b


def test_check_passes_the_material_that_made_the_photo():
    g, p, maps, img = bricks()
    counts = g.layout_counts(p)
    label = {"accept": ["bricks"], "rows": counts["rows"], "per_row": counts["per_row"], "relief": True}
    out = judge.check(label, g, p, img, img, maps["normal"])
    assert out["family"]["ok"] and out["counts"]["ok"] and out["polarity"]["ok"]
    assert out["spread"]["ratio"] == pytest.approx(1.0) and out["relief"]["ok"]
    assert out["bond"]["ok"] and abs(out["bond"]["photo"] - 0.5) < 0.08  # the default half bond


def test_bond_check_fails_a_running_bond_fitted_to_a_stack():
    g, p, maps, running = bricks()
    _, _, _, stack = bricks(**{"brick.offset": 0.0})
    label = {"accept": ["bricks"], "rows": g.layout_counts(p)["rows"], "per_row": p["brick.bricks"]}
    out = judge.check(label, g, p, stack, running, maps["normal"])
    assert out["bond"]["photo"] < 0.08 and out["bond"]["render"] > 0.42 and not out["bond"]["ok"], out["bond"]


def test_check_fails_wrong_family_counts_polarity_and_relief():
    g, p, maps, img = bricks(**{"color.mortar.value": 0.95, "color.brick.value": 0.45})
    _, _, _, dark = bricks(**{"color.mortar.value": 0.08, "color.brick.value": 0.45})
    label = {"accept": ["ceramic_tiles"], "rows": 2 * p["brick.rows"], "per_row": p["brick.bricks"],
             "relief": False}
    out = judge.check(label, g, p, dark, img, maps["normal"])
    assert not out["family"]["ok"]
    assert not out["counts"]["rows"]["ok"] and out["counts"]["per_row"]["ok"] and not out["counts"]["ok"]
    assert out["counts"]["rows"]["ratio"] == pytest.approx(0.5)
    assert not out["polarity"]["ok"] and not out["relief"]["ok"]


def test_check_without_counts_in_the_label_judges_family_and_relief_only():
    g, p, maps, img = bricks()
    out = judge.check({"accept": ["bricks"], "relief": True}, g, p, img, img, maps["normal"])
    assert set(out) == {"family", "relief"}


def test_layout_counts_come_from_the_graphs():
    b = get_graph("bricks")
    p = b.spec.to_json(b.spec.defaults())
    p["brick.rows"] = 7  # odd rows round up to even in the generator
    assert b.layout_counts(p) == {"rows": 8.0, "per_row": float(p["brick.bricks"])}
    t = get_graph("ceramic_tiles")
    q = t.spec.to_json(t.spec.defaults())
    assert t.layout_counts(q) == {"rows": float(q["tiles.tiles_y"]), "per_row": float(q["tiles.tiles_x"])}
    assert get_graph("wood").layout_counts({}) == {}


def test_inputs_are_checked():
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        judge.joint_polarity(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        judge.unit_spread(torch.zeros(1, 3, 8, 8), 0, 2)


def test_octave_gap_reads_contrast_scale_by_scale():
    """Identical images: 0 in every octave. The same image at twice the contrast: power x 4,
    log 4 in every octave. A blurred copy: the fine octaves lose far more than the coarse."""
    _, _, _, img = bricks()
    flat = img.mean(dim=(2, 3), keepdim=True)
    soft = flat + 0.25 * (img - flat)  # low contrast, so doubling it clips nowhere
    assert judge.octave_gap(soft, soft) == pytest.approx([0.0] * len(judge.SPECTRUM_OCTAVES), abs=1e-9)
    double = judge.octave_gap(soft, flat + 0.5 * (img - flat))
    assert double == pytest.approx([math.log(4.0)] * len(double), abs=0.1)
    blurred = torch.nn.functional.avg_pool2d(soft, 9, 1, 4, count_include_pad=False)
    gap = judge.octave_gap(soft, blurred)
    assert gap[-1] < -2.0 and gap[0] > -0.5 and gap == sorted(gap, reverse=True)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        judge.octave_gap(soft[0], soft)


def test_regularity_check_fails_jittered_bricks_fitted_to_regular_ones():
    g, p, maps, regular = bricks(**{"brick.size_jitter": 0.0})
    _, _, _, jittered = bricks(**{"brick.size_jitter": 0.8})
    label = {"accept": ["bricks"], "rows": g.layout_counts(p)["rows"], "per_row": p["brick.bricks"]}
    same = judge.check(label, g, p, regular, regular, maps["normal"])["regularity"]
    assert same["ok"] and same["per_row"]["ratio"] == pytest.approx(1.0) and "rows" in same
    out = judge.check(label, g, p, regular, jittered, maps["normal"])["regularity"]
    assert out["rows"]["ok"] and not out["per_row"]["ok"] and not out["ok"], out
    # the other way round (a jittered wall fitted as a regular one) is not what this check is for
    assert judge.check(label, g, p, jittered, regular, maps["normal"]).get("regularity", {"ok": True})["ok"]
