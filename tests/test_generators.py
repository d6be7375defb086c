"""Pattern generators and noise inputs: contract, determinism, tiling, resolution independence.

Runs the real generators at 32-256 px so the suite stays fast on a shared CPU.
"""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
import torch.nn.functional as F

from diffproxy.generators import GENERATORS  # noqa: E402

NAMES = list(GENERATORS.names)  # every registered generator, read from the registry
NOISES = ["value_fbm", "perlin_fbm", "cells"]
# a sparse mask of sub-pixel lines (at 128 px): low contrast overall, peaks ~ width / pixel
MIN_STD = {"scratches": 0.015}
MIN_PEAK = {"scratches": 0.15}


def _gen(name):
    return importlib.import_module(f"diffproxy.generators.{name}").GENERATOR


def _noise(name):
    return getattr(importlib.import_module("diffproxy.generators.noise"), name)


def _prior(g, n, seed=0):
    return g.spec.sample(n, generator=torch.Generator().manual_seed(seed))


def _select(params, i):
    return {k: v[i:i + 1] for k, v in params.items()}


def _seam_ratio(x: torch.Tensor) -> float:
    """Wrap-seam difference relative to the typical difference between adjacent interior lines.

    ``x``: ``(B, 1, H, W)``. Returns the worse axis of
    ``mean|last - first| / (1.5 mean|adjacent interior| + eps)`` (means over the batch too:
    one sparse sample's seam is a single noisy line); <= 1 passes.
    """
    worst = 0.0
    for dim in (2, 3):
        first, last = x.select(dim, 0), x.select(dim, x.shape[dim] - 1)
        seam = (last - first).abs().mean()
        inner = x.diff(dim=dim).abs().mean()
        worst = max(worst, float(seam / (1.5 * inner + 2e-3)))
    return worst


# --- registry -----------------------------------------------------------------------------------
def test_every_generator_module_is_registered():
    """A module of engine/generators that exposes a GENERATOR is in the registry under its name
    (and the registry holds nothing else)."""
    from pathlib import Path

    import diffproxy.generators as pkg
    found = set()
    for f in Path(pkg.__file__).parent.glob("*.py"):
        if f.stem.startswith("_"):
            continue
        gen = getattr(importlib.import_module(f"diffproxy.generators.{f.stem}"), "GENERATOR", None)
        if gen is not None:
            found.add(gen.name)
    assert found == set(GENERATORS.names)


def test_registry_has_all_generators_with_generator_specs():
    from diffproxy.generators import get_generator
    assert set(GENERATORS) == set(NAMES) and len(NAMES) >= 7
    for name in NAMES:
        g = get_generator(name)
        assert g.name == name and g.description
        assert len(g.spec) >= 5
        for p in g.spec:
            assert p.role == "generator", (name, p.name)
            assert p.group and p.description, (name, p.name)
        seeds = [p for p in g.spec if p.name == "seed"]
        assert seeds and seeds[0].kind == "int" and seeds[0].high - seeds[0].low <= 63
    stochastic = {n for n, g in GENERATORS.items() if g.stochastic}
    assert {"scratches", "tile_paraboloid", "cellular"} <= stochastic


# --- generators ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_shape_range_dtype(name):
    g = _gen(name)
    for params, b in ((g.spec.defaults(1), 1), (_prior(g, 3), 3)):
        x = g(params, 48)
        assert x.shape == (b, 1, 48, 48)
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    g = _gen(name)
    p = _prior(g, 2, seed=3)
    torch.manual_seed(0)
    a = g(p, 64)
    torch.manual_seed(1)  # the global RNG must not matter
    assert torch.equal(a, g(p, 64))


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_changes_the_output(name):
    g = _gen(name)
    base = g.spec.defaults(1)
    ref = g(base, 96)
    for prm in g.spec:
        d = prm.default_value
        other = prm.high if (prm.high - d) >= (d - prm.low) else prm.low
        if prm.name == "seed":
            other = d + 1
        changed = dict(base)
        changed[prm.name] = torch.tensor([float(other)])
        diff = (g(changed, 96) - ref).abs().mean()
        assert diff > 1e-3, f"{name}.{prm.name}: {d} -> {other} changed nothing ({float(diff):.2e})"


@pytest.mark.parametrize("name", NAMES)
def test_tileable(name):
    g = _gen(name)
    x = torch.cat([g(g.spec.defaults(1), 128), g(_prior(g, 4, seed=5), 128)])
    assert _seam_ratio(x) <= 1.0, _seam_ratio(x)


@pytest.mark.parametrize("name", NAMES)
def test_period_is_exactly_one(name):
    # shifting the sampled window by whole pixels must equal rolling the image (period 1)
    g = _gen(name)
    p = _prior(g, 3, seed=9)
    ref = g(p, 64)
    shifted = g(p, 64, origin=(0.5, 0.25))
    rolled = torch.roll(ref, shifts=(-16, -32), dims=(2, 3))
    err = (shifted - rolled).abs()
    assert float(err.mean()) < 1e-4 and float(err.max()) < 0.02, (float(err.mean()), float(err.max()))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("small_res", [64, 128])
def test_resolution_independent(name, small_res):
    # a render equals a 4x larger one box-filtered down (generators with tiny features
    # supersample below 256 px, so for them the 128 px case is the informative one)
    g = _gen(name)
    p = _prior(g, 3, seed=7)
    small = g(p, small_res)
    big = F.avg_pool2d(g(p, 4 * small_res), 4)
    err = (small - big).abs().flatten(1).mean(1)
    assert (err < 0.05).all(), err.tolist()


@pytest.mark.parametrize("name", NAMES)
def test_prior_samples_are_not_degenerate(name):
    g = _gen(name)
    x = g(_prior(g, 8, seed=11), 128)  # proxies train at 256 px; at 64 px fine stripes blur out
    std = x.flatten(1).std(1)
    assert (std > MIN_STD.get(name, 0.05)).all(), std.tolist()
    assert (x.flatten(1).amax(1) > MIN_PEAK.get(name, 0.3)).all()
    # samples differ from each other
    assert float((x[1:] - x[:1]).abs().mean()) > 0.02


@pytest.mark.parametrize("name", NAMES)
def test_unrounded_discrete_values_round(name):
    g = _gen(name)
    p = g.spec.round(_prior(g, 3, seed=13))
    shaken = dict(p)
    for prm in g.spec:
        if prm.discrete:
            jiggle = torch.tensor([0.3, -0.3, 0.45])
            shaken[prm.name] = (p[prm.name] + jiggle).clamp(prm.low, prm.high)
            # clamping may move a value to the other side of .5 only if it was at the border
            shaken[prm.name] = torch.where(shaken[prm.name].round() == p[prm.name], shaken[prm.name],
                                           p[prm.name])
    assert torch.equal(g(p, 64), g(shaken, 64))


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_single_calls(name):
    g = _gen(name)
    p = _prior(g, 3, seed=17)
    batched = g(p, 64)
    for i in range(3):
        assert torch.allclose(batched[i:i + 1], g(_select(p, i), 64), atol=1e-5), i


@pytest.mark.parametrize("name", NAMES)
def test_rejects_bad_arguments(name):
    g = _gen(name)
    with pytest.raises(ValueError, match="res"):
        g(g.spec.defaults(1), 0)
    p = g.spec.defaults(1)
    p.pop(g.spec.names[0])
    with pytest.raises(KeyError, match=g.spec.names[0]):
        g(p, 32)


# --- noise ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NOISES)
def test_noise_contract(name):
    fn = _noise(name)
    seeds = torch.tensor([0.0, 1.0, 2.0])
    x = fn(seeds, 64)
    assert x.shape == (3, 1, 64, 64) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert (x.flatten(1).std(1) > 0.05).all()
    assert torch.equal(x, fn(seeds, 64))  # deterministic
    assert float((x[0] - x[1]).abs().mean()) > 0.05  # seeds differ
    for i in range(3):  # batch == singles
        assert torch.allclose(x[i:i + 1], fn(seeds[i:i + 1], 64), atol=1e-5)
    assert 0.35 < float(x.mean()) < 0.65


@pytest.mark.parametrize("name", NOISES)
def test_noise_tileable_and_resolution_independent(name):
    fn = _noise(name)
    seeds = torch.tensor([4.0, 5.0])
    assert _seam_ratio(fn(seeds, 128)) <= 1.0
    err = (fn(seeds, 64) - F.avg_pool2d(fn(seeds, 256), 4)).abs().mean()
    assert err < 0.05, float(err)


@pytest.mark.parametrize("name", NOISES)
def test_noise_period_is_exactly_one(name):
    fn = _noise(name)
    seeds = torch.tensor([8.0, 9.0])
    rolled = torch.roll(fn(seeds, 64), shifts=(-16, -32), dims=(2, 3))
    assert torch.allclose(fn(seeds, 64, origin=(0.5, 0.25)), rolled, atol=1e-4)


@pytest.mark.parametrize("name", NOISES)
def test_noise_scale_changes_output(name):
    fn = _noise(name)
    seeds = torch.tensor([6.0])
    assert float((fn(seeds, 64, scale=4) - fn(seeds, 64, scale=8)).abs().mean()) > 0.02


def test_fbm_octaves_and_persistence_matter():
    from diffproxy.generators.noise import perlin_fbm, value_fbm
    s = torch.tensor([2.0, 3.0])
    for fn in (value_fbm, perlin_fbm):
        a = fn(s, 128, scale=4, octaves=1)
        b = fn(s, 128, scale=4, octaves=4)
        assert float((a - b).abs().mean()) > 0.005
        c = fn(s, 128, scale=4, octaves=4, persistence=torch.tensor([0.2, 0.8]))
        assert float((c - b).abs().mean()) > 0.005
        # more octaves add high frequencies: neighbouring pixels differ more
        assert float(b.diff(dim=3).abs().mean()) > float(a.diff(dim=3).abs().mean())


def test_noise_rejects_bad_arguments():
    from diffproxy.generators.noise import cells, value_fbm
    with pytest.raises(ValueError, match="seed"):
        value_fbm(torch.tensor(1.0), 32)
    with pytest.raises(ValueError, match="scale"):
        value_fbm(torch.tensor([1.0]), 32, scale=2.5)
    with pytest.raises(ValueError, match="octaves"):
        value_fbm(torch.tensor([1.0]), 32, octaves=0)
    with pytest.raises(ValueError, match="jitter"):
        cells(torch.tensor([1.0]), 32, jitter=2.0)


def test_hash_is_exact_and_uniform():
    from diffproxy.generators._common import hash_uniform
    i = torch.arange(4096)
    a = hash_uniform(1, torch.tensor(3.0), i)
    assert torch.equal(a, hash_uniform(1, torch.tensor(3), i))  # dtype of the seed irrelevant
    assert not torch.equal(a, hash_uniform(2, torch.tensor(3.0), i))  # salt matters
    assert abs(float(a.mean()) - 0.5) < 0.02 and abs(float(a.std()) - 0.2887) < 0.02
    # neighbouring cells are uncorrelated
    assert abs(float(torch.corrcoef(torch.stack([a[:-1], a[1:]]))[0, 1])) < 0.05


@pytest.mark.parametrize("module", ["_common", "noise"] + NAMES)
def test_doctests(module):
    mod = importlib.import_module(f"diffproxy.generators.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_runs_on_the_parameters_device(name):
    g = _gen(name)
    p = _prior(g, 2, seed=19)
    cpu = g(p, 64)
    gpu = g({k: v.cuda() for k, v in p.items()}, 64)
    assert gpu.device.type == "cuda"
    assert float((gpu.cpu() - cpu).abs().mean()) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_hash_is_identical_on_cuda():
    from diffproxy.generators._common import hash_uniform
    i = torch.arange(-50, 5000)
    assert torch.equal(hash_uniform(7, torch.tensor(5.0), i),
                       hash_uniform(7, torch.tensor(5.0).cuda(), i.cuda()).cpu())
