"""Paraboloid tiles: a grid of rounded bumps (pebble-like tiles) with random size, place, height.

Each of the ``tiles_x x tiles_y`` cells holds one tile. Its half-size is ``(1 - gap) / 2`` of
the cell shrunk by ``size_jitter * r``; it moves inside the free part of its cell by up to
``position_jitter`` of the free space, so a tile never leaves its cell (a pixel only looks at
its own cell). In tile coordinates ``(lx, ly)`` in [-1, 1]:

    dome   = F(1 - lx^2 - ly^2)                 elliptic paraboloid
    pillow = F(1 - lx^2) * F(1 - ly^2)          rounded-square pillow (product of parabolas)
    height = level * lerp(pillow, dome, roundness),   level = 1 - height_random * r

where ``F(P) = P (1 + c) / (P + c)`` for ``P > 0`` (else 0) bends the paraboloid: ``c`` from
``curvature`` (0 -> c = 10, F(P) ~ P, a paraboloid; 1 -> c = 0.01, flat top with steep sides).
Both bumps reach 0 continuously at their outline, so no extra antialiasing is needed.

Speed: every factor that depends on x only (plus the cell) is tabulated per cell row
``(B, rows, W)``, every y-only factor per cell column ``(B, H, columns)`` (the cell of a
pixel is fixed by its row and column), so each pixel does a few lookups and a division.
"""

from __future__ import annotations

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import cell_table, col, prepare, render_rows, uv

_SALT_SIZE, _SALT_X, _SALT_Y, _SALT_LEVEL = 0x7A1, 0x7A2, 0x7A3, 0x7A4

SPEC = ParamSpec([
    int_param("tiles_x", 6, 1, 24, prior=(6.0, 2.5), group="Layout", role="generator", period="x",
              description="Tiles across the texture"),
    int_param("tiles_y", 6, 1, 24, prior=(6.0, 2.5), group="Layout", role="generator", period="y",
              description="Tiles down the texture"),
    float_param("gap", 0.1, 0.0, 0.6, prior=(0.1, 0.07), group="Shape", role="generator",
                description="Space between tiles, as a fraction of the cell"),
    float_param("roundness", 0.5, 0.0, 1.0, prior=(0.5, 0.3), group="Shape", role="generator",
                description="Outline from rounded square (0) to ellipse (1)"),
    float_param("curvature", 0.2, 0.0, 1.0, prior=(0.2, 0.2), group="Shape", role="generator",
                description="Profile from paraboloid dome (0) to flat top with steep sides (1)"),
    float_param("height_random", 0.4, 0.0, 1.0, prior=(0.4, 0.25), group="Variation", role="generator",
                description="Per-tile random drop of height"),
    float_param("position_jitter", 0.3, 0.0, 1.0, prior=(0.3, 0.25), group="Variation", role="generator",
                description="Random move of each tile inside its cell's free space"),
    float_param("size_jitter", 0.3, 0.0, 1.0, prior=(0.3, 0.2), group="Variation", role="generator",
                description="Per-tile random shrink"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-tile variation"),
])


def tile_paraboloid(params: dict[str, torch.Tensor], res: int,
                    origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Grid of paraboloid bumps.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 between tiles, tile
        tops up to 1.

    Example:
        >>> tile_paraboloid(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    nx, ny = col(p["tiles_x"]), col(p["tiles_y"])
    mx, my = int(p["tiles_x"].max()), int(p["tiles_y"].max())
    seed = p["seed"]

    def tab(salt):  # per-cell uniforms (B, 1, my, mx)
        return cell_table(salt, seed, my, mx).view(b, 1, my, mx)

    scale = (1.0 - col(p["gap"])) * (1.0 - col(p["size_jitter"]) * tab(_SALT_SIZE))  # tile / cell
    free = 0.5 * (1.0 - scale)  # free space on each side, in cells
    off_x = col(p["position_jitter"]) * free * (2.0 * tab(_SALT_X) - 1.0)
    off_y = col(p["position_jitter"]) * free * (2.0 * tab(_SALT_Y) - 1.0)
    half = (0.5 * scale).clamp(min=1e-4)  # in cells
    c = 10.0 ** (1.0 - 3.0 * col(p["curvature"]))  # profile bend, see F above
    # F rises over P ~ c, i.e. c / 2 of the tile's half-size: keep that at least a pixel wide
    half_tile = (0.5 * (1.0 - col(p["gap"])) / torch.maximum(nx, ny)).clamp(min=1e-4)
    c = torch.maximum(c, 2.0 / (res * half_tile))
    roundness = col(p["roundness"])

    def bend(pp):  # F(P), P in (-inf, 1] -> [0, 1]
        pp = pp.clamp(min=0.0)
        return pp * (1.0 + c) / (pp + c)

    u, v = uv(res, dev, origin)
    # x factors for every cell row (B, 1, my, W): x -> cell column i, local coordinate there
    gx = u * nx
    ix = torch.floor(gx)
    ixw = (ix - nx * torch.floor(ix / nx)).to(torch.int64).expand(b, 1, my, res)
    lx = (gx - ix - 0.5 - torch.gather(off_x, 3, ixw)) / torch.gather(half, 3, ixw)
    lx2 = (lx * lx).clamp(max=4.0)
    level = torch.gather((1.0 - col(p["height_random"]) * tab(_SALT_LEVEL)), 3, ixw)  # per (row, x)
    pillow_x = (1.0 - roundness) * level * bend(1.0 - lx2)
    dome_x = roundness * level
    # y factors for every cell column (B, 1, H, mx)
    gy = v * ny
    iy = torch.floor(gy)
    iyw = (iy - ny * torch.floor(iy / ny)).to(torch.int64).expand(b, 1, res, mx)
    ly = (gy - iy - 0.5 - torch.gather(off_y, 2, iyw)) / torch.gather(half, 2, iyw)
    ly2 = (ly * ly).clamp(max=4.0)
    pillow_y = bend(1.0 - ly2)
    iy_all = iyw[..., :1]  # (B, 1, H, 1) wrapped cell row of every pixel row
    ix_row = ixw[:, :, :1]  # (B, 1, 1, W) wrapped cell column of every pixel column

    def band(vb: torch.Tensor, _u: torch.Tensor) -> torch.Tensor:
        h = vb.shape[2]
        first = round((float(vb[0, 0, 0, 0]) - float(origin[1])) * res - 0.5)  # band's first row
        rows = slice(first, first + h)
        j = iy_all[:, :, rows].expand(b, 1, h, res)
        i = ix_row.expand(b, 1, h, res)
        dome = bend(1.0 - torch.gather(lx2, 2, j) - torch.gather(ly2[:, :, rows], 3, i))
        pillow = torch.gather(pillow_x, 2, j) * torch.gather(pillow_y[:, :, rows], 3, i)
        return torch.addcmul(pillow, dome, torch.gather(dome_x, 2, j))

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="tile_paraboloid",
    spec=SPEC,
    fn=tile_paraboloid,
    description="Grid of rounded paraboloid bumps (pebble tiles) with random height, size and "
                "position",
    stochastic=True,
    version=1,
)
