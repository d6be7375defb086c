"""Counts that set a pattern's period (``Param.period``) and the proxies' training pairs at
fractional counts (``proxies.train.fractional_batch``), for every generator of the registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffproxy.generators import GENERATORS, get_generator
from diffproxy.proxies.train import fractional_batch, fractional_names

PERIODIC = [(g, p.name) for g in GENERATORS.names for p in get_generator(g).spec if p.period]
WITH_COUNTS = sorted({g for g, _ in PERIODIC})


def _defaults(g, **values):
    p = g.spec.defaults(1)
    p.update({k: torch.tensor([float(v)]) for k, v in values.items()})
    return p


def _edges(x: torch.Tensor) -> dict[str, float]:
    """Mean absolute step between neighbouring pixels across (x) and down (y)."""
    return {"x": float((x - x.roll(1, 3)).abs().mean()), "y": float((x - x.roll(1, 2)).abs().mean())}


def test_the_layout_counts_declare_their_period():
    """The counts a person reads off a photo say which axis they set (what the proxies'
    fractional training zooms); the seeds and the counts that do not set a period say none."""
    assert len(WITH_COUNTS) >= 10
    for name in ("brick", "cellular", "tile_paraboloid", "hex_tiles", "arc_pavement"):
        assert name in WITH_COUNTS
    assert not any(p.period for g in GENERATORS.names for p in get_generator(g).spec if p.seed)
    assert not get_generator("scratches").spec["count"].period  # more scratches, not smaller ones


@pytest.mark.parametrize("gen_name,count", PERIODIC)
def test_a_count_sets_the_scale_along_its_axis(gen_name, count):
    """From the default count to about 1.5 times as many units, the edges met along the count's
    axis grow (towards x1.5), and grow clearly more than along an axis the count does not set
    (a zoom along the declared axis is the in-between the proxies are trained on)."""
    g = get_generator(gen_name)
    p = g.spec[count]
    n = int(p.default_value)
    m = next(p.low + k for k in p.allowed_levels if p.low + k >= 1.5 * n)
    before, after = _edges(g(_defaults(g, **{count: n}), 256)), _edges(g(_defaults(g, **{count: m}), 256))
    ratio = {a: after[a] / before[a] for a in "xy" if before[a] > 1e-3}  # horizontal stripes: no x edges
    assert ratio
    for axis, r in ratio.items():
        if axis in p.period:
            assert r > 1.2, (axis, ratio)
        else:
            assert all(r < ratio[a] - 0.15 for a in p.period if a in ratio), (axis, ratio)


@pytest.mark.parametrize("gen_name", WITH_COUNTS)
def test_fractional_counts_show_the_pattern_zoomed(gen_name):
    """Each sample is either at its drawn whole counts (the generator's own pattern) or at
    fractional counts ``c`` between the next lower drawable level and the drawn ``n``: then it
    shows the top-left ``c / n`` of the ``n``-count pattern along each count's axis."""
    g = get_generator(gen_name)
    names = fractional_names(g.spec, ("all",))
    params = g.spec.round(g.spec.sample(12, generator=torch.Generator().manual_seed(3), prior=True))
    out, real = fractional_batch(g, params, 64, names, torch.Generator().manual_seed(4))
    assert real.shape == (12, 1, 64, 64) and float(real.min()) >= 0 and float(real.max()) <= 1
    moved = torch.zeros(12, dtype=torch.bool)
    for name in names:
        n, c = params[name], out[name]
        levels = [g.spec[name].low + k for k in g.spec[name].allowed_levels]
        below = torch.tensor([max([v for v in levels if v < float(m)], default=float(m)) for m in n])
        assert bool((c <= n).all()) and bool(((c > below) | (c == n)).all())
        moved |= c != n
    assert bool(moved.any()) and not bool(moved.all())  # a share of them, not all
    errs = []
    for i in range(12):
        one = {k: v[i:i + 1] for k, v in params.items()}
        if not bool(moved[i]):
            assert torch.allclose(real[i:i + 1], g(one, 64), atol=1e-5)
            continue
        big = g(one, 512)
        sx = sy = 1.0
        for name in names:
            s = float(out[name][i] / params[name][i])
            sx *= s if "x" in g.spec[name].period else 1.0
            sy *= s if "y" in g.spec[name].period else 1.0
        crop = big[:, :, :round(512 * sy), :round(512 * sx)]
        # compared 8 x 8 px apart (the 32 px pair differs in its antialiasing)
        coarse = lambda x: F.interpolate(x, size=(8, 8), mode="area")
        err = float((coarse(real[i:i + 1]) - coarse(crop)).abs().mean())
        unzoomed = float((coarse(real[i:i + 1]) - coarse(big)).abs().mean())
        errs.append(err)
        assert err <= unzoomed + 0.005, (i, sx, sy, err, unzoomed)
    # patterns finer than the 64 px image alias alike in both; the rest match closely
    assert sorted(errs)[len(errs) // 2] < 0.02, errs


def test_fractional_names_are_checked_against_the_spec():
    g = get_generator("brick")
    assert set(fractional_names(g.spec, ("all",))) == {"rows", "bricks"}
    assert fractional_names(g.spec, ("rows",)) == ("rows",)
    with pytest.raises(ValueError, match="not counts that set a period"):
        fractional_names(g.spec, ("mortar",))
    with pytest.raises(ValueError, match="none"):
        fractional_names(get_generator("scratches").spec, ("count",))
