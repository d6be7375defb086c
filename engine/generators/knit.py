"""Knit: stockinette stitches, columns of interlocking V-shaped loops of round yarn.

Layout: ``stitches`` columns across, ``round(stitches * aspect)`` stitch rows down (knitting
gauges run 1.2-1.6 rows per stitch: a stitch is wider than tall). Each stitch (cell ``(j, i)``,
local coordinates ``(fx, fy)`` in [0, 1)) is a V of two legs meeting at the bottom centre:
the left leg centred at ``(0.25, 0.5)``, its long axis running down-right with a horizontal
run of ``0.5 * slant`` per stitch height, the right leg its mirror image. A leg is ``length`` stitch heights long, longer than a row, so the legs of
successive rows overlap where the loops interlock; its half-thickness is ``0.25 * width``
of the stitch width (``width`` 1: neighbouring legs touch). Each pixel takes the highest of
the twelve legs that can reach it (own stitch, the rows above and below, the neighbouring
columns' nearer legs); a leg's height is the round yarn's profile ``sqrt(1 - r^2)`` with
``r^2 = (a / A)^4 + (c / C)^2`` (``a`` along the leg, ``c`` across it: a capsule, full
thickness most of its length, rounded ends), times the stitch's luminance ``1 - luminance_random * r_ij``.

The lattice is shifted by a quarter stitch across and half a row down, so the texture's
edges run through stitches rather than along the lines where they meet (no seam of joints).

Output: 0 between the yarn, leg crests at their stitch's luminance, ``(B, 1, res, res)``.
Antialiasing: the profile meets 0 with a vertical tangent, so renders under 256 px are made
at a multiple of their size and box-filtered down (``supersample_small``).
"""

from __future__ import annotations

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import cell_table, col, lookup, prepare, render_rows, supersample_small, wrap_index

_SALT_LUM = 0x5C1

SPEC = ParamSpec([
    int_param("stitches", 12, 3, 48, prior=(12.0, 4.0), group="Layout", role="generator", period="xy",
              description="Stitch columns across the texture"),
    float_param("aspect", 1.4, 0.8, 2.2, prior=(1.4, 0.15), group="Layout", role="generator",
                description="Stitch rows per stitch across (rows = stitches x aspect, rounded)"),
    float_param("width", 0.95, 0.4, 1.3, prior=(0.95, 0.08), group="Shape", role="generator",
                description="Yarn thickness (1: neighbouring legs touch)"),
    float_param("slant", 0.6, 0.1, 1.0, prior=(0.6, 0.08), group="Shape", role="generator",
                description="How far a leg leans: its horizontal run per stitch height"),
    float_param("length", 1.3, 1.0, 1.8, prior=(1.3, 0.12), group="Shape", role="generator",
                description="Leg length in stitch heights (over 1: loops interlock)"),
    float_param("luminance_random", 0.15, 0.0, 1.0, prior=(0.15, 0.1), group="Variation", role="generator",
                description="Per-stitch random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-stitch variation"),
])


def stitch_rows(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """``(B,)`` stitch rows down the texture of (rounded) parameters: ``round(stitches * aspect)``."""
    return torch.round(p["stitches"] * p["aspect"]).clamp(min=1.0)


def knit(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Stockinette knit.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 between the yarn,
        leg crests at their stitch's luminance.

    Example:
        >>> knit(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    small = supersample_small(knit, p, res, origin)
    if small is not None:
        return small
    rows = stitch_rows(p)
    nx, ny = col(p["stitches"]), col(rows)
    mx, my = int(p["stitches"].max()), int(rows.max())
    lum = 1.0 - p["luminance_random"].view(b, 1) * cell_table(_SALT_LUM, p["seed"], my, mx)
    slant = col(p["slant"])
    # the leg's axis in stitch units (x in stitch widths, y in stitch heights), made isotropic
    # by measuring x in stitch heights too: aspect = stitch width / stitch height
    aspect = ny / nx
    ax, ay = 0.5 * slant * aspect, torch.ones_like(slant)
    norm = torch.sqrt(ax * ax + ay * ay)
    ax, ay = ax / norm, ay / norm
    semi_major = 0.5 * col(p["length"]) * norm  # along the axis, in stitch heights
    semi_minor = 0.25 * col(p["width"]) * aspect * ay  # across it: a quarter stitch width, horizontally
    # (legs whose horizontal cross-section is 0.25 * width stitch widths on each side)

    inv_major2, inv_minor2 = 1.0 / semi_major.square(), 1.0 / semi_minor.square()

    def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        # the texture's edges cross the stitches' middles, not the lines where they meet
        gx, gy = u * nx + 0.25, v * ny + 0.5
        i0, j0 = torch.floor(gx), torch.floor(gy)
        fx = (gx - i0 - 0.5) * aspect  # from the stitch's centre column, in stitch heights
        # the smallest elliptic radius over the legs (the highest yarn) and its stitch
        best = torch.full((b, 1, v.shape[2], u.shape[3]), 4.0, device=dev)
        own = torch.zeros(b, 1, v.shape[2], u.shape[3], device=dev, dtype=torch.int64)
        for dj in (-1.0, 0.0, 1.0):
            j = j0 + dj
            dy = gy - (j + 0.5)
            jw = wrap_index(j, ny)
            for di, sides in ((0.0, (-1.0, 1.0)), (-1.0, (1.0,)), (1.0, (-1.0,))):
                iw = wrap_index(i0 + di, nx)
                cell = (jw * mx + iw).to(torch.int64)
                for side in sides:  # -1: left leg (runs down-right), +1: right leg
                    dx = fx - (di + side * 0.25) * aspect  # from the leg's centre
                    along = -side * ax * dx + ay * dy
                    across = ay * dx + side * ax * dy
                    r2 = along.square().square() * inv_major2.square() + across.square() * inv_minor2
                    closer = r2 < best
                    best = torch.where(closer, r2, best)
                    own = torch.where(closer, cell, own)
        return torch.sqrt((1.0 - best).clamp(min=0.0)) * lookup(lum, own)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="knit",
    spec=SPEC,
    fn=knit,
    description="Stockinette knit: columns of V-shaped stitches of round yarn, interlocking "
                "between rows, per-stitch luminance",
    stochastic=False,
    version=1,
)
