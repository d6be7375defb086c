"""Diamond plate: raised lens-shaped treads turned +45 and -45 degrees, each pointing at the
middle of its neighbours (aluminium or steel tread plate).

Layout: ``tiles`` cells across and ``round(tiles * aspect)`` down (square treads unless
``aspect`` says otherwise: a plate is not stretched one way). A tread along the cell's
diagonal ``(1, 1)`` sits at each cell's centre, a tread along ``(1, -1)`` at each cell corner: two interleaved lattices (any
counts tile), so the tips of every tread point at the sides of the four crossing treads
around it. In a tread's frame (``a`` along, ``c`` across, in half-diagonals of the cell, so
treads follow the cells' proportions):

    P      = 1 - |a / length| ** 1.5 - (c / width) ** 2      lens: pointed ends, round middle
    height = level * F(P),   level = 1 - height_random * r

with ``F(P) = P (1 + s) / (P + s)`` for ``P > 0`` (else 0), the profile: ``s`` from
``curvature`` (0: a rounded ridge, 1: a flat top with steep sides), kept at least about a
pixel wide so edges stay antialiased (renders under 384 px are made larger and box-filtered
down, so small renders keep the profile). A pixel looks at its own cell's tread and at the one on
its nearest corner (a tread reaches at most half a cell from its centre along each axis for
``length <= 0.95``), and takes the higher.

Output: 0 on the flat plate, tread crests at their level, ``(B, 1, res, res)`` in [0, 1].
"""

from __future__ import annotations

import math

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import cell_table, col, lookup, prepare, render_rows, supersample_small, wrap_index

_SALT_LEVEL = 0x3D1

SPEC = ParamSpec([
    int_param("tiles", 8, 1, 32, prior=(8.0, 3.0), group="Layout", role="generator", period="xy",
              description="Treads of each direction across the texture"),
    float_param("aspect", 1.0, 0.5, 2.0, prior=(1.0, 0.04), group="Layout", role="generator",
                description="Rows of treads per tread across (rows = tiles x aspect, rounded)"),
    float_param("length", 0.7, 0.3, 0.95, prior=(0.7, 0.06), group="Shape", role="generator",
                description="Tread length, as a fraction of the cell's diagonal"),
    float_param("width", 0.18, 0.05, 0.5, prior=(0.18, 0.05), group="Shape", role="generator",
                description="Tread width, as a fraction of the cell's half-diagonal"),
    float_param("curvature", 0.5, 0.0, 1.0, prior=(0.5, 0.2), group="Shape", role="generator",
                description="Profile from a rounded ridge (0) to a flat top with steep sides (1)"),
    float_param("height_random", 0.1, 0.0, 1.0, prior=(0.1, 0.08), group="Variation", role="generator",
                description="Per-tread random drop of height (wear)"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-tread variation"),
])


def tread_rows(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """``(B,)`` rows of treads down the texture of (rounded) parameters: ``round(tiles * aspect)``,
    at least 1."""
    return torch.round(p["tiles"] * p["aspect"]).clamp(min=1.0)


def diamond_plate(params: dict[str, torch.Tensor], res: int,
                  origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Diamond (tread) plate.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 on the plate,
        tread crests at their level.

    Example:
        >>> diamond_plate(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    small = supersample_small(diamond_plate, p, res, origin, min_res=384)
    if small is not None:
        return small
    rows = tread_rows(p)
    nx, ny = col(p["tiles"]), col(rows)
    mx, my = int(p["tiles"].max()), int(rows.max())
    drop = p["height_random"].view(b, 1)
    level_centre = 1.0 - drop * cell_table(_SALT_LEVEL, p["seed"], my, mx)
    level_corner = 1.0 - drop * cell_table(_SALT_LEVEL + 1, p["seed"], my, mx)
    length, width = col(p["length"]), col(p["width"])
    # one pixel in half-diagonals of the cell (its longer side's pixels: the finer axis)
    pixel = math.sqrt(2.0) * torch.maximum(nx, ny) / res
    s = torch.maximum(10.0 ** (1.0 - 3.0 * col(p["curvature"])), pixel / width)

    def tread(x: torch.Tensor, y: torch.Tensor, sign: float) -> torch.Tensor:
        a, c = x + sign * y, x - sign * y  # in half-diagonals: the corners at a = +-1
        pp = (1.0 - (a.abs() / length).pow(1.5) - (c / width).square()).clamp(min=0.0)
        return pp * (1.0 + s) / (pp + s)

    def wrapped(j: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return (wrap_index(j, ny) * mx + wrap_index(i, nx)).to(torch.int64)

    def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        gx, gy = u * nx, v * ny
        i, j = torch.floor(gx), torch.floor(gy)
        ci, cj = torch.floor(gx + 0.5), torch.floor(gy + 0.5)  # nearest corner
        centre = tread(gx - i - 0.5, gy - j - 0.5, 1.0) * lookup(level_centre, wrapped(j, i))
        corner = tread(gx - ci, gy - cj, -1.0) * lookup(level_corner, wrapped(cj, ci))
        return torch.maximum(centre, corner)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="diamond_plate",
    spec=SPEC,
    fn=diamond_plate,
    description="Diamond (tread) plate: lens-shaped raised treads in a grid, alternately turned "
                "+-45 degrees",
    stochastic=False,
    version=1,
)
