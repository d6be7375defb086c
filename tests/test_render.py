"""Flash renderer: physics sanity, conventions, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from diffproxy.render import (MIN_ROUGHNESS, FlashRenderer, decode_normal, ggx_brdf, linear_to_srgb,
                              render, srgb_to_linear)


def flat_maps(b=1, res=9, base=0.5, rough=0.5, metal=0.0, normal=(0.5, 0.5, 1.0), dtype=torch.float32):
    return {
        "basecolor": torch.full((b, 3, res, res), base, dtype=dtype),
        "normal": torch.tensor(normal, dtype=dtype).view(1, 3, 1, 1).expand(b, 3, res, res).clone(),
        "roughness": torch.full((b, 1, res, res), rough, dtype=dtype),
        "metallic": torch.full((b, 1, res, res), metal, dtype=dtype),
    }


def test_srgb_round_trip_and_endpoints():
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-9)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-4)


def test_brighter_with_more_light():
    m = flat_maps()
    dim, bright = render(m, light_intensity=0.05), render(m, light_intensity=0.1)
    assert bright.mean() > dim.mean()
    assert (bright >= dim).all()


def test_batched_settings_match_individual_renders():
    m = flat_maps(b=2, rough=0.3)
    both = render(m, fov_deg=torch.tensor([40.0, 60.0]), light_intensity=torch.tensor([0.1, 0.2]))
    one = render({k: v[:1] for k, v in m.items()}, fov_deg=40.0, light_intensity=0.1)
    two = render({k: v[1:] for k, v in m.items()}, fov_deg=60.0, light_intensity=0.2)
    assert torch.allclose(both, torch.cat([one, two]), atol=1e-6)


def test_specular_peak_at_centre_for_smooth_metal():
    m = flat_maps(res=33, base=0.8, rough=0.1, metal=1.0)
    img = render(m, light_intensity=1e-4)  # dim enough that the highlight does not clip
    assert img.max() < 1.0
    lum = img[0].mean(0)
    assert divmod(int(lum.argmax()), 33) == (16, 16)
    # a metal has no diffuse: the corners are (almost) black
    assert lum[0, 0] < 0.05 * lum[16, 16]


def test_rough_dielectric_centre_matches_lambert():
    base, inten, dist = 0.6, 0.05, 0.3
    m = flat_maps(res=33, base=base, rough=1.0, metal=0.0)
    img = render(m, light_intensity=inten, distance=dist)
    centre_linear = srgb_to_linear(img[0, :, 16, 16])
    base_lin = float(srgb_to_linear(torch.tensor(base)))
    lambert = base_lin / math.pi * inten / dist ** 2
    assert torch.allclose(centre_linear, torch.full((3,), lambert), rtol=0.05)
    # exactly: GGX at roughness 1 adds F0 * D * V = 0.04 * (1 / pi) * (1 / 4) on top of Lambert
    exact = (base_lin + 0.01) / math.pi * inten / dist ** 2
    assert torch.allclose(centre_linear, torch.full((3,), exact), rtol=2e-3)


@pytest.mark.parametrize("rough", [0.0, 1.0])
def test_no_nan_and_finite_gradients_at_roughness_extremes(rough):
    g = torch.Generator().manual_seed(0)
    m = {"basecolor": torch.rand(2, 3, 12, 12, generator=g),
         "normal": torch.rand(2, 3, 12, 12, generator=g),
         "roughness": torch.full((2, 1, 12, 12), rough),
         "metallic": torch.rand(2, 1, 12, 12, generator=g)}
    m["normal"][:, :, 0, 0] = 0.5  # a zero-length normal must not produce NaN either
    for v in m.values():
        v.requires_grad_(True)
    inten = torch.tensor([0.01, 0.3], requires_grad=True)
    img = render(m, light_intensity=inten)
    assert torch.isfinite(img).all() and (img >= 0).all() and (img <= 1).all()
    img.sum().backward()
    for k, v in m.items():
        assert torch.isfinite(v.grad).all(), k
    assert torch.isfinite(inten.grad).all()


def test_brdf_never_negative_even_for_backfacing_normals():
    g = torch.Generator().manual_seed(1)
    n = decode_normal(torch.rand(4, 3, 16, 16, generator=g))
    l = decode_normal(torch.rand(4, 3, 16, 16, generator=g))
    v = decode_normal(torch.rand(4, 3, 16, 16, generator=g))
    rough = torch.rand(4, 1, 16, 16, generator=g).clamp(min=MIN_ROUGHNESS)
    f, ndl = ggx_brdf(n, l, v, torch.rand(4, 3, 16, 16, generator=g), rough,
                      torch.rand(4, 1, 16, 16, generator=g))
    assert (f >= 0).all() and (ndl >= 0).all() and torch.isfinite(f).all()


def test_tilted_normal_changes_image_with_opengl_convention():
    flat = render(flat_maps(res=16), light_intensity=0.1)
    # OpenGL: green > 0.5 tilts the normal towards +y, the top of the image; the light sits at the
    # centre, so texels in the bottom half (which see the light towards +y) get brighter
    up = render(flat_maps(res=16, normal=(0.5, 0.8, 0.9)), light_intensity=0.1)
    assert (up - flat).abs().max() > 0.05
    top, bottom = up[0, :, :8].mean(), up[0, :, 8:].mean()
    assert bottom > top
    # flat normal: symmetric about the centre
    assert torch.allclose(flat, flat.flip(-1), atol=1e-5) and torch.allclose(flat, flat.flip(-2), atol=1e-5)


def test_gradcheck_maps_and_light():
    g = torch.Generator().manual_seed(2)
    d = torch.float64
    base = (0.2 + 0.6 * torch.rand(1, 3, 6, 6, generator=g, dtype=d)).requires_grad_()
    nrm = torch.cat([0.5 + 0.2 * (torch.rand(1, 2, 6, 6, generator=g, dtype=d) - 0.5),
                     torch.full((1, 1, 6, 6), 0.95, dtype=d)], 1).requires_grad_()
    rough = (0.3 + 0.6 * torch.rand(1, 1, 6, 6, generator=g, dtype=d)).requires_grad_()
    metal = torch.rand(1, 1, 6, 6, generator=g, dtype=d).requires_grad_()
    inten = torch.tensor([0.02], dtype=d, requires_grad=True)
    fov = torch.tensor([50.0], dtype=d, requires_grad=True)
    dist = torch.tensor([0.3], dtype=d, requires_grad=True)

    def f(b, n, r, m, i, fv, ds):
        return render({"basecolor": b, "normal": n, "roughness": r, "metallic": m},
                      light_intensity=i, fov_deg=fv, distance=ds)

    out = f(base, nrm, rough, metal, inten, fov, dist)
    assert 0.01 < out.min() and out.max() < 0.99  # away from the clamp kinks
    assert torch.autograd.gradcheck(f, (base, nrm, rough, metal, inten, fov, dist), eps=1e-6, atol=1e-5)


def test_size_and_module_and_argument_checks():
    m = flat_maps(res=16)
    assert render(m, size=8).shape == (1, 3, 8, 8)
    assert render(m, size=32).shape == (1, 3, 32, 32)
    r = FlashRenderer(fov_deg=45.0, light_intensity=0.1)
    assert torch.equal(r(m), render(m, fov_deg=45.0, light_intensity=0.1))
    with pytest.raises(ValueError, match="missing 'metallic'"):
        render({k: v for k, v in m.items() if k != "metallic"})
    with pytest.raises(ValueError, match="roughness"):
        render({**m, "roughness": torch.zeros(1, 3, 16, 16)})
    with pytest.raises(ValueError, match="light_intensity"):
        render(m, light_intensity=torch.ones(3))


def test_colocated_fast_path_matches_general_brdf():
    g = torch.Generator().manual_seed(3)
    n = decode_normal(torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64))
    l = decode_normal(torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64) * 0.4 + 0.6)
    base, rough, metal = (torch.rand(2, c, 8, 8, generator=g, dtype=torch.float64) for c in (3, 1, 1))
    rough = rough.clamp(min=MIN_ROUGHNESS)
    fast, ndl_fast = ggx_brdf(n, l, l, base, rough, metal)
    general, ndl = ggx_brdf(n, l, l.clone(), base, rough, metal)  # a copy takes the general path
    assert torch.allclose(fast, general, rtol=1e-9, atol=1e-12) and torch.equal(ndl_fast, ndl)
