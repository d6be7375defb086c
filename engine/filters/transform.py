"""Tiling-safe transform: integer tiling, quarter-turn rotation, wrapped sub-pixel offset."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Scalar, base_grid, check_image, is_const, param, per_sample, sample_wrap


def transform(x: torch.Tensor, offset_x: Scalar = 0.0, offset_y: Scalar = 0.0,
              tiles: Scalar = 1, rotation: Scalar = 0) -> torch.Tensor:
    r"""Tile, rotate and shift a tileable image so that it stays tileable.

    Applied in this order:

    1. ``tiles`` (whole number >= 1): the image is repeated ``tiles x tiles`` times in the
       square (shrunk by ``tiles``; area-averaged when ``tiles`` divides H and W, else
       sampled bilinearly).
    2. ``rotation``: a whole number of quarter turns counter-clockwise as displayed (only
       lattice-compatible rotations keep a square tile tileable; non-square images need an
       even number).
    3. ``offset_x, offset_y``: a shift of the content by that fraction of the texture (1.0 =
       one full period, so offsets wrap), ``+x`` to the right and ``+y`` up; sub-pixel
       shifts interpolate linearly between the two neighbouring whole-pixel shifts.

    Args:
        x: ``(B, C, H, W)`` in [0, 1].
        offset_x, offset_y: floats or ``(B,)`` tensors (differentiable).
        tiles, rotation: python ints or ``(B,)`` tensors holding whole numbers (rounded;
            not differentiable).

    Returns:
        ``(B, C, H, W)`` (``(B, C, W, H)`` after an odd rotation of a non-square image is
        refused), in the range of ``x``.

    Convention:
        Circular (wrap-around) everywhere; differentiable in ``x`` and the offsets (exact
        gradients between whole-pixel positions, piecewise linear in the offset).

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 1, 4) / 4
        >>> transform(x, offset_x=0.25).flatten().tolist()   # one pixel to the right
        [0.75, 0.0, 0.25, 0.5]
        >>> transform(x, offset_x=0.125).flatten().tolist()  # half a pixel, linear
        [0.375, 0.125, 0.375, 0.625]
        >>> y = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
        >>> transform(y, rotation=1)[0, 0].tolist()         # top-left -> bottom-left
        [[0.0, 0.0], [1.0, 0.0]]
    """
    check_image(x)
    b, _, h, w = x.shape
    tl = [int(round(v)) for v in per_sample(tiles, b, "tiles")]
    rt = [int(round(v)) % 4 for v in per_sample(rotation, b, "rotation")]
    if min(tl) < 1:
        raise ValueError(f"tiles: expected whole numbers >= 1, got {tiles!r}")
    if h != w and any(r % 2 for r in rt):
        raise ValueError(f"rotation: odd quarter turns need a square image, got {h}x{w}")
    y = x
    if any(t != 1 for t in tl) or any(r != 0 for r in rt):
        if len(set(tl)) == 1 and len(set(rt)) == 1:
            y = _rotate(_tile(x, tl[0]), rt[0])
        else:
            y = torch.cat([_rotate(_tile(x[i:i + 1], tl[i]), rt[i]) for i in range(b)])
    if is_const(offset_x, 0.0) and is_const(offset_y, 0.0):
        return y
    ox = param(offset_x, x, "offset_x").reshape(-1)
    oy = param(offset_y, x, "offset_y").reshape(-1)
    # content moves +x right and +y up: rows move by -offset_y * H
    return _shift(y, ox.expand(b) * w, -oy.expand(b) * h)


def _tile(x: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return x
    h, w = x.shape[-2:]
    if h % n == 0 and w % n == 0:
        return F.avg_pool2d(x, n).repeat(1, 1, n, n)
    # output pixel (i, j) shows input position (n * (i + 0.5) - 0.5, ...) wrapped
    grid = base_grid(h, w, x).add_(0.5).mul_(n).sub_(0.5).expand(x.shape[0], h, w, 2)
    return sample_wrap(x, grid)


def _rotate(x: torch.Tensor, quarter_turns: int) -> torch.Tensor:
    # torch.rot90 on dims (-2, -1) turns counter-clockwise as displayed (rows downwards)
    return x if quarter_turns == 0 else torch.rot90(x, quarter_turns, dims=(-2, -1))


def _shift(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Circular shift of each sample by ``(sx, sy)`` pixels (columns, rows), linear between
    whole-pixel shifts."""
    outs = []
    whole_x = sx.detach().floor().tolist()
    whole_y = sy.detach().floor().tolist()
    for i in range(x.shape[0]):
        xi = x[i:i + 1]
        fx, fy = int(whole_x[i]), int(whole_y[i])
        ax = sx[i] - fx  # fractional parts, carry the gradient
        ay = sy[i] - fy
        yi = torch.roll(xi, (fy, fx), dims=(-2, -1))
        if ax.requires_grad or float(ax) != 0.0:
            yi = torch.lerp(yi, torch.roll(yi, 1, dims=-1), ax)
        if ay.requires_grad or float(ay) != 0.0:
            yi = torch.lerp(yi, torch.roll(yi, 1, dims=-2), ay)
        outs.append(yi)
    return outs[0] if len(outs) == 1 else torch.cat(outs)


class Transform(nn.Module):
    """Module form of :func:`transform` (stores offsets, tiles and rotation)."""

    def __init__(self, offset_x: Scalar = 0.0, offset_y: Scalar = 0.0, tiles: Scalar = 1,
                 rotation: Scalar = 0) -> None:
        super().__init__()
        self.offset_x, self.offset_y, self.tiles, self.rotation = offset_x, offset_y, tiles, rotation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return transform(x, self.offset_x, self.offset_y, self.tiles, self.rotation)
