"""Brick-shaped tiles: flat-topped rectangles with a straight chamfer, each tile its own shade.

Unlike :mod:`brick` (a wall: uniform mortar, rounded edges, height variation), this is a tile
generator in the Substance sense: ``tiles_x x tiles_y`` rectangular cells, alternate rows
shifted by ``offset``, each tile shrunk into its cell (``gap`` + ``scale_random``), a linear
45-degree-style chamfer (``bevel``, pyramid-frustum corners), a per-tile luminance
(``luminance_random``) and a per-tile linear gradient across the top (``tilt_random``: tiles
set slightly askew).

The row shift uses the parity of the wrapped row index, so the pattern has period 1 for any
``tiles_y``; with an odd count the last and first rows are both unshifted. Widths (gap, bevel)
are fractions of the tile height.

Output: 0 in the gaps; a tile rises linearly over ``bevel`` to its top, whose value is
``clip(luminance + tilt . local position, 0, 1)``.
"""

from __future__ import annotations

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import cell_table, col, lookup, prepare, render_rows, uv

_SALT_LUM, _SALT_SCALE, _SALT_TX, _SALT_TY = 0x7B1, 0x7B2, 0x7B3, 0x7B4
_MAX_SHRINK = 0.3  # scale_random = 1 shrinks a tile by up to 30 %
_MAX_TILT = 0.5  # tilt_random = 1: the top's value changes by up to +-0.5 edge to centre

SPEC = ParamSpec([
    int_param("tiles_x", 4, 1, 16, prior=(4.0, 1.2), group="Layout", role="generator", period="x",
              description="Tiles per row"),
    int_param("tiles_y", 8, 1, 32, prior=(8.0, 3.0), group="Layout", role="generator", period="y",
              description="Rows of tiles"),
    float_param("offset", 0.5, 0.0, 1.0, prior=(0.5, 0.2), group="Layout", role="generator",
                description="Shift of every other row, in tile widths"),
    float_param("gap", 0.06, 0.0, 0.4, prior=(0.06, 0.04), group="Shape", role="generator",
                description="Gap between tiles, as a fraction of the tile height"),
    float_param("bevel", 0.15, 0.0, 0.5, prior=(0.15, 0.1), group="Shape", role="generator",
                description="Chamfer width, as a fraction of the tile height"),
    float_param("luminance_random", 0.3, 0.0, 1.0, prior=(0.3, 0.2), group="Variation", role="generator",
                description="Per-tile random darkening"),
    float_param("tilt_random", 0.2, 0.0, 1.0, prior=(0.2, 0.2), group="Variation", role="generator",
                description="Per-tile random gradient across the top (tiles set askew)"),
    float_param("scale_random", 0.1, 0.0, 1.0, prior=(0.1, 0.15), group="Variation", role="generator",
                description="Per-tile random shrink (uneven gaps)"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-tile variation"),
])


def tile_brick(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Brick-shaped chamfered tiles.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 in the gaps, tile
        tops at their luminance.

    Example:
        >>> tile_brick(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    n_x, n_y = col(p["tiles_x"]), col(p["tiles_y"])
    mx, my = int(p["tiles_x"].max()), int(p["tiles_y"].max())
    px = 1.0 / res
    tile_h = 1.0 / n_y
    half_gap = 0.5 * col(p["gap"]) * tile_h
    bevel = col(p["bevel"]) * tile_h
    width = bevel.clamp(min=px)  # ramp at least a pixel wide (see _common.bevel_profile)
    shift = 0.5 * (width - bevel) / width

    def tab(salt):
        return cell_table(salt, p["seed"], my, mx)

    shrink = 1.0 - _MAX_SHRINK * p["scale_random"].view(b, 1) * tab(_SALT_SCALE)
    lum = 1.0 - p["luminance_random"].view(b, 1) * tab(_SALT_LUM)
    tilt = _MAX_TILT * p["tilt_random"].view(b, 1)
    tilt_x = tilt * (2.0 * tab(_SALT_TX) - 1.0)
    tilt_y = tilt * (2.0 * tab(_SALT_TY) - 1.0)

    # Per-row tables (B, 1, C, W): everything that depends on x and the tile a pixel is in.
    u, _ = uv(res, dev, origin)
    c0 = int(torch.floor(float(origin[1]) * p["tiles_y"] + 0.5).min()) - 1
    n_c = int(torch.floor((1.0 + float(origin[1])) * p["tiles_y"] + 0.5).max()) + 2 - c0
    row = (torch.arange(n_c, device=dev, dtype=torch.float32) + c0).view(1, 1, n_c, 1)
    row_w = row - n_y * torch.floor(row / n_y)
    x = u * n_x + 0.25 - col(p["offset"]) * torch.remainder(row_w, 2.0)  # in tile widths
    k = torch.floor(x)
    cell = (row_w * mx + k - n_x * torch.floor(k / n_x)).to(torch.int64)
    fx = x - k - 0.5  # [-0.5, 0.5)
    s = lookup(shrink, cell)
    dx = 0.5 * s / n_x - fx.abs() / n_x - half_gap  # distance to the vertical edges
    half_h = 0.5 * s * tile_h - half_gap  # per tile; dy = half_h - |fy| / n_y
    top = lookup(lum, cell) + lookup(tilt_x, cell) * (2.0 * fx)
    slope_y = lookup(tilt_y, cell)

    def band(vb: torch.Tensor, _u: torch.Tensor) -> torch.Tensor:
        y = vb * n_y + 0.5  # (B,1,h,1); the texture edge runs through the middle of a row
        r = torch.floor(y)
        fy = y - r - 0.5
        idx = (r - c0).to(torch.int64).expand(-1, -1, -1, res)
        d = torch.minimum(torch.gather(dx, 2, idx), torch.gather(half_h, 2, idx) - fy.abs() * tile_h)
        t = (d / width + shift).clamp_(0.0, 1.0)
        level = torch.addcmul(torch.gather(top, 2, idx), torch.gather(slope_y, 2, idx), 2.0 * fy)
        return t.mul_(level.clamp_(0.0, 1.0))

    return render_rows(band, res, b, dev, origin=origin)


GENERATOR = Generator(
    name="tile_brick",
    spec=SPEC,
    fn=tile_brick,
    description="Brick-shaped tiles: flat tops with straight chamfers, offset rows, per-tile "
                "luminance, tilt and size variation",
    stochastic=False,
    version=1,
)
