"""Tests of the differentiable filter nodes (engine/filters): gradients (gradcheck in float64),
tileability, resolution independence, value ranges, formulas, conventions and doctests.

Small images only: the whole file runs in seconds on a 2-core CPU.
"""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil

import pytest
import torch
import torch.nn.functional as F

import diffproxy.filters as filters
from diffproxy.filters import (
    FILTERS, ambient_occlusion, blend, blur, curve, directional_warp, edge_detect, gradient_map,
    hsl, invert, levels, normal_from_height, sharpen, slope_blur, threshold, transform, warp)
from diffproxy.filters.blend import MODES
from diffproxy.filters.blur import fft_gaussian, gaussian_blur_px

D = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny tensors: a single intra-op thread is faster and immune to a busy shared CPU
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rand(*shape, lo=0.05, hi=0.95, seed=0, grad=True):
    g = torch.Generator().manual_seed(seed)
    t = (lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=D))
    return t.requires_grad_(grad)


def vec(*values):
    return torch.tensor(values, dtype=D, requires_grad=True)


def smooth(res, seed=0, channels=1, amp=0.2):
    """A smooth, tileable image defined on the unit square, sampled at pixel centres: the
    same function at every resolution."""
    g = torch.Generator().manual_seed(seed)
    u = (torch.arange(res, dtype=D) + 0.5) / res
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    out = []
    for _ in range(channels):
        img = torch.full((res, res), 0.5, dtype=D)
        for fx, fy in ((1, 0), (0, 1), (1, 1), (2, -1), (1, 2), (4, 3), (-3, 5), (6, 1)):
            a, ph = amp * 0.5 * float(torch.rand(1, generator=g)) + 0.02, float(torch.rand(1, generator=g))
            img = img + a * torch.sin(2 * math.pi * (fx * xx + fy * yy + ph))
        out.append(img.clamp(0, 1))
    return torch.stack(out)[None]


def down(x, res):
    f = x.shape[-1] // res
    return F.avg_pool2d(x, f)


# ---------------------------------------------------------------------------------------------
# doctests and registry

MODULES = sorted(m.name for m in pkgutil.iter_modules(filters.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(f"diffproxy.filters.{name}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if not name.startswith("_"):
        assert result.attempted > 0, f"{name} has no doctest example"


def test_registry_lists_every_filter():
    assert set(FILTERS) == {
        "blend", "levels", "curve", "gradient_map", "hsl", "blur", "sharpen", "warp",
        "directional_warp", "transform", "invert", "threshold", "edge_detect", "slope_blur",
        "normal_from_height", "ambient_occlusion"}
    for name, fn in FILTERS.items():
        assert callable(fn) and fn.__name__ == name
        assert fn.__doc__ and "Example" in fn.__doc__ and "Convention" in fn.__doc__


# ---------------------------------------------------------------------------------------------
# gradients: every filter w.r.t. its images and every continuous parameter, as (B,) tensors

def check(fn, *inputs, fast=None):
    # full Jacobians for small inputs; fast mode (random projections of the analytical and
    # numerical Jacobians) for the larger ones that exercise the blur pyramid
    if fast is None:
        fast = sum(t.numel() for t in inputs) > 400
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, fast_mode=fast)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_blend(mode):
    fg, bg = rand(2, 3, 6, 6, lo=0.05, hi=0.45, seed=1), rand(2, 3, 6, 6, seed=2)
    mask = rand(2, 1, 6, 6, lo=0.1, hi=0.9, seed=3)
    check(lambda f, b, o, m: blend(f, b, mode, o, m), fg, bg, vec(0.3, 0.8), mask)
    fg1 = rand(2, 1, 6, 6, lo=0.05, hi=0.45, seed=4)  # 1 channel over 3
    check(lambda f, b, o: blend(f, b, mode, o), fg1, bg, vec(0.6, 0.9))


def test_gradcheck_levels():
    check(lambda x, a, b, g, c, d: levels(x, a, b, g, c, d), rand(2, 3, 6, 6),
          vec(0.1, 0.2), vec(0.8, 0.9), vec(1.4, 0.6), vec(0.1, 0.05), vec(0.9, 0.85))
    check(lambda x, a, b: levels(x, in_low=a, in_high=b), rand(2, 1, 6, 6), vec(0.7, 0.9), vec(0.2, 0.1))


@pytest.mark.parametrize("interp", ["linear", "cubic"])
def test_gradcheck_curve(interp):
    x = rand(2, 2, 5, 5)
    check(lambda x, v: curve(x, v, interp), x, vec(0.1, 0.3, 0.35, 0.9).reshape(1, 4).detach()
          .repeat(2, 1).add(torch.tensor([[0.0], [0.03]], dtype=D)).requires_grad_())
    check(lambda x, v: curve(x, v, interp), x, vec(0.05, 0.2, 0.7, 0.8, 0.95))


def test_gradcheck_gradient_map():
    x = rand(2, 1, 6, 6)
    colors = rand(2, 4, 3, lo=0.1, hi=0.9, seed=5)
    check(lambda x, c: gradient_map(x, c), x, colors)
    pos = torch.tensor([[0.1, 0.3, 0.55, 0.9], [0.2, 0.5, 0.45, 0.7]], dtype=D, requires_grad=True)
    check(lambda x, c, p: gradient_map(x, c, p), x, colors, pos)
    check(lambda x, c: gradient_map(x, c), x, rand(3, 3, lo=0.1, hi=0.9, seed=6))


def test_gradcheck_hsl():
    check(lambda x, h, s, l: hsl(x, h, s, l), rand(2, 3, 5, 5), vec(0.1, -0.3), vec(0.3, -0.4),
          vec(0.2, -0.25))


def test_gradcheck_blur_exact_and_pyramid_paths():
    check(lambda x, r: blur(x, r), rand(2, 3, 8, 8), vec(0.06, 0.2))  # < 3 px: exact FFT
    # 32 px: sigma 4.8 px (one pyramid level) and 12.8 px (two levels) in one batch
    check(lambda x, r: blur(x, r), rand(2, 1, 32, 32), vec(0.15, 0.4))


def test_gradcheck_sharpen():
    check(lambda x, a, r: sharpen(x, a, r), rand(2, 3, 8, 8, lo=0.3, hi=0.7), vec(0.7, 0.4), vec(0.05, 0.3))


def test_gradcheck_warps():
    x, s = rand(2, 3, 8, 8), rand(2, 1, 8, 8, seed=7)
    check(lambda x, s, k: warp(x, s, k), x, s, vec(0.013, -0.021))
    check(lambda x, s, k, a: directional_warp(x, s, k, a), x, s, vec(0.07, -0.1), vec(0.1, 0.7))


def test_gradcheck_transform():
    x = rand(2, 1, 8, 8)
    check(lambda x, a, b: transform(x, a, b, tiles=2, rotation=1), x, vec(0.13, -0.31), vec(0.27, 1.46))
    check(lambda x, a, b: transform(x, a, b, tiles=3, rotation=torch.tensor([1.0, 2.0])), x,
          vec(0.07, 0.61), vec(-0.33, 0.2))


def test_gradcheck_invert_threshold():
    check(invert, rand(2, 3, 6, 6))
    check(lambda x, p, c: threshold(x, p, c), rand(2, 3, 6, 6), vec(0.4, 0.6), vec(0.3, 0.5))


def test_gradcheck_edge_detect():
    check(lambda x, w, s: edge_detect(x, w, s), rand(2, 3, 8, 8), vec(0.3, 0.5), vec(0.6, 0.9))


def test_gradcheck_slope_blur():
    check(lambda x, s, k: slope_blur(x, s, k, samples=3), rand(2, 3, 8, 8), rand(2, 1, 8, 8, seed=8),
          vec(0.013, -0.021))


def test_gradcheck_normal():
    check(lambda h, k: normal_from_height(h, k), rand(2, 1, 8, 8), vec(3.0, 20.0))


def test_gradcheck_ambient_occlusion():
    # 16 px: radius 0.3 and 0.9 use different pyramid plans per sample
    check(lambda h, r, k: ambient_occlusion(h, r, k), rand(2, 1, 16, 16), vec(0.3, 0.9), vec(0.6, 2.0))


# ---------------------------------------------------------------------------------------------
# per-sample parameters and module wrappers

def test_batched_parameters_match_single_calls():
    x = rand(2, 3, 32, 32, grad=False)
    s = rand(2, 1, 32, 32, seed=9, grad=False)
    cases = [
        (lambda x, i, p: levels(x, in_low=p[0], gamma=p[1]), [(0.1, 1.5), (0.3, 0.7)]),
        (lambda x, i, p: blur(x, p[0]), [(0.02,), (0.2,)]),  # different pyramid levels
        (lambda x, i, p: hsl(x, p[0], p[1], 0.1), [(0.2, 0.5), (-0.1, -0.5)]),
        (lambda x, i, p: warp(x, s[i:i + 1] if i is not None else s, p[0]), [(0.002,), (-0.004,)]),
        (lambda x, i, p: transform(x, p[0], p[1]), [(0.1, 0.33), (0.57, -0.2)]),
    ]
    for fn, params in cases:
        batched = fn(x, None, [torch.tensor([a[k] for a in params], dtype=D) for k in range(len(params[0]))])
        for i, p in enumerate(params):
            assert torch.allclose(batched[i:i + 1], fn(x[i:i + 1], i, p), atol=1e-10)


def test_modules_call_their_functions():
    x = rand(1, 3, 16, 16, grad=False)
    h = rand(1, 1, 16, 16, seed=3, grad=False)
    pairs = [
        (filters.Blur(0.1)(x), blur(x, 0.1)),
        (filters.Levels(0.1, 0.9, 1.2)(x), levels(x, 0.1, 0.9, 1.2)),
        (filters.HSL(0.1, 0.2, 0.3)(x), hsl(x, 0.1, 0.2, 0.3)),
        (filters.Blend("screen", 0.5)(x, x.flip(-1)), blend(x, x.flip(-1), "screen", 0.5)),
        (filters.Warp(0.01)(x, h), warp(x, h, 0.01)),
        (filters.DirectionalWarp(0.1, 0.3)(x, h), directional_warp(x, h, 0.1, 0.3)),
        (filters.NormalFromHeight(4.0)(h), normal_from_height(h, 4.0)),
        (filters.AmbientOcclusion(0.2, 1.5)(h), ambient_occlusion(h, 0.2, 1.5)),
        (filters.SlopeBlur(0.01, 4)(x, h), slope_blur(x, h, 0.01, 4)),
        (filters.EdgeDetect(0.1, 0.4)(x), edge_detect(x, 0.1, 0.4)),
        (filters.Transform(0.1, 0.2, 2, 1)(x), transform(x, 0.1, 0.2, 2, 1)),
        (filters.Threshold(0.4, 0.7)(x), threshold(x, 0.4, 0.7)),
        (filters.Sharpen(1.0, 0.05)(x), sharpen(x, 1.0, 0.05)),
        (filters.Invert()(x), invert(x)),
        (filters.Curve(torch.tensor([0.0, 0.7, 1.0]))(x), curve(x, torch.tensor([0.0, 0.7, 1.0]))),
        (filters.GradientMap(torch.rand(3, 3))(h), None),
    ]
    for got, want in pairs:
        assert torch.isfinite(got).all()
        if want is not None:
            assert torch.equal(got, want)


# ---------------------------------------------------------------------------------------------
# tileability: filter(roll(x)) == roll(filter(x))

NEIGHBOURHOOD = {
    "blur": lambda x, s: blur(x, 0.05),
    "blur_small": lambda x, s: blur(x, 0.02),
    "sharpen": lambda x, s: sharpen(x, 1.5, 0.03),
    "warp": lambda x, s: warp(x, s, 0.004),
    "directional_warp": lambda x, s: directional_warp(x, s, 0.08, 0.3),
    "transform": lambda x, s: transform(x, 0.137, -0.41),
    "edge_detect": lambda x, s: edge_detect(x, 0.06, 0.5),
    "slope_blur": lambda x, s: slope_blur(x, s, 0.005, 4),
    "normal": lambda x, s: normal_from_height(s, 8.0),
    "ambient_occlusion": lambda x, s: ambient_occlusion(s, 0.2, 2.0),
}


@pytest.mark.parametrize("name", sorted(NEIGHBOURHOOD))
def test_tileable_in_tileable_out(name):
    fn = NEIGHBOURHOOD[name]
    x = rand(1, 3, 64, 64, seed=10, grad=False)
    s = blur(rand(1, 1, 64, 64, seed=11, grad=False), 0.03)
    y = fn(x, s)
    # a shift by a multiple of the coarsest pyramid factor (16 here) commutes exactly
    shift = (16, 32)
    y_rolled = fn(x.roll(shift, (-2, -1)), s.roll(shift, (-2, -1)))
    assert torch.allclose(y_rolled, y.roll(shift, (-2, -1)), atol=1e-9)
    # any shift commutes up to the pyramid's resampling error
    shift = (3, 7)
    y_rolled = fn(x.roll(shift, (-2, -1)), s.roll(shift, (-2, -1)))
    assert (y_rolled - y.roll(shift, (-2, -1))).abs().max() < 4e-3


def test_transform_tiles_and_rotation_keep_tiling():
    x = smooth(64, seed=2)
    for n in (2, 3):  # 3 does not divide 64: bilinear path
        y = transform(x, tiles=n)
        step = 64 // n if 64 % n == 0 else None
        if step:
            assert torch.allclose(y[..., :step, :step], y[..., step:2 * step, step:2 * step])
        # seam continuity: the jump across the wrap is like any other neighbour step
        assert (y[..., 0] - y[..., -1]).abs().max() <= (y[..., 1:] - y[..., :-1]).abs().max() + 1e-9
    y = transform(x, rotation=1)
    assert torch.equal(y[0, 0, :, 0], x[0, 0, 0, :].flip(0))  # top row -> left column, bottom up
    assert torch.equal(transform(x, rotation=4), x)
    # a whole-period offset is the identity, half a period is a roll
    assert torch.allclose(transform(x, 1.0, -2.0), x)
    assert torch.allclose(transform(x, 0.5, 0.25), x.roll((-16, 32), (-2, -1)))


# ---------------------------------------------------------------------------------------------
# resolution independence: at 64 vs at 256 then averaged down to 64

def square(res):
    """A hard-edged mask whose edges fall on pixel boundaries at 64 and 256 px."""
    x = torch.zeros(1, 1, res, res, dtype=D)
    x[..., res // 4:3 * res // 4, res // 8:5 * res // 8] = 1.0
    return x


# (filter, tolerance). The inputs themselves differ by 0.0044 between 64 px point samples and
# 256 px samples averaged down, so filters with a gain (AO intensity, sharpen) get a bit more.
RES_CASES = {
    "blur": (lambda x, s: blur(x, 0.04), 0.01),
    "sharpen": (lambda x, s: sharpen(x, 1.0, 0.03), 0.02),
    "warp": (lambda x, s: warp(x, s, 0.003), 0.02),
    "directional_warp": (lambda x, s: directional_warp(x, s, 0.1, 0.15), 0.02),
    "slope_blur": (lambda x, s: slope_blur(x, s, 0.004, 6), 0.02),
    "normal": (lambda x, s: normal_from_height(s, 10.0), 0.01),
    "ambient_occlusion": (lambda x, s: ambient_occlusion(s, 0.15, 2.0), 0.015),
    "edge_detect": (lambda x, s: edge_detect(square(x.shape[-1]), 0.1, 1.0), 0.015),
}


@pytest.mark.parametrize("name", sorted(RES_CASES))
def test_resolution_independent(name):
    fn, tol = RES_CASES[name]
    lo = fn(smooth(64, seed=1, channels=3), smooth(64, seed=2))
    hi = fn(smooth(256, seed=1, channels=3), smooth(256, seed=2))
    err = (lo - down(hi, 64)).abs().max().item()
    assert err < tol, f"{name}: max difference {err:.4f} between 64 px and 256 px"
    # the filter did something much larger than that difference
    before = {"normal": None, "ambient_occlusion": None, "edge_detect": None}.get(
        name, smooth(64, seed=1, channels=3))
    effect = (lo - before).abs().max().item() if before is not None else (lo - lo.mean()).abs().max().item()
    assert err < 0.2 * effect, f"{name}: error {err:.4f} is not small against the effect {effect:.4f}"


def test_blur_pyramid_matches_exact_blur():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 1, 128, 128, generator=g)
    box = torch.zeros(1, 1, 128, 128)
    box[..., 30:70, 20:100] = 1.0
    for img in (noise, box):
        for s in (3.0, 4.7, 9.0, 17.0, 33.0):
            sig = torch.tensor([s]).reshape(1, 1, 1, 1)
            err = (gaussian_blur_px(img, sig) - fft_gaussian(img, sig * sig)).abs().max()
            assert err < 3e-3, (s, float(err))


def test_blur_keeps_mean_and_zero_radius_is_identity():
    x = rand(2, 3, 32, 32, grad=False)
    for r in (0.01, 0.1, 0.5):
        assert torch.allclose(blur(x, r).mean((-2, -1)), x.mean((-2, -1)), atol=1e-9)
    assert torch.allclose(blur(x, 0.0), x, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# value ranges

def test_value_ranges():
    x = rand(2, 3, 32, 32, lo=0.0, hi=1.0, grad=False)
    h = rand(2, 1, 32, 32, lo=0.0, hi=1.0, seed=12, grad=False)
    outs = {
        "blend_add": blend(x, x, "add"),
        "blend_sub": blend(x, x.flip(-1), "subtract", 0.7, h),
        "levels": levels(x, 0.2, 0.7, 2.0, -0.5, 1.5),
        "curve": curve(x, torch.tensor([0.3, -0.2, 1.5])),
        "gradient_map": gradient_map(h, torch.tensor([[0.0, 0.2, 2.0], [1.0, -1.0, 0.5]])),
        "hsl": hsl(x, 0.3, 1.0, 0.5),
        "blur": blur(x, 0.1),
        "sharpen": sharpen(x, 5.0, 0.05),
        "warp": warp(x, h, 0.05),
        "directional_warp": directional_warp(x, h, 0.5, 0.1),
        "transform": transform(x, 0.3, 0.1, 3, 1),
        "invert": invert(x),
        "threshold": threshold(x, 0.3, 1.0),
        "edge_detect": edge_detect(x, 0.05, 0.1),
        "slope_blur": slope_blur(x, h, 0.02),
        "normal": normal_from_height(h, 50.0),
        "ambient_occlusion": ambient_occlusion(h, 0.2, 10.0),
    }
    for name, y in outs.items():
        assert torch.isfinite(y).all(), name
        assert y.min() >= 0.0 and y.max() <= 1.0, (name, float(y.min()), float(y.max()))
    assert outs["normal"][:, 2].min() >= 0.5
    assert outs["ambient_occlusion"].min() > 0.0
    assert edge_detect(x).shape == (2, 1, 32, 32)
    assert gradient_map(h, torch.rand(4, 3)).shape == (2, 3, 32, 32)


# ---------------------------------------------------------------------------------------------
# formulas and conventions

def test_blend_modes_follow_their_formulas():
    fg, bg = rand(2, 3, 8, 8, lo=0, hi=1, seed=1, grad=False), rand(2, 3, 8, 8, lo=0, hi=1, seed=2, grad=False)
    m = rand(2, 1, 8, 8, lo=0, hi=1, seed=3, grad=False)
    formulas = {
        "copy": fg,
        "add": bg + fg,
        "subtract": bg - fg,
        "multiply": bg * fg,
        "screen": 1 - (1 - bg) * (1 - fg),
        "overlay": torch.where(bg < 0.5, 2 * bg * fg, 1 - 2 * (1 - bg) * (1 - fg)),
        "max": torch.maximum(bg, fg),
        "min": torch.minimum(bg, fg),
    }
    for mode, f in formulas.items():
        want = bg + 0.7 * m * (f.clamp(0, 1) - bg)
        assert torch.allclose(blend(fg, bg, mode, 0.7, m), want, atol=1e-12), mode
        assert torch.allclose(blend(fg, bg, mode), f.clamp(0, 1), atol=1e-12), mode
    # channel broadcasting: gray over colour and colour over gray
    assert blend(fg[:, :1], bg, "multiply").shape == (2, 3, 8, 8)
    assert torch.allclose(blend(fg, bg[:, :1], "add", 0.5), bg[:, :1] + 0.5 * ((fg + bg[:, :1]).clamp(0, 1) - bg[:, :1]))
    assert torch.equal(blend(fg, bg, "copy", 0.0), bg)


def test_levels_and_curve_are_monotone():
    x = torch.linspace(0, 1, 257, dtype=D).reshape(1, 1, 1, -1)
    for args in ((0.1, 0.9, 1.0), (0.3, 0.6, 2.5), (0.0, 1.0, 0.4, 0.2, 0.7)):
        y = levels(x, *args).flatten()
        assert (y[1:] >= y[:-1]).all()
    v = torch.tensor([[0.2, 0.1, 0.5, 0.45, 0.9, 0.6], [0.0, 0.9, 0.3, 1.0, 0.2, 0.8]], dtype=D)
    for interp in ("linear", "cubic"):
        y = curve(x.expand(2, 1, 1, -1), v, interp)
        assert (y[..., 1:] >= y[..., :-1] - 1e-12).all(), interp
        # the curve passes through the (monotone) knots
        knots = curve(torch.linspace(0, 1, 6, dtype=D).reshape(1, 1, 1, 6).expand(2, 1, 1, 6), v, interp)
        assert torch.allclose(knots.reshape(2, 6), torch.cummax(v.clamp(0, 1), 1).values)
    # identity curve and identity levels
    assert torch.allclose(curve(x, torch.tensor([0.0, 0.5, 1.0], dtype=D)), x)
    assert torch.allclose(levels(x), x)


def test_levels_formula():
    x = torch.tensor([0.0, 0.3, 0.5, 0.8, 1.0], dtype=D).reshape(1, 1, 1, 5)
    t = ((x - 0.2) / 0.6).clamp(0, 1) ** (1 / 1.7)
    assert torch.allclose(levels(x, 0.2, 0.8, 1.7, 0.1, 0.9), 0.1 + 0.8 * t)
    assert torch.allclose(levels(x, in_low=0.8, in_high=0.2), 1 - ((x - 0.2) / 0.6).clamp(0, 1))


def test_threshold_and_invert():
    x = torch.linspace(0, 1, 101, dtype=D).reshape(1, 1, 1, -1)
    y = threshold(x, 0.3, 1.0).flatten()
    assert (y[x.flatten() < 0.299] == 0).all() and (y[x.flatten() > 0.301] == 1).all()
    assert torch.allclose(threshold(x, 0.5, 0.0), x)
    assert torch.allclose(threshold(x, 0.5, 0.5), ((x - 0.5) / 0.5 + 0.5).clamp(0, 1))
    assert torch.allclose(invert(invert(x)), x)


def test_hsl_conventions():
    x = rand(1, 3, 8, 8, lo=0, hi=1, grad=False)
    assert hsl(x) is x
    assert torch.allclose(hsl(x, 1.0, 0.0, 0.0), x, atol=1e-9)  # a full turn
    assert torch.allclose(hsl(x, 0.25, 0.0, 0.0), hsl(hsl(x, 0.1), 0.15), atol=1e-9)
    gray = hsl(x, 0.0, -1.0, 0.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    mx, mn = x.max(1).values, x.min(1).values
    assert torch.allclose(gray[:, 0], (mx + mn) / 2)  # HSL lightness kept
    assert torch.allclose(hsl(x, 0.0, 0.0, 1.0), torch.ones_like(x))
    assert torch.allclose(hsl(x, 0.0, 0.0, -1.0), torch.zeros_like(x))
    red = torch.tensor([1.0, 0.0, 0.0], dtype=D).reshape(1, 3, 1, 1)
    assert torch.allclose(hsl(red, 2 / 3).flatten(), torch.tensor([0.0, 0.0, 1.0], dtype=D), atol=1e-12)


def test_normal_map_direction_opengl():
    res = 64
    u = (torch.arange(res, dtype=D) + 0.5) / res
    # height rising towards +x (a sine: rising near u = 0)
    hx = (0.5 + 0.2 * torch.sin(2 * math.pi * u)).reshape(1, 1, 1, res).expand(1, 1, res, res).contiguous()
    n = normal_from_height(hx, 20.0) * 2 - 1
    assert n[0, 0, :, 0].max() < -0.05 and n[0, 0, :, res // 2].min() > 0.05  # tilted to -x, then +x
    assert n[0, 1].abs().max() < 1e-9 and (n[0, 2] > 0).all()
    # expected magnitude: slope = intensity / 256 * dh/du (central difference of the sine)
    g = 0.2 * 2 * math.pi * math.cos(2 * math.pi * u[0]) * math.sin(2 * math.pi / res) / (2 * math.pi / res)
    s = 20.0 / 256 * g
    assert abs(n[0, 0, 0, 0].item() + s / math.sqrt(1 + s * s)) < 1e-9
    # height rising towards the top of the image (row 0 is the top; y up)
    v = 1.0 - u  # texture y of each row
    hy = (0.5 + 0.2 * torch.sin(2 * math.pi * v)).reshape(1, 1, res, 1).expand(1, 1, res, res).contiguous()
    n = normal_from_height(hy, 20.0) * 2 - 1
    assert n[0, 1, -1, :].max() < -0.05  # bottom rows: rising upwards -> green < 0.5 (tilted down)
    assert n[0, 0].abs().max() < 1e-9
    # flat height and zero intensity give (0.5, 0.5, 1)
    flat = normal_from_height(hx, 0.0)
    assert torch.allclose(flat, torch.tensor([0.5, 0.5, 1.0], dtype=D).reshape(1, 3, 1, 1).expand_as(flat))


def test_warp_directions():
    x = torch.zeros(1, 1, 16, 16, dtype=D)
    x[..., 5, 5] = 1.0
    ones = torch.ones(1, 1, 16, 16, dtype=D)
    for angle, (dr, dc) in ((0.0, (0, 1)), (0.25, (-1, 0)), (0.5, (0, -1)), (0.75, (1, 0))):
        y = directional_warp(x, ones, 1 / 16, angle)
        assert abs(y[0, 0, 5 + dr, 5 + dc].item() - 1.0) < 1e-9, angle
    # warp moves content up the gradient of the source: a sine rising to the right around
    # column 0 (gradient 0.3 * 2 pi per width there) and falling around column 8
    u = (torch.arange(16, dtype=D) + 0.5) / 16
    src = (0.5 + 0.3 * torch.sin(2 * math.pi * u)).reshape(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    cols = torch.arange(16, dtype=D)
    for start, sign in ((0, 1.0), (8, -1.0)):
        x = torch.zeros(1, 1, 16, 16, dtype=D)
        x[..., 5, start] = 1.0
        y = warp(x, src, 0.05)[0, 0, 5]
        shift = ((y * cols).sum() / y.sum() - start).item()
        assert 0.5 < sign * shift < 2.0, (start, shift)  # about 0.05 * 1.88 * 16 = 1.5 px
    # zero intensity or a flat source: identity
    assert torch.allclose(warp(x, ones * 0.3, 0.1), x)
    assert torch.allclose(directional_warp(x, src, 0.0, 0.3), x)


def test_ambient_occlusion_darkens_crevices():
    h = torch.ones(1, 1, 64, 64, dtype=D)
    h[..., 28:36, :] = 0.0
    ao = ambient_occlusion(h, 0.1, 2.0)
    assert ao[0, 0, 0].min() > 0.99  # far plateau
    assert ao[0, 0, 28].max() < 0.6 and ao[0, 0, 32].max() < 0.9  # groove: corner, floor
    assert torch.allclose(ambient_occlusion(h * 0 + 0.4, 0.1, 5.0), torch.ones_like(h))
    stronger = ambient_occlusion(h, 0.1, 4.0)
    assert (stronger <= ao + 1e-12).all()


def test_edge_detect_finds_edges_of_a_mask():
    x = torch.zeros(1, 1, 128, 128, dtype=D)
    x[..., 32:96, 32:96] = 1.0
    e = edge_detect(x, 4 / 128, 0.05)
    assert e[0, 0, 64, 32].item() > 0.99 and e[0, 0, 64, 64].item() < 1e-6
    # hard line about `width` wide (4 px)
    row = e[0, 0, 64, 16:48]
    assert 3 <= int((row > 0.5).sum()) <= 5
    assert edge_detect(x.expand(1, 3, 128, 128), 4 / 128, 0.05).shape == (1, 1, 128, 128)


def test_slope_blur_smears_along_gradient_only():
    x = rand(1, 1, 32, 32, lo=0, hi=1, grad=False)
    flat = torch.full((1, 1, 32, 32), 0.5, dtype=D)
    assert torch.allclose(slope_blur(x, flat, 0.5), x)
    src = smooth(32, seed=4)
    y = slope_blur(x, src, 0.01, 8)
    assert y.std() < x.std()  # averaging lowers contrast


def test_argument_checks_name_the_argument():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="mode"):
        blend(x, x, "darken")
    with pytest.raises(ValueError, match="opacity"):
        blend(x, x, "add", torch.ones(3))
    with pytest.raises(ValueError, match="x"):
        blur(torch.rand(3, 8, 8), 0.1)
    with pytest.raises(ValueError, match="gamma"):
        levels(x, gamma=0.0)
    with pytest.raises(ValueError, match="values"):
        curve(x, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="x"):
        gradient_map(x, torch.rand(3, 3))
    with pytest.raises(ValueError, match="saturation"):
        hsl(x, saturation=2.0)
    with pytest.raises(ValueError, match="source"):
        warp(x, torch.rand(1, 1, 4, 4), 0.1)
    with pytest.raises(ValueError, match="tiles"):
        transform(x, tiles=0)
    with pytest.raises(ValueError, match="samples"):
        slope_blur(x, x[:, :1], 0.1, samples=0)
    with pytest.raises(ValueError, match="radius"):
        ambient_occlusion(x[:, :1], 0.0)
    with pytest.raises(ValueError, match="width"):
        edge_detect(x, 0.0)


def test_strips_give_the_same_result(monkeypatch):
    """Without gradients, pointwise stages and resampling run over strips of rows; the result
    must not depend on the strip size."""
    import diffproxy.filters._common as common
    x = rand(2, 3, 24, 24, lo=0, hi=1, grad=False)
    h = blur(rand(2, 1, 24, 24, seed=5, grad=False), 0.05)
    run = {
        "blend": lambda: blend(x, x.flip(-1), "overlay", 0.6, h),
        "levels": lambda: levels(x, 0.1, 0.8, 1.5, 0.1, 0.9),
        "curve": lambda: curve(x, torch.tensor([0.1, 0.4, 0.5, 1.0]), "cubic"),
        "gradient_map": lambda: gradient_map(h, torch.rand(4, 3, generator=torch.Generator().manual_seed(1))),
        "hsl": lambda: hsl(x, 0.2, 0.3, -0.2),
        "warp": lambda: warp(x, h, 0.01),
        "directional_warp": lambda: directional_warp(x, h, 0.1, 0.3),
        "slope_blur": lambda: slope_blur(x, h, 0.01, 3),
        "normal": lambda: normal_from_height(h, 10.0),
        "edge_detect": lambda: edge_detect(x, 0.1, 0.5),
        "ambient_occlusion": lambda: ambient_occlusion(h, 0.2, 2.0),
    }
    with torch.no_grad():
        whole = {k: f() for k, f in run.items()}
        monkeypatch.setattr(common, "STRIP_VALUES", 200)  # strips of one or two rows
        for k, f in run.items():
            assert torch.allclose(f(), whole[k], atol=1e-12), k
