"""Hexagonal tiles: a honeycomb of chamfered tiles with per-tile luminance.

Layout: ``tiles_x`` tiles across, ``tiles_y`` rows (even, so the half-tile shift of every
other row wraps around); tile centres at ``((i + 0.5 * (j mod 2) + 0.25) / tiles_x,
j / tiles_y)``: the texture's edges run through tiles, a quarter tile from their centres, not
along their joints (a seam there would show as a line of joints). Each pixel belongs to its nearest centre (the Voronoi cell of this
lattice is a hexagon, a regular one when ``tiles_y = 2 / sqrt(3) * tiles_x``, stretched
otherwise). The distance to the tile's outline is the distance to the nearest bisector
between its centre and a neighbour's, which is exact for a Voronoi cell; the tile shrinks by
half the ``gap`` and rises over ``bevel`` (both fractions of the row pitch) to a flat top at
``1 - luminance_random * r`` (``r`` uniform per tile). The ramp is at least a pixel wide,
so edges stay antialiased at any resolution.

Output: 0 in the gaps, tile tops at their luminance, ``(B, 1, res, res)`` in [0, 1].
"""

from __future__ import annotations

import math

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import cell_table, col, lookup, prepare, render_rows

_SALT_LUM = 0x6E1
_ROWS_LOW, _ROWS_HIGH = 2, 32
# even rows only (the shifted rows must alternate an even number of times to wrap); around 8
_ROWS_WEIGHTS = tuple(
    0.0 if r % 2 else math.exp(-0.5 * ((r - 8) / 3.0) ** 2) for r in range(_ROWS_LOW, _ROWS_HIGH + 1)
)

SPEC = ParamSpec([
    int_param("tiles_x", 7, 1, 24, prior=(7.0, 2.5), group="Layout", role="generator", period="x",
              description="Tiles across the texture"),
    int_param("tiles_y", 8, _ROWS_LOW, _ROWS_HIGH, weights=_ROWS_WEIGHTS, group="Layout", role="generator", period="y",
              description="Rows of tiles (even: every other row is shifted by half a tile); "
                          "regular hexagons at about 1.15 x tiles_x"),
    float_param("gap", 0.08, 0.0, 0.4, prior=(0.08, 0.04), group="Shape", role="generator",
                description="Gap between tiles, as a fraction of the row pitch"),
    float_param("bevel", 0.1, 0.0, 0.5, prior=(0.1, 0.08), group="Shape", role="generator",
                description="Chamfer width, as a fraction of the row pitch"),
    float_param("luminance_random", 0.3, 0.0, 1.0, prior=(0.3, 0.2), group="Variation", role="generator",
                description="Per-tile random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-tile variation"),
])


def hex_tiles(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Hexagonal chamfered tiles.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 in the gaps, tile
        tops at their luminance.

    Example:
        >>> hex_tiles(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    rows_t = torch.ceil(p["tiles_y"] / 2) * 2  # odd counts round up (the shift must wrap)
    n_x, n_y = col(p["tiles_x"]), col(rows_t)
    mx, my = int(p["tiles_x"].max()), int(rows_t.max())
    pitch = 1.0 / n_y
    half_gap = 0.5 * col(p["gap"]) * pitch
    bevel = col(p["bevel"]) * pitch
    width = bevel.clamp(min=1.0 / res)  # ramp at least a pixel wide
    lum = 1.0 - p["luminance_random"].view(b, 1) * cell_table(_SALT_LUM, p["seed"], my, mx)

    def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        # candidate centres: rows j0-1..j0+1, in each the nearest column and its two neighbours
        j0 = torch.floor(v * n_y + 0.5)  # (B, 1, h, 1): the nearest row
        cx, cy, cell = [], [], []
        for dj in (-1.0, 0.0, 1.0):
            j = j0 + dj
            odd = torch.remainder(j, 2.0)
            i0 = torch.floor(u * n_x - 0.5 * odd - 0.25 + 0.5)  # nearest column of row j
            for di in (-1.0, 0.0, 1.0):
                i = i0 + di
                cx.append((i + 0.5 * odd + 0.25) / n_x)
                cy.append((j / n_y).expand_as(cx[-1]))
                jw = j - n_y * torch.floor(j / n_y)
                iw = i - n_x * torch.floor(i / n_x)
                cell.append((jw * mx + iw).to(torch.int64))
        cx, cy = torch.cat(cx, 1), torch.cat(cy, 1)  # (B, 9, h, W)
        d2 = (u - cx).square() + (v - cy).square()
        k = torch.argmin(d2, dim=1, keepdim=True)
        x1, y1 = torch.gather(cx, 1, k), torch.gather(cy, 1, k)
        d1 = torch.gather(d2, 1, k)
        sep = ((cx - x1).square() + (cy - y1).square()).sqrt()
        # distance to the bisector with each other centre; the own centre (sep 0) excluded
        edge = torch.where(sep > 1e-9, (d2 - d1) / (2.0 * sep.clamp_min(1e-9)), torch.full_like(d2, 1e9))
        dist = edge.min(dim=1, keepdim=True).values - half_gap
        t = (dist / width + 0.5 * (width - bevel) / width).clamp(0.0, 1.0)
        own = torch.gather(torch.cat(cell, 1).expand(b, -1, -1, -1), 1, k)
        return t * lookup(lum, own)

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="hex_tiles",
    spec=SPEC,
    fn=hex_tiles,
    description="Hexagonal (honeycomb) tiles: flat tops with straight chamfers, per-tile luminance",
    stochastic=False,
    version=1,
)
