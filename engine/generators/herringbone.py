"""Herringbone: rectangular boards laid at +-45 degrees in a zigzag (parquet, brick paths).

Geometry, in units of the board width: boards are ``ratio`` (k, a whole number) widths long.
In a frame turned by 45 degrees against the texture, ``x = k n (u - v)``, ``y = k n (u + v)``
(``n`` = ``rows``: zigzag rows down the texture; a board width is then
``1 / (sqrt(2) k n)`` texture units, the same across and down, so boards stay rectangles).
There the classic herringbone is a lattice with basis ``(1, 1)`` and ``(k, -k)`` carrying one
board along x, ``[0, k] x [0, 1]``, and one along y, ``(k, 1 - k) + [0, 1] x [0, k]``. Which
board holds a point has a closed form: for the x-board, ``m = floor(y)`` fixes its lattice
index ``i - j k`` and ``j = floor((x - m) / (2 k))``; the point lies in it when
``x - m - 2 j k < k``; otherwise it lies in a y-board, found the same way from ``floor(x)``.
The texture's period is ``k n`` lattice steps along the first basis vector and ``n`` along
the second, so every board has one of ``n * k n`` indices per direction (its random
luminance comes from that index: tileable).

Profile: the distance to the board's outline minus half the ``gap`` (fractions of the board
width) rises over ``bevel`` to a flat top at ``1 - luminance_random * r``; the ramp is at least
a pixel wide (antialiased at any resolution). :func:`board_direction` gives which way each
board runs, for graphs that lay grain along the boards.

Output: 0 in the joints, board tops at their luminance, ``(B, 1, res, res)`` in [0, 1].
"""

from __future__ import annotations

import math

import torch

from ..params import ParamSpec, float_param, int_param
from . import Generator
from ._common import bevel_profile, col, hash_table, lookup, prepare, render_rows, wrap_index

_SALT_LUM = 0x4B1

SPEC = ParamSpec([
    int_param("rows", 3, 1, 12, prior=(3.0, 1.2), group="Layout", role="generator", period="xy",
              description="Zigzag rows down the texture (a row is one board length high, "
                          "over the diagonal)"),
    int_param("ratio", 4, 2, 8, prior=(4.0, 1.2), group="Layout", role="generator",
              description="Board length as a multiple of its width"),
    float_param("gap", 0.08, 0.0, 0.5, prior=(0.08, 0.04), group="Shape", role="generator",
                description="Joint width, as a fraction of the board width"),
    float_param("bevel", 0.1, 0.0, 0.5, prior=(0.1, 0.06), group="Shape", role="generator",
                description="Rounded board edge, as a fraction of the board width"),
    float_param("luminance_random", 0.4, 0.0, 1.0, prior=(0.4, 0.2), group="Variation", role="generator",
                description="Per-board random darkening"),
    int_param("seed", 0, 0, 15, seed=True, group="Variation", role="generator",
              description="Random seed for per-board variation"),
])


def _locate(p: dict[str, torch.Tensor], v: torch.Tensor, u: torch.Tensor):
    """For pixel centres ``(v, u)``: ``(along_x, dist, index)``: 1 where the board runs along the
    frame's x (up-right in the texture: along ``(1, -1)`` in ``(u, v)``, v down), the distance to its outline (board widths) and its
    board index in ``[0, 2 * n * k n)``."""
    k, n = col(p["ratio"]), col(p["rows"])
    n1 = k * n  # lattice steps along (1, 1) per texture period
    x, y = k * n * (u - v), k * n * (u + v)
    # board along x: lattice index i - j k = m, i + j k = m + 2 j k
    m = torch.floor(y)
    j = torch.floor((x - m) / (2.0 * k))
    lx, ly = x - m - 2.0 * j * k, y - m
    in_x = lx < k
    i = m + j * k
    d_x = torch.minimum(torch.minimum(lx, k - lx), torch.minimum(ly, 1.0 - ly))
    # board along y: its corner (i + j k + k, i - j k + 1 - k); floor(x) = i + j k + k
    c = torch.floor(x)
    jy = torch.floor((c - y + 1.0 - k) / (2.0 * k))
    iy = c - jy * k - k
    ax, ay = x - c, y - (iy - jy * k) - 1.0 + k
    d_y = torch.minimum(torch.minimum(ax, 1.0 - ax), torch.minimum(ay, k - ay))
    ii, jj = torch.where(in_x, i, iy), torch.where(in_x, j, jy)
    ii, jj = wrap_index(ii, n1), wrap_index(jj, n)
    index = (2.0 * (jj * n1 + ii) + (~in_x).float()).to(torch.int64)
    return in_x.float(), torch.where(in_x, d_x, d_y), index


def herringbone(params: dict[str, torch.Tensor], res: int, origin: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """Herringbone boards.

    Args:
        params: :data:`SPEC` parameters, each a ``(B,)`` tensor (natural units; rounded inside).
        res: output size in pixels.
        origin: ``(x, y)`` shift of the sampled window in texture units (period checks).

    Returns:
        ``(B, 1, res, res)`` float32 in [0, 1] on the parameters' device: 0 in the joints,
        board tops at their luminance.

    Example:
        >>> herringbone(SPEC.defaults(2), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    p, b, dev = prepare(params, SPEC, res, origin)
    k, n = col(p["ratio"]), col(p["rows"])
    pixel = math.sqrt(2.0) * k * n / res  # one pixel in board widths
    half_gap = 0.5 * col(p["gap"])
    bevel = col(p["bevel"])
    mk, mn = int(p["ratio"].max()), int(p["rows"].max())
    lum = 1.0 - p["luminance_random"].view(b, 1) * hash_table(_SALT_LUM, p["seed"], 2 * mk * mn * mn)

    def band(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        _, dist, index = _locate(p, v, u)
        return bevel_profile(dist - half_gap, bevel, pixel, rounded=False) * lookup(lum, index)

    return render_rows(band, res, b, dev, origin=origin)


def board_direction(params: dict[str, torch.Tensor], res: int) -> torch.Tensor:
    """``(B, 1, res, res)``: 1 on boards running up-right in the texture (along ``(1, -1)`` in
    ``(u, v)``, v down), 0 on boards running down-right; for grain laid along the boards."""
    p, b, dev = prepare(params, SPEC, res)
    return render_rows(lambda v, u: _locate(p, v, u)[0], res, b, dev)


GENERATOR = Generator(
    name="herringbone",
    spec=SPEC,
    fn=herringbone,
    description="Herringbone boards at +-45 degrees in a zigzag, with joints, rounded edges and "
                "per-board luminance",
    stochastic=False,
    version=1,
)
