"""Scratches: many thin line segments at random positions, wrapping around the texture.

Each scratch ``i < count`` gets from the hash of ``(seed, i)``: a centre anywhere on the unit
square, an angle ``angle +- angle_random * 90`` degrees, a length ``length * (1 -
length_random * r)`` and a brightness ``1 - brightness_random * r``. Its mask is the
antialiased coverage of a round-capped line of ``width`` (a line thinner than a pixel keeps its
area: peak ``width / pixel``), faded towards both ends. Overlaps combine as ``1 - prod(1 - s)``
(screen), the union of partial coverages, so crossings look the same at every resolution.

Speed: scratches are rasterised, not tested per pixel: each segment walks the pixel columns
(or rows) along its major axis and the few pixels across its width, and the values are
scattered with a ``prod`` reduction into the image (wrapped indices; order-independent, so
deterministic), so the cost is proportional to the scratched area, not to ``count x pixels``.
"""

from __future__ import annotations


import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import hash_uniform, prepare

_SALT_X, _SALT_Y, _SALT_ANGLE, _SALT_LEN, _SALT_LEVEL = 0x5C1, 0x5C2, 0x5C3, 0x5C4, 0x5C5
_CHUNK = 1 << 21  # samples per rasterisation chunk (bounds memory at 4096 px)
_FADE = 0.25  # share of the half-length over which a scratch fades out towards its ends

SPEC = ParamSpec([
    int_param("count", 120, 1, 500, prior=(120.0, 70.0), group="Layout", role="generator",
              description="Number of scratches"),
    float_param("length", 0.2, 0.01, 0.8, prior=(0.2, 0.1), group="Shape", role="generator",
                description="Scratch length, as a fraction of the texture width"),
    float_param("length_random", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Variation", role="generator",
                description="Per-scratch random shortening"),
    float_param("width", 0.003, 0.0005, 0.015, prior=(0.003, 0.0015), group="Shape", role="generator",
                description="Scratch width, as a fraction of the texture width"),
    float_param("angle", 0.0, -90.0, 90.0, group="Shape", role="generator", unit="ANGLE",
                description="Main direction in degrees (0 = horizontal, +-90 = vertical)"),
    float_param("angle_random", 0.3, 0.0, 1.0, prior=(0.3, 0.3), group="Variation", role="generator",
                description="Spread of directions around the main one (1 = any direction)"),
    float_param("brightness_random", 0.5, 0.0, 1.0, prior=(0.5, 0.25), group="Variation", role="generator",
                description="Per-scratch random dimming"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for positions, directions and lengths"),
])


def scratches(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Tileable scratch mask.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 background, up to 1
        on scratches.

    Example:
        >>> scratches(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    n = int(p["count"].max())
    seed = p["seed"].view(b, 1)
    i = torch.arange(n, device=dev).view(1, n)
    pv = {k: v.view(b, 1) for k, v in p.items()}
    # segment attributes (B, N); centres moved by -origin instead of moving the pixels
    cx = hash_uniform(_SALT_X, seed, i) - float(origin[0])
    cy = hash_uniform(_SALT_Y, seed, i) - float(origin[1])
    theta = torch.deg2rad(pv["angle"] + pv["angle_random"] * 90.0 * (2.0 * hash_uniform(_SALT_ANGLE, seed, i) - 1.0))
    half_len = 0.5 * pv["length"] * (1.0 - pv["length_random"] * hash_uniform(_SALT_LEN, seed, i))
    level = 1.0 - pv["brightness_random"] * hash_uniform(_SALT_LEVEL, seed, i)
    level = torch.where(i < pv["count"], level, torch.zeros_like(level))
    dx, dy = torch.cos(theta), -torch.sin(theta)  # image y points down; angles turn counter-clockwise

    px = 1.0 / res
    width = pv["width"].expand(b, n)
    w_eff = width.clamp(min=px)
    peak = width / w_eff  # a sub-pixel line keeps its area
    reach = 0.5 * w_eff + px  # distance from the centre line beyond which coverage is 0

    # rasterise along the major axis: a = major coordinate, m = minor coordinate
    x_major = dx.abs() >= dy.abs()
    ca, cm = torch.where(x_major, cx, cy), torch.where(x_major, cy, cx)
    da, dm = torch.where(x_major, dx, dy), torch.where(x_major, dy, dx)
    sign = torch.where(da < 0, -1.0, 1.0)
    da, dm = da * sign, dm * sign  # da >= cos(45 deg)
    half_a = half_len * da + reach
    n_major = int(torch.ceil(2.0 * half_a.max() * res)) + 2
    half_m = reach / da
    n_minor = int(torch.ceil(2.0 * half_m.max() * res)) + 2

    keep = torch.ones(b, res * res, device=dev, dtype=torch.float32)  # product of (1 - scratch)
    per_seg = n_major * n_minor
    chunk = max(1, _CHUNK // max(1, b * per_seg))
    ka = torch.arange(n_major, device=dev, dtype=torch.float32).view(1, 1, n_major, 1)
    km = torch.arange(n_minor, device=dev, dtype=torch.float32).view(1, 1, 1, n_minor)
    for s0 in range(0, n, chunk):
        sl = slice(s0, min(n, s0 + chunk))
        e = lambda t: t[:, sl, None, None]  # noqa: E731  (B, n, 1, 1) view of a chunk
        a_pix = torch.floor((e(ca) - e(half_a)) * res) + ka  # (B, n, Na, 1) pixel columns
        a_c = (a_pix + 0.5) * px
        line_m = e(cm) + (a_c - e(ca)) * (e(dm) / e(da))  # centre line at that column
        m_pix = torch.floor((line_m - e(half_m)) * res) + km  # (B, n, Na, Nm)
        m_c = (m_pix + 0.5) * px
        ra, rm = a_c - e(ca), m_c - e(cm)
        along = ra * e(da) + rm * e(dm)
        s = along.clamp(-e(half_len), e(half_len))
        dist = torch.sqrt((ra - s * e(da)).square() + (rm - s * e(dm)).square())
        cover = ((0.5 * e(w_eff) - dist) / px + 0.5).clamp(0.0, 1.0)
        fade = ((1.0 - along.abs() / e(half_len).clamp(min=1e-6)) / _FADE).clamp(0.0, 1.0)
        val = e(level) * e(peak) * cover * fade * fade * (3.0 - 2.0 * fade)
        xm = e(x_major)
        col_pix = torch.where(xm, a_pix, m_pix).to(torch.int64) % res
        row_pix = torch.where(xm, m_pix, a_pix).to(torch.int64) % res
        keep.scatter_reduce_(1, (row_pix * res + col_pix).view(b, -1), (1.0 - val).view(b, -1), reduce="prod")
    return (1.0 - keep).view(b, 1, res, res)


GENERATOR = Generator(
    name="scratches",
    spec=SPEC,
    fn=scratches,
    description="Thin random scratches: count, length, width, direction and spread, brightness "
                "variation; wraps around",
    stochastic=True,
    version=1,
)
