"""Dilate: the largest value within a square window (a grey-scale morphological dilation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import Scalar, check_image, per_sample


def dilate(x: torch.Tensor, radius: Scalar) -> torch.Tensor:
    r"""Grey-scale dilation: every pixel takes the largest value within ``radius`` of it.

    Args:
        x: ``(B, C, H, W)`` image.
        radius: half the side of the square window as a fraction of the texture width
            (``round(radius * W)`` pixels, at least 0); float or ``(B,)`` tensor, one window per
            sample.

    Returns:
        ``(B, C, H, W)``, the same range as ``x`` (a maximum of its values).

    Convention:
        Border: circular (tileable in, tileable out). The window is a square (the ``L_inf``
        ball), applied as two separable 1-D maxima, so the cost grows with the radius, not its
        square. Differentiable in ``x`` (the gradient goes to each window's maximum); the
        radius is a discrete choice per sample (whole pixels, no gradient). Used to give a
        tile's chamfer the level of the tile's top (``ceramic_tiles``): the ramp of a tile
        pattern holds values below its top, and the dilation by the chamfer's width fills it.

    Example:
        >>> x = torch.zeros(1, 1, 1, 8); x[..., 3] = 1.0
        >>> dilate(x, 1 / 8).flatten().tolist()
        [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
        >>> dilate(torch.roll(x, -3, dims=-1), 1 / 8).flatten().tolist()  # wraps around the border
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    """
    check_image(x)
    h, w = x.shape[-2:]
    pixels = [max(0, int(round(r * w))) for r in per_sample(radius, x.shape[0], "radius")]
    if len(set(pixels)) == 1:
        return _dilate_px(x, pixels[0])
    return torch.cat([_dilate_px(x[i:i + 1], k) for i, k in enumerate(pixels)])


def _dilate_px(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` dilated by a ``(2k + 1)``-pixel square, wrapped (``k`` at most half the image)."""
    h, w = x.shape[-2:]
    kx, ky = min(k, (w - 1) // 2), min(k, (h - 1) // 2)
    if kx > 0:
        x = F.max_pool2d(F.pad(x, (kx, kx, 0, 0), mode="circular"), (1, 2 * kx + 1), stride=1)
    if ky > 0:
        x = F.max_pool2d(F.pad(x, (0, 0, ky, ky), mode="circular"), (2 * ky + 1, 1), stride=1)
    return x


class Dilate(nn.Module):
    """Module form of :func:`dilate`."""

    def __init__(self, radius: float = 0.01) -> None:
        super().__init__()
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dilate(x, self.radius)
