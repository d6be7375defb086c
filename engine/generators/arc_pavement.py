"""Arc pavement ("Bogenpflaster"): cobblestones laid in courses that follow segmental arches.

Geometry (texture units, image y pointing down). The texture holds ``rows`` rows of ``arcs``
arches each; arch ``(i, j)`` has its crown at ``x = (i + 0.5 * (j mod 2)) W``, ``y = j H``
(``W = 1 / arcs``, ``H = 1 / rows``) and is an arc of the circle of radius
``R = (W^2 / 4 + H^2) / (2 H)`` centred ``R`` below the crown: the arc through the crowns of
the two arches of the next row, so each arch's feet rest on the crowns below it, as laid on a
street. Arches of later rows are laid first: a pixel belongs to the arch of the largest row
whose disc contains it, which leaves every arch a crescent ``W`` wide and ``2 H`` thick.

Inside an arch, stones lie in concentric courses ``2 H / courses`` wide counted from the outer
arc; each course is cut into stones of equal length (``stones`` per course along the outer
arc), with a random phase per course so joints do not line up. Joints (``gap``) run between
courses, between stones and along the arch outline; every stone rises over ``bevel`` with a
rounded profile to ``1 - luminance_random * r``.

``rows`` must be even (the half-arch offset alternates) and at least ``4 * arcs`` (flatter
arches keep each arch's centre under the arches below): it is rounded up to satisfy both.
Widths are fractions of the course width.
"""

from __future__ import annotations

import math

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import bevel_profile, col, hash_uniform, lookup, prepare, render_rows, supersample_small, uv

_SALT_LEVEL, _SALT_PHASE = 0xA21, 0xA22
_ROWS_LOW, _ROWS_HIGH = 4, 48
_ROWS_WEIGHTS = tuple(
    0.0 if r % 2 else math.exp(-0.5 * ((r - 12) / 4.0) ** 2) for r in range(_ROWS_LOW, _ROWS_HIGH + 1)
)

SPEC = ParamSpec([
    int_param("arcs", 2, 1, 6, prior=(2.0, 0.8), group="Layout", role="generator", period="x",
              description="Arches per row"),
    int_param("rows", 12, _ROWS_LOW, _ROWS_HIGH, weights=_ROWS_WEIGHTS, group="Layout", role="generator", period="y",
              description="Rows of arches (rounded up to even and to at least 4 x arcs)"),
    int_param("courses", 4, 2, 10, prior=(4.0, 1.2), group="Layout", role="generator",
              description="Stone courses across the thickest part of an arch"),
    int_param("stones", 12, 3, 40, prior=(12.0, 4.0), group="Layout", role="generator",
              description="Stones per course, measured along the outer arc"),
    float_param("gap", 0.12, 0.0, 0.5, prior=(0.12, 0.06), group="Shape", role="generator",
                description="Joint width, as a fraction of the course width"),
    float_param("bevel", 0.25, 0.0, 0.5, prior=(0.25, 0.1), group="Shape", role="generator",
                description="Rounded stone edge width, as a fraction of the course width"),
    float_param("luminance_random", 0.3, 0.0, 1.0, prior=(0.3, 0.2), group="Variation", role="generator",
                description="Per-stone random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for stone shades and joint placement"),
])


def arc_pavement(params: dict[str, torch.Tensor], res: int,
                 origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Segmental-arch cobblestone pavement.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: joints 0, stones up to
        their shade.

    Example:
        >>> arc_pavement(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    small = supersample_small(arc_pavement, p, res, origin)  # stones are a few pixels at 64 px
    if small is not None:
        return small
    arcs_t = p["arcs"]
    rows_t = torch.maximum(torch.ceil(p["rows"] / 2) * 2, 4.0 * arcs_t)
    n_a, n_r = col(arcs_t), col(rows_t)
    w, h = 1.0 / n_a, 1.0 / n_r
    half_w = 0.5 * w
    radius = (half_w * half_w + h * h) / (2.0 * h)
    r2 = radius * radius
    cw = 2.0 * h / col(p["courses"])  # course width
    phi = torch.asin((half_w / radius).clamp(max=1.0))  # half-angle of an arch's outer arc
    stone_len = 2.0 * phi * radius / col(p["stones"])
    half_gap = 0.5 * col(p["gap"]) * cw
    bevel = col(p["bevel"]) * cw
    px = 1.0 / res

    # Stone shade per (row, arc, course, stone) and course phase per (row, arc, course); the
    # stone index m (may be negative) is stored shifted by m0. Hash of the logical indices, so
    # the values do not depend on the table sizes (batch == single calls).
    ma, mr = int(arcs_t.max()), int(rows_t.max())
    n_k = int(p["courses"].max()) + 3
    m0 = int(p["stones"].max()) // 2 + 3
    n_m = 2 * m0
    dev_seed = p["seed"].view(b, 1, 1, 1, 1)
    jj = torch.arange(mr, device=dev).view(1, mr, 1, 1, 1)
    ii = torch.arange(ma, device=dev).view(1, 1, ma, 1, 1)
    kk = torch.arange(n_k, device=dev).view(1, 1, 1, n_k, 1)
    mm = torch.arange(n_m, device=dev).view(1, 1, 1, 1, n_m) - m0
    level_tab = (1.0 - col(p["luminance_random"]).view(b, 1, 1, 1, 1)
                 * hash_uniform(_SALT_LEVEL, dev_seed, jj, ii, kk, mm)).reshape(b, -1)
    phase_tab = hash_uniform(_SALT_PHASE, dev_seed, jj, ii, kk).reshape(b, -1)

    # Column tables (B, 1, 1, W) for both row parities: nearest arch centre (index wrapped,
    # offset dx, dx^2). Rows of parity 1 are shifted by half an arch.
    u, _ = uv(res, dev, origin)
    cols = []
    for par in (0.0, 1.0):
        xc = u / w - 0.5 * par
        i = torch.floor(xc + 0.5)
        dx = (xc - i) * w
        cols.append((i - n_a * torch.floor(i / n_a), dx, dx * dx))
    (ie, dxe, dxe2), (io, dxo, dxo2) = cols
    dx2_sum = dxe2 + dxo2
    inv_cw = 1.0 / cw
    mid_a = (radius - 0.5 * cw) / stone_len  # r_mid / stone_len = mid_a - k * mid_b
    mid_b = cw / stone_len

    # Per pixel only cheap float ops: selections are lerps with exact 0/1 float masks
    # (torch.where and bool tensors cost ~10-20 float ops each on CPU).
    def band(v: torch.Tensor, _u: torch.Tensor) -> torch.Tensor:
        # rows j0 (candidate A) and j0 - 1 (B) can hold the pixel; later rows are laid first
        j0 = torch.floor(v / h)  # (B,1,h,1)
        odd = torch.remainder(j0, 2.0)  # parity of A's row (B's is the other)
        dya = v - (j0 * h + radius)  # (B,1,h,1), < 0 above the centre
        dyb = dya + h
        dyn = dya - h  # row j0 + 1: the arches over A's feet
        ja = j0 - n_r * torch.floor(j0 / n_r)
        jb = torch.remainder(ja - 1.0, n_r)
        dxa2 = torch.lerp(dxe2, dxo2, odd)
        dxb2 = dx2_sum - dxa2
        d2a = dxa2 + dya * dya
        in_a = ((r2 - d2a) * 1e30).clamp_(0.0, 1.0)  # 1 inside A's disc, else 0
        ra = d2a.sqrt()
        r = torch.lerp((dxb2 + dyb * dyb).sqrt_(), ra, in_a)
        # outline of the next row's arches: the nearest centre of that row is the closest disc
        occ = torch.lerp(ra, (dxb2 + dyn * dyn).sqrt_(), in_a).sub_(radius)
        # courses: concentric rings counted from the outer arc
        rho = (radius - r) * inv_cw
        k = torch.floor(rho)
        fk = rho - k
        d = torch.minimum(torch.minimum(fk, 1.0 - fk), rho).mul_(cw)
        d = torch.minimum(d, occ)
        # winner: row parity and indices
        w_odd = torch.addcmul(odd, 1.0 - in_a, 1.0 - 2.0 * odd)
        aw = torch.lerp(ie, io, w_odd)
        dx = torch.lerp(dxe, dxo, w_odd)
        jw = torch.lerp(jb, ja, in_a)
        kc = k.clamp_(0.0, n_k - 1.0)
        arch_k = (jw * ma + aw).mul_(n_k).add_(kc)
        phase = lookup(phase_tab, arch_k.to(torch.int64))
        # stones: radial joints, equal lengths along each course's mid-line (sin theta ~ theta)
        mid = mid_a - kc * mid_b  # r_mid / stone_len
        s = (dx / r).mul_(mid).add_(phase)
        m = torch.floor(s)
        fs = s - m
        d = torch.minimum(d, torch.minimum(fs, 1.0 - fs).mul_(r).div_(mid))
        mi = m.clamp_(-m0, m0 - 1).add_(m0)
        level = lookup(level_tab, (arch_k * n_m).add_(mi).to(torch.int64))
        return level * bevel_profile(d - half_gap, bevel, px)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="arc_pavement",
    spec=SPEC,
    fn=arc_pavement,
    description="Arc pavement (Bogenpflaster): cobblestone courses laid in rows of segmental "
                "arches, staggered joints, per-stone shade",
    stochastic=False,
    version=1,
)
